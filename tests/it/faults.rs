//! Faults: the binary against moto through a loopback proxy that fails a seeded share of
//! requests (500, 503 SlowDown, 400 Throttling, reset, a held answer past the SDK's
//! attempt timeout, 403 AccessDenied). Apply must get through transient faults by
//! retrying, fail cleanly on permanent ones, and keep the state true to AWS either way.

use std::time::{Duration, Instant};

use crate::binary::{Cluster, assert_no_secrets, state_inventory, text};
use crate::harness::Account;
use crate::moto_account::{MotoAccount, unique_name};
use crate::proxy::{Fault, FaultPlan, Proxy, Service, upstream_addr};

/// Attempt timeout handed to the binary (`STSFORM_ATTEMPT_TIMEOUT_SECS`), so a held
/// answer costs seconds, not the production 30 s.
const ATTEMPT_TIMEOUT_SECS: &str = "2";

fn run(c: &Cluster, endpoint: &str, verb: &str) -> std::process::Output {
    c.command(endpoint, &c.args(verb))
        .env("STSFORM_ATTEMPT_TIMEOUT_SECS", ATTEMPT_TIMEOUT_SECS)
        .output()
        .unwrap()
}

/// The state holds exactly what AWS holds for the cluster, and the reverse.
fn assert_state_true_to_aws(rt: &tokio::runtime::Runtime, account: &MotoAccount, c: &Cluster) {
    let in_aws = rt.block_on(account.inventory(&c.name));
    let in_state = state_inventory(&c.state());
    assert_eq!(
        in_state, in_aws,
        "state (left) and AWS (right) disagree for {}",
        c.name
    );
}

#[test]
fn ten_percent_faults_are_retried_through_and_converge() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let started = Instant::now();
    let c = Cluster::new(&unique_name());
    let proxy = rt.block_on(Proxy::start(
        Some(upstream_addr(&moto)),
        Duration::from_millis(5),
        FaultPlan {
            seed: 1010,
            rate: 0.10,
            kinds: Fault::ALL.to_vec(),
            only: None,
            hold: Duration::from_secs(4),
            ..FaultPlan::none()
        },
    ));
    let apply = run(&c, &proxy.url(), "apply");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert!(
        String::from_utf8_lossy(&apply.stdout)
            .contains("Apply complete! Resources: 28 added, 0 changed, 0 destroyed."),
        "{}",
        text(&apply)
    );
    let plan = run(&c, &proxy.url(), "plan");
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("No changes."),
        "{}",
        text(&plan)
    );
    let counts = proxy.counts();
    eprintln!(
        "10% faults: {} requests, {} faults injected {:?}, {:.1}s",
        counts.requests,
        counts.faults,
        proxy.fault_kinds(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        counts.faults >= 3,
        "too few faults to prove anything: {counts:?}"
    );
    assert_state_true_to_aws(&rt, &account, &c);

    let destroy = run(&c, &moto, "destroy");
    assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
    assert!(rt.block_on(account.inventory(&c.name)).is_empty());
    assert_no_secrets(c.path(), &[&apply, &plan, &destroy]);
}

/// Every fault kind on its own, on 30% of requests (10% for timeouts): each is retried
/// through.
#[test]
fn each_transient_fault_kind_alone_is_retried() {
    let (rt, moto, account) = crate::binary::moto_setup();
    for (i, kind) in [
        Fault::Http500,
        Fault::SlowDown503,
        Fault::Throttling400,
        Fault::Reset,
        Fault::Timeout,
    ]
    .into_iter()
    .enumerate()
    {
        let c = Cluster::new(&unique_name());
        let proxy = rt.block_on(Proxy::start(
            Some(upstream_addr(&moto)),
            Duration::ZERO,
            FaultPlan {
                seed: 77 + i as u64,
                // A held answer costs a 2 s attempt timeout: fewer of those.
                rate: if kind == Fault::Timeout { 0.1 } else { 0.3 },
                kinds: vec![kind],
                only: None,
                // Far longer than the test may take: only the attempt timeout gets it out.
                hold: Duration::from_secs(120),
                ..FaultPlan::none()
            },
        ));
        let t = Instant::now();
        let apply = run(&c, &proxy.url(), "apply");
        assert_eq!(apply.status.code(), Some(0), "{kind:?}: {}", text(&apply));
        // A held answer is abandoned after the attempt timeout and retried; without one
        // (the SDK's default) apply would wait for the connection as long as it is held.
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{kind:?} took {:?}",
            t.elapsed()
        );
        assert!(proxy.counts().faults > 0, "{kind:?}: no fault was injected");
        assert_state_true_to_aws(&rt, &account, &c);
        let destroy = run(&c, &moto, "destroy");
        assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
    }
}

