//! `s3_bucket_policy`: a private issuer's bucket policy, a resource of its own because it
//! names the distribution, which is made after the bucket (its origin).
//!
//! Its ownership follows its bucket's (as the objects' does): the policy is written or
//! removed only on a bucket carrying the cluster's ownership tag (`<name>-oidc` belongs
//! to cluster `<name>`). No policy reads as the resource being gone.

use super::{AwsProvider, refuse_delete};
use crate::ownership;
use crate::provider::{ProviderError, ProviderResult};
use crate::resource::{BucketPolicySpec, ResourceId, Tags};

/// The ownership tags the bucket of a policy carries (`<name>-oidc` is cluster `<name>`'s).
fn bucket_owner(bucket: &str) -> Tags {
    ownership::tags(bucket.strip_suffix("-oidc").unwrap_or(bucket))
}

impl AwsProvider {
    pub(super) async fn read_bucket_policy(
        &self,
        id: &ResourceId,
        recorded: &BucketPolicySpec,
    ) -> ProviderResult<Option<BucketPolicySpec>> {
        let policy = self
            .bucket_policy_in(id, &recorded.bucket, &recorded.region)
            .await?;
        Ok(policy
            .filter(|p| !p.is_null())
            .map(|policy| BucketPolicySpec {
                policy,
                ..recorded.clone()
            }))
    }

    /// Whether the policy's bucket exists and is the cluster's (`None`: it is gone).
    async fn policy_bucket_owned(
        &self,
        id: &ResourceId,
        spec: &BucketPolicySpec,
    ) -> ProviderResult<Option<bool>> {
        let wanted = bucket_owner(&spec.bucket);
        let live = self.bucket_tags_in(id, &spec.bucket, &spec.region).await?;
        Ok(live.map(|live| ownership::is_owned(&wanted, &live)))
    }

    pub(super) async fn put_bucket_policy(
        &self,
        id: &ResourceId,
        spec: &BucketPolicySpec,
    ) -> ProviderResult<BucketPolicySpec> {
        match self.policy_bucket_owned(id, spec).await? {
            Some(true) => {}
            Some(false) => {
                return Err(ProviderError::not_owned(
                    id,
                    "bucket of this policy",
                    &bucket_owner(&spec.bucket),
                ));
            }
            None => {
                return Err(ProviderError::Api {
                    id: id.clone(),
                    operation: "PutBucketPolicy".into(),
                    message: format!("NoSuchBucket: the bucket {} does not exist", spec.bucket),
                });
            }
        }
        self.set_bucket_policy(id, &spec.bucket, &spec.region, &spec.policy)
            .await?;
        Ok(spec.clone())
    }

    pub(super) async fn delete_bucket_policy(
        &self,
        id: &ResourceId,
        before: &BucketPolicySpec,
    ) -> ProviderResult<()> {
        match self.policy_bucket_owned(id, before).await? {
            // The bucket is gone, and its policy with it.
            None => Ok(()),
            Some(false) => Err(refuse_delete(
                id,
                "bucket of this policy",
                &bucket_owner(&before.bucket),
            )),
            Some(true) => {
                self.set_bucket_policy(id, &before.bucket, &before.region, &serde_json::Value::Null)
                    .await
            }
        }
    }
}
