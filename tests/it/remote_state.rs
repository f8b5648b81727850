//! The S3 state store against moto through the loopback proxy: a state write whose answer
//! is lost (the SDK retries it and gets 412 on its own bytes) is a saved state, not a
//! failed apply; and a state bucket in another region than the cluster is used in its
//! own region.

use std::time::Duration;

use crate::binary::{Cluster, text};
use crate::harness::{Account, expected_cluster_inventory};
use crate::moto_account::unique_name;
use crate::proxy::{Fault, FaultPlan, Proxy, upstream_addr};

/// The binary's per-attempt timeout here: a lost answer costs seconds, not 30.
const ATTEMPT_TIMEOUT_SECS: &str = "2";

fn client_in(region: &str) -> aws_sdk_s3::Client {
    let url = crate::support::endpoint();
    let creds =
        aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "stsform-tests");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(region.to_string()))
            .endpoint_url(url)
            .credentials_provider(creds)
            .force_path_style(true)
            .build(),
    )
}

async fn create_bucket(region: &str, bucket: &str) {
    client_in(region)
        .create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(region.into())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn get_text(bucket: &str, key: &str) -> Option<String> {
    let out = client_in("us-east-2")
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
}

/// `verb` with the state at `s3://bucket/key`.
fn args(c: &Cluster, verb: &str, bucket: &str, key: &str) -> Vec<String> {
    let mut a = c.args(verb);
    a.extend(["--state".into(), format!("s3://{bucket}/{key}")]);
    a
}

#[test]
fn a_lost_answer_to_a_state_write_is_a_saved_state() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let bucket = format!("states-{}", c.name);
    let key = format!("clusters/{}.toml", c.name);
    rt.block_on(create_bucket("us-east-2", &bucket));
    // The first write of the state object reaches S3, and its answer never comes back.
    let lose_first_write = |rt: &tokio::runtime::Runtime| {
        rt.block_on(Proxy::start(
            Some(upstream_addr(&moto)),
            Duration::ZERO,
            FaultPlan {
                seed: 1,
                rate: 1.0,
                kinds: vec![Fault::Timeout],
                matching: Some(format!("PUT /{bucket}/{key}?x-id=PutObject ")),
                limit: Some(1),
                // Far longer than the test may take: only the per-attempt timeout (the
                // provider's, now also the state store's) gets the write retried.
                hold: Duration::from_secs(120),
                ..FaultPlan::none()
            },
        ))
    };

    // First save: `If-None-Match: *`, retried, 412 on our own bytes.
    let proxy = lose_first_write(&rt);
    let started = std::time::Instant::now();
    let o = c
        .command(&proxy.url(), &args(&c, "apply", &bucket, &key))
        .env("STSFORM_ATTEMPT_TIMEOUT_SECS", ATTEMPT_TIMEOUT_SECS)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the state write waited for the held answer: {:?}",
        started.elapsed()
    );
    assert_eq!(proxy.counts().faults, 1, "the fault never fired");
    let puts = proxy
        .log()
        .iter()
        .filter(|l| l.contains(&format!("PUT /{bucket}/{key}?x-id=PutObject ")))
        .count();
    assert!(puts >= 2, "the lost write was not retried ({puts} writes)");
    let state =
        stsform::state::State::from_toml(&rt.block_on(get_text(&bucket, &key)).unwrap(), "s3")
            .unwrap();
    assert_eq!(state.resources.len(), 28);
    assert_eq!(rt.block_on(get_text(&bucket, &format!("{key}.lock"))), None);
    assert_eq!(
        rt.block_on(account.inventory(&c.name)),
        expected_cluster_inventory(&c.name)
    );

    // A later save: `If-Match` on the ETag read, retried, 412 on our own bytes.
    let proxy = lose_first_write(&rt);
    let mut rm = vec![
        "state".to_string(),
        "rm".into(),
        "file.manifests/cluster-authentication-02-config.yaml".into(),
        "--name".into(),
        c.name.clone(),
        "--region".into(),
        "us-east-2".into(),
    ];
    rm.extend(["--state".into(), format!("s3://{bucket}/{key}")]);
    let o = c
        .command(&proxy.url(), &rm)
        .env("STSFORM_ATTEMPT_TIMEOUT_SECS", ATTEMPT_TIMEOUT_SECS)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(proxy.counts().faults, 1, "the fault never fired");
    let saved =
        stsform::state::State::from_toml(&rt.block_on(get_text(&bucket, &key)).unwrap(), "s3")
            .unwrap();
    assert_eq!(saved.resources.len(), 27);
    assert_eq!(saved.serial, state.serial + 1);
    assert_eq!(rt.block_on(get_text(&bucket, &format!("{key}.lock"))), None);

    let o = c.run(&moto, &args(&c, "destroy", &bucket, &key));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_state_bucket_in_another_region_is_used_in_its_own_region() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let bucket = format!("states-{}", c.name);
    let key = format!("clusters/{}.toml", c.name);
    rt.block_on(create_bucket("eu-west-1", &bucket));
    let proxy = rt.block_on(Proxy::start(
        Some(upstream_addr(&moto)),
        Duration::ZERO,
        FaultPlan::none(),
    ));
    for verb in ["apply", "plan"] {
        let o = c.run(&proxy.url(), &args(&c, verb, &bucket, &key));
        assert_eq!(o.status.code(), Some(0), "{verb}: {}", text(&o));
    }
    let o = c.run(
        &proxy.url(),
        &[
            "state".to_string(),
            "list".into(),
            "--state".into(),
            format!("s3://{bucket}/{key}"),
            "--region".into(),
            "us-east-2".into(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 28);

    // Every call on the state bucket but the HeadBucket that finds its region is signed
    // for eu-west-1, the bucket's region, not the cluster's us-east-2.
    let calls: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|l| l.contains(&format!(" /{bucket}")))
        .collect();
    let writes = calls.iter().filter(|l| l.contains(" PUT ")).count();
    assert!(writes >= 3, "{calls:#?}");
    let elsewhere: Vec<&String> = calls
        .iter()
        .filter(|l| !l.starts_with("S3 eu-west-1 ") && !l.contains(" HEAD "))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "not signed for eu-west-1: {elsewhere:#?}"
    );
    assert_eq!(
        rt.block_on(account.inventory(&c.name)),
        expected_cluster_inventory(&c.name)
    );
    let o = c.run(&moto, &args(&c, "destroy", &bucket, &key));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
