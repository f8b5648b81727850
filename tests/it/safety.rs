//! The safety rails through the workflow the binary runs, against the fake and moto:
//! issuer changes refused unless allowed (and a replaced bucket gets its objects back),
//! every role deleted refused unless allowed, a day-2 run refused on the cluster's state,
//! and a day-2 run against a provider that does not exist. AWS itself is listed after
//! each step, never only the state.

use std::collections::BTreeSet;

use stsform::plan::{Action, Reason};
use stsform::resource::ResourceKind;
use stsform::safety::{Allow, Refusal};
use stsform::workflow::Mode;

use crate::harness::{
    ACCOUNT_ID, Account, Env, expected_cluster_inventory, expected_cluster_inventory_in, scenario,
};

scenario!(issuer_changes_are_refused_unless_allowed_and_a_new_bucket_gets_its_objects);
async fn issuer_changes_are_refused_unless_allowed_and_a_new_bucket_gets_its_objects<A: Account>(
    account: A,
    name: String,
) {
    let mut env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    let before = account.inventory(&name).await;
    assert_eq!(before, expected_cluster_inventory(&name));

    // Another region: the bucket is replaced, the provider's URL changes (a delete of the
    // old provider and a create of the new one), the issuer changes.
    env.extra.region = Some("us-west-2".into());
    let writes = account.writes();
    let Err(Refusal::IssuerChanges(refused)) = env.try_run(Mode::Apply).await else {
        panic!("a plan deleting the provider and replacing the bucket was not refused");
    };
    let refused: BTreeSet<String> = refused.iter().map(ToString::to_string).collect();
    let bucket = format!("{name}-oidc");
    let old_host = format!("{bucket}.s3.us-east-2.amazonaws.com");
    for expected in [
        format!("s3_bucket.{bucket} must be replaced (region)"),
        format!("s3_object.{bucket}/keys.json must be replaced"),
        format!("s3_object.{bucket}/.well-known/openid-configuration must be replaced"),
        format!("iam_oidc_provider.{old_host} will be destroyed"),
    ] {
        assert!(
            refused.contains(&expected),
            "{expected} not in {refused:#?}"
        );
    }
    // Refused before anything happened: AWS is as it was.
    assert_eq!(account.writes(), writes, "a refused plan wrote to AWS");
    assert_eq!(account.inventory(&name).await, before);

    // Allowed: the new bucket holds both documents again, although their content did
    // not change (the old bucket took its objects along).
    env.allow = Allow {
        issuer_change: true,
        ..Allow::default()
    };
    let (planned, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let objects: Vec<(Action, Reason)> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.id.kind == ResourceKind::S3Object)
        .map(|c| (c.action, c.reason))
        .collect();
    assert_eq!(objects.len(), 2, "{objects:?}");
    let keys_json = planned
        .plan
        .changes
        .iter()
        .find(|c| c.id.name == format!("{bucket}/keys.json"))
        .unwrap();
    assert_eq!(
        (keys_json.action, keys_json.reason),
        (Action::Replace, Reason::ContainerReplaced)
    );
    assert_eq!(
        account.inventory(&name).await,
        expected_cluster_inventory_in(&name, "us-west-2")
    );
    let again = env.plan().await;
    assert!(!again.plan.has_changes(), "{:#?}", again.plan.changes);

    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(account.inventory(&name).await.is_empty());
}

