//! Team features through the real binary: S3 remote state and its locks (`remote`),
//! local state commands, `--lock-timeout` and `force-unlock` (`local`), and `import` of a
//! cluster laid out by ccoctl (`import`).
//!
//! Local tests need nothing; S3 and import tests need the emulator. Every S3 test uses its
//! own bucket and cluster name, so they run in parallel on one moto.

use crate::derive::root;
use crate::harness::Account;
use aws_sdk_iam::config::Credentials;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use stsform::state::StateStore;
use stsform::state::{LockInfo, State, StateFile};

mod import;
mod local;
mod remote;

pub(super) const REGION: &str = "us-east-2";

/// A scratch directory with `creds/` (examples/cluster) and the fixed key in `install/`.
pub(super) struct Work {
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
        let mut args = vec![verb, "--name", name, "--region", REGION];
        // Destroy works from the state: it takes neither directory.
        if verb != "destroy" {
            args.extend([
                "--output-dir",
                "install",
                "--credentials-requests-dir",
                "creds",
            ]);
        }
        args.extend(extra);
        self.run(&args)
    }
}

pub(super) fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(super) fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", out(o));
    out(o)
}

pub(super) fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", out(o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(super) fn s3(url: &str) -> aws_sdk_s3::Client {
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

pub(super) fn iam(url: &str) -> aws_sdk_iam::Client {
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

pub(super) async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
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

pub(super) async fn get_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => {
            Some(String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
        Err(e) => panic!("GetObject {key}: {e:?}"),
    }
}

pub(super) async fn put_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: String) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body.into_bytes()))
        .send()
        .await
        .unwrap();
}

pub(super) fn stale_lock(id: &str) -> LockInfo {
    LockInfo {
        id: id.into(),
        operation: "apply".into(),
        who: "ci".into(),
        host: "runner-7".into(),
        pid: 4242,
        created: "2026-11-29T10:00:00Z".into(),
    }
}
