//! What a newcomer reads first: each message exact, each surprise gone. Through the real
//! binary, offline (a closed loopback port) unless the emulator is needed.

use std::io::BufRead;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{OFFLINE_PLAN as OFFLINE, run_local as run, stderr, stdout};
use crate::support::{REGION, scratch, stsform};

/// The `error:` line of a failed run (exit 1).
fn error_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
    stderr(o)
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{}", stderr(o)))
        .to_string()
}

/// The offline plan with `extra` flags; a flag given in both takes `extra`'s value.
fn offline(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = OFFLINE.iter().map(|s| s.to_string()).collect();
    let mut rest = extra.iter();
    while let Some(flag) = rest.next() {
        match args.iter().position(|a| a == flag) {
            Some(i) if flag.starts_with("--") && !flag.contains('=') => {
                args[i + 1] = rest.next().expect("a value").to_string();
            }
            _ => args.push(flag.to_string()),
        }
    }
    args
}

fn run_owned(dir: &Path, args: &[String]) -> Output {
    run(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn an_os_error_is_named_once() {
    let w = scratch("cluster", true);
    std::fs::create_dir(w.path().join("gs")).unwrap();
    let o = run_owned(w.path(), &offline(&["--state", "gs"]));
    assert_eq!(error_line(&o), "error: gs: Is a directory (os error 21)");

    std::fs::write(w.path().join("bad"), b"version = 1\n\xff\xfe\n").unwrap();
    let o = run_owned(w.path(), &offline(&["--state", "bad"]));
    assert_eq!(
        error_line(&o),
        "error: bad: stream did not contain valid UTF-8"
    );
}

#[test]
fn a_region_in_capitals_gets_a_suggestion_and_an_empty_one_a_short_hint() {
    let w = scratch("cluster", false);
    let o = run_owned(w.path(), &offline(&["--region", "US-EAST-2"]));
    assert!(
        stderr(&o).contains(
            "--region: unknown region `US-EAST-2` (did you mean `us-east-2`? region codes are lowercase)"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1));

    let o = run_owned(w.path(), &offline(&["--region", ""]));
    let err = stderr(&o);
    assert!(
        err.contains("--region: must not be empty: give an AWS region code such as `us-east-2`"),
        "{err}"
    );
    assert!(!err.contains("ap-southeast"), "no list of regions: {err}");
    assert!(!w.path().join("state").exists());
}

#[test]
fn a_state_that_does_not_exist_is_an_error_not_an_empty_list() {
    let w = scratch("cluster", false);
    let want = "error: state/typo.toml: no state there (nothing was ever saved to it); check --name, --state or --config";
    let o = run(w.path(), &["state", "list", "--name", "typo"]);
    assert_eq!(error_line(&o), want);
    assert_eq!(stdout(&o), "");
    let o = run(
        w.path(),
        &["state", "show", "iam_role.typo-x", "--name", "typo"],
    );
    assert_eq!(error_line(&o), want);
    let o = run(
        w.path(),
        &["state", "rm", "iam_role.typo-x", "--name", "typo"],
    );
    assert_eq!(error_line(&o), want);
    // Not even a lock file for the mistyped name.
    assert!(!w.path().join("state").exists());
}

#[test]
fn an_offline_plan_leaves_no_lock_file() {
    let w = scratch("cluster", true);
    let o = run_owned(w.path(), &offline(&[]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        !w.path().join("state").exists(),
        "an offline plan takes no lock: no state/ directory, no .lock file"
    );
}

#[test]
fn non_aws_documents_get_one_note_and_verbose_lists_them() {
    let w = scratch("cluster", false);
    let o = run(
        w.path(),
        &["validate", "--credentials-requests-dir", "creds"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let notes: Vec<String> = stderr(&o).lines().map(str::to_string).collect();
    // One summary for the other clouds' requests; the feature-gated AWS request keeps its own.
    assert_eq!(
        notes
            .iter()
            .filter(|l| l.contains("non-AWS"))
            .collect::<Vec<_>>(),
        ["note: skipped 19 non-AWS documents in 4 files (--verbose lists them)"]
    );
    assert!(
        notes.iter().any(|l| l.contains("feature-gate")),
        "{notes:?}"
    );
    // And the review's two warnings: machine-api and cluster-api pass any role.
    assert_eq!(
        notes
            .iter()
            .filter(
                |l| l.starts_with("warning: ") && l.contains("[passrole-on-any-resource, request ")
            )
            .count(),
        2,
        "{notes:?}"
    );
    assert_eq!(notes.len(), 4, "{notes:?}");

    let o = run(
        w.path(),
        &[
            "validate",
            "--credentials-requests-dir",
            "creds",
            "--verbose",
        ],
    );
    let err = stderr(&o);
    // 19 skipped documents, the feature-gate note, the review's two warnings.
    assert_eq!(err.lines().count(), 22, "{err}");
    assert!(err.contains(
        "note: creds/02-cncc-credentials.yaml: document 1: skipped: providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`"
    ));
    assert!(!err.contains("(--verbose lists them)"));
}

#[test]
fn request_paths_in_plans_are_relative_to_the_working_directory() {
    let w = scratch("cluster", true);
    let absolute = w.path().join("creds");
    let absolute = absolute.to_str().unwrap();
    let args = |format: &str| -> Vec<String> {
        let mut a = offline(&["--format", format]);
        let i = a.iter().position(|x| x == "creds").unwrap();
        a[i] = absolute.to_string();
        a
    };
    let o = run_owned(w.path(), &args("json"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let sources: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["source"].as_str())
        .collect();
    assert!(sources.len() >= 12, "{sources:?}");
    assert!(
        sources.iter().all(|s| s.starts_with("creds/")),
        "{sources:?}"
    );
    let o = run_owned(w.path(), &args("markdown"));
    let md = stdout(&o);
    assert!(
        md.contains("new: `creds/00-ingress-credentials-request.yaml: document 1`"),
        "{md}"
    );
    assert!(!md.contains(absolute) && !stdout(&o).contains(absolute));
}

/// A state in which everything of examples/cluster exists, saved under `dir`.
fn applied_state(dir: &Path) {
    use stsform::desired::{self, Facts};
    use stsform::state::{State, StateFile, StateResource};
    let s = crate::derive::settings("prod-east", "us-east-2", &dir.join("creds"));
    let facts = Facts {
        account_id: Some("123456789012".into()),
        signing_key: Some(crate::derive::fixed_key()),
        ..Facts::default()
    };
    let d = desired::derive(&crate::derive::requests(&dir.join("creds")), &s, &facts).unwrap();
    let mut state = State::new("prod-east");
    for (id, r) in d.resources {
        state.resources.insert(
            id,
            StateResource {
                spec: r.spec,
                depends_on: r.depends_on,
            },
        );
    }
    let file = StateFile::lock(&dir.join("state/prod-east.toml"), "test", Duration::ZERO).unwrap();
    file.save(&mut state).unwrap();
}

#[test]
fn plan_destroy_is_labelled_as_a_destroy() {
    let w = scratch("cluster", true);
    applied_state(w.path());
    let o = run_owned(w.path(), &offline(&["--destroy"]));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        out.contains("Plan: 0 to add, 0 to change, 28 to destroy."),
        "{out}"
    );
    assert_eq!(
        out.matches(" will be destroyed (destroy requested)")
            .count(),
        28,
        "{out}"
    );
    assert!(!out.contains("no longer in the configuration"), "{out}");

    let o = run_owned(w.path(), &offline(&["--destroy", "--format", "json"]));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 28);
    assert!(changes.iter().all(|c| c["reason"] == "destroy_requested"));
    assert_eq!(plan["format_version"], "1.2");

    let o = run_owned(w.path(), &offline(&["--destroy", "--format", "markdown"]));
    assert_eq!(stdout(&o).matches("| destroy requested |").count(), 28);
}

#[test]
fn the_first_failed_connection_says_it_is_retrying() {
    // A loopback port nobody listens on: every connection is refused at once.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let w = scratch("cluster", true);
    let mut args = offline(&[]);
    args.retain(|a| a != "--refresh=false");
    let mut child = stsform(w.path(), &endpoint)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    // The SDK backs off for half a minute before it gives up; the note comes first.
    let mut seen = Vec::new();
    let note = loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains("cannot reach") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let note = note.unwrap_or_else(|| panic!("no retry note; stderr so far: {seen:?}"));
    assert!(
        note.ends_with(&format!(
            "note: cannot reach {endpoint} (Connection refused (os error 111)); retrying, up to 8 attempts per call ..."
        )),
        "{note}"
    );
    assert!(
        still_running,
        "the note must come while it retries, not with the error"
    );
    assert!(!seen.iter().any(|l| l.starts_with("error:")), "{seen:?}");
}

/// `AWS_MAX_ATTEMPTS` is the user's to set (a script that must fail fast sets 1): it
/// wins over stsform's own default of 8 attempts per call.
#[test]
fn aws_max_attempts_is_honoured() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let w = scratch("cluster", true);
    let mut args = offline(&[]);
    args.retain(|a| a != "--refresh=false");
    let o = stsform(w.path(), &endpoint)
        .env("AWS_MAX_ATTEMPTS", "3")
        .args(&args)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "note: cannot reach {endpoint} (Connection refused (os error 111)); retrying, up to 3 attempts per call ..."
        )),
        "{err}"
    );
    assert!(error_line(&o).contains("Connection refused"), "{err}");
}

