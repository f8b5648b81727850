//! Day-2 roles through the real binary against moto, as `ccoctl aws create-iam-roles`
//! users type them: with the cluster's own `--name`, and two teams' request sets for one
//! cluster. AWS itself is listed after every step.

use std::collections::BTreeSet;

use crate::binary::{Cluster, text};
use crate::harness::{ACCOUNT_ID, Account, expected_cluster_inventory};
use crate::moto_account::unique_name;

/// A day-2 request for Secret `<ns>/<secret>` (service account `default`).
fn request(ns: &str, secret: &str) -> String {
    format!(
        "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata:\n  name: {secret}\n  namespace: openshift-cloud-credential-operator\nspec:\n  secretRef:\n    name: {secret}\n    namespace: {ns}\n  serviceAccountNames:\n  - default\n  providerSpec:\n    apiVersion: cloudcredential.openshift.io/v1\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: Allow\n      action:\n      - s3:ListAllMyBuckets\n      resource: \"*\"\n"
    )
}

/// `verb` for day-2 roles of `c` from `dir`, trusting the cluster's provider; the
/// manifests go to `<out>-out`.
fn day2_to(c: &Cluster, verb: &str, dir: &str, out: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        verb,
        "--name",
        &c.name,
        "--region",
        "us-east-2",
        "--credentials-requests-dir",
        dir,
        "--identity-provider-arn",
        &format!(
            "arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{}-oidc.s3.us-east-2.amazonaws.com",
            c.name
        ),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Destroy finds its files in the state (the directory names the request set).
    if verb != "destroy" {
        a.extend(["--output-dir".into(), format!("{out}-out")]);
    }
    if verb != "plan" {
        a.push("--auto-approve".into());
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// `day2_to` with the manifests in `<dir>-out`.
fn day2(c: &Cluster, verb: &str, dir: &str, extra: &[&str]) -> Vec<String> {
    day2_to(c, verb, dir, dir, extra)
}

fn roles(inventory: &BTreeSet<String>) -> BTreeSet<String> {
    inventory
        .iter()
        .filter(|r| r.starts_with("role:"))
        .cloned()
        .collect()
}

#[test]
fn day2_with_the_clusters_name_leaves_the_cluster_untouched() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let o = c.run(&moto, &c.args("apply"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cluster = rt.block_on(account.inventory(&c.name));
    assert_eq!(cluster, expected_cluster_inventory(&c.name));
    let cluster_state = std::fs::read(c.state_path()).unwrap();
    std::fs::create_dir(c.path().join("day2")).unwrap();
    std::fs::write(
        c.path().join("day2/app.yaml"),
        request("default", "s3-access-secret"),
    )
    .unwrap();

    // The command of the issue: it used to plan 25 deletions against the cluster's state.
    let o = c.run(&moto, &day2(&c, "apply", "day2", &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("Apply complete! Resources: 3 added, 0 changed, 0 destroyed."),
        "{}",
        text(&o)
    );
    let app_role = format!("role:{}-default-s3-access-secret", c.name);
    let mut expected = cluster.clone();
    expected.insert(app_role.clone());
    expected.insert(format!(
        "role_policy:{0}-default-s3-access-secret/{0}-default-s3-access-secret",
        c.name
    ));
    assert_eq!(rt.block_on(account.inventory(&c.name)), expected);
    assert_eq!(std::fs::read(c.state_path()).unwrap(), cluster_state);
    let day2_state = c.path().join(format!("state/{}-roles-day2.toml", c.name));
    assert!(day2_state.exists());

    // The same, pointed at the cluster's state by hand: refused before any AWS call.
    for verb in ["plan", "apply", "destroy"] {
        let o = c.run(
            &moto,
            &day2(
                &c,
                verb,
                "day2",
                &["--state", &format!("state/{}.toml", c.name)],
            ),
        );
        assert_eq!(o.status.code(), Some(1), "{verb}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("this state manages the whole cluster"),
            "{verb}: {}",
            text(&o)
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("Refreshing"));
    }
    // And the cluster's own run, pointed at the day-2 state.
    let mut cluster_run = c.args("plan");
    cluster_run.extend(["--state".into(), day2_state.display().to_string()]);
    let o = c.run(&moto, &cluster_run);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds only day-2 roles"),
        "{}",
        text(&o)
    );
    assert_eq!(rt.block_on(account.inventory(&c.name)), expected);

    // Destroying the day-2 set removes its role only.
    let o = c.run(&moto, &day2(&c, "destroy", "day2", &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(rt.block_on(account.inventory(&c.name)), cluster);
    let o = c.run(&moto, &c.args("plan"));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("No changes."),
        "{}",
        text(&o)
    );
    let o = c.run(&moto, &c.args("destroy"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn two_day2_request_sets_for_one_cluster_coexist() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let o = c.run(&moto, &c.args("apply"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cluster = rt.block_on(account.inventory(&c.name));
    for (team, ns) in [("team-a", "payments"), ("team-b", "search")] {
        std::fs::create_dir(c.path().join(team)).unwrap();
        std::fs::write(c.path().join(team).join("app.yaml"), request(ns, "aws")).unwrap();
        let o = c.run(&moto, &day2(&c, "apply", team, &[]));
        assert_eq!(o.status.code(), Some(0), "{team}: {}", text(&o));
    }
    let role_a = format!("role:{}-payments-aws", c.name);
    let role_b = format!("role:{}-search-aws", c.name);
    let mut both = roles(&cluster);
    both.extend([role_a.clone(), role_b.clone()]);
    assert_eq!(roles(&rt.block_on(account.inventory(&c.name))), both);

    // Each set plans nothing for the other: no deletions.
    for team in ["team-a", "team-b"] {
        let o = c.run(&moto, &day2(&c, "plan", team, &["--detailed-exitcode"]));
        assert_eq!(o.status.code(), Some(0), "{team}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("No changes."));
    }
    // Team b pointed at team a's state is refused, with the way out.
    let a_state = format!("state/{}-roles-team-a.toml", c.name);
    let o = c.run(&moto, &day2(&c, "apply", "team-b", &["--state", &a_state]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("manages the day-2 request set `team-a`")
            && err.contains(&format!("state/{}-roles-team-b.toml", c.name))
            && err.contains("--request-set team-a"),
        "{}",
        text(&o)
    );
    assert_eq!(roles(&rt.block_on(account.inventory(&c.name))), both);

    // A renamed directory keeps its set by name.
    std::fs::rename(c.path().join("team-a"), c.path().join("payments")).unwrap();
    let o = c.run(
        &moto,
        &day2_to(
            &c,
            "plan",
            "payments",
            "team-a",
            &["--request-set", "team-a", "--detailed-exitcode"],
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = c.run(&moto, &day2(&c, "destroy", "team-b", &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut only_a = roles(&cluster);
    only_a.insert(role_a);
    assert_eq!(roles(&rt.block_on(account.inventory(&c.name))), only_a);
    let o = c.run(
        &moto,
        &day2_to(
            &c,
            "destroy",
            "payments",
            "team-a",
            &["--request-set", "team-a"],
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(rt.block_on(account.inventory(&c.name)), cluster);
    let o = c.run(&moto, &c.args("destroy"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
