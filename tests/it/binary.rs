//! The real binary against an endpoint of the test's choosing (moto, a proxy in front of
//! it, or a counting listener), with the loopback-only environment of `cli.rs`; and the
//! checks the reliability suites share: state true to AWS, and no key material leaked.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stsform::resource::Spec;
use stsform::state::State;

use crate::derive::root;

/// A scratch cluster: examples/cluster as `creds/`, the fixed key in `install/`.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Cluster {
    pub fn new(name: &str) -> Cluster {
        Cluster {
            dir: crate::support::scratch("cluster", true),
            name: name.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_path(&self) -> PathBuf {
        self.path().join(format!("state/{}.toml", self.name))
    }

    /// `verb --name … --region us-east-2 [--output-dir install --credentials-requests-dir
    /// creds] [--auto-approve]` (destroy works from the state: it takes neither directory).
    pub fn args(&self, verb: &str) -> Vec<String> {
        let mut a: Vec<String> = [verb, "--name", &self.name, "--region", "us-east-2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if verb != "destroy" {
            a.extend([
                "--output-dir".into(),
                "install".into(),
                "--credentials-requests-dir".into(),
                "creds".into(),
            ]);
        }
        if verb == "apply" || verb == "destroy" {
            a.push("--auto-approve".into());
        }
        a
    }

    /// The binary, run in the cluster dir, able to reach only `endpoint` (loopback).
    pub fn command(&self, endpoint: &str, args: &[String]) -> Command {
        command(self.path(), endpoint, args)
    }

    pub fn run(&self, endpoint: &str, args: &[String]) -> Output {
        self.command(endpoint, args).output().unwrap()
    }

    /// The state on disk (panics if it does not parse).
    pub fn state(&self) -> State {
        let text = std::fs::read_to_string(self.state_path()).unwrap();
        State::from_toml(&text, "state").unwrap()
    }
}

/// The binary in `dir` with an environment that reaches only the loopback `endpoint`
/// (as a CI job sees it: `CI=true`, so progress is plain lines).
pub fn command(dir: &Path, endpoint: &str, args: &[String]) -> Command {
    let mut cmd = crate::support::stsform(dir, endpoint);
    cmd.env("CI", "true").args(args);
    cmd
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What the state says AWS holds, in `MotoAccount::inventory`'s notation.
pub fn state_inventory(state: &State) -> BTreeSet<String> {
    state
        .resources
        .values()
        .filter_map(|r| match &r.spec {
            Spec::S3Bucket(b) => Some(format!("bucket:{}", b.name)),
            Spec::S3Object(o) => Some(format!("object:{}/{}", o.bucket, o.key)),
            Spec::IamOidcProvider(p) => {
                Some(format!("provider:{}", p.url.trim_start_matches("https://")))
            }
            Spec::IamRole(r) => Some(format!("role:{}", r.name)),
            Spec::IamRolePolicy(p) => Some(format!("role_policy:{}/{}", p.role, p.name)),
            Spec::CloudFrontOriginAccessControl(o) => Some(format!("oac:{}", o.name)),
            Spec::CloudFrontDistribution(d) => Some(format!(
                "distribution:{}",
                d.origin_domain.split('.').next().unwrap_or_default()
            )),
            // Part of its bucket in the inventory's notation (as a public bucket's is).
            Spec::S3BucketPolicy(_) | Spec::KeyPair(_) | Spec::File(_) => None,
        })
        .collect()
}

/// A line from the middle of the fixed private key (the first lines hold the modulus,
/// which is public).
pub fn private_key_line() -> String {
    let pem =
        std::fs::read_to_string(root().join("tests/fixtures/keys/fixed.private.pem")).unwrap();
    let lines: Vec<&str> = pem.lines().collect();
    lines[lines.len() / 2].to_string()
}

/// Files allowed to hold the private key, relative to a cluster dir.
const KEY_FILES: [&str; 2] = [
    "install/serviceaccount-signer.private",
    "install/tls/bound-service-account-signing-key.key",
];

/// No private key material in `outputs` or any file under `dir` except the key files,
/// which must be 0600.
pub fn assert_no_secrets(dir: &Path, outputs: &[&Output]) {
    let line = private_key_line();
    for o in outputs {
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains(&line)
                && !String::from_utf8_lossy(&o.stderr).contains(&line),
            "private key material in the output:\n{}",
            text(o)
        );
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    for (rel, path) in files {
        if KEY_FILES.contains(&rel.as_str()) {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{rel} has mode {mode:o}");
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&line),
            "private key material in {rel}"
        );
    }
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            walk(base, &p, out);
        } else if meta.is_file() {
            out.insert(p.strip_prefix(base).unwrap().display().to_string(), p);
        }
    }
}

/// A runtime for the test's own SDK calls, the emulator's URL and the test's view of it.
pub fn moto_setup() -> (
    tokio::runtime::Runtime,
    String,
    crate::moto_account::MotoAccount,
) {
    let moto = crate::support::endpoint();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let account = rt.block_on(crate::moto_account::MotoAccount::connect());
    (rt, moto, account)
}
