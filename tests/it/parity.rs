//! Parity with `ccoctl aws`: the same roles, documents and Secrets from the same requests.
//! (What stsform adds on top is tested in `tags` (adopting, refusing, untracked resources,
//! user tags) and `saved_plans`.)
//!
//! ccoctl cannot run here (no Go toolchain), so [`Ccoctl`] builds what ccoctl would send
//! to IAM and write to disk from its documented behaviour, independently of stsform's
//! loader and derive: which documents it reads and skips, role names, the trust-policy and
//! permissions-policy texts as its Go code formats them, and the Secret manifest bytes.
//! Policy documents are compared by IAM's meaning with [`meaning`], a normaliser written
//! here (not stsform's canonicalizer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};
use stsform::resource::{ResourceId, ResourceKind};

use crate::harness::{ACCOUNT_ID, Account, Env, scenario};

const REGION: &str = "us-east-2";

/// What ccoctl makes for one CredentialsRequest.
#[derive(Clone, Debug)]
struct CcoctlRole {
    description: String,
    /// The trust policy text ccoctl sends to CreateRole.
    trust: String,
    /// The permissions policy text ccoctl sends to PutRolePolicy (policy name = role name).
    policy: String,
    /// `manifests/<ns>-<name>-credentials.yaml`.
    secret_path: String,
    /// The Secret manifest, byte for byte.
    secret: String,
}

/// ccoctl's view of a requests directory, for cluster `name` in `REGION`.
struct Ccoctl {
    roles: BTreeMap<String, CcoctlRole>,
}

impl Ccoctl {
    /// `ccoctl aws create-all --name <name> --credentials-requests-dir <dir>
    /// [--enable-tech-preview]`, as documented (requests: §5; names: §2.3; texts: §3.3,
    /// §3.4, §4.4). The directory is what `oc adm release extract --cloud=aws` produces,
    /// which keeps AWS requests only: ccoctl itself fails on others.
    fn create_all(dir: &Path, name: &str, enable_tech_preview: bool) -> Ccoctl {
        let host = format!("{name}-oidc.s3.{REGION}.amazonaws.com");
        let provider = format!("arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}");
        let mut roles = BTreeMap::new();
        for request in ccoctl_requests(dir, enable_tech_preview) {
            let spec = &request["spec"];
            let ns = spec["secretRef"]["namespace"].as_str().unwrap();
            let secret = spec["secretRef"]["name"].as_str().unwrap();
            // `N-<ns>-<secret>`, cut to its first 64 bytes (the names here are ASCII).
            let full = format!("{name}-{ns}-{secret}");
            let role = full[..full.len().min(64)].to_string();
            let accounts: Vec<&str> = spec["serviceAccountNames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/{role}");
            roles.insert(
                role,
                CcoctlRole {
                    description: format!("OpenShift role for {ns}/{secret}"),
                    trust: trust_text(&provider, &host, ns, &accounts),
                    policy: policy_text(&spec["providerSpec"]["statementEntries"]),
                    secret_path: format!("manifests/{ns}-{secret}-credentials.yaml"),
                    secret: format!(
                        "apiVersion: v1\nstringData:\n  credentials: |-\n    [default]\n    sts_regional_endpoints = regional\n    role_arn = {arn}\n    web_identity_token_file = /var/run/secrets/openshift/serviceaccount/token\nkind: Secret\nmetadata:\n  name: {secret}\n  namespace: {ns}\ntype: Opaque"
                    ),
                },
            );
        }
        Ccoctl { roles }
    }
}

