//! `verify` after an apply of examples/cluster: all pass, then one thing broken at a time
//! behind stsform's back, each reported with its reason. Against the fake and moto.
//!
//! moto's STS accepts any token for any role, so these tests pin the local checks; the
//! last tests run the binary and show what moto's STS does not check.

use serde_json::Value;
use stsform::iam_policy;
use stsform::keypair::PublicKey;
use stsform::resource::{ResourceId, ResourceKind, Spec};
use stsform::verify::{self, Documents, Options, Report, Status, Target};

use crate::derive::root;
use crate::fake_account::FakeAccount;
use crate::harness::{ACCOUNT_ID, Account, Env, scenario};
use crate::moto_account::MotoAccount;

const REGION: &str = "us-east-2";

/// Roles and service accounts of examples/cluster (AWS requests, tech preview off).
const ROLES: usize = 7;
const SERVICE_ACCOUNTS: usize = 9;

/// AWS changed behind stsform's back, for the negative cases.
pub(crate) trait Break: Account {
    /// Overwrites an object in the OIDC bucket.
    fn put_document(
        &self,
        bucket: &str,
        key: &str,
        content: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Replaces a role's trust policy.
    fn set_trust_policy(
        &self,
        role: &str,
        policy: &Value,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Deletes the OIDC provider.
    fn delete_oidc_provider(
        &self,
        arn: &str,
        host: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
}

impl Break for FakeAccount {
    async fn put_document(&self, bucket: &str, key: &str, content: &str) {
        let id = ResourceId::new(ResourceKind::S3Object, format!("{bucket}/{key}"));
        let Spec::S3Object(mut o) = self.0.snapshot()[&id].clone() else {
            unreachable!()
        };
        o.content = content.to_string();
        self.0.set(&id, Some(Spec::S3Object(o)));
    }

    async fn set_trust_policy(&self, role: &str, policy: &Value) {
        let id = ResourceId::new(ResourceKind::IamRole, role);
        let Spec::IamRole(mut r) = self.0.snapshot()[&id].clone() else {
            unreachable!()
        };
        r.trust_policy = policy.clone();
        self.0.set(&id, Some(Spec::IamRole(r)));
    }

    async fn delete_oidc_provider(&self, _arn: &str, host: &str) {
        self.0
            .set(&ResourceId::new(ResourceKind::IamOidcProvider, host), None);
    }
}

/// The test's own SDK clients, pointed at the (loopback-checked) emulator.
fn moto_clients() -> (aws_sdk_s3::Client, aws_sdk_iam::Client) {
    crate::support::sdk_clients(&crate::support::endpoint())
}

impl Break for MotoAccount {
    async fn put_document(&self, bucket: &str, key: &str, content: &str) {
        let (s3, _) = moto_clients();
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(aws_sdk_s3::primitives::ByteStream::from(
                content.as_bytes().to_vec(),
            ))
            .send()
            .await
            .unwrap();
    }

    async fn set_trust_policy(&self, role: &str, policy: &Value) {
        let (_, iam) = moto_clients();
        iam.update_assume_role_policy()
            .role_name(role)
            .policy_document(policy.to_string())
            .send()
            .await
            .unwrap();
    }

    async fn delete_oidc_provider(&self, arn: &str, _host: &str) {
        let (_, iam) = moto_clients();
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .unwrap();
    }
}

/// `stsform verify` on the scenario's cluster, documents read through the provider.
pub(crate) async fn verify<A: Account>(env: &Env<A>) -> Report
where
    A::P: stsform::provider::Sts,
{
    let settings = env.settings();
    let requests = stsform::credentials_request::load(
        &settings.credentials_requests_dir,
        &stsform::credentials_request::LoadOptions::default(),
    )
    .unwrap()
    .requests;
    let keys = verify::private_keys(&settings).unwrap();
    let served = stsform::workflow::signing_key(&settings, false)
        .unwrap()
        .public;
    let provider = env.account.provider(None).await;
    let target = Target {
        settings: &settings,
        requests: &requests,
        expected: served.as_ref().map(|k| k.jwks.as_str()),
        keys: &keys,
        retired: &[],
        now: verify::now(),
    };
    let options = Options {
        documents: Documents::Provider,
        emulated_sts: true,
    };
    verify::run(provider.as_ref(), &target, &options)
        .await
        .unwrap()
}

/// An applied examples/cluster.
async fn applied<A: Account>(account: A, name: &str) -> Env<A> {
    let env = Env::new(account, name, "cluster");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    env
}

fn host(name: &str) -> String {
    format!("{name}-oidc.s3.{REGION}.amazonaws.com")
}

fn provider_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{}", host(name))
}

fn ingress_role(name: &str) -> String {
    format!("{name}-openshift-ingress-operator-cloud-credentials")
}

fn statuses(report: &Report) -> Vec<(&'static str, Status)> {
    report.checks.iter().map(|c| (c.id, c.status)).collect()
}

fn detail<'a>(report: &'a Report, id: &str) -> &'a str {
    &report.checks.iter().find(|c| c.id == id).unwrap().detail
}

