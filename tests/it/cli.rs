//! The real binary: exit codes, messages, offline plans, and that bad input writes nothing.

use crate::support::OFFLINE_PLAN as PLAN;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A scratch directory holding a copy of examples/cluster as `creds/`.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: crate::support::scratch("cluster", false),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Puts the fixed test key pair where stsform looks for it, so plans are reproducible.
    fn with_fixed_key(self) -> Work {
        crate::support::put_fixed_key(self.path());
        self
    }

    /// The binary, reaching only loopback (the emulator, or a closed port), failing fast.
    fn run(&self, args: &[&str]) -> Output {
        crate::support::stsform(self.path(), &crate::support::endpoint_or_closed_port())
            .env("AWS_MAX_ATTEMPTS", "1")
            .args(args)
            .output()
            .unwrap()
    }

    /// Every file under the directory with its bytes: "nothing changed" is equality.
    fn tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.insert(
                path.strip_prefix(base).unwrap().to_path_buf(),
                b"<dir>".to_vec(),
            );
            walk(base, &path, out);
        } else {
            out.insert(
                path.strip_prefix(base).unwrap().to_path_buf(),
                std::fs::read(&path).unwrap(),
            );
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn every_command_help_shows_an_example() {
    let w = Work::new();
    for cmd in [
        "validate",
        "plan",
        "apply",
        "destroy",
        "graph",
        "completions",
    ] {
        let o = w.run(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd}");
        assert!(
            stdout(&o).contains("Example"),
            "{cmd} --help lacks an example:\n{}",
            stdout(&o)
        );
    }
}

#[test]
fn validate_reports_requests_and_skips() {
    let w = Work::new();
    let o = w.run(&["validate", "--credentials-requests-dir", "creds"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "creds valid: 7 CredentialsRequests for AWS.\n");
    assert!(
        stderr(&o).contains("note: skipped 19 non-AWS documents in 4 files (--verbose lists them)"),
        "{}",
        stderr(&o)
    );
    // The feature-gated cluster-api request is kept, as ccoctl keeps it, with a note.
    assert!(stderr(&o).contains(
        "note: creds/0000_30_cluster-api_01_credentials-request.yaml: document 1: feature-gated (`release.openshift.io/feature-gate: ClusterAPIMachineManagement,ClusterAPIMachineManagementAWS`): included"
    ), "{}", stderr(&o));
    // A .json file is not read, as ccoctl does not read it, and the note says so.
    std::fs::write(w.path().join("creds/zz.json"), "{ not even json").unwrap();
    let o = w.run(&[
        "validate",
        "--credentials-requests-dir",
        "creds",
        "--enable-tech-preview",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "creds valid: 7 CredentialsRequests for AWS.\n");
    assert!(
        stderr(&o).contains("note: creds/zz.json: not read: like ccoctl, stsform reads only `.yaml` and `.yml` files"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn offline_plan_of_a_new_cluster_creates_everything_and_writes_nothing() {
    let w = Work::new().with_fixed_key();
    let before = w.tree();
    let o = w.run(PLAN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    insta::assert_snapshot!("offline_plan_new_cluster", out);
    assert!(out.contains("Plan: 28 to add, 0 to change, 0 to destroy."));
    // The private key never reaches the output.
    let private =
        std::fs::read_to_string(w.path().join("install/serviceaccount-signer.private")).unwrap();
    // A line from the private half (the first lines hold the public modulus).
    let body_line = private.lines().nth(15).unwrap();
    assert!(!out.contains(body_line) && !stderr(&o).contains(body_line));
    // Planning offline writes no state, no output file and no lock file.
    assert_eq!(before, w.tree());
}

#[test]
fn offline_plan_without_a_key_pair_shows_unknowns() {
    let w = Work::new();
    let o = w.run(PLAN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("      + kid                   = (known after apply)\n")
            || out.contains("+ kid "),
        "{out}"
    );
    // keys.json is shown by kid: the one it will serve is generated during apply.
    assert!(
        out.contains("+ content      = keys by kid:\n          + kid (known after apply)\n"),
        "{out}"
    );
    assert!(out.contains("assigned by AWS or by key generation during apply"));
    assert!(
        !w.path().join("install").exists(),
        "plan must not generate keys"
    );
}

/// Writes a state in which everything of examples/cluster exists as derived.
fn applied_state(w: &Work) {
    use stsform::desired::{self, Facts};
    use stsform::state::{State, StateFile, StateResource};
    let s = crate::derive::settings("prod-east", "us-east-2", &w.path().join("creds"));
    let facts = Facts {
        account_id: Some("123456789012".into()),
        signing_key: Some(crate::derive::fixed_key()),
        ..Facts::default()
    };
    let d = desired::derive(
        &crate::derive::requests(&w.path().join("creds")),
        &s,
        &facts,
    )
    .unwrap();
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
    let path = w.path().join("state/prod-east.toml");
    let file = StateFile::lock(&path, "test", std::time::Duration::ZERO).unwrap();
    file.save(&mut state).unwrap();
}

#[test]
fn offline_plan_against_a_matching_state_has_no_changes_and_shows_an_added_action() {
    let w = Work::new().with_fixed_key();
    applied_state(&w);
    let o = w.run(PLAN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("No changes."), "{}", stdout(&o));

    // Add one action to the EBS request: exactly one policy update, shown as a line diff.
    let ebs = w.path().join("creds/03_credentials_request_aws.yaml");
    let text = std::fs::read_to_string(&ebs).unwrap();
    std::fs::write(
        &ebs,
        text.replacen(
            "      - ec2:AttachVolume\n",
            "      - ec2:AttachVolume\n      - ec2:CopySnapshot\n",
            1,
        ),
    )
    .unwrap();
    let o = w.run(PLAN);
    let out = stdout(&o);
    insta::assert_snapshot!("offline_plan_ebs_action_added", out);
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{out}"
    );
    assert!(
        out.contains("                  + \"ec2:CopySnapshot\",\n"),
        "{out}"
    );
}

#[test]
fn graph_prints_dot_with_dependency_edges() {
    let w = Work::new();
    let o = w.run(&[
        "graph",
        "--name",
        "prod-east",
        "--region",
        "us-east-2",
        "--credentials-requests-dir",
        "creds",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("digraph stsform {"));
    assert!(out.contains("\"iam_role.prod-east-openshift-ingress-operator-cloud-credentials\" -> \"iam_role_policy.prod-east-openshift-ingress-operator-cloud-credentials\";"), "{out}");
}

#[test]
fn completions_are_generated() {
    let o = Work::new().run(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("_stsform()"));
}

/// Bad input: exit 1, the exact message on stderr, and no file created or changed.
fn refused(w: &Work, args: &[&str], message: &str) {
    let before = w.tree();
    let o = w.run(args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{args:?} should fail: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(message),
        "{args:?}: expected `{message}` in:\n{}",
        stderr(&o)
    );
    assert_eq!(before, w.tree(), "{args:?} changed files");
}

fn plan_with(extra: &[(&str, &str)]) -> Vec<String> {
    let mut args: Vec<String> = PLAN.iter().map(|s| s.to_string()).collect();
    for (flag, value) in extra {
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = value.to_string(),
            None => {
                args.push(flag.to_string());
                args.push(value.to_string());
            }
        }
    }
    args
}

fn refused_plan(w: &Work, extra: &[(&str, &str)], message: &str) {
    let args = plan_with(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(w, &args, message);
}

#[test]
fn bad_settings_are_refused_before_anything_is_written() {
    let w = Work::new();
    refused_plan(
        &w,
        &[("--name", "Prod_East")],
        "error: invalid input (1 problem)\n  --name: `Prod_East` contains `P`",
    );
    refused_plan(
        &w,
        &[("--name", &"a".repeat(59))],
        "would exceed S3's 63 (use at most 58)",
    );
    refused_plan(
        &w,
        &[("--region", "us-east-9")],
        "--region: unknown region `us-east-9` (did you mean one of: us-east-1, us-east-2",
    );
    refused_plan(&w, &[("--credentials-requests-dir", "nope")], "nope");
    refused_plan(
        &w,
        &[(
            "--permissions-boundary-arn",
            "arn:aws-cn:iam::123456789012:policy/b",
        )],
        "--permissions-boundary-arn: `arn:aws-cn:iam::123456789012:policy/b` is in partition `aws-cn`, but the region is in `aws`",
    );
    refused_plan(
        &w,
        &[(
            "--identity-provider-arn",
            "arn:aws:iam::123456789012:role/x",
        )],
        "--identity-provider-arn: `arn:aws:iam::123456789012:role/x` is not of the form",
    );
    refused(
        &w,
        &[
            "plan",
            "--credentials-requests-dir",
            "creds",
            "--refresh=false",
        ],
        "--name: required",
    );
    std::fs::write(
        w.path().join("bad.toml"),
        "name = \"x\"\nregon = \"us-east-1\"\n",
    )
    .unwrap();
    refused_plan(
        &w,
        &[("--config", "bad.toml")],
        "bad.toml: line 2, column 1: unknown field `regon`",
    );
    std::fs::write(w.path().join("tags.toml"), "[tags]\n\"aws:x\" = \"y\"\n").unwrap();
    refused_plan(
        &w,
        &[("--config", "tags.toml")],
        "tags.toml: tags.aws:x: tag keys starting with `aws:` are reserved by AWS",
    );
}

#[test]
fn bad_requests_are_refused_before_anything_is_written() {
    let w = Work::new();
    std::fs::write(
        w.path().join("creds/zz-broken.yaml"),
        "kind: CredentialsRequest\nspec: [unclosed\n",
    )
    .unwrap();
    refused_plan(&w, &[], "creds/zz-broken.yaml: document 1: line ");
    std::fs::remove_file(w.path().join("creds/zz-broken.yaml")).unwrap();

    // A second request for the ingress operator's Secret.
    let ingress =
        std::fs::read_to_string(w.path().join("creds/00-ingress-credentials-request.yaml"))
            .unwrap();
    std::fs::write(w.path().join("creds/zz-dup.yaml"), ingress).unwrap();
    refused_plan(
        &w,
        &[],
        "creds/zz-dup.yaml: document 1: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by creds/00-ingress-credentials-request.yaml: document 1",
    );
    std::fs::remove_file(w.path().join("creds/zz-dup.yaml")).unwrap();

    // Role names that collide once cut to 64 bytes.
    let req = |name: &str| {
        format!(
            "kind: CredentialsRequest\nspec:\n  secretRef: {{name: {name}, namespace: openshift-a-very-long-namespace-name-for-testing}}\n  serviceAccountNames: [sa]\n  providerSpec:\n    kind: AWSProviderSpec\n    statementEntries: [{{effect: Allow, action: ['s3:GetObject'], resource: '*'}}]\n"
        )
    };
    std::fs::write(w.path().join("creds/zz-1.yaml"), req("credentials-one")).unwrap();
    std::fs::write(w.path().join("creds/zz-2.yaml"), req("credentials-two")).unwrap();
    refused_plan(
        &w,
        &[],
        "collides with the request in creds/zz-1.yaml: document 1",
    );
}

#[test]
fn a_state_of_another_cluster_or_a_held_lock_is_refused() {
    let w = Work::new().with_fixed_key();
    applied_state(&w);
    refused_plan(
        &w,
        &[("--name", "other"), ("--state", "state/prod-east.toml")],
        "state/prod-east.toml",
    );

    let lock = stsform::state::StateFile::lock(
        &w.path().join("state/prod-east.toml"),
        "apply",
        std::time::Duration::ZERO,
    )
    .unwrap();
    // A refreshed plan takes the lock (and fails on it before any AWS call).
    let refreshed: Vec<&str> = PLAN
        .iter()
        .copied()
        .filter(|a| *a != "--refresh=false")
        .collect();
    let o = w.run(&refreshed);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("state/prod-east.toml is locked by") && err.contains("operation apply"),
        "{err}"
    );
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(lock);
}

/// apply/plan/destroy through the real binary against moto: exit codes, the refusal to
/// apply without a terminal, and that the refusal changes nothing.
#[test]
fn apply_plan_destroy_through_the_binary() {
    crate::support::endpoint();
    let w = Work::new().with_fixed_key();
    let name = crate::moto_account::unique_name();
    let args = |verb: &str| -> Vec<String> {
        let mut a: Vec<String> = [verb, "--name", &name, "--region", "us-east-2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if verb != "destroy" {
            a.extend([
                "--output-dir".to_string(),
                "install".to_string(),
                "--credentials-requests-dir".to_string(),
                "creds".to_string(),
            ]);
        }
        a
    };
    let run = |a: Vec<String>| w.run(&a.iter().map(String::as_str).collect::<Vec<_>>());

    // No terminal and no --auto-approve: refused, nothing written, nothing created.
    let before = w.tree();
    let o = run(args("apply"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refusing to apply without --auto-approve"),
        "{}",
        stderr(&o)
    );
    let mut after = w.tree();
    after.retain(|p, _| !p.starts_with("state"));
    assert_eq!(before, after);

    let mut a = args("apply");
    a.push("--auto-approve".into());
    let o = run(a);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Plan: 28 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(
        out.contains("Apply complete! Resources: 28 added, 0 changed, 0 destroyed."),
        "{out}"
    );
    // Not a terminal: one timestamped line per event.
    assert!(
        out.lines().any(
            |l| l.ends_with(&format!("done    s3_bucket.{name}-oidc (created, "))
                || l.contains(&format!("done    s3_bucket.{name}-oidc (created"))
        ),
        "{out}"
    );

    let o = run(args("plan"));
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("No changes."), "{}", stdout(&o));
    assert!(
        // 24 reads of the recorded resources, then the scan for untracked ones: one
        // ListRoles page and one ListOpenIDConnectProviders; and GetAccountSummary.
        stdout(&o).contains("Refreshing 28 resources ... done (27 AWS reads"),
        "{}",
        stdout(&o)
    );

    let mut d = args("destroy");
    d.push("--auto-approve".into());
    let o = run(d);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Destroy complete! Resources: 28 destroyed."),
        "{}",
        stdout(&o)
    );
    let o = run(args("plan"));
    assert!(stdout(&o).contains("Plan: 28 to add"), "{}", stdout(&o));
}

/// `plan --out` then `apply FILE` against moto; stale saved plans are refused.
#[test]
fn saved_plans_apply_exactly_and_refuse_when_stale() {
    crate::support::endpoint();
    let w = Work::new(); // no key pair yet: the saved plan carries the kid as unknown
    let name = crate::moto_account::unique_name();
    let base = |verb: &str| -> Vec<String> {
        [
            verb,
            "--name",
            &name,
            "--region",
            "us-east-2",
            "--output-dir",
            "install",
            "--credentials-requests-dir",
            "creds",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |mut a: Vec<String>, extra: &[&str]| {
        a.extend(extra.iter().map(|s| s.to_string()));
        w.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // Detailed exit code: 2 = changes present.
    let o = run(
        base("plan"),
        &["--out", "first.plan", "--detailed-exitcode"],
    );
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Saved the plan to first.plan."),
        "{}",
        stdout(&o)
    );
    let saved = std::fs::read_to_string(w.path().join("first.plan")).unwrap();
    assert!(!saved.contains("PRIVATE KEY"));
    assert!(
        !w.path()
            .join("install/serviceaccount-signer.private")
            .exists()
    );

    // Applying the saved plan needs no confirmation, no other flag, and does exactly it.
    let o = w.run(&["apply", "first.plan"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Apply complete! Resources: 28 added, 0 changed, 0 destroyed."),
        "{}",
        stdout(&o)
    );
    let o = run(base("plan"), &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // The same file again: the state moved on, and the key it lacked now exists. Flags
    // beside a plan that agree with it are accepted (and the plan is still refused).
    let mut apply = base("apply");
    apply.insert(1, "first.plan".into());
    let o = run(apply.clone(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("first.plan: what this plan was made from has changed since; plan again:\n  - the state changed (serial 0 → ")
            && stderr(&o).contains("\n  - the signing key changed (kid none → "),
        "{}",
        stderr(&o)
    );

    // A changed request file: refused, naming the file; nothing applied.
    let o = run(base("plan"), &["--out", "same.plan"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ebs = w.path().join("creds/03_credentials_request_aws.yaml");
    let text = std::fs::read_to_string(&ebs).unwrap();
    std::fs::write(&ebs, text.replace("ec2:AttachVolume", "ec2:AttachVolumes")).unwrap();
    std::fs::write(w.path().join("creds/new.yaml"), "# a new file\n").unwrap();
    let state_before =
        std::fs::read_to_string(w.path().join(format!("state/{name}.toml"))).unwrap();
    let o = w.run(&["apply", "same.plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: same.plan: what this plan was made from has changed since; plan again:\n  \
         - the requests changed: creds/03_credentials_request_aws.yaml (modified), creds/new.yaml (added)\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.path().join(format!("state/{name}.toml"))).unwrap(),
        state_before
    );
    std::fs::write(&ebs, &text).unwrap();
    std::fs::remove_file(w.path().join("creds/new.yaml")).unwrap();

    // Flags next to a plan that disagree with it are refused, each named.
    let o = w.run(&[
        "apply",
        "same.plan",
        "--name",
        "other",
        "--output-dir",
        "elsewhere",
        "--user-tags",
        "team=x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("same.plan: a saved plan carries its settings; these flags disagree with it:")
            && err.contains(&format!("--name other (the plan has {name})"))
            && err.contains("--output-dir ")
            && err.contains("--user-tags team=x (the plan has no tag `team`)"),
        "{err}"
    );
    let o = w.run(&["apply", "same.plan", "--config", "stsform.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--config stsform.toml is not read with it"),
        "{}",
        stderr(&o)
    );

    // A destroy plan, applied by `destroy PLANFILE`; an apply plan is not a destroy plan.
    let o = run(base("plan"), &["--destroy", "--out", "destroy.plan"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Plan: 0 to add, 0 to change, 28 to destroy."),
        "{}",
        stdout(&o)
    );
    let o = w.run(&["destroy", "same.plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("same.plan is an apply plan; run `stsform apply same.plan`"));
    let o = w.run(&["destroy", "destroy.plan"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Destroy complete! Resources: 28 destroyed."),
        "{}",
        stdout(&o)
    );

    // Another state history (lineage) is refused too.
    let o = run(base("plan"), &["--out", "again.plan"]);
    assert_eq!(o.status.code(), Some(0));
    std::fs::remove_file(w.path().join(format!("state/{name}.toml"))).unwrap();
    let o = w.run(&["apply", "again.plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("again.plan: what this plan was made from has changed since; plan again:\n  - the state was replaced (lineage"),
        "{}",
        stderr(&o)
    );

    // Not a plan at all.
    std::fs::write(w.path().join("junk.plan"), "{}").unwrap();
    let o = w.run(&["apply", "junk.plan"]);
    assert!(
        stderr(&o).contains("junk.plan: not a saved stsform plan"),
        "{}",
        stderr(&o)
    );
    // --out needs a refreshed plan.
    let o = run(base("plan"), &["--out", "x.plan", "--refresh=false"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--out needs a refreshed plan"));
}

#[test]
fn offline_plans_in_china_and_govcloud_name_the_partition_everywhere() {
    let w = Work::new().with_fixed_key();
    for (region, suffix, partition) in [
        ("cn-north-1", "amazonaws.com.cn", "aws-cn"),
        ("us-gov-east-1", "amazonaws.com", "aws-us-gov"),
    ] {
        let state = format!("state/{region}.toml");
        let o = w.run(&[
            "plan",
            "--name",
            "p1",
            "--region",
            region,
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
            "--state",
            &state,
            "--refresh=false",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&format!(
                "serviceAccountIssuer: https://p1-oidc.s3.{region}.{suffix}"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!("\"arn:{partition}:s3:::p1-oidc/*\"")),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "+ url         = \"https://p1-oidc.s3.{region}.{suffix}\""
            )) || out.contains(&format!("\"https://p1-oidc.s3.{region}.{suffix}\"")),
            "{out}"
        );
    }
}
