//! Team features through the real binary: S3 remote state and its locks, `--lock-timeout`,
//! `force-unlock`, `state list/show/rm`, and `import` of a cluster laid out by ccoctl.
//!
//! Local tests run everywhere; S3 and import tests need the emulator (skip without
//! `STSFORM_TEST_ENDPOINT`, fail under `CI=true`). Every S3 test uses its own bucket and
//! cluster name, so they run in parallel on one moto.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_iam::config::Credentials;
use stsform::state::StateStore;
use stsform::state::{LockInfo, State, StateFile};

use crate::derive::root;
use crate::harness::Account;

const REGION: &str = "us-east-2";

/// A scratch directory with `creds/` (examples/cluster) and the fixed key in `install/`.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: crate::support::scratch("cluster", true),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary, reaching only loopback (the emulator, or a closed port).
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd =
            crate::support::stsform(self.path(), &crate::support::endpoint_or_closed_port());
        cmd.env("AWS_MAX_ATTEMPTS", "1")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `verb` with the cluster's settings (and `extra`).
    fn cluster(&self, verb: &str, name: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            verb,
            "--name",
            name,
            "--region",
            REGION,
            "--output-dir",
            "install",
        ];
        if verb != "destroy" {
            args.extend(["--credentials-requests-dir", "creds"]);
        }
        args.extend(extra);
        self.run(&args)
    }
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", out(o));
    out(o)
}

fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", out(o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn s3(url: &str) -> aws_sdk_s3::Client {
    let creds = Credentials::new("testing", "testing", None, None, "stsform-teams");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(url)
            .credentials_provider(creds)
            .force_path_style(true)
            .build(),
    )
}

fn iam(url: &str) -> aws_sdk_iam::Client {
    let creds = Credentials::new("testing", "testing", None, None, "stsform-teams");
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(REGION))
            .endpoint_url(url)
            .credentials_provider(creds)
            .build(),
    )
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn get_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => {
            Some(String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
        Err(e) => panic!("GetObject {key}: {e:?}"),
    }
}

async fn put_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: String) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body.into_bytes()))
        .send()
        .await
        .unwrap();
}

fn stale_lock(id: &str) -> LockInfo {
    LockInfo {
        id: id.into(),
        operation: "apply".into(),
        who: "ci".into(),
        host: "runner-7".into(),
        pid: 4242,
        created: "2026-11-29T10:00:00Z".into(),
    }
}

/// A unique bucket for one test's states.
fn state_bucket() -> String {
    format!(
        "states-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A runtime, the test's S3 client and a fresh bucket for S3 states in the emulator.
fn state_bucket_in_moto() -> (tokio::runtime::Runtime, aws_sdk_s3::Client, String) {
    let url = crate::support::endpoint();
    let rt = runtime();
    let s3 = s3(&url);
    let bucket = state_bucket();
    rt.block_on(create_bucket(&s3, &bucket));
    (rt, s3, bucket)
}

#[test]
fn remote_state_round_trip() {
    let (rt, s3, bucket) = state_bucket_in_moto();
    let w = Work::new();
    let name = crate::moto_account::unique_name();
    let state = format!("s3://{bucket}/clusters/x.toml");

    let o = w.cluster("apply", &name, &["--state", &state, "--auto-approve"]);
    assert!(
        ok(&o).contains("Apply complete! Resources: 28 added"),
        "{}",
        out(&o)
    );
    let o = w.cluster("plan", &name, &["--state", &state]);
    assert!(ok(&o).contains("No changes."), "{}", out(&o));
    // Nothing local: the state, its lock and backup live in the bucket.
    assert!(!w.path().join("state").exists());

    let text = rt
        .block_on(get_text(&s3, &bucket, "clusters/x.toml"))
        .expect("state object");
    let parsed = State::from_toml(&text, "s3").unwrap();
    assert_eq!(parsed.cluster, name);
    assert_eq!(parsed.resources.len(), 28);
    // Saves come per batch of finished changes: at least one, at most one per change.
    assert!((1..=28).contains(&parsed.serial), "{}", parsed.serial);
    // Versioning is off on this bucket: the previous version is kept as KEY.backup.
    let backup = rt
        .block_on(get_text(&s3, &bucket, "clusters/x.toml.backup"))
        .expect("backup object");
    assert!(
        backup.contains(&format!("serial = {}", parsed.serial - 1)),
        "{backup}"
    );
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "clusters/x.toml.lock")),
        None,
        "the lock is released"
    );

    // state list/show work on the remote state too.
    let o = w.run(&["state", "list", "--name", &name, "--state", &state]);
    assert_eq!(ok(&o).lines().count(), 28);

    let o = w.cluster("destroy", &name, &["--state", &state, "--auto-approve"]);
    assert!(
        ok(&o).contains("Destroy complete! Resources: 28 destroyed."),
        "{}",
        out(&o)
    );
    let text = rt
        .block_on(get_text(&s3, &bucket, "clusters/x.toml"))
        .unwrap();
    assert!(State::from_toml(&text, "s3").unwrap().resources.is_empty());
}

