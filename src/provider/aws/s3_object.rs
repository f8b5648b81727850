//! `s3_object`: the discovery document and JWKS in the OIDC bucket.
//!
//! Create and update are the same PutObject (body, Content-Type, tags in one call, as
//! ccoctl does it). Read returns the body as text with its content type and tags.

use aws_sdk_s3::primitives::ByteStream;

use super::{AwsProvider, NEW_PARENT, api_error, is, retry_while, tags, unless_gone};
use crate::provider::{ProviderError, ProviderResult};
use crate::resource::{ObjectSpec, ResourceId};

/// S3's answers for an object that is not there (or whose bucket is not).
const NO_SUCH_OBJECT: &[&str] = &["NoSuchKey", "NoSuchBucket"];

impl AwsProvider {
    // moto 5.2.5 and `.well-known/openid-configuration` (checked with the SDK and curl):
    // moto sends *unsigned* requests whose path ends in that suffix to its Cognito
    // emulation, before S3 is considered. With the pinned `moto[s3]` install Cognito's
    // module does not even import (no `joserfc`), so an anonymous GET or PUT of the
    // discovery document answers HTTP 500 HTML (a full `moto[server]` install answers
    // Cognito's own document instead). SDK requests are SigV4-signed and routed by
    // their credential scope, so PutObject/GetObject/GetObjectTagging of that key
    // reach S3 and round-trip byte-exact. It is a moto-only routing bug that real S3
    // does not have, and the provider needs no workaround.

    pub(super) async fn read_object(
        &self,
        id: &ResourceId,
        recorded: &ObjectSpec,
    ) -> ProviderResult<Option<ObjectSpec>> {
        let (bucket, key) = (recorded.bucket.as_str(), recorded.key.as_str());
        let read = self
            .call(
                "GetObject",
                self.s3.get_object().bucket(bucket).key(key).send(),
            )
            .await;
        let Some(out) = unless_gone(id, "GetObject", read, NO_SUCH_OBJECT)? else {
            return Ok(None);
        };
        let content_type = out.content_type().unwrap_or_default().to_string();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ProviderError::Api {
                id: id.clone(),
                operation: "GetObject".into(),
                message: format!("reading the body failed: {e}"),
            })?
            .into_bytes();
        // The documents are JSON text; a non-UTF-8 body (someone else's upload) still
        // shows up as a difference rather than an error.
        let content = String::from_utf8_lossy(&bytes).into_owned();
        let read = self
            .call(
                "GetObjectTagging",
                self.s3.get_object_tagging().bucket(bucket).key(key).send(),
            )
            .await;
        // Gone now: deleted between the two calls.
        let Some(tagging) = unless_gone(id, "GetObjectTagging", read, NO_SUCH_OBJECT)? else {
            return Ok(None);
        };
        let tags = tags::from_s3(tagging.tag_set());
        Ok(Some(ObjectSpec {
            bucket: bucket.to_string(),
            key: key.to_string(),
            content_type,
            tags,
            content,
        }))
    }

    pub(super) async fn put_object(
        &self,
        id: &ResourceId,
        spec: &ObjectSpec,
    ) -> ProviderResult<ObjectSpec> {
        let tagging = tags::header(&spec.tags);
        retry_while(
            NEW_PARENT,
            |e| is(e, &["NoSuchBucket"]),
            || async {
                let mut request = self
                    .s3
                    .put_object()
                    .bucket(&spec.bucket)
                    .key(&spec.key)
                    .content_type(&spec.content_type)
                    .body(ByteStream::from(spec.content.clone().into_bytes()));
                if !tagging.is_empty() {
                    request = request.tagging(&tagging);
                }
                self.call("PutObject", request.send()).await
            },
        )
        .await
        .map_err(|e| api_error(id, "PutObject", &e))?;
        Ok(spec.clone())
    }

    pub(super) async fn delete_object(
        &self,
        id: &ResourceId,
        before: &ObjectSpec,
    ) -> ProviderResult<()> {
        let deleted = self
            .call(
                "DeleteObject",
                self.s3
                    .delete_object()
                    .bucket(&before.bucket)
                    .key(&before.key)
                    .send(),
            )
            .await;
        // A missing key is already a success in S3; a missing bucket took it along.
        unless_gone(id, "DeleteObject", deleted, NO_SUCH_OBJECT)?;
        Ok(())
    }
}