/// Every row kept its trust ✓ but STS was not called, because an issuer check failed.
fn assert_rows_blocked_by_issuer(report: &Report) {
    assert_eq!(report.summary.can_assume, 0);
    for row in &report.rows {
        assert_eq!(
            (row.trust, row.sts),
            (Status::Pass, Status::Skip),
            "{row:?}"
        );
        assert!(row.reasons[0].contains("issuer checks failed"), "{row:?}");
    }
}

scenario!(everything_passes_after_apply);
async fn everything_passes_after_apply<A: Break>(account: A, name: String)
where
    A::P: stsform::provider::Sts,
{
    let env = applied(account.clone(), &name).await;
    let writes = account.writes();
    let report = verify(&env).await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(
        report.issuer,
        format!("https://{name}-oidc.s3.us-east-2.amazonaws.com")
    );
    assert_eq!(report.provider_arn, provider_arn(&name));
    assert!(
        report.checks.iter().all(|c| c.status == Status::Pass),
        "{:#?}",
        report.checks
    );
    assert_eq!(
        report.checks.iter().map(|c| c.id).collect::<Vec<_>>(),
        ["discovery_document", "jwks", "token", "oidc_provider"]
    );
    assert_eq!(
        detail(&report, "oidc_provider"),
        "client IDs openshift, sts.amazonaws.com"
    );
    assert_eq!(report.rows.len(), SERVICE_ACCOUNTS);
    let roles: std::collections::BTreeSet<&str> =
        report.rows.iter().map(|r| r.role.as_str()).collect();
    assert_eq!(roles.len(), ROLES);
    for row in &report.rows {
        assert!(row.passed, "{row:?}");
        assert_eq!((row.trust, row.sts), (Status::Pass, Status::Pass));
        assert!(row.reasons.is_empty(), "{row:?}");
        let assumed = row.assumed_role_arn.as_deref().unwrap();
        assert!(
            assumed.contains(&format!("assumed-role/{}/", row.role)),
            "{assumed}"
        );
    }
    assert_eq!(
        (
            report.summary.service_accounts,
            report.summary.can_assume,
            report.summary.failures
        ),
        (SERVICE_ACCOUNTS, SERVICE_ACCOUNTS, 0)
    );
    assert_eq!(
        verify::render::summary_line(&report),
        "9 of 9 service accounts can assume their role. 0 failures."
    );
    assert_eq!(account.writes(), writes, "verify must not write");
}

