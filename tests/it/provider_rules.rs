//! The provider's rules, called directly on the fake and on AWS (moto) alike, so that a
//! scenario that passes on the fake passes on AWS: what create adopts and what it refuses,
//! what delete refuses, which puts overwrite, and the errors each answers with.

use stsform::ownership;
use stsform::provider::{Provider, ProviderError};
use stsform::resource::{Resource, ResourceId, ResourceKind, Spec};

use crate::harness::{Account, Env, scenario};

/// The plan's create of the first resource of `kind` (name order), as a resource.
fn first(planned: &stsform::workflow::Planned, kind: ResourceKind, skip: usize) -> Resource {
    let change = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.id.kind == kind)
        .nth(skip)
        .unwrap_or_else(|| panic!("no {kind} #{skip} in the plan"));
    Resource {
        id: change.id.clone(),
        spec: change.after.clone().expect("a create"),
        depends_on: change.depends_on.clone(),
    }
}

/// The refusal's message, or a panic naming what came instead.
fn not_owned(result: Result<impl std::fmt::Debug, ProviderError>) -> String {
    match result {
        Err(e @ ProviderError::NotOwned { .. }) => e.to_string(),
        other => panic!("expected NotOwned, got {other:?}"),
    }
}

scenario!(create_adopts_and_delete_removes_only_what_carries_the_clusters_tag);
async fn create_adopts_and_delete_removes_only_what_carries_the_clusters_tag<A: Account>(
    account: A,
    name: String,
) {
    let env = Env::new(account.clone(), &name, "cluster");
    let planned = env.plan().await;
    let provider = account.provider(None).await;
    // Another cluster whose name starts like this one's.
    let other = format!("{name}x");

    // The bucket exists, tagged for the other cluster: not adopted, not deleted.
    let bucket = first(&planned, ResourceKind::S3Bucket, 0);
    let Spec::S3Bucket(spec) = &bucket.spec else {
        unreachable!()
    };
    account
        .create_tagged_bucket(&spec.name, &ownership::tags(&other))
        .await;
    assert_eq!(
        not_owned(provider.create(&bucket).await),
        format!(
            "{}: the bucket exists but carries no ownership tag for {name} and is not in the state",
            bucket.id
        )
    );
    assert_eq!(
        not_owned(provider.delete(&bucket.id, &bucket.spec).await),
        format!(
            "{}: the bucket (and its objects) carries no ownership tag for {name}; refusing to delete it",
            bucket.id
        )
    );
    let what = format!("bucket:{}", spec.name);
    assert_eq!(account.tags_of(&what).await, ownership::tags(&other));

    // A role tagged for the other cluster, and one with no tag at all: the same.
    let theirs = first(&planned, ResourceKind::IamRole, 0);
    let untagged = first(&planned, ResourceKind::IamRole, 1);
    account.create_tagged_role(&theirs.id.name, &other).await;
    account.create_foreign_role(&untagged.id.name).await;
    for role in [&theirs, &untagged] {
        assert_eq!(
            not_owned(provider.create(role).await),
            format!(
                "{}: the role exists but carries no ownership tag for {name} and is not in the state",
                role.id
            )
        );
        assert_eq!(
            not_owned(provider.delete(&role.id, &role.spec).await),
            format!(
                "{}: the role carries no ownership tag for {name}; refusing to delete it",
                role.id
            )
        );
        assert!(account.role_documents(&role.id.name).await.is_some());
    }

    // A role tagged for this cluster (an interrupted apply's, or ccoctl's) is adopted and
    // brought to the spec; its inline policy is overwritten by a put, not refused.
    let ours = first(&planned, ResourceKind::IamRole, 2);
    let Spec::IamRole(role) = &ours.spec else {
        unreachable!()
    };
    account.create_tagged_role(&role.name, &name).await;
    provider.create(&ours).await.unwrap();
    let live = account.role_documents(&role.name).await.unwrap();
    assert_eq!(live.description, role.description);
    let policy = planned
        .plan
        .changes
        .iter()
        .find(|c| c.id == ResourceId::new(ResourceKind::IamRolePolicy, &role.name))
        .unwrap();
    let policy = Resource {
        id: policy.id.clone(),
        spec: policy.after.clone().unwrap(),
        depends_on: policy.depends_on.clone(),
    };
    provider.create(&policy).await.unwrap();
    provider.create(&policy).await.unwrap();
    let live = account.role_documents(&role.name).await.unwrap();
    assert_eq!(live.inline.len(), 1, "{:?}", live.inline);

    // Deleting what is the cluster's works, and deleting it again (gone) succeeds.
    provider.delete(&ours.id, &ours.spec).await.unwrap();
    provider.delete(&ours.id, &ours.spec).await.unwrap();
    assert!(account.role_documents(&role.name).await.is_none());

    // Clean up as their owner would: with the other cluster's tags, the bucket and the
    // role are that cluster's to delete.
    let mut as_theirs = bucket.spec.clone();
    if let Spec::S3Bucket(b) = &mut as_theirs {
        b.tags = ownership::tags(&other);
    }
    provider.delete(&bucket.id, &as_theirs).await.unwrap();
    let mut as_theirs = theirs.spec.clone();
    if let Spec::IamRole(r) = &mut as_theirs {
        r.tags = ownership::tags(&other);
    }
    provider.delete(&theirs.id, &as_theirs).await.unwrap();
    account.delete_role(&untagged.id.name).await;
    assert!(account.inventory(&name).await.is_empty());
}
