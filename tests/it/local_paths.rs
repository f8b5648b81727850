//! Local files' paths through the binary against moto: recorded relative to the settings
//! base, so the same settings plan `No changes.` from any working directory and from
//! another checkout; a moved output directory with the same key is not an issuer change;
//! a state of the older format (paths relative to the working directory) still plans
//! `No changes.` and is rewritten in the new one.

use std::path::Path;
use std::process::Output;

use crate::binary::text;
use crate::harness::expected_cluster_inventory;
use crate::moto_account::unique_name;
use crate::support::stdout;

const AUTH: &str = "manifests/cluster-authentication-02-config.yaml";

fn run(dir: &Path, moto: &str, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    crate::binary::command(dir, moto, &args).output().unwrap()
}

/// Exit 0 and `No changes.`, nothing planned.
fn assert_no_changes(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(0), "{what}: {}", text(o));
    let out = stdout(o);
    assert!(
        out.contains("No changes.") && !out.contains("deleted") && !out.contains("Plan:"),
        "{what}: {}",
        text(o)
    );
}

/// A scratch cluster whose settings live in `cfg/stsform.toml`, with the requests in
/// `creds/` and the output directory `install2/` (holding the fixed key) beside it.
fn cluster_with_settings_in_cfg(name: &str) -> tempfile::TempDir {
    let dir = crate::support::scratch("cluster", true);
    std::fs::rename(dir.path().join("install"), dir.path().join("install2")).unwrap();
    std::fs::create_dir(dir.path().join("cfg")).unwrap();
    std::fs::write(
        dir.path().join("cfg/stsform.toml"),
        format!(
            "name = \"{name}\"\nregion = \"us-east-2\"\ncredentials_requests_dir = \"../creds\"\noutput_dir = \"../install2\"\n"
        ),
    )
    .unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The lead's reproduction: apply with `--config cfg/stsform.toml` from the parent
/// directory, then plan from `cfg/`, from a third directory and from a copy of the whole
/// tree at another path (another CI checkout): `No changes.` everywhere.
#[test]
fn the_same_settings_plan_no_changes_from_any_directory() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let name = unique_name();
    let dir = cluster_with_settings_in_cfg(&name);
    let root = dir.path();
    let cfg = root.join("cfg");

    let o = run(
        root,
        &moto,
        &["apply", "--config", "cfg/stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("Apply complete! Resources: 28 added"),
        "{}",
        text(&o)
    );
    assert!(root.join("install2").join(AUTH).exists());
    // Recorded from the settings file's directory, as written in it: nothing of the
    // working directory or of this checkout's path.
    let state = std::fs::read_to_string(cfg.join(format!("state/{name}.toml"))).unwrap();
    assert!(state.starts_with("version = 3\n"), "{state}");
    assert!(
        state.contains(&format!("path = \"../install2/{AUTH}\"")),
        "{state}"
    );
    assert!(
        state.contains("private_key_file = \"../install2/serviceaccount-signer.private\""),
        "{state}"
    );
    assert!(!state.contains(&root.display().to_string()), "{state}");

    let o = run(&cfg, &moto, &["plan", "--config", "stsform.toml"]);
    assert_no_changes(&o, "from cfg/");
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = run(
        &elsewhere,
        &moto,
        &["plan", "--config", "../cfg/stsform.toml"],
    );
    assert_no_changes(&o, "from a sibling directory");
    let absolute = cfg.join("stsform.toml");
    let o = run(
        Path::new("/"),
        &moto,
        &["plan", "--config", absolute.to_str().unwrap()],
    );
    assert_no_changes(&o, "from / with an absolute --config");
    let checkout = tempfile::tempdir().unwrap();
    copy_dir(root, checkout.path());
    let o = run(
        checkout.path(),
        &moto,
        &["plan", "--config", "cfg/stsform.toml"],
    );
    assert_no_changes(&o, "from another checkout");
    // A flag relative to the working directory names the same directory.
    let o = run(
        &cfg,
        &moto,
        &[
            "plan",
            "--config",
            "stsform.toml",
            "--output-dir",
            "../install2",
        ],
    );
    assert_no_changes(&o, "--output-dir from cfg/");

    // Plans show the paths as found from where they run.
    std::fs::remove_file(root.join("install2").join(AUTH)).unwrap();
    for (here, shown) in [
        (root.to_path_buf(), format!("install2/{AUTH}")),
        (cfg.clone(), format!("../install2/{AUTH}")),
    ] {
        let config = if here == cfg {
            "stsform.toml"
        } else {
            "cfg/stsform.toml"
        };
        let o = run(&here, &moto, &["plan", "--config", config]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&format!(
                "file.{AUTH} will be created (it was deleted outside stsform)"
            )) && out.contains(&format!("+ path    = \"{shown}\""))
                && out.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
            "{}",
            text(&o)
        );
    }

    // Destroy from cfg/ finds the files where the state says.
    let o = run(
        &cfg,
        &moto,
        &["destroy", "--config", "stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!root.join("install2/serviceaccount-signer.private").exists());
    assert!(
        !root
            .join(
                "install2/manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml"
            )
            .exists()
    );
    assert!(rt.block_on(account_inventory(&account, &name)).is_empty());
}

async fn account_inventory(
    account: &crate::moto_account::MotoAccount,
    name: &str,
) -> std::collections::BTreeSet<String> {
    use crate::harness::Account;
    account.inventory(name).await
}

/// The output directory moves and takes the same key along: the key pair is updated in
/// place (written where it goes, removed where it was), the manifests are replaced, and
/// nothing the cluster validates tokens with changes. Before, the key pair's paths forced
/// a replacement, which the issuer protection refused.
#[test]
fn moving_the_output_directory_with_the_same_key_is_not_an_issuer_change() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let name = unique_name();
    let dir = crate::support::scratch("cluster", true);
    let root = dir.path();
    let settings = |out: &str| {
        format!(
            "name = \"{name}\"\nregion = \"us-east-2\"\ncredentials_requests_dir = \"creds\"\noutput_dir = \"{out}\"\n"
        )
    };
    std::fs::write(root.join("stsform.toml"), settings("install")).unwrap();
    let o = run(root, &moto, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (s3, _) = crate::support::sdk_clients(&moto);
    let jwks = || {
        let body = rt
            .block_on(
                s3.get_object()
                    .bucket(format!("{name}-oidc"))
                    .key("keys.json")
                    .send(),
            )
            .unwrap()
            .body;
        rt.block_on(body.collect()).unwrap().into_bytes()
    };
    let served = jwks();

    copy_dir(&root.join("install"), &root.join("install2"));
    std::fs::write(root.join("stsform.toml"), settings("install2")).unwrap();
    let o = run(root, &moto, &["plan"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("# key_pair.serviceaccount-signer will be updated in-place")
            && out.contains(
                "~ private_key_file = \"install/serviceaccount-signer.private\" -> \"install2/serviceaccount-signer.private\""
            )
            && out.contains(&format!("# file.{AUTH} must be replaced"))
            && out.contains("Plan: 9 to add, 1 to change, 9 to destroy."),
        "{}",
        text(&o)
    );
    assert!(
        !out.contains("token validation")
            && !out.contains("key_pair.serviceaccount-signer must be replaced"),
        "{}",
        text(&o)
    );

    let o = run(root, &moto, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for file in [
        "serviceaccount-signer.private",
        "serviceaccount-signer.public",
        AUTH,
    ] {
        assert!(root.join("install2").join(file).exists(), "{file}");
        assert!(
            !root.join("install").join(file).exists(),
            "{file} left behind"
        );
    }
    assert_eq!(jwks(), served, "keys.json changed");
    assert_no_changes(&run(root, &moto, &["plan"]), "after the move");
    let o = run(
        root,
        &moto,
        &[
            "destroy",
            "--name",
            &name,
            "--region",
            "us-east-2",
            "--auto-approve",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(rt.block_on(account_inventory(&account, &name)).is_empty());
}

/// A plan saved with `--config cfg/stsform.toml` in one checkout and applied in another
/// (the first is gone, as in another CI job): run from where the tree is now, it writes
/// the files under the settings base there, and the state it saves plans `No changes.`
/// from `cfg/`.
#[test]
fn a_saved_plan_made_with_a_settings_file_applies_in_a_moved_checkout() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let name = unique_name();
    let outer = tempfile::tempdir().unwrap();
    let dir = cluster_with_settings_in_cfg(&name);
    let first = outer.path().join("first");
    copy_dir(dir.path(), &first);
    let o = run(
        &first,
        &moto,
        &["apply", "--config", "cfg/stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(first.join("install2").join(AUTH)).unwrap();
    let o = run(
        &first,
        &moto,
        &["plan", "--config", "cfg/stsform.toml", "--out", "fix.plan"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let second = outer.path().join("second");
    std::fs::rename(&first, &second).unwrap();
    let o = run(&second, &moto, &["apply", "fix.plan"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).starts_with(
            "Applying the saved plan fix.plan: 1 to add, 0 to change, 0 to destroy.\n"
        ),
        "{}",
        text(&o)
    );
    assert!(second.join("install2").join(AUTH).exists());
    assert!(!first.exists());
    assert_no_changes(
        &run(
            &second.join("cfg"),
            &moto,
            &["plan", "--config", "stsform.toml"],
        ),
        "after the saved plan, from cfg/",
    );
    let o = run(
        &second,
        &moto,
        &["destroy", "--config", "cfg/stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(rt.block_on(account_inventory(&account, &name)).is_empty());
}

/// A state of format 2, written by an older stsform run from the parent directory with
/// `--config cfg/stsform.toml` (its paths relative to that directory): run from there, it
/// still plans `No changes.`; the next apply, without changes, writes format 3, after which
/// a plan from `cfg/` finds the files too.
#[test]
fn an_older_state_format_still_plans_no_changes() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let name = unique_name();
    let dir = cluster_with_settings_in_cfg(&name);
    let root = dir.path();
    let cfg = root.join("cfg");
    let o = run(
        root,
        &moto,
        &["apply", "--config", "cfg/stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        rt.block_on(account_inventory(&account, &name)),
        expected_cluster_inventory(&name)
    );

    // What stsform 0.1 wrote: version 2, paths as `cfg/` joined with the file's value.
    let path = cfg.join(format!("state/{name}.toml"));
    let current = std::fs::read_to_string(&path).unwrap();
    let old = current
        .replacen("version = 3\n", "version = 2\n", 1)
        .replace("= \"../install2/", "= \"cfg/../install2/");
    assert_eq!(old.matches("\"cfg/../install2/").count(), 11, "{old}");
    std::fs::write(&path, &old).unwrap();

    assert_no_changes(
        &run(root, &moto, &["plan", "--config", "cfg/stsform.toml"]),
        "a format 2 state from where it was made",
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        old,
        "a plan wrote the state"
    );
    let o = run(
        root,
        &moto,
        &["apply", "--config", "cfg/stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("No changes.")
            && stdout(&o).contains("Apply complete! Resources: 0 added, 0 changed, 0 destroyed."),
        "{}",
        text(&o)
    );
    let rewritten = std::fs::read_to_string(&path).unwrap();
    assert!(rewritten.starts_with("version = 3\n"), "{rewritten}");
    assert!(!rewritten.contains("cfg/../"), "{rewritten}");
    assert_eq!(
        rewritten.replacen(&serial(&rewritten), &serial(&current), 1),
        current,
        "format 3 records the paths as a fresh apply does"
    );
    assert_no_changes(
        &run(&cfg, &moto, &["plan", "--config", "stsform.toml"]),
        "the rewritten state from cfg/",
    );
    let o = run(
        root,
        &moto,
        &["destroy", "--config", "cfg/stsform.toml", "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The `serial = N` line of a state.
fn serial(state: &str) -> String {
    state
        .lines()
        .find(|l| l.starts_with("serial = "))
        .unwrap()
        .to_string()
}
