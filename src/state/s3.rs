//! The S3 side of a remote state: [`ObjectStore`] over one bucket.
//!
//! Only object calls (GetObject, PutObject with `If-None-Match: *` / `If-Match`,
//! DeleteObject), GetBucketVersioning and one HeadBucket to find the bucket's region; the
//! locking and overwrite rules are in `remote`, which never sees an SDK type.
//!
//! The clients come from the one SDK configuration ([`crate::sdk::Sdk`]) the provider's
//! come from: the same retries and the same per-attempt timeout, so a state call cannot
//! hang with the lock held. The state
//! bucket may live in another region than the cluster (one bucket of states for clusters
//! everywhere): HeadBucket names the bucket's region (`x-amz-bucket-region`, sent with
//! 200, 301 and 403 answers alike), and the client is remade there. No flag is needed;
//! the given region is only the first guess.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::BucketVersioningStatus;

use super::remote::{Object, ObjectStore, Precondition, Put, StoreError};
use crate::sdk::{Sdk, describe, is, status};

/// One bucket holding states and their locks.
#[derive(Clone)]
pub struct S3Objects {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    /// A client for `bucket`, in the bucket's own region: `region` (else the SDK's
    /// default region, else us-east-1) is the first guess, and HeadBucket's answer says
    /// where the bucket is. Credentials and endpoint are resolved the standard way.
    pub async fn connect(bucket: &str, region: Option<&str>) -> Result<S3Objects, StoreError> {
        let sdk = Sdk::load(region).await.map_err(|e| StoreError {
            operation: "configure".into(),
            message: format!("{e:#}"),
        })?;
        let guess = sdk.region().unwrap_or_else(|| "us-east-1".to_string());
        let s3 = sdk.s3(&guess);
        let found = match s3.head_bucket().bucket(bucket).send().await {
            Ok(out) => out.bucket_region().map(str::to_string),
            // A wrong region (301) or a missing permission (403) still names it; a
            // missing bucket does not, and the next call reports that.
            Err(e) => e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string),
        };
        let s3 = match found {
            Some(region) if !region.is_empty() && region != guess => sdk.s3(&region),
            _ => s3,
        };
        Ok(S3Objects {
            s3,
            bucket: bucket.to_string(),
        })
    }
}

fn store_error<E>(operation: &str, e: &aws_sdk_s3::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError {
        operation: operation.to_string(),
        message: describe(e),
    }
}

impl ObjectStore for S3Objects {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is(&e, &["NoSuchKey"]) => return Ok(None),
            Err(e) => return Err(store_error("GetObject", &e)),
        };
        let etag = out.e_tag().map(str::to_string);
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError {
                operation: "GetObject".into(),
                message: format!("reading the body failed: {e}"),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(Object { body, etag }))
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Precondition,
    ) -> Result<Put, StoreError> {
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let if_match = matches!(condition, Precondition::Matches(_));
        request = match condition {
            Precondition::None => request,
            Precondition::Absent => request.if_none_match("*"),
            Precondition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(out) => Ok(Put::Written(out.e_tag().map(str::to_string))),
            // PutObjectError models neither; they arrive as unhandled service errors.
            Err(e) if is(&e, &["PreconditionFailed"]) || status(&e) == Some(412) => {
                Ok(Put::PreconditionFailed)
            }
            // `If-Match` on a key that is gone answers 404 `NoSuchKey`: the object is not
            // the one named either, so the condition did not hold.
            Err(e) if if_match && is(&e, &["NoSuchKey"]) => Ok(Put::PreconditionFailed),
            Err(e) if is(&e, &["ConditionalRequestConflict"]) || status(&e) == Some(409) => {
                Ok(Put::Busy)
            }
            Err(e) => Err(store_error("PutObject", &e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error("DeleteObject", &e))
    }

    async fn versioning_enabled(&self) -> Result<bool, StoreError> {
        match self
            .s3
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out.status() == Some(&BucketVersioningStatus::Enabled)),
            // moto 5.2.5 answers a bucket whose versioning was never configured with a
            // `<GetBucketVersioningResponse>` root the SDK cannot parse (real S3 sends an
            // empty `<VersioningConfiguration/>`). A 200 with that body means "never
            // enabled"; anything else is a real error.
            Err(e) => {
                let body = e
                    .raw_response()
                    .filter(|r| r.status().as_u16() == 200)
                    .and_then(|r| r.body().bytes())
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                match body {
                    Some(b) if b.contains("GetBucketVersioningResponse") => {
                        Ok(b.contains("<Status>Enabled</Status>"))
                    }
                    _ => Err(store_error("GetBucketVersioning", &e)),
                }
            }
        }
    }
}