/// Two processes on one S3 state: the holder is named, `--lock-timeout` waits for it.
#[test]
fn s3_lock_contention_between_processes() {
    let (rt, _s3, bucket) = state_bucket_in_moto();
    let w = Work::new();
    let name = crate::moto_account::unique_name();
    let state = format!("s3://{bucket}/{name}.toml");

    // This test process holds the lock through the library, as an apply would.
    let store = StateStore::open(Path::new(&state), Some(REGION)).unwrap();
    let lock = rt.block_on(store.lock("apply", Duration::ZERO)).unwrap();
    let id = lock.held().unwrap().id.clone();

    let err = failed(&w.cluster("apply", &name, &["--state", &state, "--auto-approve"]));
    assert!(
        err.contains(&format!("s3://{bucket}/{name}.toml is locked by"))
            && err.contains("operation apply")
            && err.contains(&format!("pid {}", std::process::id()))
            && err.contains(&format!("stsform force-unlock {id}")),
        "{err}"
    );

    // With a timeout the second apply waits, then proceeds once the lock is released.
    let started = Instant::now();
    let waiting = w
        .command(&[
            "apply",
            "--name",
            &name,
            "--region",
            REGION,
            "--output-dir",
            "install",
            "--credentials-requests-dir",
            "creds",
            "--state",
            &state,
            "--auto-approve",
            "--lock-timeout",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    rt.block_on(lock.unlock()).unwrap();
    let o = waiting.wait_with_output().unwrap();
    assert!(
        ok(&o).contains("Apply complete! Resources: 28 added"),
        "{}",
        out(&o)
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));

    let o = w.cluster("destroy", &name, &["--state", &state, "--auto-approve"]);
    ok(&o);
}

#[test]
fn s3_stale_lock_is_removed_by_force_unlock_with_its_id_only() {
    let (rt, s3, bucket) = state_bucket_in_moto();
    let w = Work::new();
    let state = format!("s3://{bucket}/prod.toml");
    // A saved state (`state rm` refuses one that was never saved before it locks).
    let mut saved = State::new("prod");
    saved.serial = 1;
    rt.block_on(put_text(&s3, &bucket, "prod.toml", saved.to_toml()));
    let info = stale_lock("7d4e0000-0000-4000-8000-00000000beef");
    rt.block_on(put_text(
        &s3,
        &bucket,
        "prod.toml.lock",
        serde_json::to_string(&info).unwrap(),
    ));

    let err = failed(&w.run(&["state", "rm", "key_pair.x", "--state", &state]));
    assert!(
        err.contains("is locked by ci@runner-7 (pid 4242, operation apply"),
        "{err}"
    );
    let err = failed(&w.run(&["force-unlock", "wrongid", "--state", &state]));
    assert!(
        err.contains("lock id `wrongid` does not match the current lock id `7d4e0000-0000-4000-8000-00000000beef`"),
        "{err}"
    );
    assert!(
        rt.block_on(get_text(&s3, &bucket, "prod.toml.lock"))
            .is_some()
    );
    let o = w.run(&["force-unlock", &info.id, "--state", &state]);
    assert!(ok(&o).contains("has been unlocked"), "{}", out(&o));
    assert_eq!(rt.block_on(get_text(&s3, &bucket, "prod.toml.lock")), None);
    let err = failed(&w.run(&["force-unlock", &info.id, "--state", &state]));
    assert!(err.contains("is not locked"), "{err}");
}

/// A save never overwrites a newer serial; the retried lock write is recognised as ours;
/// versioning replaces the backup object.
#[test]
fn s3_refuses_older_serials_and_recognises_its_own_lock() {
    let (rt, s3, bucket) = state_bucket_in_moto();
    let state_url = format!("s3://{bucket}/c.toml");
    let store = StateStore::open(Path::new(&state_url), Some(REGION)).unwrap();

    // Retried lock write: our own body is already there (the first attempt succeeded
    // server-side); taking the lock with the same owner id must succeed.
    let ours = stale_lock("a11ce000-0000-4000-8000-000000000001");
    rt.block_on(put_text(
        &s3,
        &bucket,
        "c.toml.lock",
        serde_json::to_string_pretty(&ours).unwrap(),
    ));
    let lock = rt
        .block_on(store.lock_as(ours.clone(), Duration::ZERO))
        .expect("our own lock body is recognised");
    // Someone else is still refused.
    let err = rt
        .block_on(store.lock("plan", Duration::ZERO))
        .err()
        .unwrap();
    assert!(err.to_string().contains("lock id a11ce000"), "{err}");

    let mut state = rt.block_on(lock.load("c")).unwrap();
    rt.block_on(lock.save(&mut state)).unwrap();
    assert_eq!(state.serial, 1);
    // Someone else saved serial 5 of the same lineage behind our back.
    let mut newer = state.clone();
    newer.serial = 5;
    rt.block_on(put_text(&s3, &bucket, "c.toml", newer.to_toml()));
    let err = rt.block_on(lock.save(&mut state)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "s3://{bucket}/c.toml: refusing to overwrite: the file on disk has lineage {0} serial 5, \
             but the state being saved has lineage {0} serial 1; it was replaced or changed since it was loaded",
            state.lineage
        )
    );
    assert_eq!(state.serial, 1);
    assert!(
        rt.block_on(get_text(&s3, &bucket, "c.toml"))
            .unwrap()
            .contains("serial = 5")
    );
    rt.block_on(lock.unlock()).unwrap();
    assert_eq!(rt.block_on(get_text(&s3, &bucket, "c.toml.lock")), None);

    // With versioning on, old versions are S3's business: no KEY.backup is written.
    rt.block_on(async {
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        s3.delete_object()
            .bucket(&bucket)
            .key("c.toml.backup")
            .send()
            .await
            .unwrap();
    });
    let lock = rt.block_on(store.lock("apply", Duration::ZERO)).unwrap();
    let mut state = rt.block_on(lock.load("c")).unwrap();
    rt.block_on(lock.save(&mut state)).unwrap();
    assert_eq!(state.serial, 6);
    assert_eq!(rt.block_on(get_text(&s3, &bucket, "c.toml.backup")), None);
    let versions = rt.block_on(async {
        s3.list_object_versions()
            .bucket(&bucket)
            .prefix("c.toml")
            .send()
            .await
            .unwrap()
            .versions()
            .iter()
            .filter(|v| v.key() == Some("c.toml"))
            .count()
    });
    assert!(versions >= 2, "{versions}");
    rt.block_on(lock.unlock()).unwrap();
}

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

