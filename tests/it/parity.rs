//! Parity with `ccoctl aws`: the same roles from the same requests, what ccoctl's `delete`
//! would find, and the differences stsform adds on top (adopting, refusing, user tags,
//! self-contained saved plans).
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
use stsform::plan::{Action, Reason};
use stsform::resource::{ResourceId, ResourceKind};
use stsform::workflow::Mode;

use crate::harness::{ACCOUNT_ID, Account, Env, expected_cluster_inventory, scenario};

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

scenario!(untracked_tagged_role_is_listed_and_deleted_only_with_the_flag);
async fn untracked_tagged_role_is_listed_and_deleted_only_with_the_flag<A: Account>(
    account: A,
    name: String,
) {
    let env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    // ccoctl made this role for a request that has left the directory.
    let orphan = format!("{name}-openshift-old-operator-old-credentials");
    account.create_tagged_role(&orphan, &name).await;
    // Tagged for another cluster whose name starts like this one's: not ours.
    let other = format!("{name}-x");
    let theirs = format!("{other}-openshift-foo-bar");
    account.create_tagged_role(&theirs, &other).await;

    let listed = |plan: &stsform::plan::Plan| -> Vec<String> {
        plan.unmanaged.iter().map(|u| u.id.to_string()).collect()
    };
    let untracked = [
        format!("iam_role.{orphan}"),
        format!("iam_role_policy.{orphan}"),
    ];
    let planned = env.plan().await;
    assert!(!planned.plan.has_changes(), "{:#?}", planned.plan.changes);
    assert_eq!(listed(&planned.plan), untracked);
    assert_eq!(planned.plan.owner, name);
    let mut text = Vec::new();
    stsform::render::text::render(&planned.plan, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(&format!("Tagged for {name}, not managed"))
            && text.contains(&format!("  # iam_role.{orphan}\n")),
        "{text}"
    );

    // The state also loses the bucket (with its objects) and the provider: they are
    // tagged too, so the scan finds them as well.
    let bucket = format!("{name}-oidc");
    let host = format!("{bucket}.s3.us-east-2.amazonaws.com");
    let forgotten = [
        ResourceId::new(ResourceKind::S3Bucket, &bucket),
        ResourceId::new(
            ResourceKind::S3Object,
            format!("{bucket}/.well-known/openid-configuration"),
        ),
        ResourceId::new(ResourceKind::S3Object, format!("{bucket}/keys.json")),
        ResourceId::new(ResourceKind::IamOidcProvider, &host),
    ];
    env.forget(&forgotten);
    let untracked: Vec<String> = forgotten
        .iter()
        .map(ToString::to_string)
        .chain(untracked)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    // A destroy without the flag lists them and leaves them.
    let (planned, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let mut listed_now = listed(&planned.plan);
    listed_now.sort();
    assert_eq!(listed_now, untracked);
    assert_eq!(planned.plan.summary.destroy, 24);
    let left = account.inventory(&name).await;
    let expected: BTreeSet<String> = [
        format!("bucket:{bucket}"),
        format!("object:{bucket}/.well-known/openid-configuration"),
        format!("object:{bucket}/keys.json"),
        format!("provider:{host}"),
        format!("role:{orphan}"),
        format!("role_policy:{orphan}/{orphan}"),
        format!("role:{theirs}"),
        format!("role_policy:{theirs}/{theirs}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(left, expected);

    // With it, they are deletes (reason: tagged, not managed); the other cluster's stays.
    let planned = env.try_plan_with(Mode::Destroy, true).await.unwrap();
    let mut changes: Vec<(Action, Reason, String)> = planned
        .plan
        .changes
        .iter()
        .map(|c| (c.action, c.reason, c.id.to_string()))
        .collect();
    changes.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        changes,
        untracked
            .iter()
            .map(|id| (Action::Delete, Reason::Unmanaged, id.clone()))
            .collect::<Vec<_>>()
    );
    let (_, outcome, _) = env.run_with(Mode::Destroy, true).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let left = account.inventory(&name).await;
    let expected: BTreeSet<String> = [
        format!("role:{theirs}"),
        format!("role_policy:{theirs}/{theirs}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(left, expected);
}

scenario!(a_role_given_a_managed_policy_outside_stsform_is_still_destroyed);
async fn a_role_given_a_managed_policy_outside_stsform_is_still_destroyed<A: Account>(
    account: A,
    name: String,
) {
    let env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    let ingress = format!("{name}-openshift-ingress-operator-cloud-credentials");
    let arn = account.attach_managed_policy(&ingress).await;
    let planned = env.plan_mode(Mode::Destroy).await;
    let note = format!(
        "iam_role.{ingress}: has policies stsform did not make; before the role is deleted, managed `{arn}` detached"
    );
    assert!(
        planned.plan.notes.contains(&note),
        "{:#?}",
        planned.plan.notes
    );
    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(account.inventory(&name).await.is_empty());
}

scenario!(an_existing_tagged_role_is_adopted_and_an_untagged_one_refused);
async fn an_existing_tagged_role_is_adopted_and_an_untagged_one_refused<A: Account>(
    account: A,
    name: String,
) {
    // Tagged for this cluster (a lost state, an interrupted apply, ccoctl): adopted.
    let env = Env::new(account.clone(), &name, "cluster");
    let ingress = format!("{name}-openshift-ingress-operator-cloud-credentials");
    account.create_tagged_role(&ingress, &name).await;
    let planned = env.plan().await;
    let adopted: Vec<(Action, String, Vec<String>)> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.reason == Reason::Adopted)
        .map(|c| {
            let attributes = c.attributes.iter().map(|a| a.name.clone()).collect();
            (c.action, c.id.to_string(), attributes)
        })
        .collect();
    assert_eq!(
        adopted,
        [
            (
                Action::Update,
                format!("iam_role.{ingress}"),
                vec!["description".to_string(), "trust_policy".to_string()]
            ),
            (
                Action::Update,
                format!("iam_role_policy.{ingress}"),
                vec!["document".to_string()]
            ),
        ]
    );
    assert_eq!(planned.plan.summary.adopt, 2);
    assert_eq!(planned.plan.summary.add, 26);
    let mut text = Vec::new();
    stsform::render::text::render(&planned.plan, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(&format!(
            "# iam_role.{ingress} exists, tagged for {name}: will be adopted and updated in-place"
        )) && text.contains("Plan: 2 to adopt, 26 to add, 2 to change, 0 to destroy."),
        "{text}"
    );
    let (outcome, _) = env.execute(&planned).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(!env.plan().await.plan.has_changes());
    assert_eq!(
        account.inventory(&name).await,
        expected_cluster_inventory(&name)
    );
    assert!(
        env.state()
            .resources
            .contains_key(&ResourceId::new(ResourceKind::IamRole, &ingress))
    );

    // Not tagged for this cluster: the plan fails before apply, naming it; nothing changes.
    let other = format!("{name}u");
    let env = Env::new(account.clone(), &other, "cluster");
    let foreign = format!("{other}-openshift-ingress-operator-cloud-credentials");
    account.create_foreign_role(&foreign).await;
    let writes = account.writes();
    let err = env.try_plan(Mode::Apply).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("  iam_role.{foreign}: exists but carries no `openshift.io/cloud-credential-operator/{other}` tag and is not in the state")),
        "{err}"
    );
    assert!(err.ends_with("Nothing was changed."), "{err}");
    assert_eq!(account.writes(), writes);
    assert!(!env.path(&format!("state/{other}.toml")).exists());
    assert_eq!(
        account.inventory(&other).await,
        [format!("role:{foreign}")].into_iter().collect()
    );
    account.heal(&foreign).await;
}

scenario!(user_tags_are_on_every_resource_and_a_change_is_an_update);
async fn user_tags_are_on_every_resource_and_a_change_is_an_update<A: Account>(
    account: A,
    name: String,
) {
    let mut env = Env::new(account.clone(), &name, "cluster");
    env.extra.user_tags = vec!["team=platform".into(), "cost-center=42".into()];
    assert!(env.apply().await.1.is_complete());
    let owner = format!("openshift.io/cloud-credential-operator/{name}");
    let tagged: Vec<String> = expected_cluster_inventory(&name)
        .into_iter()
        .filter(|i| {
            i.starts_with("bucket:") || i.starts_with("provider:") || i.starts_with("role:")
        })
        .collect();
    assert_eq!(tagged.len(), 9);
    for what in &tagged {
        let tags = account.tags_of(what).await;
        assert_eq!(
            tags.get("team").map(String::as_str),
            Some("platform"),
            "{what}"
        );
        assert_eq!(
            tags.get("cost-center").map(String::as_str),
            Some("42"),
            "{what}"
        );
        assert_eq!(
            tags.get(&owner).map(String::as_str),
            Some("owned"),
            "{what}"
        );
        assert_eq!(tags.get("Name"), Some(&name), "{what}");
    }
    // Objects carry ccoctl's two ownership tags only (S3 allows 10 per object).
    let object = format!("object:{name}-oidc/keys.json");
    assert_eq!(account.tags_of(&object).await.len(), 2);

    // A changed tag is an in-place update of each tagged resource, and nothing else.
    env.extra.user_tags = vec!["team=infra".into(), "cost-center=42".into()];
    let planned = env.plan().await;
    assert_eq!(planned.plan.changes.len(), 9);
    for c in &planned.plan.changes {
        assert_eq!(c.action, Action::Update, "{}", c.id);
        let names: Vec<&str> = c.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["tags"], "{}", c.id);
    }
    assert!(env.apply().await.1.is_complete());
    for what in &tagged {
        assert_eq!(
            account.tags_of(what).await.get("team").map(String::as_str),
            Some("infra"),
            "{what}"
        );
    }
    assert!(!env.plan().await.plan.has_changes());
}

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
