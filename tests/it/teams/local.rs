//! A local state through the binary: `state list/show/rm`, `--lock-timeout` and
//! `force-unlock` of a stale lock, and the help of the team commands.

use super::*;

/// A local state holding a few resources, written through the library.
fn local_state(w: &Work, name: &str) -> PathBuf {
    let path = w.path().join(format!("state/{name}.toml"));
    let settings = crate::derive::settings(name, REGION, &root().join("examples/cluster"));
    let requests = crate::derive::requests(&root().join("examples/cluster"));
    let desired = stsform::desired::derive(
        &requests,
        &settings,
        &stsform::desired::Facts {
            account_id: Some(crate::harness::ACCOUNT_ID.into()),
            signing_key: Some(crate::derive::fixed_key()),
            ..Default::default()
        },
    )
    .unwrap();
    let file = StateFile::lock(&path, "test", Duration::ZERO).unwrap();
    let mut state = State::new(name);
    for (id, r) in desired.resources {
        state.resources.insert(
            id,
            stsform::state::StateResource {
                spec: r.spec,
                depends_on: r.depends_on,
            },
        );
    }
    file.save(&mut state).unwrap();
    path
}

#[test]
fn local_state_list_show_rm() {
    let w = Work::new();
    let path = local_state(&w, "prod-east");
    let o = w.run(&["state", "list", "--name", "prod-east"]);
    let listed = ok(&o);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 28);
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    let role = "iam_role.prod-east-openshift-ingress-operator-cloud-credentials";
    assert!(lines.contains(&role));

    let o = w.run(&["state", "show", role, "--name", "prod-east"]);
    let shown = ok(&o);
    assert!(shown.starts_with(&format!("# {role}\n")), "{shown}");
    assert!(
        shown.contains("trust_policy = {\n  \"Statement\": ["),
        "policies are shown as JSON: {shown}"
    );
    assert!(
        shown.contains("\"sts:AssumeRoleWithWebIdentity\""),
        "{shown}"
    );

    let err = failed(&w.run(&["state", "show", "iam_role.nope", "--name", "prod-east"]));
    assert!(
        err.contains("no resource `iam_role.nope` in the state"),
        "{err}"
    );

    // rm: unknown ids are refused and change nothing.
    let before = std::fs::read_to_string(&path).unwrap();
    let err = failed(&w.run(&["state", "rm", role, "iam_role.nope", "--name", "prod-east"]));
    assert!(
        err.contains("no resource `iam_role.nope` in the state")
            && err.contains("nothing was removed"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    let policy = role.replace("iam_role.", "iam_role_policy.");
    let o = w.run(&["state", "rm", role, &policy, "--name", "prod-east"]);
    let removed = ok(&o);
    assert!(
        removed.contains(&format!("Removed {role}\nRemoved {policy}\n")),
        "{removed}"
    );
    assert!(
        removed.contains("Successfully removed 2 resources from the state (serial 2)"),
        "{removed}"
    );
    let state = State::from_toml(&std::fs::read_to_string(&path).unwrap(), "s").unwrap();
    assert_eq!((state.serial, state.resources.len()), (2, 26));
    let o = w.run(&["state", "list", "--name", "prod-east"]);
    assert!(!ok(&o).contains(role));
    // The default-path name is needed unless --state is given.
    let err = failed(&w.run(&["state", "list"]));
    assert!(err.contains("--name"), "{err}");
    let o = w.run(&["state", "list", "--state", "state/prod-east.toml"]);
    assert_eq!(ok(&o).lines().count(), 26);
}

#[test]
fn local_lock_timeout_waits_and_force_unlock_clears_a_stale_lock() {
    let w = Work::new();
    let path = local_state(&w, "prod-east");
    // `state rm` locks (an offline plan no longer does) and needs no AWS.
    let plan: &[&str] = &[
        "state",
        "rm",
        "iam_role.prod-east-openshift-ingress-operator-cloud-credentials",
        "--name",
        "prod-east",
    ];
    let held = StateFile::lock(&path, "apply", Duration::ZERO).unwrap();
    let err = failed(&w.run(plan));
    assert!(err.contains("state/prod-east.toml is locked by"), "{err}");

    let mut args = plan.to_vec();
    args.extend(["--lock-timeout", "30s"]);
    let started = Instant::now();
    let waiting = w
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    drop(held);
    let o = waiting.wait_with_output().unwrap();
    ok(&o);
    assert!(started.elapsed() >= Duration::from_millis(800));

    let o = w.run(&["plan", "--lock-timeout", "soon"]);
    assert_eq!(o.status.code(), Some(1), "a usage error (exit 1, never 2)");
    assert!(out(&o).contains("`soon` is not a duration"), "{}", out(&o));

    // A stale lock body (its process is gone): force-unlock needs the right id.
    let lock_file = w.path().join("state/prod-east.toml.lock");
    let info = stale_lock("6f1c0000-0000-4000-8000-000000000000");
    std::fs::write(&lock_file, serde_json::to_string(&info).unwrap()).unwrap();
    let err = failed(&w.run(&["force-unlock", "wrong", "--name", "prod-east"]));
    assert!(err.contains("does not match the current lock id"), "{err}");
    let o = w.run(&["force-unlock", &info.id, "--name", "prod-east"]);
    assert!(ok(&o).contains("has been unlocked"), "{}", out(&o));
    assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), "");
}

#[test]
fn new_commands_have_help_with_examples() {
    let w = Work::new();
    for args in [
        &["import", "--help"][..],
        &["state", "--help"],
        &["force-unlock", "--help"],
    ] {
        let o = w.run(args);
        assert!(ok(&o).contains("Example"), "{args:?}: {}", out(&o));
    }
    let o = w.run(&["apply", "--help"]);
    assert!(ok(&o).contains("--lock-timeout <DURATION>"));
}