/// Emulator: `--lock=false` plans take no lock and write nothing (local and S3), while a
/// plain plan is refused by a held lock; and "1 AWS read", not "1 reads".
#[test]
fn plan_lock_false_takes_no_lock_and_writes_nothing() {
    let (rt, moto, _account) = crate::binary::moto_setup();
    let w = scratch("cluster", true);
    let name = crate::moto_account::unique_name();
    let plan = |extra: &[&str]| -> Output {
        let mut a: Vec<&str> = vec![
            "plan",
            "--name",
            &name,
            "--region",
            REGION,
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
        ];
        a.extend(extra);
        stsform(w.path(), &moto).args(&a).output().unwrap()
    };
    let o = plan(&["--lock=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // GetCallerIdentity, then the scan for the cluster's resources outside the state
    // (ListRoles pages, ListOpenIDConnectProviders, the bucket by name): reads only.
    assert!(
        stdout(&o).starts_with("Refreshing 0 resources ... done (")
            && stdout(&o).contains(" AWS reads, "),
        "{}",
        stdout(&o)
    );
    assert!(!w.path().join("state").exists(), "no lock file, no state");

    // S3: someone else holds the lock; a locked plan is refused, `--lock=false` is not,
    // and the bucket holds exactly what it held before.
    let (s3, _) = crate::support::sdk_clients(&moto);
    let bucket = format!(
        "states-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let state = format!("s3://{bucket}/{name}.toml");
    let objects = || {
        rt.block_on(async {
            let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
            let mut out = Vec::new();
            for o in listed.contents() {
                let key = o.key().unwrap().to_string();
                let body = s3
                    .get_object()
                    .bucket(&bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                out.push((key, body));
            }
            out
        })
    };
    rt.block_on(async {
        s3.create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsEast2)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let store = stsform::state::StateStore::open(Path::new(&state), Some(REGION)).unwrap();
    let lock = rt.block_on(store.lock("apply", Duration::ZERO)).unwrap();
    let before = objects();
    assert_eq!(before.len(), 1, "just the lock");

    let o = plan(&["--state", &state]);
    assert!(error_line(&o).contains("is locked by"), "{}", stderr(&o));
    let o = plan(&["--state", &state, "--lock=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Plan: 28 to add"), "{}", stdout(&o));
    assert_eq!(objects(), before, "--lock=false wrote to the bucket");
    rt.block_on(lock.unlock()).unwrap();
}

/// Emulator: day-2 verify (no `serviceaccount-signer.public`) names the key it checked.
#[test]
fn day2_verify_names_the_key_it_checked() {
    let (_rt, moto, _account) = crate::binary::moto_setup();
    let w = scratch("cluster", true);
    let name = crate::moto_account::unique_name();
    let common = |verb: &str| -> Vec<String> {
        [
            verb,
            "--name",
            &name,
            "--region",
            REGION,
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut apply = common("apply");
    apply.push("--auto-approve".into());
    let o = stsform(w.path(), &moto).args(&apply).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    std::fs::remove_file(w.path().join("install/serviceaccount-signer.public")).unwrap();
    let mut verify = common("verify");
    verify.extend([
        "--identity-provider-arn".to_string(),
        format!(
            "arn:aws:iam::{}:oidc-provider/{name}-oidc.s3.us-east-2.amazonaws.com",
            crate::harness::ACCOUNT_ID
        ),
    ]);
    let o = stsform(w.path(), &moto).args(&verify).output().unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("matches the key in serviceaccount-signer.private"),
        "{out}"
    );
    assert!(!out.contains("serviceaccount-signer.public"), "{out}");
}

/// Examples in `--help` never wrap in the middle of a command: every line is a command or
/// a continuation of one that ends in `\`.
#[test]
fn help_examples_do_not_wrap_mid_command() {
    let w = scratch("cluster", false);
    for cmd in [
        "validate",
        "plan",
        "apply",
        "destroy",
        "graph",
        "verify",
        "import",
        "state",
        "force-unlock",
        "completions",
    ] {
        let o = run(w.path(), &[cmd, "--help"]);
        let help = stdout(&o);
        let examples = &help[help
            .find("\nExample")
            .unwrap_or_else(|| panic!("{cmd}: {help}"))..];
        let lines: Vec<&str> = examples.lines().skip(2).filter(|l| !l.is_empty()).collect();
        assert!(!lines.is_empty(), "{cmd}");
        for (i, line) in lines.iter().enumerate() {
            let continues = i > 0 && lines[i - 1].trim_end().ends_with('\\');
            assert!(
                line.starts_with("  stsform ") || (continues && line.starts_with("      ")),
                "{cmd} --help: example line wrapped mid-command: {line:?}\n{examples}"
            );
        }
    }
}
