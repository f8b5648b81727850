//! The review through the binary: each warning class on the real requests of
//! examples/cluster (altered where a class needs it), acknowledgements in stsform.toml,
//! `--strict`, `show` of a saved plan, `graph --format mermaid`, and the account's quotas
//! against the emulator. Offline (a closed loopback port) unless the emulator is needed.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::harness::Account;
use crate::support::scratch;

fn offline(dir: &Path, extra: &[&str]) -> Output {
    let args: Vec<&str> = OFFLINE.iter().chain(extra).copied().collect();
    run(dir, &args)
}

/// Replaces the first `from` in `creds/<file>` with `to`.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join("creds").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

const EBS: &str = "03_credentials_request_aws.yaml";
const INGRESS: &str = "00-ingress-credentials-request.yaml";

/// examples/cluster with one request allowing `*` and another `route53:*`: with the
/// shipped `iam:PassRole` on `*` of machine-api and cluster-api, every request warning
/// class.
fn every_class(dir: &Path) {
    edit(
        dir,
        EBS,
        "      - ec2:AttachVolume\n",
        "      - ec2:AttachVolume\n      - \"*\"\n",
    );
    edit(
        dir,
        INGRESS,
        "      - route53:ListHostedZones\n",
        "      - route53:*\n",
    );
}

const PASSROLE_CAPI: &str = "creds/0000_30_cluster-api_01_credentials-request.yaml: document 1: spec.providerSpec.statementEntries[0].action[21]: `iam:PassRole` on every resource (`*`): the role can hand any role of the account to an AWS service [passrole-on-any-resource, request openshift-cluster-api/capa-manager-bootstrap-credentials]";
const PASSROLE_MAPI: &str = "creds/0000_30_machine-api-operator_00_credentials-request.yaml: document 1: spec.providerSpec.statementEntries[0].action[21]: `iam:PassRole` on every resource (`*`): the role can hand any role of the account to an AWS service [passrole-on-any-resource, request openshift-machine-api/aws-cloud-credentials]";
const STAR: &str = "creds/03_credentials_request_aws.yaml: document 1: spec.providerSpec.statementEntries[0].action[1]: `*` allows every action of every AWS service [action-wildcard, request openshift-cluster-csi-drivers/ebs-cloud-credentials]";
const ROUTE53: &str = "creds/00-ingress-credentials-request.yaml: document 1: spec.providerSpec.statementEntries[0].action[1]: `route53:*` allows every `route53` action [service-wildcard, request openshift-ingress-operator/cloud-credentials]";

#[test]
fn every_warning_class_is_shown_with_its_request_in_every_format() {
    let w = scratch("cluster", true);
    every_class(w.path());

    let o = offline(w.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    // In request file order (byte order, as ccoctl reads them): ingress, cluster-api,
    // machine-api, EBS.
    let expected = format!(
        "\nWarnings (4):\n  - {ROUTE53}\n  - {PASSROLE_CAPI}\n  - {PASSROLE_MAPI}\n  - {STAR}\n  To accept a reviewed warning of a request, acknowledge it in stsform.toml, e.g.:\n    [[acknowledge]]\n    request = \"openshift-ingress-operator/cloud-credentials\"\n    check = \"service-wildcard\"\n    action = \"route53:*\"\n    reason = \"...\"\n"
    );
    assert!(text.contains(&expected), "{text}");
    // After the plan line, as Terraform prints its warnings.
    assert!(
        text.find("Plan: 28 to add").unwrap() < text.find("Warnings (4):").unwrap(),
        "{text}"
    );

    let o = offline(w.path(), &["--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["findings"][0],
        json!({
            "check": "service-wildcard",
            "acknowledged": false,
            "request": "openshift-ingress-operator/cloud-credentials",
            "source": "creds/00-ingress-credentials-request.yaml: document 1",
            "field": "spec.providerSpec.statementEntries[0].action[1]",
            "action": "route53:*",
            "message": "`route53:*` allows every `route53` action",
        })
    );
    let checks: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "service-wildcard",
            "passrole-on-any-resource",
            "passrole-on-any-resource",
            "action-wildcard"
        ]
    );
    // An offline plan reads no account summary.
    assert_eq!(v["account"], Value::Null);

    let o = offline(w.path(), &["--format", "markdown"]);
    let md = stdout(&o);
    assert!(md.contains("#### Warnings (4)\n\n- creds/00-ingress-credentials-request.yaml: document 1: spec.providerSpec.statementEntries\\[0\\].action\\[1\\]: `route53:*` allows every `route53` action \\[service-wildcard, request openshift-ingress-operator/cloud-credentials\\]\n"), "{md}");
}

