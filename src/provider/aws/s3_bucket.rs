//! `s3_bucket`: the bucket serving the OIDC documents, with its tags, public-access block
//! and policy. Create adopts a bucket we already own (ownership tag) and refuses any
//! other; delete empties the bucket when S3 says it is not empty, but only if it carries
//! our ownership tag.

use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, Tagging,
};

use super::{
    AwsProvider, NEW_PARENT, NO_SUCH_BUCKET, api_error, build_error, is, is_owned, not_owned,
    refuse_delete, retry_while, status, tags, unless_gone,
};
use crate::iam_policy;
use crate::provider::{Listing, ProviderError, ProviderResult};
use crate::resource::{BucketSpec, PublicAccessBlock, ResourceId, Tags};

/// DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;

impl AwsProvider {
    /// The bucket's four reads run at once (they are independent); a bucket any of them
    /// finds gone is gone.
    pub(super) async fn read_bucket(
        &self,
        id: &ResourceId,
        recorded: &BucketSpec,
    ) -> ProviderResult<Option<BucketSpec>> {
        let s3 = self.s3_in(&recorded.region);
        let bucket = recorded.name.as_str();
        let location = async {
            let read = self
                .s3_call(
                    "GetBucketLocation",
                    s3.get_bucket_location().bucket(bucket).send(),
                )
                .await;
            let Some(location) = unless_gone(id, "GetBucketLocation", read, NO_SUCH_BUCKET)? else {
                return Ok(None);
            };
            // An empty constraint is us-east-1 (S3's oldest region); `EU` is eu-west-1's
            // legacy name.
            Ok(Some(
                match location.location_constraint().map(|c| c.as_str()) {
                    None | Some("") => "us-east-1".to_string(),
                    Some("EU") => "eu-west-1".to_string(),
                    Some(r) => r.to_string(),
                },
            ))
        };
        let public_access_block = async {
            let read = self
                .s3_call(
                    "GetPublicAccessBlock",
                    s3.get_public_access_block().bucket(bucket).send(),
                )
                .await;
            Ok(Some(match read {
                Ok(out) => {
                    let c = out.public_access_block_configuration();
                    let flag = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| {
                        c.and_then(f).unwrap_or(false)
                    };
                    PublicAccessBlock {
                        block_public_acls: flag(|c| c.block_public_acls()),
                        ignore_public_acls: flag(|c| c.ignore_public_acls()),
                        block_public_policy: flag(|c| c.block_public_policy()),
                        restrict_public_buckets: flag(|c| c.restrict_public_buckets()),
                    }
                }
                // No configuration means nothing is blocked.
                Err(e) if is(&e, &["NoSuchPublicAccessBlockConfiguration"]) => PublicAccessBlock {
                    block_public_acls: false,
                    ignore_public_acls: false,
                    block_public_policy: false,
                    restrict_public_buckets: false,
                },
                Err(e) if is(&e, &["NoSuchBucket"]) => return Ok(None),
                Err(e) => return Err(api_error(id, "GetPublicAccessBlock", &e)),
            }))
        };
        // A private issuer's policy is a resource of its own: not read here.
        let policy = async {
            ProviderResult::Ok(match &recorded.policy {
                None => Some(None),
                Some(_) => self
                    .bucket_policy_in(id, bucket, &recorded.region)
                    .await?
                    .map(Some),
            })
        };
        // Boxed: four SDK calls' state machines side by side would not fit on a stack.
        let (region, tags, public_access_block, policy) = tokio::join!(
            Box::pin(location),
            Box::pin(self.bucket_tags_in(id, bucket, &recorded.region)),
            Box::pin(public_access_block),
            Box::pin(policy)
        );
        // The location answers first for a bucket that is gone or cannot be read.
        let Some(region) = region? else {
            return Ok(None);
        };
        let (Some(tags), Some(public_access_block), Some(policy)) =
            (tags?, public_access_block?, policy?)
        else {
            return Ok(None);
        };
        Ok(Some(BucketSpec {
            name: bucket.to_string(),
            region,
            tags,
            public_access_block,
            policy,
        }))
    }

    /// The bucket's policy (none set → `null`, which differs from any desired document),
    /// or `None` if the bucket is gone.
    pub(super) async fn bucket_policy_in(
        &self,
        id: &ResourceId,
        bucket: &str,
        region: &str,
    ) -> ProviderResult<Option<serde_json::Value>> {
        let s3 = self.s3_in(region);
        match self
            .s3_call(
                "GetBucketPolicy",
                s3.get_bucket_policy().bucket(bucket).send(),
            )
            .await
        {
            Ok(out) => Ok(Some(match out.policy() {
                Some(text) => parse(id, text)?,
                None => serde_json::Value::Null,
            })),
            Err(e) if is(&e, &["NoSuchBucketPolicy"]) => Ok(Some(serde_json::Value::Null)),
            Err(e) if is(&e, &["NoSuchBucket"]) => Ok(None),
            Err(e) => Err(api_error(id, "GetBucketPolicy", &e)),
        }
    }