scenario!(a_foreign_key_in_the_jwks_fails_jwks_and_token);
async fn a_foreign_key_in_the_jwks_fails_jwks_and_token<A: Break>(account: A, name: String)
where
    A::P: stsform::provider::Sts,
{
    let env = applied(account.clone(), &name).await;
    let foreign =
        std::fs::read_to_string(root().join("tests/fixtures/keys/ccoctl-test.public.pem")).unwrap();
    let foreign = PublicKey::from_pem(&foreign, "ccoctl-test").unwrap();
    account
        .put_document(&format!("{name}-oidc"), "keys.json", &foreign.jwks())
        .await;
    let report = verify(&env).await;
    assert!(!report.passed());
    // The foreign kid is served but cannot be tested (no private key of it here); ours
    // is held, not served, and the settings serve it: a failure.
    assert_eq!(
        statuses(&report),
        [
            ("discovery_document", Status::Pass),
            ("jwks", Status::Fail),
            ("token", Status::Skip),
            ("token", Status::Fail),
            ("oidc_provider", Status::Pass),
        ]
    );
    let jwks = detail(&report, "jwks");
    assert!(
        jwks.contains("none with kid")
            && jwks.contains("also kid vT…6E, which the settings do not serve"),
        "{report:#?}"
    );
    let tokens: Vec<&stsform::verify::Check> =
        report.checks.iter().filter(|c| c.id == "token").collect();
    assert_eq!(tokens[0].kid.as_deref(), Some(foreign.kid().as_str()));
    assert!(
        tokens[0].detail.contains("not tested, no private key"),
        "{report:#?}"
    );
    assert!(
        tokens[1]
            .detail
            .contains("the served JWKS has no key with kid"),
        "{report:#?}"
    );
    assert_rows_blocked_by_issuer(&report);
    assert_eq!(report.summary.failures, 2);
}

scenario!(a_discovery_document_with_another_issuer_fails);
async fn a_discovery_document_with_another_issuer_fails<A: Break>(account: A, name: String)
where
    A::P: stsform::provider::Sts,
{
    let env = applied(account.clone(), &name).await;
    let wrong = stsform::desired::discovery_document("https://elsewhere.example.com");
    account
        .put_document(
            &format!("{name}-oidc"),
            ".well-known/openid-configuration",
            &wrong,
        )
        .await;
    let report = verify(&env).await;
    assert_eq!(
        statuses(&report),
        [
            ("discovery_document", Status::Fail),
            ("jwks", Status::Pass),
            ("token", Status::Pass),
            ("oidc_provider", Status::Pass),
        ]
    );
    assert_eq!(
        detail(&report, "discovery_document"),
        format!(
            "issuer is https://elsewhere.example.com, not {}",
            report.issuer
        )
    );
    assert_rows_blocked_by_issuer(&report);
    assert_eq!(report.summary.failures, 1);
}

scenario!(a_trust_policy_for_another_namespace_fails_that_row_only);
async fn a_trust_policy_for_another_namespace_fails_that_row_only<A: Break>(
    account: A,
    name: String,
) where
    A::P: stsform::provider::Sts,
{
    let env = applied(account.clone(), &name).await;
    let policy = iam_policy::trust_policy(
        &provider_arn(&name),
        &host(&name),
        &["system:serviceaccount:openshift-ingress:ingress-operator".to_string()],
    );
    account
        .set_trust_policy(&ingress_role(&name), &policy)
        .await;
    let report = verify(&env).await;
    assert!(report.checks.iter().all(|c| c.status == Status::Pass));
    let failed: Vec<_> = report.rows.iter().filter(|r| !r.passed).collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    let row = failed[0];
    assert_eq!(row.role, ingress_role(&name));
    assert_eq!((row.trust, row.sts), (Status::Fail, Status::Skip));
    assert_eq!(
        row.reasons,
        [
            "trust policy admits system:serviceaccount:openshift-ingress:ingress-operator, not openshift-ingress-operator:ingress-operator"
        ]
    );
    assert_eq!(
        verify::render::summary_line(&report),
        "8 of 9 service accounts can assume their role. 1 failure."
    );
}

scenario!(a_deleted_oidc_provider_fails);
async fn a_deleted_oidc_provider_fails<A: Break>(account: A, name: String)
where
    A::P: stsform::provider::Sts,
{
    let env = applied(account.clone(), &name).await;
    account
        .delete_oidc_provider(&provider_arn(&name), &host(&name))
        .await;
    let report = verify(&env).await;
    assert_eq!(
        statuses(&report),
        [
            ("discovery_document", Status::Pass),
            ("jwks", Status::Pass),
            ("token", Status::Pass),
            ("oidc_provider", Status::Fail),
        ]
    );
    assert_eq!(
        detail(&report, "oidc_provider"),
        format!("{} does not exist", provider_arn(&name))
    );
    assert_rows_blocked_by_issuer(&report);
    assert_eq!(report.summary.failures, 1);
}