/// The Go-marshalled permissions policy ccoctl sends: compact, keys in struct order.
fn go_policy(request: &stsform::credentials_request::CredentialsRequest) -> String {
    let statements: Vec<serde_json::Value> = request
        .statements
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            m.insert("Effect".into(), serde_json::json!(s.effect));
            m.insert("Action".into(), serde_json::json!(s.action));
            m.insert("Resource".into(), serde_json::json!(s.resource));
            if let Some(c) = s.policy_condition.as_ref().filter(|c| !c.is_empty()) {
                m.insert("Condition".into(), serde_json::Value::Object(c.clone()));
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::to_string(&serde_json::json!({"Version": "2012-10-17", "Statement": statements}))
        .unwrap()
}

/// ccoctl's trust policy text, odd spacing included (ccoctl-aws.md §3.3).
fn ccoctl_trust(provider_arn: &str, issuer_host: &str, subjects: &[String]) -> String {
    let mut list = format!("[ \"{}\" ", subjects[0]);
    for s in &subjects[1..] {
        list.push_str(&format!(" , \"{s}\""));
    }
    list.push_str(" ]");
    let condition = format!(" {{ \"StringEquals\": {{ \"{issuer_host}:sub\": {list} }} }}");
    format!(
        "{{ \"Version\": \"2012-10-17\", \"Statement\": [ {{ \"Effect\": \"Allow\", \"Principal\": {{ \"Federated\": \"{provider_arn}\" }}, \"Action\": \"sts:AssumeRoleWithWebIdentity\", \"Condition\": {condition} }} ] }}"
    )
}

/// Lays out cluster `name` in moto exactly as `ccoctl aws create-all` does (§2.2, §2.3),
/// and its output dir as ccoctl writes it.
async fn ccoctl_create_all(url: &str, w: &Work, name: &str) {
    use aws_sdk_iam::types::Tag as IamTag;
    use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
    let s3 = s3(url);
    let iam = iam(url);
    let bucket = format!("{name}-oidc");
    let owner = format!("openshift.io/cloud-credential-operator/{name}");
    let host = format!("{bucket}.s3.{REGION}.amazonaws.com");
    let issuer = format!("https://{host}");

    create_bucket(&s3, &bucket).await;
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key(&owner).value("owned").build().unwrap())
                .tag_set(Tag::builder().key("Name").value(name).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(false)
                .ignore_public_acls(true)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let policy = format!(
        "{{\n\t\t\"Version\": \"2012-10-17\",\n\t\t\"Statement\": [\n\t\t\t{{\n\t\t\t\t\"Sid\": \"AllowReadPublicAccess\",\n\t\t\t\t\"Principal\": \"*\",\n\t\t\t\t\"Effect\": \"Allow\",\n\t\t\t\t\"Action\": [\n\t\t\t\t\t\"s3:GetObject\"\n\t\t\t\t],\n\t\t\t\t\"Resource\": [\n\t\t\t\t\t\"arn:aws:s3:::{bucket}/*\"\n\t\t\t\t]\n\t\t\t}}\n\t\t]\n}}"
    );
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(policy)
        .send()
        .await
        .unwrap();
    // Both objects: no ContentType, ccoctl's Tagging string.
    let jwks = crate::derive::fixed_key().jwks;
    for (key, body) in [
        (
            ".well-known/openid-configuration",
            stsform::desired::discovery_document(&issuer),
        ),
        ("keys.json", jwks),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body.into_bytes()))
            .tagging(format!("{owner}=owned&Name={name}"))
            .send()
            .await
            .unwrap();
    }
    // The provider is created untagged, then tagged.
    let created = iam
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("openshift")
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("A9D53002E97E00E043244F3D170D6F4C414104FD")
        .send()
        .await
        .unwrap();
    let provider_arn = created.open_id_connect_provider_arn().unwrap().to_string();
    iam.tag_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .tags(
            IamTag::builder()
                .key(&owner)
                .value("owned")
                .build()
                .unwrap(),
        )
        .tags(IamTag::builder().key("Name").value(name).build().unwrap())
        .send()
        .await
        .unwrap();

    // Roles: truncated names, tags at create, no boundary; then the inline policy.
    let requests = crate::derive::requests(&w.path().join("creds"));
    for request in &requests {
        let role = stsform::desired::role_name(name, request);
        let subjects = stsform::desired::subjects(request);
        iam.create_role()
            .role_name(&role)
            .description(format!(
                "OpenShift role for {}/{}",
                request.secret_ref.namespace, request.secret_ref.name
            ))
            .assume_role_policy_document(ccoctl_trust(&provider_arn, &host, &subjects))
            .tags(
                IamTag::builder()
                    .key(&owner)
                    .value("owned")
                    .build()
                    .unwrap(),
            )
            .tags(IamTag::builder().key("Name").value(name).build().unwrap())
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&role)
            .policy_name(&role)
            .policy_document(go_policy(request))
            .send()
            .await
            .unwrap();
    }

    // The output dir: the key pair (already there), the installer's key copy and the
    // manifests, with ccoctl's content (which is derive's, byte for byte) and modes.
    let settings = crate::derive::settings(name, REGION, &w.path().join("creds"));
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
    let install = w.path().join("install");
    for r in desired.resources.values() {
        let stsform::resource::Spec::File(f) = &r.spec else {
            continue;
        };
        let rel = Path::new(&f.path).strip_prefix("install").unwrap();
        let path = install.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match &f.content {
            stsform::resource::FileContent::Text(t) => std::fs::write(&path, t).unwrap(),
            stsform::resource::FileContent::PrivateKeyCopy { .. } => {
                std::fs::copy(install.join("serviceaccount-signer.private"), &path).unwrap();
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `import` of a ccoctl-made cluster: the plan then shows only real differences.
#[test]
fn import_adopts_a_cluster_made_by_ccoctl() {
    let url = crate::support::endpoint();
    let rt = runtime();
    let w = Work::new();
    let name = crate::moto_account::unique_name();
    rt.block_on(ccoctl_create_all(&url, &w, &name));

    let o = w.cluster("import", &name, &[]);
    let text = ok(&o);
    assert!(
        text.contains(
            "Imported 28 resources, 0 not found (the next apply creates them), 0 not owned"
        ),
        "{text}"
    );
    // A second import into the now non-empty state is refused.
    let err = failed(&w.cluster("import", &name, &[]));
    assert!(err.contains("import only fills an empty state"), "{err}");

    // Only the objects differ: ccoctl uploads them without a Content-Type.
    let o = w.cluster("plan", &name, &[]);
    let plan = ok(&o);
    assert!(
        plan.contains("Plan: 0 to add, 2 to change, 0 to destroy."),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "# s3_object.{name}-oidc/keys.json will be updated in-place"
        )) && plan.contains(&format!(
            "# s3_object.{name}-oidc/.well-known/openid-configuration will be updated in-place"
        )) && plan
            .contains("~ content_type = \"application/octet-stream\" -> \"application/json\""),
        "{plan}"
    );
    assert!(!plan.contains("iam_role"), "{plan}");
    // A permissions boundary ccoctl was not given is a real difference, on every role.
    let o = w.cluster(
        "plan",
        &name,
        &[
            "--permissions-boundary-arn",
            "arn:aws:iam::123456789012:policy/boundary",
        ],
    );
    let bounded = ok(&o);
    assert!(
        bounded.contains("Plan: 0 to add, 9 to change, 0 to destroy."),
        "{bounded}"
    );
    assert!(!bounded.contains("iam_role_policy"), "{bounded}");

    let o = w.cluster("apply", &name, &["--auto-approve"]);
    assert!(
        ok(&o).contains("Apply complete! Resources: 0 added, 2 changed, 0 destroyed."),
        "{}",
        out(&o)
    );
    let o = w.cluster("plan", &name, &[]);
    assert!(ok(&o).contains("No changes."), "{}", out(&o));

    let o = w.cluster("destroy", &name, &["--auto-approve"]);
    assert!(
        ok(&o).contains("Destroy complete! Resources: 28 destroyed."),
        "{}",
        out(&o)
    );
    let account = rt.block_on(crate::moto_account::MotoAccount::connect());
    assert_eq!(
        rt.block_on(account.inventory(&name)),
        Default::default(),
        "nothing of the cluster is left"
    );
}

/// Everything in AWS that carries the cluster's ownership tag key: roles named
/// `<name>-…` (what a scan can find without reading every role), every OIDC provider,
/// and the bucket `<name>-oidc`.
async fn tagged_for(url: &str, name: &str) -> Vec<String> {
    let iam = iam(url);
    let s3 = s3(url);
    let key = format!("openshift.io/cloud-credential-operator/{name}");
    let mut out = Vec::new();
    let mut pages = iam.list_roles().into_paginator().send();
    let mut roles = Vec::new();
    while let Some(page) = pages.next().await {
        for r in page.unwrap().roles() {
            if r.role_name().starts_with(&format!("{name}-")) {
                roles.push(r.role_name().to_string());
            }
        }
    }
    for role in roles {
        let Ok(got) = iam.get_role().role_name(&role).send().await else {
            continue; // deleted meanwhile
        };
        if got
            .role()
            .is_some_and(|r| r.tags().iter().any(|t| t.key() == key))
        {
            out.push(format!("role:{role}"));
        }
    }
    let providers = iam.list_open_id_connect_providers().send().await.unwrap();
    for p in providers.open_id_connect_provider_list() {
        let arn = p.arn().unwrap();
        let Ok(got) = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
        else {
            continue;
        };
        if got.tags().iter().any(|t| t.key() == key) {
            out.push(format!("provider:{arn}"));
        }
    }
    if s3
        .head_bucket()
        .bucket(format!("{name}-oidc"))
        .send()
        .await
        .is_ok()
    {
        out.push(format!("bucket:{name}-oidc"));
    }
    out
}

/// A cluster laid out by ccoctl, plus a tagged role whose request is gone, and a role
/// someone gave a managed and an inline policy: import adopts all of it, the destroy plan
/// names the policies it removes, and destroy leaves nothing tagged for the cluster
/// (`ccoctl aws delete` would have left the role with the managed policy behind).
#[test]
fn import_then_destroy_leaves_nothing_tagged_for_the_cluster() {
    use aws_sdk_iam::types::Tag as IamTag;
    let url = crate::support::endpoint();
    let rt = runtime();
    let w = Work::new();
    let name = crate::moto_account::unique_name();
    rt.block_on(ccoctl_create_all(&url, &w, &name));
    let iam = iam(&url);
    let owner = format!("openshift.io/cloud-credential-operator/{name}");
    // ccoctl made this role for a request no longer in the directory.
    let orphan = format!("{name}-openshift-old-operator-old-credentials");
    // Someone else's role with the cluster's prefix but no tag: never touched.
    let foreign = format!("{name}-not-the-clusters");
    let ingress = format!("{name}-openshift-ingress-operator-cloud-credentials");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
    let managed = rt.block_on(async {
        iam.create_role()
            .role_name(&orphan)
            .assume_role_policy_document(trust)
            .tags(
                IamTag::builder()
                    .key(&owner)
                    .value("owned")
                    .build()
                    .unwrap(),
            )
            .tags(IamTag::builder().key("Name").value(&name).build().unwrap())
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&orphan)
            .policy_name(&orphan)
            .policy_document(document)
            .send()
            .await
            .unwrap();
        iam.create_role()
            .role_name(&foreign)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
        let policy = iam
            .create_policy()
            .policy_name(format!("{name}-extra"))
            .policy_document(document)
            .send()
            .await
            .unwrap();
        let arn = policy.policy().unwrap().arn().unwrap().to_string();
        iam.attach_role_policy()
            .role_name(&ingress)
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&ingress)
            .policy_name("added-by-hand")
            .policy_document(document)
            .send()
            .await
            .unwrap();
        arn
    });
    let before = rt.block_on(tagged_for(&url, &name));
    assert_eq!(before.len(), 10, "{before:?}"); // 8 roles, the provider, the bucket

    // Plan before import: what the requests derive is found and would be adopted, not
    // created; the untracked resources are listed.
    let o = w.cluster("plan", &name, &[]);
    let plan = ok(&o);
    assert!(
        plan.contains(&format!(
            "# s3_bucket.{name}-oidc exists, tagged for {name}: will be adopted\n"
        )) && plan.contains(&format!(
            "# iam_role.{ingress} exists, tagged for {name}: will be adopted\n"
        )) && plan.contains("Plan: 18 to adopt, 10 to add, 2 to change, 0 to destroy."),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("Tagged for {name}, not managed")),
        "{plan}"
    );
    assert!(plan.contains(&format!("  # iam_role.{orphan}\n")), "{plan}");

    let o = w.cluster("import", &name, &[]);
    let text = ok(&o);
    assert!(
        text.contains(&format!(
            "  imported   iam_role.{orphan} (tagged for {name}, derived from no current request)"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "Imported 30 resources, 0 not found (the next apply creates them), 0 not owned"
        ) && text.contains("note: 2 of them no current request derives"),
        "{text}"
    );

    // The destroy plan names the policies added outside stsform that go with the role.
    let o = w.cluster("plan", &name, &["--destroy"]);
    let plan = ok(&o);
    assert!(
        plan.contains("Plan: 0 to add, 0 to change, 30 to destroy."),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "iam_role.{ingress}: has policies stsform did not make; before the role is deleted, inline `added-by-hand` deleted; managed `{managed}` detached"
        )),
        "{plan}"
    );
    let o = w.cluster("destroy", &name, &["--auto-approve"]);
    assert!(
        ok(&o).contains("Destroy complete! Resources: 30 destroyed."),
        "{}",
        out(&o)
    );
    assert_eq!(
        rt.block_on(tagged_for(&url, &name)),
        Vec::<String>::new(),
        "something tagged for the cluster is left"
    );
    // Only what was not the cluster's is left: the untagged role, the managed policy.
    rt.block_on(async {
        iam.get_role().role_name(&foreign).send().await.unwrap();
        iam.get_policy().policy_arn(&managed).send().await.unwrap();
    });
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
