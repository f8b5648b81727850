//! The real binary's exit codes and output when things are off: usage errors exit 1
//! (help and version 0; 2 stays "changes present" under `--detailed-exitcode`), a closed
//! stdout ends quietly (plan, apply, completions), a requests directory with no AWS
//! CredentialsRequest is refused, issuer changes are refused unless allowed, and the
//! default state follows `--config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::binary::{Cluster, text};
use crate::harness::{Account, expected_cluster_inventory, expected_cluster_inventory_in};
use crate::moto_account::unique_name;
use crate::support::{stderr, stdout};

/// The binary in `dir`, reaching only loopback (the emulator, or a closed port).
fn offline(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = crate::support::stsform(dir, &crate::support::endpoint_or_closed_port());
    cmd.env("AWS_MAX_ATTEMPTS", "1")
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with stdout a pipe whose reader is already gone: every write to it fails
/// with EPIPE, as after `| head -1` has read its line and exited.
fn with_closed_stdout(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap()
}

/// Runs `cmd` as `cmd | head -1` under `set -o pipefail`: the exit code is stsform's
/// unless head's is not 0; stdout is head's one line.
fn through_head(cmd: &Command) -> Output {
    let mut shell = Command::new("bash");
    shell
        .arg("-c")
        .arg("set -o pipefail; \"$0\" \"$@\" | head -1")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(cmd.get_current_dir().unwrap())
        .stdin(Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => shell.env(k, v),
            None => shell.env_remove(k),
        };
    }
    shell.output().unwrap()
}

fn assert_quiet(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("backtrace"),
        "{what}: {}",
        text(o)
    );
}

/// Every file under `dir` with its bytes: "nothing written" is equality.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                walk(base, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Each `args` is a usage error: exit 1 (never 2, which CI reads as "changes present"),
/// clap's message on stderr, and nothing written.
fn usage_error(cases: &[(&[&str], &str)]) {
    let c = Cluster::new("prod-east");
    let before = tree(c.path());
    for (args, message) in cases {
        let o = offline(c.path(), args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", text(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", text(&o));
    }
    assert_eq!(tree(c.path()), before, "a usage error wrote something");
}

#[test]
fn an_unknown_flag_exits_1() {
    usage_error(&[
        (
            &["plan", "--formt", "markdown"],
            "unexpected argument '--formt'",
        ),
        (
            &["apply", "--auto-aprove"],
            "unexpected argument '--auto-aprove'",
        ),
    ]);
}

/// A flag the command has but does not use is refused like an unknown one, naming the
/// flag and the command, before anything is read or written.
#[test]
fn a_flag_the_command_does_not_use_exits_1() {
    usage_error(&[
        (
            &[
                "validate",
                "--credentials-requests-dir",
                "creds",
                "--thumbprint",
                "AB",
            ],
            "error: unexpected argument '--thumbprint' found\n\n  tip: `stsform validate` does not use --thumbprint",
        ),
        (
            &[
                "destroy",
                "--name",
                "prod-east",
                "--region",
                "us-east-2",
                "--verbose",
            ],
            "tip: `stsform destroy` does not use --verbose",
        ),
        (
            &["destroy", "--name", "prod-east", "--allow-issuer-change"],
            "it takes no --allow-issuer-change",
        ),
        (
            &[
                "graph",
                "--credentials-requests-dir",
                "creds",
                "--state",
                "s.toml",
            ],
            "tip: `stsform graph` does not use --state",
        ),
        (
            &["graph", "--allow-issuer-change"],
            "unexpected argument '--allow-issuer-change'",
        ),
        (
            &["apply", "--include-unmanaged"],
            "tip: --include-unmanaged is for destroy",
        ),
        (
            &[
                "verify",
                "--permissions-boundary-arn",
                "arn:aws:iam::1:policy/b",
            ],
            "Usage: stsform verify [OPTIONS]",
        ),
        (
            &["rotate-key", "--allow-issuer-change"],
            "unexpected argument '--allow-issuer-change'",
        ),
    ]);
}

#[test]
fn a_bad_enum_value_exits_1() {
    usage_error(&[
        (
            &["plan", "--format", "yaml"],
            "invalid value 'yaml' for '--format",
        ),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
    ]);
}

#[test]
fn an_out_of_range_or_unparsable_number_exits_1() {
    usage_error(&[
        (&["plan", "--parallelism", "0"], "0 is not in 1..=100"),
        (&["apply", "--parallelism", "101"], "101 is not in 1..=100"),
        (&["plan", "--parallelism", "ten"], "invalid value 'ten'"),
        (
            &["plan", "--lock-timeout", "soon"],
            "`soon` is not a duration",
        ),
    ]);
}

#[test]
fn an_unknown_subcommand_exits_1() {
    usage_error(&[
        (&["plna"], "unrecognized subcommand 'plna'"),
        (&["state", "ls"], "unrecognized subcommand 'ls'"),
    ]);
}

