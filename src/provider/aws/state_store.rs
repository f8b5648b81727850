//! The S3 side of a remote state: [`crate::state_store::ObjectStore`] over one bucket.
//!
//! Only object calls (GetObject, PutObject with `If-None-Match: *` / `If-Match`,
//! DeleteObject) and GetBucketVersioning; the locking and overwrite rules are in
//! `state_store`, which never sees an SDK type.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::BucketVersioningStatus;

use super::{MAX_ATTEMPTS, describe, is, s3_client, status};
use crate::state_store::{Object, ObjectStore, Precondition, Put, StoreError};

/// One bucket holding states and their locks.
pub struct S3Objects {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    /// A client for `bucket` in `region` (else the SDK's default region, else us-east-1),
    /// with credentials and endpoint resolved the standard way. Makes no API call.
    pub async fn connect(bucket: &str, region: Option<&str>) -> S3Objects {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        let ignore = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let emulated = !ignore
            && (sdk.endpoint_url().is_some()
                || std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.is_empty()));
        S3Objects {
            s3: s3_client(&sdk, &region, emulated),
            bucket: bucket.to_string(),
        }
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
