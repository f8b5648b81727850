//! S3 remote state through the binary: a round trip, lock contention between
//! processes, stale locks and `force-unlock`, refusing older serials.

use super::*;
use stsform::state::{Object, ObjectStore, Precondition, Put, Remote, S3Objects, StoreError};

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
    // Nothing local: the state and its lock live in the bucket.
    assert!(!w.path().join("state").exists());

    let text = rt
        .block_on(get_text(&s3, &bucket, "clusters/x.toml"))
        .expect("state object");
    let parsed = State::from_toml(&text, "s3").unwrap();
    assert_eq!(parsed.cluster, name);
    assert_eq!(parsed.resources.len(), 28);
    // Saves come per batch of finished changes: several (one per level of the graph at
    // least), at most one per change.
    assert!((2..=28).contains(&parsed.serial), "{}", parsed.serial);
    // There was no state before this apply: nothing to back up.
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "clusters/x.toml.backup")),
        None
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
    let after = rt
        .block_on(get_text(&s3, &bucket, "clusters/x.toml"))
        .unwrap();
    let destroyed = State::from_toml(&after, "s3").unwrap();
    assert!(destroyed.resources.is_empty());
    assert!(
        destroyed.serial >= parsed.serial + 2,
        "destroy saved {} times",
        destroyed.serial - parsed.serial
    );
    // Versioning is off on this bucket: KEY.backup holds the state as it was when the
    // destroy started (the apply's last save), not the one of its last-but-one save.
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "clusters/x.toml.backup"))
            .expect("backup object"),
        text
    );
}

/// The S3 calls of saving, counted against the emulator: after the load, each save is one
/// `PutObject KEY` (conditional on the ETag of the last write), plus one `PutObject
/// KEY.backup` of the state as loaded; a state written by someone else in between is not
/// overwritten; a state object deleted in between is written again.
#[test]
fn s3_saves_make_one_put_each_and_one_backup() {
    let (rt, s3, bucket) = state_bucket_in_moto();
    let url = format!("s3://{bucket}/c.toml");
    let mut before = State::new("c");
    before.serial = 3;
    rt.block_on(put_text(&s3, &bucket, "c.toml", before.to_toml()));
    let store = Counting {
        inner: rt
            .block_on(S3Objects::connect(&bucket, Some(REGION)))
            .unwrap(),
        calls: Default::default(),
    };
    let remote = Remote::new(&store, "c.toml", &url);
    let mut state = rt.block_on(remote.load("c")).unwrap();
    for _ in 0..5 {
        rt.block_on(remote.save(&mut state)).unwrap();
    }
    assert_eq!(state.serial, 8);
    let calls = store.take();
    assert_eq!(
        calls,
        [
            "GetObject c.toml",
            "GetBucketVersioning",
            "PutObject c.toml.backup None",
            "PutObject c.toml Matches",
            "PutObject c.toml Matches",
            "PutObject c.toml Matches",
            "PutObject c.toml Matches",
            "PutObject c.toml Matches",
        ]
    );
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "c.toml")).unwrap(),
        state.to_toml()
    );
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "c.toml.backup"))
            .unwrap(),
        before.to_toml()
    );

    // Someone else writes serial 20: our next save is refused and overwrites nothing.
    let mut theirs = state.clone();
    theirs.serial = 20;
    rt.block_on(put_text(&s3, &bucket, "c.toml", theirs.to_toml()));
    let err = rt.block_on(remote.save(&mut state)).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "the file on disk has lineage {} serial 20",
            state.lineage
        )),
        "{err}"
    );
    assert_eq!(state.serial, 8);
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "c.toml")).unwrap(),
        theirs.to_toml()
    );
    assert_eq!(
        store.take(),
        ["PutObject c.toml Matches", "GetObject c.toml"]
    );

    // A state object deleted in between: `If-Match` answers 404, the save writes it again.
    let remote = Remote::new(&store, "c.toml", &url);
    let mut state = rt.block_on(remote.load("c")).unwrap();
    rt.block_on(async {
        s3.delete_object()
            .bucket(&bucket)
            .key("c.toml")
            .send()
            .await
            .unwrap()
    });
    rt.block_on(remote.save(&mut state)).unwrap();
    assert_eq!(state.serial, 21);
    assert_eq!(
        rt.block_on(get_text(&s3, &bucket, "c.toml")).unwrap(),
        state.to_toml()
    );
}

/// [`S3Objects`] that records each call (operation, key and kind of condition).
struct Counting {
    inner: S3Objects,
    calls: std::sync::Mutex<Vec<String>>,
}

impl Counting {
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl ObjectStore for &Counting {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        self.record(format!("GetObject {key}"));
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Precondition,
    ) -> Result<Put, StoreError> {
        let kind = match &condition {
            Precondition::None => "None",
            Precondition::Absent => "Absent",
            Precondition::Matches(_) => "Matches",
        };
        self.record(format!("PutObject {key} {kind}"));
        self.inner.put(key, body, content_type, condition).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.record(format!("DeleteObject {key}"));
        self.inner.delete(key).await
    }
    async fn versioning_enabled(&self) -> Result<bool, StoreError> {
        self.record("GetBucketVersioning".into());
        self.inner.versioning_enabled().await
    }
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