    /// The bucket's tags (none set → empty), or `None` if the bucket is gone.
    pub(super) async fn bucket_tags_in(
        &self,
        id: &ResourceId,
        bucket: &str,
        region: &str,
    ) -> ProviderResult<Option<Tags>> {
        let s3 = self.s3_in(region);
        let read = self
            .s3_call(
                "GetBucketTagging",
                s3.get_bucket_tagging().bucket(bucket).send(),
            )
            .await;
        match read {
            // No tags set: an empty set, not a missing bucket.
            Err(e) if is(&e, &["NoSuchTagSet"]) => Ok(Some(Tags::new())),
            read => Ok(unless_gone(id, "GetBucketTagging", read, NO_SUCH_BUCKET)?
                .map(|out| tags::from_s3(out.tag_set()))),
        }
    }

    pub(super) async fn create_bucket(
        &self,
        id: &ResourceId,
        spec: &BucketSpec,
    ) -> ProviderResult<BucketSpec> {
        let s3 = self.s3_in(&spec.region);
        let bucket = spec.name.as_str();
        // Probe first. In us-east-1, S3 answers 200 to CreateBucket on a bucket the caller
        // already owns, so only the probe tells. Elsewhere the probe tells an SDK retry of
        // our own CreateBucket (its first answer lost, the bucket made) from a bucket that
        // was there before: the retry answers BucketAlreadyOwnedByYou for a bucket that
        // did not exist a moment ago, which is ours and not yet tagged.
        let mut exists = false;
        match self
            .s3_call("HeadBucket", s3.head_bucket().bucket(bucket).send())
            .await
        {
            Ok(_) => exists = true,
            Err(e) if status(&e) == Some(404) => {}
            Err(e) if status(&e) == Some(403) => return Err(not_owned_elsewhere(id)),
            Err(e) => return Err(api_error(id, "HeadBucket", &e)),
        }
        if !exists {
            let mut request = s3.create_bucket().bucket(bucket);
            if spec.region != "us-east-1" {
                request = request.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(spec.region.as_str()))
                        .build(),
                );
            }
            match self.s3_call("CreateBucket", request.send()).await {
                Ok(_) => {}
                // Absent at the probe: made by this call's own earlier attempt.
                Err(e) if is(&e, &["BucketAlreadyOwnedByYou"]) => {}
                Err(e) if is(&e, &["BucketAlreadyExists"]) => {
                    return Err(not_owned_elsewhere(id));
                }
                Err(e) => return Err(api_error(id, "CreateBucket", &e)),
            }
        }
        if exists {
            // Ours from an earlier, interrupted apply (or ccoctl's): adopt it only if it
            // carries our ownership tag.
            let live = self
                .bucket_tags_in(id, bucket, &spec.region)
                .await?
                .unwrap_or_default();
            if !is_owned(&spec.tags, &live) {
                return Err(not_owned(id, "bucket", &spec.tags));
            }
        }
        self.put_bucket_tags(id, spec).await?;
        self.put_public_access_block(id, spec).await?;
        if let Some(policy) = &spec.policy {
            self.set_bucket_policy(id, &spec.name, &spec.region, policy)
                .await?;
        }
        Ok(spec.clone())
    }

    pub(super) async fn update_bucket(
        &self,
        id: &ResourceId,
        spec: &BucketSpec,
        before: &BucketSpec,
    ) -> ProviderResult<BucketSpec> {
        if spec.tags != before.tags {
            self.put_bucket_tags(id, spec).await?;
        }
        if spec.public_access_block != before.public_access_block {
            self.put_public_access_block(id, spec).await?;
        }
        // `None`: the policy became a resource of its own (a public issuer made private),
        // which sets it; the bucket leaves it alone.
        if let Some(policy) = &spec.policy
            && spec.policy != before.policy
        {
            self.set_bucket_policy(id, &spec.name, &spec.region, policy)
                .await?;
        }
        Ok(spec.clone())
    }

    /// Deletes the bucket, emptying it only if S3 says it is not empty (the plan deletes
    /// the objects it knows first).
    pub(super) async fn delete_bucket(
        &self,
        id: &ResourceId,
        before: &BucketSpec,
    ) -> ProviderResult<()> {
        let s3 = self.s3_in(&before.region);
        let bucket = before.name.as_str();
        // Ownership on the tags as this run read them (the refresh); a bucket this run did
        // not read (a saved plan's) is read now.
        let live_tags = match self.seen(id) {
            Some(tags) => tags,
            None => match self.bucket_tags_in(id, bucket, &before.region).await? {
                Some(tags) => tags,
                None => return Ok(()),
            },
        };
        // Emptying a bucket is irreversible: only ever do it to a bucket marked as ours.
        if !is_owned(&before.tags, &live_tags) {
            return Err(refuse_delete(id, "bucket (and its objects)", &before.tags));
        }
        let delete = || async {
            self.s3_call("DeleteBucket", s3.delete_bucket().bucket(bucket).send())
                .await
        };
        let deleted = match delete().await {
            Err(e) if is(&e, &["BucketNotEmpty"]) => {
                self.empty_bucket(id, &s3, before).await?;
                delete().await
            }
            other => other,
        };
        unless_gone(id, "DeleteBucket", deleted, NO_SUCH_BUCKET)?;
        Ok(())
    }

    /// Deletes every object in the bucket, a thousand per call.
    async fn empty_bucket(
        &self,
        id: &ResourceId,
        s3: &aws_sdk_s3::Client,
        before: &BucketSpec,
    ) -> ProviderResult<()> {
        let bucket = before.name.as_str();
        let keys = self
            .list_names(&Listing::Objects {
                bucket: bucket.to_string(),
                region: before.region.clone(),
            })
            .await?;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| build_error(id, e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| build_error(id, e))?;
            let out = self
                .s3_call(
                    "DeleteObjects",
                    s3.delete_objects().bucket(bucket).delete(delete).send(),
                )
                .await
                .map_err(|e| api_error(id, "DeleteObjects", &e))?;
            if let Some(err) = out.errors().first() {
                return Err(ProviderError::Api {
                    id: id.clone(),
                    operation: "DeleteObjects".into(),
                    message: format!(
                        "{}: {} ({} of {} keys not deleted)",
                        err.code().unwrap_or("Error"),
                        err.message().unwrap_or_else(|| err.key().unwrap_or("")),
                        out.errors().len(),
                        batch.len()
                    ),
                });
            }
        }
        Ok(())
    }

    async fn put_bucket_tags(&self, id: &ResourceId, spec: &BucketSpec) -> ProviderResult<()> {
        let s3 = self.s3_in(&spec.region);
        if spec.tags.is_empty() {
            return new_bucket_retry(|| async {
                self.s3_call(
                    "DeleteBucketTagging",
                    s3.delete_bucket_tagging().bucket(&spec.name).send(),
                )
                .await
            })
            .await
            .map(|_| ())
            .map_err(|e| api_error(id, "DeleteBucketTagging", &e));
        }
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags::to_s3(id, &spec.tags)?))
            .build()
            .map_err(|e| build_error(id, e))?;
        new_bucket_retry(|| async {
            self.s3_call(
                "PutBucketTagging",
                s3.put_bucket_tagging()
                    .bucket(&spec.name)
                    .tagging(tagging.clone())
                    .send(),
            )
            .await
        })
        .await
        .map(|_| ())
        .map_err(|e| api_error(id, "PutBucketTagging", &e))
    }

    async fn put_public_access_block(
        &self,
        id: &ResourceId,
        spec: &BucketSpec,
    ) -> ProviderResult<()> {
        let s3 = self.s3_in(&spec.region);
        let p = spec.public_access_block;
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(p.block_public_acls)
            .ignore_public_acls(p.ignore_public_acls)
            .block_public_policy(p.block_public_policy)
            .restrict_public_buckets(p.restrict_public_buckets)
            .build();
        new_bucket_retry(|| async {
            self.s3_call(
                "PutPublicAccessBlock",
                s3.put_public_access_block()
                    .bucket(&spec.name)
                    .public_access_block_configuration(config.clone())
                    .send(),
            )
            .await
        })
        .await
        .map(|_| ())
        .map_err(|e| api_error(id, "PutPublicAccessBlock", &e))
    }

    /// Sets the bucket's policy (`null`: deletes it).
    pub(super) async fn set_bucket_policy(
        &self,
        id: &ResourceId,
        bucket: &str,
        region: &str,
        policy: &serde_json::Value,
    ) -> ProviderResult<()> {
        let s3 = self.s3_in(region);
        if policy.is_null() {
            return new_bucket_retry(|| async {
                self.s3_call(
                    "DeleteBucketPolicy",
                    s3.delete_bucket_policy().bucket(bucket).send(),
                )
                .await
            })
            .await
            .map(|_| ())
            .map_err(|e| api_error(id, "DeleteBucketPolicy", &e));
        }
        let text = policy.to_string();
        new_bucket_retry(|| async {
            self.s3_call(
                "PutBucketPolicy",
                s3.put_bucket_policy().bucket(bucket).policy(&text).send(),
            )
            .await
        })
        .await
        .map(|_| ())
        .map_err(|e| api_error(id, "PutBucketPolicy", &e))
    }
}

/// Retries a bucket sub-resource call while S3 does not see the just-created bucket yet.
async fn new_bucket_retry<T, E, F, Fut>(attempt: F) -> Result<T, aws_sdk_s3::error::SdkError<E>>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, aws_sdk_s3::error::SdkError<E>>>,
{
    retry_while(NEW_PARENT, |e| is(e, &["NoSuchBucket"]), attempt).await
}

fn not_owned_elsewhere(id: &ResourceId) -> ProviderError {
    ProviderError::NotOwned {
        id: id.clone(),
        message: "the bucket name is taken by another AWS account (bucket names are global)".into(),
    }
}

fn parse(id: &ResourceId, text: &str) -> ProviderResult<serde_json::Value> {
    iam_policy::parse_aws_document(text).map_err(|e| ProviderError::Api {
        id: id.clone(),
        operation: "GetBucketPolicy".into(),
        message: format!("the bucket policy is not valid JSON: {e}"),
    })
}