/// The requests ccoctl keeps (§5): `.yaml`/`.yml` files in name order (not `.json`, not
/// subdirectories), every document, minus `release.openshift.io/delete: "true"` and any
/// `release.openshift.io/feature-set` (kept only with --enable-tech-preview and the exact
/// value `TechPreviewNoUpgrade`); `release.openshift.io/feature-gate` is not looked at.
fn ccoctl_requests(dir: &Path, enable_tech_preview: bool) -> Vec<Value> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    let mut kept = Vec::new();
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        for doc in documents {
            if doc["spec"]["providerSpec"]["kind"] != "AWSProviderSpec" {
                continue; // what `oc adm release extract --cloud=aws` leaves out
            }
            let annotations = &doc["metadata"]["annotations"];
            if annotations["release.openshift.io/delete"] == "true" {
                continue;
            }
            if let Some(set) = annotations.get("release.openshift.io/feature-set")
                && (!enable_tech_preview || set != "TechPreviewNoUpgrade")
            {
                continue;
            }
            kept.push(doc);
        }
    }
    kept
}

/// ccoctl's trust policy, built by string formatting exactly as its Go code does.
fn trust_text(provider: &str, host: &str, ns: &str, accounts: &[&str]) -> String {
    let mut list = format!("[ \"system:serviceaccount:{ns}:{}\" ", accounts[0]);
    for sa in &accounts[1..] {
        list.push_str(&format!(" , \"system:serviceaccount:{ns}:{sa}\""));
    }
    list.push_str(" ]");
    let condition = format!(" {{ \"StringEquals\": {{ \"{host}:sub\": {list} }} }}");
    format!(
        "{{ \"Version\": \"2012-10-17\", \"Statement\": [ {{ \"Effect\": \"Allow\", \"Principal\": {{ \"Federated\": \"{provider}\" }}, \"Action\": \"sts:AssumeRoleWithWebIdentity\", \"Condition\": {condition} }} ] }}"
    )
}

