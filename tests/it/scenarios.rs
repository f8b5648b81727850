//! Scenarios, each run against the fake provider and against AWS (moto).
//!
//! plan → apply → plan is empty; edits; drift; destroy; day-2 roles; partial failure.
//! After every apply the test lists AWS itself (`Account::inventory`), not only the state.

use std::collections::BTreeSet;

use stsform::plan::{Action, Reason};
use stsform::resource::{ResourceId, ResourceKind};
use stsform::workflow::Mode;

use crate::harness::{ACCOUNT_ID, Account, Env, expected_cluster_inventory, files_under, scenario};

fn role(name: &str, ns_secret: &str) -> String {
    let full = format!("{name}-{ns_secret}");
    full[..full.len().min(64)].to_string()
}

fn changes(plan: &stsform::plan::Plan) -> BTreeSet<(Action, String)> {
    plan.changes
        .iter()
        .map(|c| (c.action, c.id.to_string()))
        .collect()
}

scenario!(fresh_apply_then_nothing_to_do);
async fn fresh_apply_then_nothing_to_do<A: Account>(account: A, name: String) {
    let env = Env::new(account.clone(), &name, "cluster");
    let (planned, outcome) = env.apply().await;
    assert_eq!(planned.plan.summary.add, 28);
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(outcome.succeeded.len(), 28);

    // AWS itself holds exactly the cluster's resources.
    assert_eq!(
        account.inventory(&name).await,
        expected_cluster_inventory(&name)
    );
    // The output dir holds what openshift-install reads, with the real role ARNs.
    let install = env.path("install");
    let files = files_under(&install);
    assert_eq!(files.len(), 11, "{files:#?}");
    assert!(files.contains("tls/bound-service-account-signing-key.key"));
    let ingress = role(&name, "openshift-ingress-operator-cloud-credentials");
    let secret = std::fs::read_to_string(
        install.join("manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml"),
    )
    .unwrap();
    assert!(
        secret.contains(&format!(
            "role_arn = arn:aws:iam::{ACCOUNT_ID}:role/{ingress}\n"
        )),
        "{secret}"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "tls/bound-service-account-signing-key.key",
        "manifests/cluster-authentication-02-config.yaml",
    ] {
        let mode = std::fs::metadata(install.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert_eq!(env.state().resources.len(), 28);

    // A second plan finds nothing to do and writes nothing.
    let writes = account.writes();
    let again = env.plan().await;
    assert!(!again.plan.has_changes(), "{:#?}", again.plan.changes);
    assert!(again.plan.drift.is_empty(), "{:#?}", again.plan.drift);
    assert_eq!(again.plan.summary.unchanged, 28);
    assert_eq!(account.writes(), writes, "a no-change plan must not write");
}

scenario!(edited_requests_plan_exactly_that_and_converge);
async fn edited_requests_plan_exactly_that_and_converge<A: Account>(account: A, name: String) {
    let env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());

    // Add an action, add a service account, remove a request, rename a secret.
    env.edit_request("03_credentials_request_aws.yaml", |t| {
        t.replacen(
            "      - ec2:AttachVolume\n",
            "      - ec2:AttachVolume\n      - ec2:CopySnapshot\n",
            1,
        )
    });
    env.edit_request("00-ingress-credentials-request.yaml", |t| {
        t.replacen(
            "  - ingress-operator\n",
            "  - ingress-operator\n  - ingress-canary\n",
            1,
        )
    });
    std::fs::remove_file(env.path("creds/02-cncc-credentials.yaml")).unwrap();
    env.edit_request("01-registry-credentials-request.yaml", |t| {
        t.replacen(
            "name: installer-cloud-credentials",
            "name: registry-cloud-credentials",
            1,
        )
    });

    let ebs = role(&name, "openshift-cluster-csi-drivers-ebs-cloud-credentials");
    let ingress = role(&name, "openshift-ingress-operator-cloud-credentials");
    let cncc = role(
        &name,
        "openshift-cloud-network-config-controller-cloud-credentials",
    );
    let old_reg = role(
        &name,
        "openshift-image-registry-installer-cloud-credentials",
    );
    let new_reg = role(&name, "openshift-image-registry-registry-cloud-credentials");
    let planned = env.plan().await;
    let expected: BTreeSet<(Action, String)> = [
        (Action::Update, format!("iam_role_policy.{ebs}")),
        (Action::Update, format!("iam_role.{ingress}")),
        (Action::Delete, format!("iam_role.{cncc}")),
        (Action::Delete, format!("iam_role_policy.{cncc}")),
        (Action::Delete, "file.manifests/openshift-cloud-network-config-controller-cloud-credentials-credentials.yaml".into()),
        (Action::Delete, format!("iam_role.{old_reg}")),
        (Action::Delete, format!("iam_role_policy.{old_reg}")),
        (Action::Delete, "file.manifests/openshift-image-registry-installer-cloud-credentials-credentials.yaml".into()),
        (Action::Create, format!("iam_role.{new_reg}")),
        (Action::Create, format!("iam_role_policy.{new_reg}")),
        (Action::Create, "file.manifests/openshift-image-registry-registry-cloud-credentials-credentials.yaml".into()),
    ]
    .into_iter()
    .collect();
    assert_eq!(changes(&planned.plan), expected);
    assert!(
        planned
            .plan
            .changes
            .iter()
            .all(|c| c.reason != Reason::RepairsDrift)
    );
    let trust = planned
        .plan
        .changes
        .iter()
        .find(|c| c.id.name == ingress && c.action == Action::Update)
        .unwrap();
    assert_eq!(
        trust
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["trust_policy"]
    );

    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(!env.plan().await.plan.has_changes());
    let inventory = account.inventory(&name).await;
    assert!(
        inventory.contains(&format!("role:{new_reg}"))
            && !inventory.contains(&format!("role:{old_reg}"))
    );
    assert!(!inventory.contains(&format!("role:{cncc}")));
    assert!(!env.path("install/manifests/openshift-cloud-network-config-controller-cloud-credentials-credentials.yaml").exists());
}

scenario!(drift_is_shown_and_repaired);
async fn drift_is_shown_and_repaired<A: Account>(account: A, name: String) {
    let env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    let ingress = role(&name, "openshift-ingress-operator-cloud-credentials");
    let machine = role(&name, "openshift-machine-api-aws-cloud-credentials");
    let ebs = role(&name, "openshift-cluster-csi-drivers-ebs-cloud-credentials");
    let bucket = format!("{name}-oidc");
    account
        .put_role_policy(&ingress, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"route53:*","Resource":"*"}]}"#)
        .await;
    account.delete_role(&machine).await;
    account
        .put_bucket_policy(&bucket, &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#))
        .await;
    account.untag_role(&ebs, "Name").await;

    let planned = env.plan().await;
    let drifted: BTreeSet<String> = planned
        .plan
        .drift
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    let expected_drift: BTreeSet<String> = [
        format!("iam_role_policy.{ingress}"),
        format!("iam_role.{machine}"),
        format!("iam_role_policy.{machine}"),
        format!("s3_bucket.{bucket}"),
        format!("iam_role.{ebs}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(drifted, expected_drift);
    let tags = planned
        .plan
        .drift
        .iter()
        .find(|d| d.id.name == ebs)
        .unwrap();
    assert_eq!(
        tags.attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["tags"]
    );
    let expected: BTreeSet<(Action, String)> = [
        (Action::Update, format!("iam_role_policy.{ingress}")),
        (Action::Create, format!("iam_role.{machine}")),
        (Action::Create, format!("iam_role_policy.{machine}")),
        (Action::Update, format!("s3_bucket.{bucket}")),
        (Action::Update, format!("iam_role.{ebs}")),
    ]
    .into_iter()
    .collect();
    assert_eq!(changes(&planned.plan), expected);
    let repair = planned
        .plan
        .changes
        .iter()
        .find(|c| c.id.kind == ResourceKind::S3Bucket)
        .unwrap();
    assert_eq!(repair.reason, Reason::RepairsDrift);

    assert!(env.apply().await.1.is_complete());
    let after = env.plan().await;
    assert!(
        !after.plan.has_changes() && after.plan.drift.is_empty(),
        "{:#?}",
        after.plan
    );
    assert_eq!(
        account.inventory(&name).await,
        expected_cluster_inventory(&name)
    );
}

scenario!(destroy_removes_the_cluster_and_nothing_else);
async fn destroy_removes_the_cluster_and_nothing_else<A: Account>(account: A, name: String) {
    let env = Env::new(account.clone(), &name, "cluster");
    let foreign_role = format!("{name}-foreign-role");
    let foreign_bucket = format!("{name}-foreign-bucket");
    account.create_foreign_role(&foreign_role).await;
    account
        .create_foreign_object(&foreign_bucket, "keep.txt")
        .await;
    assert!(env.apply().await.1.is_complete());

    let (planned, outcome, _) = env.run(Mode::Destroy).await;
    assert_eq!(planned.plan.summary.destroy, 28);
    assert!(outcome.is_complete(), "{outcome:#?}");
    let left: BTreeSet<String> = [
        format!("role:{foreign_role}"),
        format!("bucket:{foreign_bucket}"),
        format!("object:{foreign_bucket}/keep.txt"),
    ]
    .into_iter()
    .collect();
    assert_eq!(account.inventory(&name).await, left);
    assert!(env.state().resources.is_empty());
    assert!(
        files_under(&env.path("install")).is_empty(),
        "{:?}",
        files_under(&env.path("install"))
    );
    // Destroying again finds nothing to do.
    assert!(!env.plan_mode(Mode::Destroy).await.plan.has_changes());
}

scenario!(day2_roles_against_an_existing_provider);
async fn day2_roles_against_an_existing_provider<A: Account>(account: A, name: String) {
    let cluster = Env::new(account.clone(), &name, "cluster");
    assert!(cluster.apply().await.1.is_complete());
    let cluster_inventory = account.inventory(&name).await;

    let app_name = format!("{name}-apps");
    let mut app = Env::new(account.clone(), &app_name, "day2");
    app.extra.identity_provider_arn = Some(format!(
        "arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{name}-oidc.s3.us-east-2.amazonaws.com"
    ));
    let (planned, outcome) = app.apply().await;
    let app_role = format!("{app_name}-default-s3-access-secret");
    let expected: BTreeSet<(Action, String)> = [
        (Action::Create, format!("iam_role.{app_role}")),
        (Action::Create, format!("iam_role_policy.{app_role}")),
        (
            Action::Create,
            "file.manifests/default-s3-access-secret-credentials.yaml".into(),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(changes(&planned.plan), expected);
    assert!(outcome.is_complete(), "{outcome:#?}");
    let apps: BTreeSet<String> = [
        format!("role:{app_role}"),
        format!("role_policy:{app_role}/{app_role}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(account.inventory(&app_name).await, apps);
    let secret = std::fs::read_to_string(
        app.path("install/manifests/default-s3-access-secret-credentials.yaml"),
    )
    .unwrap();
    assert!(secret.contains(&format!(
        "role_arn = arn:aws:iam::{ACCOUNT_ID}:role/{app_role}"
    )));
    assert!(!app.plan().await.plan.has_changes());

    let (_, outcome, _) = app.run(Mode::Destroy).await;
    assert!(outcome.is_complete());
    assert!(account.inventory(&app_name).await.is_empty());
    // The cluster's own resources are untouched (inventory(name) also lists `<name>-apps-…`).
    assert_eq!(account.inventory(&name).await, cluster_inventory);
    assert!(!cluster.plan().await.plan.has_changes());
}

scenario!(a_failed_role_skips_only_its_dependents);
async fn a_failed_role_skips_only_its_dependents<A: Account>(account: A, name: String) {
    let env = Env::new(account.clone(), &name, "cluster");
    let ingress = role(&name, "openshift-ingress-operator-cloud-credentials");
    // The failure comes after the plan (in moto a role of that name appears that is not
    // ours: made before the plan, the plan itself would refuse it).
    let planned = env.plan().await;
    account.fail_next_role_create(&ingress).await;
    let (outcome, _) = env.execute(&planned).await;
    let failed: Vec<String> = outcome.failed.iter().map(|f| f.id.to_string()).collect();
    assert_eq!(failed, [format!("iam_role.{ingress}")]);
    let skipped: Vec<(String, String)> = outcome
        .skipped
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                format!("iam_role_policy.{ingress}"),
                format!("iam_role.{ingress}")
            ),
            (
                "file.manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml"
                    .to_string(),
                format!("iam_role.{ingress}")
            ),
        ]
    );
    assert_eq!(outcome.succeeded.len(), 25);
    // State is true to AWS: everything but the three is recorded and exists.
    let state = env.state();
    assert_eq!(state.resources.len(), 25);
    assert!(
        !state
            .resources
            .contains_key(&ResourceId::new(ResourceKind::IamRole, &ingress))
    );
    let mut expected = expected_cluster_inventory(&name);
    expected.remove(&format!("role:{ingress}"));
    expected.remove(&format!("role_policy:{ingress}/{ingress}"));
    let mut inventory = account.inventory(&name).await;
    inventory.remove(&format!("role:{ingress}")); // moto: the clashing foreign role
    assert_eq!(inventory, expected);

    account.heal(&ingress).await;
    let (planned, outcome) = env.apply().await;
    assert_eq!(planned.plan.summary.add, 3);
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(!env.plan().await.plan.has_changes());
    assert_eq!(
        account.inventory(&name).await,
        expected_cluster_inventory(&name)
    );
}

scenario!(a_given_thumbprint_is_set_and_kept_without_perpetual_diff);
async fn a_given_thumbprint_is_set_and_kept_without_perpetual_diff<A: Account>(
    account: A,
    name: String,
) {
    let mut env = Env::new(account.clone(), &name, "cluster");
    let thumb = "9E99A48A9960B14926BB7F3B02E22DA2B0AB7280";
    env.extra.thumbprint = Some(thumb.to_lowercase());
    assert!(env.apply().await.1.is_complete());
    let provider_id = ResourceId::new(
        ResourceKind::IamOidcProvider,
        format!("{name}-oidc.s3.us-east-2.amazonaws.com"),
    );
    let live = |planned: &stsform::workflow::Planned| match planned.observed.resources[&provider_id]
        .live
        .clone()
    {
        Some(stsform::resource::Spec::IamOidcProvider(p)) => p.thumbprints,
        other => panic!("{other:?}"),
    };
    let planned = env.plan().await;
    assert_eq!(live(&planned), [thumb]);
    assert!(!planned.plan.has_changes());
    // Without --thumbprint and with the issuer unreachable, the live value is kept.
    env.extra.thumbprint = None;
    let planned = env.plan().await;
    assert!(!planned.plan.has_changes(), "{:#?}", planned.plan.changes);
    // A different one is an in-place update of the provider.
    env.extra.thumbprint = Some("0000000000000000000000000000000000000000".into());
    let planned = env.plan().await;
    let ids: Vec<String> = planned
        .plan
        .changes
        .iter()
        .map(|c| format!("{:?} {}", c.action, c.id))
        .collect();
    assert_eq!(ids, [format!("Update {provider_id}")]);
    assert!(env.apply().await.1.is_complete());
    assert_eq!(
        live(&env.plan().await),
        ["0000000000000000000000000000000000000000"]
    );
}

scenario!(the_progress_bar_counts_every_change);
async fn the_progress_bar_counts_every_change<A: Account>(account: A, name: String) {
    use stsform::progress::{Bars, Screen};
    let env = Env::new(account, &name, "cluster");
    let screen = Screen::default();
    // The bar is sized from the plan, as `stsform apply` sizes it: 28 changes here.
    let bars = Bars::on_screen(28, 10, &screen);
    let (planned, outcome) = env.run_observed(Mode::Apply, &bars).await;
    bars.finish();
    assert_eq!(planned.plan.changes.len(), 28);
    assert!(outcome.is_complete(), "{outcome:#?}");
    // Local files are changes too, and move the bar like the AWS ones.
    let files = planned
        .plan
        .changes
        .iter()
        .filter(|c| matches!(c.id.kind, ResourceKind::File | ResourceKind::KeyPair))
        .count();
    assert!(files >= 4, "{files}");
    assert_eq!(screen.last_count().as_deref(), Some("28/28"));
}

scenario!(a_lost_state_is_imported_whole_and_the_next_plan_is_empty);
async fn a_lost_state_is_imported_whole_and_the_next_plan_is_empty<A: Account>(
    account: A,
    name: String,
) {
    let env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    let applied = env.state();
    std::fs::remove_file(env.settings().state).unwrap();

    let report = env.import().await;
    let imported: BTreeSet<ResourceId> = report.imported.iter().cloned().collect();
    let recorded: BTreeSet<ResourceId> = applied.resources.keys().cloned().collect();
    assert_eq!(imported, recorded);
    assert!(report.untracked.is_empty() && report.skipped.is_empty());
    assert_eq!(env.state().resources.len(), 28);
    assert!(!env.plan().await.plan.has_changes());
    // Importing again would mix histories: refused.
    let err = stsform::import::require_empty(&env.state(), "state/x.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("state/x.toml: the state already holds 28 resources (serial "),
        "{err}"
    );
    assert!(env.run(Mode::Destroy).await.1.is_complete());
    assert!(account.inventory(&name).await.is_empty());
}