scenario!(deleting_every_role_is_refused_unless_allowed);
async fn deleting_every_role_is_refused_unless_allowed<A: Account>(account: A, name: String) {
    let mut env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    let before = account.inventory(&name).await;

    // The requests vanish (a wrong checkout, a filter that now matches nothing).
    for entry in std::fs::read_dir(env.path("creds")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let writes = account.writes();
    match env.try_run(Mode::Apply).await {
        Err(Refusal::AllRolesDeleted { roles: 7 }) => {}
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a plan deleting every role was applied"),
    }
    assert_eq!(account.writes(), writes);
    assert_eq!(account.inventory(&name).await, before);

    env.allow.deleting_all_roles = true;
    let (planned, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(planned.plan.issuer_changes.is_empty());
    let left = account.inventory(&name).await;
    assert!(
        left.iter().all(|r| !r.starts_with("role")),
        "roles left: {left:?}"
    );
    assert!(left.contains(&format!("bucket:{name}-oidc")), "{left:?}");

    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
}

scenario!(a_day2_run_on_the_clusters_state_is_refused_before_any_call);
async fn a_day2_run_on_the_clusters_state_is_refused_before_any_call<A: Account>(
    account: A,
    name: String,
) {
    let cluster = Env::new(account.clone(), &name, "cluster");
    assert!(cluster.apply().await.1.is_complete());
    let before = account.inventory(&name).await;

    // What `ccoctl aws create-iam-roles --name <cluster>` users type, pointed at the
    // cluster's own state.
    let mut day2 = Env::new(account.clone(), &name, "day2");
    day2.extra.identity_provider_arn = Some(format!(
        "arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{name}-oidc.s3.us-east-2.amazonaws.com"
    ));
    day2.extra.state = Some(cluster.settings().state);
    let writes = account.writes();
    let err = day2.try_plan(Mode::Apply).await.unwrap_err().to_string();
    assert!(
        err.contains("this state manages the whole cluster")
            && err.contains("--identity-provider-arn"),
        "{err}"
    );
    let err = day2.try_plan(Mode::Destroy).await.unwrap_err().to_string();
    assert!(
        err.contains("this state manages the whole cluster"),
        "{err}"
    );
    assert_eq!(account.writes(), writes);
    assert_eq!(account.inventory(&name).await, before);
    assert!(!cluster.plan().await.plan.has_changes());

    let (_, outcome, _) = cluster.run(Mode::Destroy).await;
    assert!(outcome.is_complete());
}

scenario!(a_day2_run_against_a_provider_that_does_not_exist_fails_naming_it);
async fn a_day2_run_against_a_provider_that_does_not_exist_fails_naming_it<A: Account>(
    account: A,
    name: String,
) {
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{name}-nowhere.example.com");
    let mut day2 = Env::new(account.clone(), &name, "day2");
    day2.extra.identity_provider_arn = Some(arn.clone());
    let err = day2.try_plan(Mode::Apply).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "--identity-provider-arn {arn}: no such OIDC provider in this account; the roles \
             would trust nothing. Check the ARN (`aws iam list-open-id-connect-providers`)"
        )
    );
    assert_eq!(account.writes(), 0);
    assert!(account.inventory(&name).await.is_empty());
}

/// A provider whose URL is not the issuer its ARN names cannot be made in AWS (IAM derives
/// the ARN from the URL), so only the fake can hold one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day2_provider_serving_another_issuer_fails_naming_it() {
    use stsform::resource::{OidcProviderSpec, ResourceId, Spec, Tags};
    let account = crate::fake_account::FakeAccount::new();
    let host = "fk-oidc.s3.us-east-2.amazonaws.com";
    account.0.set(
        &ResourceId::new(ResourceKind::IamOidcProvider, host),
        Some(Spec::IamOidcProvider(OidcProviderSpec {
            url: "https://elsewhere.example.com".into(),
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"),
            client_ids: vec![],
            thumbprints: vec![],
            tags: Tags::new(),
        })),
    );
    let mut day2 = Env::new(account.clone(), "fk", "day2");
    day2.extra.identity_provider_arn =
        Some(format!("arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"));
    let err = day2.try_plan(Mode::Apply).await.unwrap_err().to_string();
    assert!(
        err.contains("the provider's URL is https://elsewhere.example.com")
            && err.contains(&format!("trust tokens from https://{host}")),
        "{err}"
    );
}