#[test]
fn every_iam_request_failing_fails_cleanly_and_keeps_the_state_true() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let proxy = rt.block_on(Proxy::start(
        Some(upstream_addr(&moto)),
        Duration::ZERO,
        FaultPlan {
            seed: 5,
            rate: 1.0,
            kinds: vec![Fault::AccessDenied403],
            only: Some(Service::Iam),
            hold: Duration::ZERO,
            ..FaultPlan::none()
        },
    ));
    // Planning needs IAM too (the scan for the cluster's resources outside the state):
    // it fails, naming the calls, before anything is changed.
    let refused = run(&c, &proxy.url(), "apply");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        err.contains("ListRoles: AccessDenied")
            && err.contains("ListOpenIDConnectProviders: AccessDenied"),
        "{}",
        text(&refused)
    );
    assert!(
        rt.block_on(account.inventory(&c.name)).is_empty(),
        "a failed plan changed AWS"
    );
    assert!(!c.state_path().exists() || c.state().resources.is_empty());

    // A plan saved without faults, applied while every IAM request fails: the bucket and
    // files are made, the provider fails, and the roles and their dependents are skipped.
    let saved = c.run(&moto, &{
        let mut a = c.args("plan");
        a.extend(["--out".into(), "p.plan".into()]);
        a
    });
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    let apply = c
        .command(&proxy.url(), &["apply".into(), "p.plan".into()])
        .env("STSFORM_ATTEMPT_TIMEOUT_SECS", ATTEMPT_TIMEOUT_SECS)
        .output()
        .unwrap();
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    let out = String::from_utf8_lossy(&apply.stdout).into_owned();
    let err = String::from_utf8_lossy(&apply.stderr).into_owned();
    // The OIDC provider fails; the roles and everything downstream of them are skipped.
    let host = format!("{}-oidc.s3.us-east-2.amazonaws.com", c.name);
    assert!(
        err.contains(&format!(
            "error: iam_oidc_provider.{host}: CreateOpenIDConnectProvider: AccessDenied: injected: not authorized to perform this action"
        )),
        "{}",
        text(&apply)
    );
    // Every failure is reported: one `error:` line per failed change.
    let failed: usize = out
        .split(" failed,")
        .next()
        .and_then(|s| s.rsplit(", ").next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary: {}", text(&apply)));
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        failed,
        "{}",
        text(&apply)
    );
    assert!(out.contains("Apply incomplete:"), "{}", text(&apply));
    assert!(proxy.counts().faults > 0);
    // What did get made (bucket, objects, files) is in the state; nothing else.
    assert_state_true_to_aws(&rt, &account, &c);
    let state = c.state();
    assert!(
        state
            .resources
            .keys()
            .any(|id| id.to_string() == format!("s3_bucket.{}-oidc", c.name))
    );

    // Without the faults, the same state finishes and converges.
    let apply = run(&c, &moto, "apply");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let plan = run(&c, &moto, "plan");
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("No changes."),
        "{}",
        text(&plan)
    );
    assert_state_true_to_aws(&rt, &account, &c);
    let destroy = run(&c, &moto, "destroy");
    assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
    assert_no_secrets(c.path(), &[&apply, &plan, &destroy]);
}
