//! The cluster's ownership tag at work, on the fake and on moto: resources tagged for the
//! cluster outside the state (untracked ones listed, deleted only with
//! `--include-unmanaged`; a tagged role adopted, an untagged one refused; policies added
//! outside stsform removed with their role), and user tags on every resource.

use std::collections::BTreeSet;

use stsform::plan::{Action, Reason};
use stsform::resource::{ResourceId, ResourceKind};
use stsform::workflow::Mode;

use crate::harness::{Account, Env, expected_cluster_inventory, scenario};

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
    stsform::render::text::render(&stsform::plan::Shown::recorded(&planned.plan), &mut text)
        .unwrap();
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

scenario!(a_policy_attached_after_the_refresh_is_detached_when_iam_refuses_the_delete);
async fn a_policy_attached_after_the_refresh_is_detached_when_iam_refuses_the_delete<A: Account>(
    account: A,
    name: String,
) {
    let env = Env::new(account.clone(), &name, "cluster");
    assert!(env.apply().await.1.is_complete());
    let ingress = format!("{name}-openshift-ingress-operator-cloud-credentials");
    // The destroy's plan lists the role's policies and finds none added; a managed policy
    // is attached after that. Deleting the role removes what the plan listed, meets
    // `DeleteConflict`, lists again, detaches it, and deletes the role.
    let (planned, outcome) = env
        .run_interleaved(Mode::Destroy, || async {
            account.attach_managed_policy(&ingress).await;
        })
        .await;
    assert!(
        !planned.plan.notes.iter().any(|n| n.contains(&ingress)),
        "the plan cannot know: {:#?}",
        planned.plan.notes
    );
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(account.inventory(&name).await.is_empty());
    assert!(env.state().resources.is_empty());
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
    stsform::render::text::render(&stsform::plan::Shown::recorded(&planned.plan), &mut text)
        .unwrap();
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