/// ccoctl's permissions policy: Go's `json.Marshal` of its struct (fields Effect, Action,
/// Resource, Condition in that order, Condition omitted when empty, its maps' keys sorted,
/// `<`, `>` and `&` escaped), compact.
fn policy_text(entries: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
    let statements: Vec<Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("Effect".into(), e["effect"].clone());
            m.insert("Action".into(), e["action"].clone());
            m.insert("Resource".into(), e["resource"].clone());
            if let Some(c) = e
                .get("policyCondition")
                .filter(|c| c.as_object().is_some_and(|o| !o.is_empty()))
            {
                m.insert("Condition".into(), sorted(c));
            }
            Value::Object(m)
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("Version".into(), "2012-10-17".into());
    doc.insert("Statement".into(), Value::Array(statements));
    serde_json::to_string(&Value::Object(doc))
        .unwrap()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A policy document's meaning, as IAM evaluates it: the text URL-decoded (IAM returns
/// documents encoded), keys in any order, a lone statement or value the same as a
/// one-item list, sets (actions, resources, principals, condition values) unordered,
/// condition values compared as strings, statements unordered.
fn meaning(text: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(text.trim()).decode_utf8_lossy();
    let doc: Value = serde_json::from_str(&decoded)
        .unwrap_or_else(|e| panic!("not a policy document ({e}): {text}"));
    fn set(v: &Value) -> Value {
        let items = match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let mut strings: Vec<String> = items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        strings.sort();
        strings.dedup();
        Value::Array(strings.into_iter().map(Value::String).collect())
    }
    fn map_of(v: &Value, inner: fn(&Value) -> Value) -> Value {
        let Value::Object(m) = v else {
            return v.clone();
        };
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        Value::Object(
            keys.into_iter()
                .map(|k| (k.clone(), inner(&m[k])))
                .collect(),
        )
    }
    fn statement(s: &Value) -> Value {
        let Value::Object(m) = s else {
            panic!("statement {s}")
        };
        let mut out = Map::new();
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            let v = &m[k];
            let v = match k.as_str() {
                "Action" | "NotAction" | "Resource" | "NotResource" => set(v),
                "Principal" | "NotPrincipal" if v.is_object() => map_of(v, set),
                "Condition" => map_of(v, |keys| map_of(keys, set)),
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        Value::Object(out)
    }
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut statements: Vec<Value> = statements.iter().map(statement).collect();
    statements.sort_by_key(|s| s.to_string());
    serde_json::json!({"Version": doc["Version"], "Statement": statements})
}

/// The roles in AWS for `name` match what ccoctl would make, and the Secret manifests on
/// disk match ccoctl's bytes.
async fn assert_ccoctls_roles<A: Account>(account: &A, env: &Env<A>, name: &str) {
    let ccoctl = Ccoctl::create_all(&env.path("creds"), name, false);
    // The feature-gated cluster-api request is among them, as in ccoctl.
    let gated = format!("{name}-openshift-cluster-api-capa-manager-bootstrap-credentials");
    assert!(ccoctl.roles.contains_key(&gated[..gated.len().min(64)]));
    assert_eq!(ccoctl.roles.len(), 7);

    let in_aws: BTreeSet<String> = account
        .inventory(name)
        .await
        .into_iter()
        .filter_map(|i| i.strip_prefix("role:").map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = ccoctl.roles.keys().cloned().collect();
    assert_eq!(in_aws, expected, "the same set of roles");

    for (role, want) in &ccoctl.roles {
        let got = account.role_documents(role).await.expect("role exists");
        assert_eq!(got.description, want.description, "{role}");
        assert_eq!(
            meaning(&got.trust),
            meaning(&want.trust),
            "{role}: trust policy"
        );
        // Exactly one inline policy, named like the role, meaning what ccoctl's means.
        let names: Vec<&String> = got.inline.keys().collect();
        assert_eq!(names, [role], "{role}: inline policies");
        assert_eq!(
            meaning(&got.inline[role]),
            meaning(&want.policy),
            "{role}: permissions policy"
        );
        let secret = std::fs::read_to_string(env.path("install").join(&want.secret_path)).unwrap();
        assert_eq!(secret, want.secret, "{}", want.secret_path);
    }
    let manifests: BTreeSet<String> = std::fs::read_dir(env.path("install/manifests"))
        .unwrap()
        .map(|e| format!("manifests/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|m| !m.ends_with("cluster-authentication-02-config.yaml"))
        .collect();
    let expected: BTreeSet<String> = ccoctl
        .roles
        .values()
        .map(|r| r.secret_path.clone())
        .collect();
    assert_eq!(manifests, expected, "the same Secret manifests");
}

scenario!(release_requests_give_ccoctls_roles);
async fn release_requests_give_ccoctls_roles<A: Account>(account: A, name: String) {
    let env = Env::new(account.clone(), &name, "cluster");
    let (planned, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    // The plan tells the reviewer which request is feature-gated.
    assert_eq!(planned.plan.notes.len(), 1, "{:?}", planned.plan.notes);
    assert!(
        planned.plan.notes[0]
            .contains("0000_30_cluster-api_01_credentials-request.yaml: document 1: feature-gated"),
        "{:?}",
        planned.plan.notes
    );
    assert_ccoctls_roles(&account, &env, &name).await;
}

/// The meaning comparison can fail: one action more, a subject less, are differences.
#[test]
fn meaning_tells_policies_apart() {
    let a = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:A","s3:B"],"Resource":"*","Condition":{"Bool":{"k":true}}}]}"#;
    let same = r#"{"Statement":{"Resource":["*"],"Condition":{"Bool":{"k":["true"]}},"Action":["s3:B","s3:A"],"Effect":"Allow"},"Version":"2012-10-17"}"#;
    assert_eq!(meaning(a), meaning(same));
    assert_eq!(
        meaning(a),
        meaning(
            &percent_encoding::utf8_percent_encode(a, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        )
    );
    assert_ne!(
        meaning(a),
        meaning(&a.replace("\"s3:B\"", "\"s3:B\",\"s3:C\""))
    );
    assert_ne!(meaning(a), meaning(&a.replace("true", "false")));
    let t = trust_text("arn:p", "h", "ns", &["a", "b"]);
    assert_eq!(
        t,
        r#"{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Federated": "arn:p" }, "Action": "sts:AssumeRoleWithWebIdentity", "Condition":  { "StringEquals": { "h:sub": [ "system:serviceaccount:ns:a"  , "system:serviceaccount:ns:b" ] } } } ] }"#
    );
    assert_ne!(
        meaning(&t),
        meaning(&trust_text("arn:p", "h", "ns", &["a"]))
    );
}

/// Every AWS request among the real fixtures (the release's, and the OLM operators'),
/// with and without --enable-tech-preview: stsform derives exactly ccoctl's roles,
/// documents and Secret manifests. (The EFS fixtures are left out: ccoctl aborts on them,
/// and stsform refuses them with located errors.)
#[test]
fn every_fixture_derives_ccoctls_roles() {
    use stsform::credentials_request::{LoadOptions, load};
    use stsform::desired::{Facts, derive};
    use stsform::resource::{FileContent, Spec};

    let fixtures = crate::derive::root().join("tests/fixtures/credreqs/openshift");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file.ends_with(".yaml")
            && !["credentials.yaml", "credentials-node.yaml"].contains(&file.as_str())
        {
            std::fs::copy(&path, dir.path().join(&file)).unwrap();
        }
    }
    // A request only a tech-preview cluster gets, to see both sides of the flag.
    let tp = std::fs::read_to_string(fixtures.join("01-registry-credentials-request.yaml"))
        .unwrap()
        .replacen(
            "  annotations:\n",
            "  annotations:\n    release.openshift.io/feature-set: TechPreviewNoUpgrade\n",
            1,
        )
        .replace("installer-cloud-credentials", "preview-cloud-credentials");
    std::fs::write(dir.path().join("09-preview.yaml"), tp).unwrap();

    for tech_preview in [false, true] {
        let name = "parity";
        let ccoctl = Ccoctl::create_all(dir.path(), name, tech_preview);
        let mut settings = crate::derive::settings(name, REGION, dir.path());
        settings.enable_tech_preview = tech_preview;
        let loaded = load(
            dir.path(),
            &LoadOptions {
                enable_tech_preview: tech_preview,
            },
        )
        .unwrap();
        let facts = Facts {
            account_id: Some(ACCOUNT_ID.into()),
            signing_key: Some(crate::derive::fixed_key()),
            ..Facts::default()
        };
        let desired = derive(&loaded.requests, &settings, &facts).unwrap();
        let roles: BTreeSet<String> = desired
            .resources
            .keys()
            .filter(|id| id.kind == ResourceKind::IamRole)
            .map(|id| id.name.clone())
            .collect();
        let expected: BTreeSet<String> = ccoctl.roles.keys().cloned().collect();
        assert_eq!(roles, expected, "tech preview {tech_preview}");
        assert_eq!(
            expected.len(),
            if tech_preview { 11 } else { 10 },
            "{expected:#?}"
        );
        for (role, want) in &ccoctl.roles {
            let Spec::IamRole(r) =
                &desired.resources[&ResourceId::new(ResourceKind::IamRole, role)].spec
            else {
                unreachable!()
            };
            assert_eq!(r.description, want.description);
            assert_eq!(
                meaning(&r.trust_policy.to_string()),
                meaning(&want.trust),
                "{role}"
            );
            let Spec::IamRolePolicy(p) =
                &desired.resources[&ResourceId::new(ResourceKind::IamRolePolicy, role)].spec
            else {
                unreachable!()
            };
            assert_eq!((&p.role, &p.name), (role, role));
            assert_eq!(
                meaning(&p.document.to_string()),
                meaning(&want.policy),
                "{role}"
            );
            let Spec::File(f) =
                &desired.resources[&ResourceId::new(ResourceKind::File, &want.secret_path)].spec
            else {
                unreachable!()
            };
            assert_eq!(f.content, FileContent::Text(want.secret.clone()), "{role}");
        }
    }
}
