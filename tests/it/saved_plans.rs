//! Saved plans through the binary, beyond what `cli` checks: applied from another
//! directory without any flag, and followed when the checkout moved.

use std::path::Path;

const REGION: &str = "us-east-2";

/// `plan --out p` in one directory, `apply p` from another with no other flag: the plan
/// carries its settings and runs where it was made.
#[test]
fn a_saved_plan_applies_from_another_directory_without_flags() {
    let url = crate::support::endpoint();
    let work = crate::support::scratch("cluster", true);
    let name = crate::moto_account::unique_name();
    let run = |dir: &Path, args: &[&str]| {
        let o = crate::support::stsform(dir, &url)
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        work.path(),
        &[
            "plan",
            "--name",
            &name,
            "--region",
            REGION,
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
            "--user-tags",
            "team=platform",
            "--out",
            "cluster.plan",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("run: stsform apply cluster.plan (it carries its settings: no other flag is needed, from any directory)"),
        "{out}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let plan = work.path().join("cluster.plan");
    let (code, out, err) = run(elsewhere.path(), &["apply", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("Apply complete! Resources: 28 added, 0 changed, 0 destroyed."),
        "{out}"
    );
    // The plan was reviewed when it was saved: apply says what it does, not all of it
    // again; then only the progress (one start and one done line per change) and the end.
    let header = format!(
        "Applying the saved plan {}: 28 to add, 0 to change, 0 to destroy.\n\n",
        plan.display()
    );
    assert!(out.starts_with(&header), "{out}");
    let lines: Vec<&str> = out[header.len()..].lines().collect();
    let progress = lines
        .iter()
        .filter(|l| l.contains("Z start   ") || l.contains("Z done    "))
        .count();
    assert_eq!(progress, 2 * 28, "{out}");
    assert_eq!(lines.len(), progress + 2, "{out}");
    assert!(!out.contains("resource \""), "{out}");
    // Everything landed where the plan was made, nothing where apply ran.
    assert!(work.path().join(format!("state/{name}.toml")).exists());
    assert!(
        work.path()
            .join("install/manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml")
            .exists()
    );
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    // The user tag came with the plan.
    let (_, iam) = crate::support::sdk_clients(&url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let role = format!("{name}-openshift-ingress-operator-cloud-credentials");
    let tags = rt
        .block_on(iam.list_role_tags().role_name(&role).send())
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "team" && t.value() == "platform")
    );
    let (code, out, err) = run(
        work.path(),
        &[
            "destroy",
            "--name",
            &name,
            "--region",
            REGION,
            "--auto-approve",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
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

/// The checkout moved between plan and apply (another CI job, another path): run where
/// the requests are now, and the plan finds them there by their relative path; from
/// anywhere else it refuses, naming the directory it looked for.
#[test]
fn a_saved_plan_follows_a_moved_checkout() {
    let url = crate::support::endpoint();
    let first = crate::support::scratch("cluster", true);
    let name = crate::moto_account::unique_name();
    let run = |dir: &Path, args: &[&str]| {
        let o = crate::support::stsform(dir, &url)
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        first.path(),
        &[
            "plan",
            "--name",
            &name,
            "--region",
            REGION,
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
            "--out",
            "cluster.plan",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let moved = tempfile::tempdir().unwrap();
    copy_dir(first.path(), moved.path());
    let was = first.path().display().to_string();
    std::fs::remove_dir_all(first.path()).unwrap();

    // From a directory without the requests: refused, nothing applied.
    let elsewhere = tempfile::tempdir().unwrap();
    let plan = moved.path().join("cluster.plan");
    let (code, out, err) = run(elsewhere.path(), &["apply", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains(&format!("note: {was} (where "))
            && err.contains("the plan cannot be checked against its inputs")
            && err.contains(&format!(
                "the requests directory `creds` (in {}) cannot be read",
                elsewhere.path().display()
            )),
        "{err}"
    );
    assert!(!elsewhere.path().join("state").exists());

    // From the moved checkout: the same files, found by content; applied there.
    let (code, out, err) = run(moved.path(), &["apply", "cluster.plan"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Apply complete! Resources: 28 added"), "{out}");
    assert!(moved.path().join(format!("state/{name}.toml")).exists());
    let (code, out, err) = run(
        moved.path(),
        &[
            "destroy",
            "--name",
            &name,
            "--region",
            REGION,
            "--auto-approve",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
}