#[test]
fn acknowledged_warnings_leave_text_and_markdown_and_stay_marked_in_json() {
    let w = scratch("cluster", true);
    every_class(w.path());
    std::fs::write(
        w.path().join("stsform.toml"),
        r#"# Reviewed: machine-api and cluster-api hand the worker role to the instances they make.
[[acknowledge]]
request = "openshift-machine-api/aws-cloud-credentials"
check = "passrole-on-any-resource"
action = "IAM:PASSROLE"
reason = "machine-api passes the worker role"

[[acknowledge]]
request = "openshift-cluster-api/capa-manager-bootstrap-credentials"
check = "passrole-on-any-resource"

[[acknowledge]]
request = "openshift-ingress-operator/cloud-credentials"
check = "service-wildcard"
action = "route53:*"

[[acknowledge]]
request = "openshift-ingress-operator/cloud-credentials"
check = "service-wildcard"
action = "elasticloadbalancing:*"
"#,
    )
    .unwrap();
    let o = offline(w.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!(
            "\nWarnings (1):\n  - {STAR}\n  (3 acknowledged warnings not shown (`--format json` lists them))\n"
        )),
        "{text}"
    );
    assert!(!text.contains("passrole-on-any-resource"), "{text}");
    // The entry that matched nothing is named, so it can be removed.
    assert!(
        text.contains("  - stsform.toml: acknowledge[3]: matches no warning (request `openshift-ingress-operator/cloud-credentials` has no `service-wildcard` finding about `elasticloadbalancing:*`); remove it if the request no longer needs it\n"),
        "{text}"
    );

    let o = offline(w.path(), &["--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let marks: Vec<(String, bool)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["action"].as_str().unwrap().to_string(),
                f["acknowledged"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            ("route53:*".to_string(), true),
            ("iam:PassRole".to_string(), true),
            ("iam:PassRole".to_string(), true),
            ("*".to_string(), false),
        ]
    );

    let o = offline(w.path(), &["--format", "markdown"]);
    let md = stdout(&o);
    assert!(md.contains("#### Warnings (1)\n"), "{md}");
    assert!(
        md.contains("3 acknowledged warnings not shown (`--format json` lists them).\n"),
        "{md}"
    );
    assert!(!md.contains("passrole"), "{md}");
}