#[test]
fn a_missing_required_argument_exits_1() {
    usage_error(&[
        (
            &["force-unlock"],
            "the following required arguments were not provided",
        ),
        (
            &["completions"],
            "the following required arguments were not provided",
        ),
        (
            &["state", "rm", "--name", "x"],
            "the following required arguments were not provided",
        ),
        (&["plan", "--format"], "a value is required for '--format"),
        (&[], "Usage: stsform <COMMAND>"),
    ]);
}

#[test]
fn help_and_version_exit_0() {
    let c = Cluster::new("prod-east");
    for args in [
        &["--help"][..],
        &["--version"],
        &["plan", "--help"],
        &["help"],
    ] {
        let o = offline(c.path(), args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert!(!stdout(&o).is_empty(), "{args:?}");
    }
    // Into a closed pipe too.
    let o = with_closed_stdout(&mut offline(c.path(), &["--help"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_quiet(&o, "--help");
}

#[test]
fn plan_and_completions_into_a_closed_pipe_end_quietly() {
    let c = Cluster::new("prod-east");
    let mut plan = c.args("plan");
    plan.push("--refresh=false".into());
    let args: Vec<&str> = plan.iter().map(String::as_str).collect();
    let o = with_closed_stdout(&mut offline(c.path(), &args));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_quiet(&o, "plan");
    // The exit code is the plan's, not the pipe's.
    plan.push("--detailed-exitcode".into());
    let args: Vec<&str> = plan.iter().map(String::as_str).collect();
    let o = with_closed_stdout(&mut offline(c.path(), &args));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_quiet(&o, "plan --detailed-exitcode");
    let o = through_head(&offline(c.path(), &args));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", text(&o));
    assert_quiet(&o, "plan | head -1");

    for shell in ["bash", "zsh", "fish"] {
        let o = with_closed_stdout(&mut offline(c.path(), &["completions", shell]));
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", text(&o));
        assert_quiet(&o, shell);
        assert!(stderr(&o).is_empty(), "{shell}: {}", text(&o));
    }
    let o = through_head(&offline(c.path(), &["completions", "bash"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout(&o), "_stsform() {\n");
    assert_quiet(&o, "completions | head -1");
}

#[test]
fn apply_into_a_closed_pipe_finishes_and_saves_its_state() {
    let (rt, moto, account) = crate::binary::moto_setup();
    for head in [false, true] {
        let c = Cluster::new(&unique_name());
        let mut apply = c.command(&moto, &c.args("apply"));
        let o = if head {
            through_head(&apply)
        } else {
            with_closed_stdout(&mut apply)
        };
        assert_eq!(o.status.code(), Some(0), "head {head}: {}", text(&o));
        assert_quiet(&o, "apply");
        // Every change was made and recorded, although nobody read about it.
        assert_eq!(c.state().resources.len(), 28);
        assert_eq!(
            rt.block_on(account.inventory(&c.name)),
            expected_cluster_inventory(&c.name)
        );
        let destroy = c.run(&moto, &c.args("destroy"));
        assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
    }
}

#[test]
fn a_directory_without_aws_requests_is_refused_by_every_command() {
    let c = Cluster::new("prod-east");
    std::fs::create_dir(c.path().join("empty")).unwrap();
    let gcp = c.path().join("gcp");
    std::fs::create_dir(&gcp).unwrap();
    std::fs::copy(
        crate::derive::root()
            .join("tests/fixtures/credreqs/ccoctl-testdata/05-gcp-ro-credentialsrequest.yaml"),
        gcp.join("gcp.yaml"),
    )
    .unwrap();
    let before = tree(c.path());
    for dir in ["empty", "gcp"] {
        for verb in ["validate", "plan", "apply", "graph", "verify", "import"] {
            let mut args = c.args(verb);
            let at = args.iter().position(|a| a == "creds").unwrap();
            args[at] = dir.into();
            if verb == "validate" {
                // validate writes nothing, so it takes no --output-dir.
                let at = args.iter().position(|a| a == "--output-dir").unwrap();
                args.drain(at..at + 2);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = offline(c.path(), &args).output().unwrap();
            assert_eq!(o.status.code(), Some(1), "{verb} {dir}: {}", text(&o));
            let err = stderr(&o);
            assert!(
                err.contains(&format!("  {dir}: no AWS CredentialsRequest found"))
                    && err.contains("run `stsform destroy`"),
                "{verb} {dir}: {}",
                text(&o)
            );
            if dir == "gcp" {
                assert!(
                    err.contains("(1 document skipped, see the note above)"),
                    "{err}"
                );
                assert!(
                    err.contains("note: skipped 1 non-AWS document in 1 file"),
                    "{err}"
                );
            }
            if verb == "plan" || verb == "apply" {
                assert!(err.contains("--allow-deleting-all-roles"), "{err}");
            }
        }
    }
    assert_eq!(tree(c.path()), before, "a refused run wrote something");

    // The flag accepts an empty set on purpose: an offline plan of the issuer alone.
    let o = offline(
        c.path(),
        &[
            "plan",
            "--name",
            "prod-east",
            "--region",
            "us-east-2",
            "--credentials-requests-dir",
            "empty",
            "--output-dir",
            "install",
            "--refresh=false",
            "--allow-deleting-all-roles",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("Plan: 7 to add, 0 to change, 0 to destroy."),
        "{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("iam_role."), "{}", text(&o));
}

#[test]
fn issuer_changes_are_refused_through_the_binary_and_a_saved_plan_carries_the_flag() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let apply = c.run(&moto, &c.args("apply"));
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let before = rt.block_on(account.inventory(&c.name));
    let west = |verb: &str| -> Vec<String> {
        let mut a = c.args(verb);
        let at = a.iter().position(|x| x == "us-east-2").unwrap();
        a[at] = "us-west-2".into();
        a
    };

    // Moving the issuer deletes the provider and replaces the bucket: refused, shown.
    for verb in ["plan", "apply"] {
        let o = c.run(&moto, &west(verb));
        assert_eq!(o.status.code(), Some(1), "{verb}: {}", text(&o));
        let host = format!("{}-oidc.s3.us-east-2.amazonaws.com", c.name);
        let err = stderr(&o);
        assert!(
            err.contains("error: refusing 4 changes that break token validation")
                && err.contains(&format!("\n  iam_oidc_provider.{host} will be destroyed\n"))
                && err.contains("pods on the cluster would stop getting AWS credentials")
                && err.contains("--allow-issuer-change"),
            "{verb}: {}",
            text(&o)
        );
        assert!(
            stdout(&o).contains("Warning: these changes break token validation"),
            "{verb}: {}",
            text(&o)
        );
        assert!(!stdout(&o).contains("start   "), "{verb} started changes");
    }
    assert_eq!(rt.block_on(account.inventory(&c.name)), before);
    // JSON says so too.
    let mut json = west("plan");
    json.extend(["--format".into(), "json".into()]);
    let o = c.run(&moto, &json);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["issuer_changes"].as_array().unwrap().len(), 4, "{v}");

    // Made with --allow-issuer-change, a saved plan applies without the flag.
    let mut plan = west("plan");
    plan.extend([
        "--allow-issuer-change".into(),
        "--out".into(),
        "move.plan".into(),
    ]);
    let o = c.run(&moto, &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut apply = west("apply");
    apply.insert(1, "move.plan".into());
    let o = c.run(&moto, &apply);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Not the plan again, but what it does and the issuer changes it was made to allow.
    let out = stdout(&o);
    let host = format!("{}-oidc.s3.us-east-2.amazonaws.com", c.name);
    assert!(
        out.starts_with("Applying the saved plan move.plan: 4 to add, 8 to change, 4 to destroy.\n\
                         Warning: these changes break token validation for the running cluster (allowed when the plan was made):\n")
            && out.contains(&format!("\n  iam_oidc_provider.{host} will be destroyed\n")),
        "{}",
        text(&o)
    );
    assert!(!out.contains("will perform the following actions"), "{out}");
    assert_eq!(
        rt.block_on(account.inventory(&c.name)),
        expected_cluster_inventory_in(&c.name, "us-west-2")
    );
    let o = c.run(&moto, &west("destroy"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(rt.block_on(account.inventory(&c.name)).is_empty());
}

#[test]
fn the_default_state_sits_next_to_the_settings_file() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let cfg = c.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    // The output dir is absolute: local files are recorded by the path they were written
    // at, and this test is about the state's location, not theirs.
    std::fs::write(
        cfg.join("stsform.toml"),
        format!(
            "name = \"{}\"\nregion = \"us-east-2\"\ncredentials_requests_dir = \"../creds\"\noutput_dir = \"{}\"\n",
            c.name,
            c.path().join("install").display()
        ),
    )
    .unwrap();
    let o = c.run(
        &moto,
        &["apply", "--config", "cfg/stsform.toml", "--auto-approve"].map(String::from),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(cfg.join(format!("state/{}.toml", c.name)).exists());
    assert!(
        !c.state_path().exists(),
        "state written in the working directory"
    );

    // From another directory, the same settings file finds the same state.
    let elsewhere = c.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = crate::binary::command(
        &elsewhere,
        &moto,
        &["plan", "--config", "../cfg/stsform.toml"].map(String::from),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("No changes."), "{}", text(&o));
    assert!(!elsewhere.join("state").exists());

    let o = c.run(
        &moto,
        &["destroy", "--config", "cfg/stsform.toml", "--auto-approve"].map(String::from),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(rt.block_on(account.inventory(&c.name)).is_empty());
}
