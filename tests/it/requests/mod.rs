//! CredentialsRequest loading through the public `load`: the fixtures (real requests
//! shipped by OpenShift components, ccoctl's own test data, the examples) and ccoctl's
//! filtering rules in `accepted`; every bad input, its message located by file, document
//! and field, and the directory left untouched, in `rejected`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use stsform::credentials_request::{CredentialsRequest, LoadOptions, Loaded, SecretRef, load};
use stsform::error::InputErrors;
use tempfile::TempDir;

mod accepted;
mod rejected;

pub(super) const TP: LoadOptions = LoadOptions {
    enable_tech_preview: true,
};
pub(super) const DEFAULT: LoadOptions = LoadOptions {
    enable_tech_preview: false,
};

/// A valid AWS request; cases below break it by replacing one line.
pub(super) const BASE: &str = r#"apiVersion: cloudcredential.openshift.io/v1
kind: CredentialsRequest
metadata:
  name: ingress
  namespace: openshift-cloud-credential-operator
spec:
  secretRef:
    name: cloud-credentials
    namespace: openshift-ingress-operator
  serviceAccountNames:
  - ingress-operator
  providerSpec:
    apiVersion: cloudcredential.openshift.io/v1
    kind: AWSProviderSpec
    statementEntries:
    - effect: Allow
      action:
      - route53:ListHostedZones
      - tag:GetResources
      resource: "*"
"#;

pub(super) fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}

pub(super) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credreqs")
}

pub(super) fn dir_with(files: &[(&str, &[u8])]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    dir
}

/// Copies one fixture (`openshift/x.yaml`) into a fresh directory and loads it alone.
pub(super) fn load_fixture(rel: &str, opts: LoadOptions) -> (TempDir, Result<Loaded, InputErrors>) {
    let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
    let bytes = fs::read(fixtures().join(rel)).unwrap();
    let dir = dir_with(&[(name, &bytes)]);
    let result = load(dir.path(), &opts);
    (dir, result)
}

/// Text with the temporary directory prefix removed, so messages are stable.
pub(super) fn rel(dir: &TempDir, text: &str) -> String {
    text.replace(&format!("{}/", dir.path().display()), "")
}

pub(super) fn notes(dir: &TempDir, loaded: &Loaded) -> Vec<String> {
    loaded.skipped.iter().map(|s| rel(dir, &s.note())).collect()
}

pub(super) fn error_lines(dir: &TempDir, errors: &InputErrors) -> Vec<String> {
    errors.0.iter().map(|e| rel(dir, &e.to_string())).collect()
}

pub(super) fn only_request(loaded: &Loaded) -> &CredentialsRequest {
    assert_eq!(loaded.requests.len(), 1, "{loaded:#?}");
    &loaded.requests[0]
}

pub(super) fn secret(ns: &str, name: &str) -> SecretRef {
    SecretRef {
        namespace: ns.into(),
        name: name.into(),
    }
}

pub(super) fn kms_condition() -> Option<Map<String, Value>> {
    let Value::Object(map) = json!({"Bool": {"kms:GrantIsForAWSResource": true}}) else {
        unreachable!()
    };
    Some(map)
}

/// File names and bytes under `dir` (recursive), to prove loading changed nothing.
pub(super) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.insert(path.clone(), None);
            out.extend(snapshot(&path));
        } else if meta.file_type().is_symlink() {
            out.insert(
                path.clone(),
                Some(
                    fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                ),
            );
        } else {
            out.insert(path.clone(), Some(fs::read(&path).unwrap()));
        }
    }
    out
}

/// Loads `files` from a fresh directory and asserts the full error display, and that
/// the directory is unchanged.
pub(super) fn expect_invalid(files: &[(&str, &[u8])], expected: &str) {
    let dir = dir_with(files);
    let before = snapshot(dir.path());
    let err = load(dir.path(), &DEFAULT).expect_err("input should be rejected");
    assert_eq!(rel(&dir, &err.to_string()), expected);
    assert_eq!(
        snapshot(dir.path()),
        before,
        "loading must not touch the directory"
    );
}