/// What moto's STS checks: nothing. A garbage token for a role that does not exist is
/// exchanged for credentials, which is why verify's local checks carry the proof.
#[tokio::test]
async fn moto_sts_accepts_any_token_for_any_role() {
    use stsform::provider::Sts;
    let account = MotoAccount::connect().await;
    let provider = account.provider(None).await;
    let arn = format!(
        "arn:aws:iam::{ACCOUNT_ID}:role/no-such-role-{}",
        crate::moto_account::unique_name()
    );
    let assumed = provider
        .assume_role_with_web_identity(&arn, "not-a-jwt", verify::SESSION_NAME)
        .await
        .unwrap();
    assert!(assumed.contains("assumed-role/no-such-role-"), "{assumed}");
}

/// The fake answers STS for roles that exist, and fails for others.
#[tokio::test]
async fn fake_sts_answers_for_existing_roles_only() {
    use stsform::provider::Sts;
    let account = FakeAccount::new();
    let env = applied(account.clone(), "fk").await;
    let provider = env.account.provider(None).await;
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/{}", ingress_role("fk"));
    assert!(
        provider
            .assume_role_with_web_identity(&arn, "t", "s")
            .await
            .is_ok()
    );
    let missing = format!("arn:aws:iam::{ACCOUNT_ID}:role/fk-missing");
    assert!(
        provider
            .assume_role_with_web_identity(&missing, "t", "s")
            .await
            .is_err()
    );
}

/// The binary, with an environment that reaches only the loopback emulator. Three
/// attempts: moto under a loaded parallel test run answers an occasional HTTP 500, which
/// the SDK retries as AWS's own 500s are retried; the refusals this test expects are
/// not transient, so they are not retried.
fn stsform(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let endpoint = crate::support::endpoint();
    crate::support::stsform(dir, &endpoint)
        .env("AWS_MAX_ATTEMPTS", "3")
        .args(args)
        .output()
        .unwrap()
}

/// `stsform verify` after `stsform apply` against moto: exit 0 and the summary line, then
/// exit 1 with the reason once a trust policy names another namespace.
#[tokio::test]
async fn verify_through_the_binary() {
    let account = MotoAccount::connect().await;
    let env = Env::new(
        account.clone(),
        &crate::moto_account::unique_name(),
        "cluster",
    );
    let dir = env.dir.path();
    let name = env.name.clone();
    let common = [
        "--name",
        &name,
        "--region",
        REGION,
        "--credentials-requests-dir",
        "creds",
        "--output-dir",
        "install",
    ];
    let with = |verb: &str, extra: &[&str]| -> Vec<String> {
        std::iter::once(verb)
            .chain(common)
            .chain(extra.iter().copied())
            .map(str::to_string)
            .collect()
    };
    let run =
        |args: Vec<String>| stsform(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();

    let o = run(with("apply", &["--auto-approve"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = run(with("verify", &[]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.ends_with("\n9 of 9 service accounts can assume their role. 0 failures.\n"),
        "{out}"
    );
    assert!(
        out.contains("  ✓ OIDC provider        client IDs openshift, sts.amazonaws.com"),
        "{out}"
    );
    assert!(out.contains("note: STS is an emulator here"), "{out}");

    let o = run(with("verify", &["--format", "json"]));
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["summary"]["can_assume"], SERVICE_ACCOUNTS);
    assert_eq!(doc["rows"].as_array().unwrap().len(), SERVICE_ACCOUNTS);

    let policy = iam_policy::trust_policy(
        &provider_arn(&name),
        &host(&name),
        &["system:serviceaccount:openshift-ingress:ingress-operator".to_string()],
    );
    account
        .set_trust_policy(&ingress_role(&name), &policy)
        .await;
    let o = run(with("verify", &[]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("\n    trust policy admits system:serviceaccount:openshift-ingress:ingress-operator, not openshift-ingress-operator:ingress-operator\n"),
        "{out}"
    );
    assert!(
        out.ends_with("\n8 of 9 service accounts can assume their role. 1 failure.\n"),
        "{out}"
    );
}