#[test]
fn strict_refuses_unacknowledged_warnings_after_showing_the_plan() {
    let w = scratch("cluster", true);
    let o = offline(w.path(), &["--strict"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // The plan is shown first, warnings included; then refused.
    assert!(stdout(&o).contains("Plan: 28 to add"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Warnings (2):"), "{}", stdout(&o));
    let expected = format!(
        "error: --strict: the plan has 2 warnings not acknowledged in stsform.toml:\n  {PASSROLE_CAPI}\n  {PASSROLE_MAPI}\nFix the request, raise the quota, or acknowledge a reviewed request's finding ([[acknowledge]], see the README).\n"
    );
    assert!(stderr(&o).ends_with(&expected), "{}", stderr(&o));
    // Acknowledged, the same plan passes.
    std::fs::write(
        w.path().join("stsform.toml"),
        "[[acknowledge]]\nrequest = \"openshift-machine-api/aws-cloud-credentials\"\ncheck = \"passrole-on-any-resource\"\n\n[[acknowledge]]\nrequest = \"openshift-cluster-api/capa-manager-bootstrap-credentials\"\ncheck = \"passrole-on-any-resource\"\n",
    )
    .unwrap();
    let o = offline(w.path(), &["--strict"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("Warnings"), "{}", stdout(&o));
}

#[test]
fn validate_prints_the_warnings_not_acknowledged_and_stale_entries() {
    let w = scratch("cluster", false);
    std::fs::write(
        w.path().join("stsform.toml"),
        "[[acknowledge]]\nrequest = \"openshift-machine-api/aws-cloud-credentials\"\ncheck = \"passrole-on-any-resource\"\n\n[[acknowledge]]\nrequest = \"gone/request\"\ncheck = \"action-wildcard\"\n",
    )
    .unwrap();
    let o = run(
        w.path(),
        &["validate", "--credentials-requests-dir", "creds"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("warning: ") || l.contains("acknowledge["))
        .collect();
    assert_eq!(
        lines,
        [
            "note: stsform.toml: acknowledge[1]: matches no warning (request `gone/request` has no `action-wildcard` finding); remove it if the request no longer needs it".to_string(),
            format!("warning: {PASSROLE_CAPI}"),
        ]
    );
    assert_eq!(stdout(&o), "creds valid: 7 CredentialsRequests for AWS.\n");
}

// ---------------------------------------------------------------------------------------
// Against the emulator: the account's quotas, and `show` of a saved plan.

/// An AWS account of the test's own in the emulator: credentials that act in it (STS
/// AssumeRole into a fresh account id, which moto honours), and an IAM client with them.
/// Roles and providers made here are invisible to every other test's account.
struct OwnAccount {
    key: String,
    secret: String,
    token: String,
    iam: aws_sdk_iam::Client,
}

async fn own_account(url: &str) -> OwnAccount {
    crate::support::assert_loopback(url);
    let id = format!("9{:011}", uuid::Uuid::new_v4().as_u128() % 100_000_000_000);
    let testing = aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "t");
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(crate::support::REGION))
            .endpoint_url(url)
            .credentials_provider(testing)
            .build(),
    );
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{id}:role/stsform-review-test"))
        .role_session_name("stsform-review-test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let (key, secret, token) = (
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    );
    let creds = aws_sdk_iam::config::Credentials::new(
        key.clone(),
        secret.clone(),
        Some(token.clone()),
        None,
        "own-account",
    );
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(crate::support::REGION))
            .endpoint_url(url)
            .credentials_provider(creds)
            .build(),
    );
    OwnAccount {
        key,
        secret,
        token,
        iam,
    }
}

impl OwnAccount {
    /// The binary in `dir`, acting in this account through the (loopback) emulator.
    fn stsform(&self, dir: &Path, url: &str, args: &[&str]) -> Output {
        crate::binary::command(
            dir,
            url,
            &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        )
        .env("AWS_ACCESS_KEY_ID", &self.key)
        .env("AWS_SECRET_ACCESS_KEY", &self.secret)
        .env("AWS_SESSION_TOKEN", &self.token)
        .output()
        .unwrap()
    }

    /// Roles of someone else's in the account (moto reports IAM's default quota of 1,000
    /// roles and does not enforce it, so the test fills the account instead).
    async fn add_roles(&self, n: usize) {
        // A few at a time: the emulator answers one by one, but the client's side overlaps.
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..4 {
            let iam = self.iam.clone();
            tasks.spawn(async move {
                for i in (worker..n).step_by(4) {
                    iam.create_role()
                        .role_name(format!("someone-elses-{i:04}"))
                        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
                        .send()
                        .await
                        .unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    }

    async fn add_oidc_providers(&self, n: usize) {
        for i in 0..n {
            self.iam
                .create_open_id_connect_provider()
                .url(format!("https://idp-{i:03}.example.com"))
                .client_id_list("sts.amazonaws.com")
                .send()
                .await
                .unwrap();
        }
    }

    async fn summary(&self) -> (i32, i32) {
        use aws_sdk_iam::types::SummaryKeyType as K;
        let out = self.iam.get_account_summary().send().await.unwrap();
        let map = out.summary_map().unwrap();
        (map[&K::Roles], map[&K::Providers])
    }
}

#[test]
fn the_account_summary_makes_the_plan_warn_and_strict_fail() {
    let (rt, url, _) = crate::binary::moto_setup();
    let account = rt.block_on(own_account(&url));
    // The plan of examples/cluster creates 7 roles and 1 OIDC provider: 994 roles and 100
    // providers already there put both past IAM's defaults (1,000 and 100).
    rt.block_on(account.add_roles(994));
    rt.block_on(account.add_oidc_providers(100));
    assert_eq!(rt.block_on(account.summary()), (994, 100));

    let w = scratch("cluster", true);
    let name = crate::moto_account::unique_name();
    // The registry's role trusts 40 more service accounts: 2,000-odd characters, within
    // the 4,096 this account is said to allow, past the 2,048 its summary reports.
    edit(
        w.path(),
        "01-registry-credentials-request.yaml",
        "  - registry\n",
        &format!(
            "  - registry\n{}",
            (0..40)
                .map(|i| format!("  - registry-worker-sa-{i:02}\n"))
                .collect::<String>()
        ),
    );
    std::fs::write(
        w.path().join("stsform.toml"),
        "[quotas]\nrole_trust_policy_length = 4096\n\n[[acknowledge]]\nrequest = \"openshift-machine-api/aws-cloud-credentials\"\ncheck = \"passrole-on-any-resource\"\n\n[[acknowledge]]\nrequest = \"openshift-cluster-api/capa-manager-bootstrap-credentials\"\ncheck = \"passrole-on-any-resource\"\n",
    )
    .unwrap();
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "--name",
            &name,
            "--region",
            "us-east-2",
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
        ];
        args.extend(extra);
        account.stsform(w.path(), &url, &args)
    };

    let o = plan(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", crate::binary::text(&o));
    let text = stdout(&o);
    // Role names are cut to 64 characters, as ccoctl cuts them.
    let role: String = format!("{name}-openshift-image-registry-installer-cloud-credentials")
        .chars()
        .take(64)
        .collect();
    let role = format!("iam_role.{role}");
    let expected = [
        "account: the plan creates 7 IAM roles, and the account has 994 of the 1,000 its quota allows: apply would stop at the quota; raise \"Roles per account\" in Service Quotas or delete unused roles first [role-quota]".to_string(),
        "account: the plan creates 1 OIDC provider, and the account has 100 identity providers (SAML and OIDC together: IAM's account summary does not count them apart) of the 100 OIDC providers its quota allows (IAM's default; set `[quotas] openid_connect_providers` in stsform.toml if the account's was raised): apply may stop at the quota [oidc-provider-quota]".to_string(),
    ];
    assert!(
        text.contains(&format!(
            "\nWarnings (3):\n  - {}\n  - {}\n  - account: the trust policy of `{role}` is ",
            expected[0], expected[1]
        )),
        "{text}"
    );
    assert!(
        text.contains(" characters (white space not counted); the account's \"Role trust policy length\" quota is 2,048 (IAM's `AssumeRolePolicySizeQuota`): apply would fail on it [trust-policy-quota]\n  (2 acknowledged warnings not shown (`--format json` lists them))\n"),
        "{text}"
    );
    // Account warnings cannot be acknowledged: no example is offered for them.
    assert!(!text.contains("[[acknowledge]]"), "{text}");

    let o = plan(&["--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["account"],
        json!({"roles": 994, "roles_quota": 1000, "providers": 100, "assume_role_policy_size_quota": 2048})
    );
    let account_findings: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["request"].is_null())
        .collect();
    assert_eq!(account_findings.len(), 3, "{}", v["findings"]);
    assert_eq!(
        account_findings[0]["message"],
        expected[0]
            .trim_start_matches("account: ")
            .trim_end_matches(" [role-quota]")
    );

    // --strict: shown, then refused; nothing is created.
    let o = plan(&["--strict"]);
    assert_eq!(o.status.code(), Some(1), "{}", crate::binary::text(&o));
    assert!(stdout(&o).contains("Warnings (3):"), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "error: --strict: the plan has 3 warnings not acknowledged in stsform.toml:\n"
        ),
        "{err}"
    );
    assert!(err.contains(&format!("  {}\n", expected[0])), "{err}");
    // Plans create nothing: the account still holds what the test put there.
    assert_eq!(rt.block_on(account.summary()), (994, 100));

    // Room made (in this test: a quota that fits), the plan is quiet again.
    std::fs::write(
        w.path().join("stsform.toml"),
        "[quotas]\nrole_trust_policy_length = 4096\nopenid_connect_providers = 700\n\n[[acknowledge]]\nrequest = \"openshift-machine-api/aws-cloud-credentials\"\ncheck = \"passrole-on-any-resource\"\n\n[[acknowledge]]\nrequest = \"openshift-cluster-api/capa-manager-bootstrap-credentials\"\ncheck = \"passrole-on-any-resource\"\n",
    )
    .unwrap();
    let o = plan(&[]);
    assert!(
        !stdout(&o).contains("[oidc-provider-quota]"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("[role-quota]"), "{}", stdout(&o));
}

#[test]
fn show_prints_a_saved_plan_as_plan_printed_it_in_every_format() {
    let (rt, url, moto) = crate::binary::moto_setup();
    let c = crate::binary::Cluster::new(&crate::moto_account::unique_name());
    // An upgrade's kind of plan: the EBS driver gains an action, the ingress operator
    // loses one, against a cluster applied before.
    let o = c.run(&url, &c.args("apply"));
    assert_eq!(o.status.code(), Some(0), "{}", crate::binary::text(&o));
    edit(
        c.path(),
        EBS,
        "      - ec2:AttachVolume\n",
        "      - ec2:AttachVolume\n      - ec2:CopySnapshot\n",
    );
    edit(c.path(), INGRESS, "      - route53:ListHostedZones\n", "");

    for format in ["text", "markdown", "json"] {
        let file = format!("{format}.plan");
        let mut args = c.args("plan");
        args.extend([
            "--format".into(),
            format.into(),
            "--out".into(),
            file.clone(),
        ]);
        let planned = c.run(&url, &args);
        assert_eq!(
            planned.status.code(),
            Some(0),
            "{}",
            crate::binary::text(&planned)
        );
        let shown = c.run(
            &url,
            &[
                "show".into(),
                file.clone(),
                "--format".into(),
                format.into(),
            ],
        );
        assert_eq!(
            shown.status.code(),
            Some(0),
            "{}",
            crate::binary::text(&shown)
        );
        let (planned, shown) = (stdout(&planned), stdout(&shown));
        let planned = if format == "text" {
            // The plan itself, without what only the run prints around it: the refresh
            // line before, the "Saved the plan" line after.
            let body = planned.split_once("\n\n").unwrap().1;
            body.rsplit_once("\nSaved the plan to ")
                .unwrap()
                .0
                .to_string()
        } else {
            planned
        };
        assert_eq!(shown, planned, "{format}");
        assert!(shown.contains("ec2:CopySnapshot"), "{format}: {shown}");
    }
    // Nothing was changed by showing: the state is as the apply left it, AWS too.
    let roles = rt.block_on(moto.inventory(&c.name));
    assert_eq!(roles, crate::binary::state_inventory(&c.state()));
}

#[test]
fn apply_strict_refuses_a_saved_plan_with_warnings_and_changes_nothing() {
    let (rt, url, moto) = crate::binary::moto_setup();
    let c = crate::binary::Cluster::new(&crate::moto_account::unique_name());
    let mut args = c.args("plan");
    args.extend(["--out".into(), "p.plan".into()]);
    let o = c.run(&url, &args);
    assert_eq!(o.status.code(), Some(0), "{}", crate::binary::text(&o));
    let o = c.run(&url, &["apply".into(), "p.plan".into(), "--strict".into()]);
    assert_eq!(o.status.code(), Some(1), "{}", crate::binary::text(&o));
    assert!(
        stderr(&o).contains(
            "error: --strict: the plan has 2 warnings not acknowledged in stsform.toml:\n"
        ),
        "{}",
        stderr(&o)
    );
    assert!(rt.block_on(moto.inventory(&c.name)).is_empty());
}

/// The part of `text` from the line starting with `start` through the line `end`.
fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"));
    let rest = &text[from..];
    let to = rest
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?}"))
        + end.len();
    rest[..to].to_string()
}

#[test]
fn the_order_of_a_500_request_plan_stays_a_handful_of_boxes() {
    // The benchmark's synthetic requests: 500 roles, 500 policies, 500 Secrets.
    let dir = tempfile::tempdir().unwrap();
    crate::synthetic::synthetic_requests(&dir.path().join("creds"), 500, 7);
    crate::support::put_fixed_key(dir.path());

    let o = offline(dir.path(), &["--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.len() < 65_000, "{}", md.len());
    assert!(
        md.contains(": 1507 to add, 0 to change, 0 to destroy · "),
        "{md}"
    );
    let diagram = between(
        &md,
        "<details><summary>Order of the changes",
        "</details>\n",
    );
    insta::assert_snapshot!("mermaid_500_md", diagram);

    let o = run(
        dir.path(),
        &[
            "graph",
            "--name",
            "prod-east",
            "--region",
            "us-east-2",
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
            "--format",
            "mermaid",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("mermaid_500_graph", stdout(&o));
    // The same picture: the graph's boxes are the plan's, without the action symbols.
    let boxes = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.trim_start().starts_with('n') && l.contains("[\""))
            .map(|l| {
                let label = l.split("[\"").nth(1).unwrap().split("\"]").next().unwrap();
                label.trim_start_matches("+ ").to_string()
            })
            .collect()
    };
    assert_eq!(boxes(&diagram), boxes(&stdout(&o)));
}

// ---------------------------------------------------------------------------------------
// The same workflow with the fake account: its summary counts what it holds.

use std::sync::Arc;

use stsform::provider::fake::FakeProvider;
use stsform::provider::{Listing, Provider, ProviderError, ProviderResult};
use stsform::resource::{Resource, ResourceId, Spec};
use stsform::workflow::{self, Inputs, Mode};

use crate::fake_account::FakeAccount;
use crate::harness::Env;
use crate::support::{OFFLINE_PLAN as OFFLINE, run_local as run, stderr, stdout};

fn role_quota_lines(planned: &workflow::Planned) -> Vec<String> {
    planned
        .plan
        .findings
        .iter()
        .filter(|f| f.check == stsform::review::Check::RoleQuota)
        .map(|f| f.message.clone())
        .collect()
}

#[tokio::test]
async fn the_role_quota_counts_every_role_of_the_account() {
    let account = FakeAccount::new();
    account.0.set_account_usage(990, 0, 1000);
    let first = Env::new(account.clone(), "quota-a", "cluster");
    // 990 + 7 fit.
    assert_eq!(role_quota_lines(&first.plan().await), Vec::<String>::new());
    first.run(Mode::Apply).await;
    // A second cluster in the same account: its 7 roles would make 1,004.
    let second = Env::new(account.clone(), "quota-b", "cluster");
    assert_eq!(
        role_quota_lines(&second.plan().await),
        [
            "the plan creates 7 IAM roles, and the account has 997 of the 1,000 its quota allows: apply would stop at the quota; raise \"Roles per account\" in Service Quotas or delete unused roles first"
        ]
    );
    // A destroy creates nothing, and reads no summary.
    let destroy = first.plan_mode(Mode::Destroy).await;
    assert!(destroy.plan.findings.is_empty());
    assert_eq!(destroy.plan.account, None);
}

/// The fake, except that the account summary cannot be read (a CI role without
/// `iam:GetAccountSummary`).
struct NoSummary(Arc<FakeProvider>);

impl Provider for NoSummary {
    async fn account_id(&self) -> ProviderResult<String> {
        self.0.account_id().await
    }
    async fn account_summary(&self) -> ProviderResult<stsform::review::AccountSummary> {
        Err(ProviderError::Summary {
            message: "AccessDenied: not authorized to perform: iam:GetAccountSummary".into(),
        })
    }
    async fn read(&self, id: &ResourceId, recorded: &Spec) -> ProviderResult<Option<Spec>> {
        self.0.read(id, recorded).await
    }
    async fn create(&self, r: &Resource) -> ProviderResult<Spec> {
        self.0.create(r).await
    }
    async fn update(&self, r: &Resource, before: &Spec) -> ProviderResult<Spec> {
        self.0.update(r, before).await
    }
    async fn delete(&self, id: &ResourceId, before: &Spec) -> ProviderResult<()> {
        self.0.delete(id, before).await
    }
    async fn list(&self, listing: &Listing) -> ProviderResult<Vec<String>> {
        self.0.list(listing).await
    }
}

#[tokio::test]
async fn an_unreadable_account_summary_is_a_note_not_a_failure() {
    let account = FakeAccount::new();
    let env = Env::new(account.clone(), "no-summary", "cluster");
    let settings = env.settings();
    let requests =
        stsform::credentials_request::load(&settings.credentials_requests_dir, &Default::default())
            .unwrap()
            .requests;
    let findings = stsform::review::requests(&requests, &settings, true).unwrap();
    let key = workflow::signing_key(&settings, false).unwrap();
    let inputs = Inputs {
        settings,
        requests,
        signing_key: key.public,
        thumbprint: None,
        include_unmanaged: false,
        findings,
    };
    let provider = Arc::new(NoSummary(account.provider(key.private).await));
    let state = stsform::state::State::new("no-summary");
    let planned = workflow::plan(&inputs, &provider, state, Mode::Apply, true, 4)
        .await
        .unwrap();
    assert!(
        planned.plan.notes.contains(&"the account's IAM quotas were not checked: cannot read the account's IAM summary (GetAccountSummary): AccessDenied: not authorized to perform: iam:GetAccountSummary".to_string()),
        "{:?}",
        planned.plan.notes
    );
    assert_eq!(planned.plan.account, None);
    // The requests' own warnings are there all the same.
    assert_eq!(planned.plan.findings.len(), 2);
}
