//! `s3_object`: the discovery document and JWKS in the OIDC bucket.
//!
//! Create and update are the same PutObject (body, Content-Type, tags in one call, as
//! ccoctl does it). Read returns the body as text with its content type and tags.

use aws_sdk_s3::primitives::ByteStream;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{AwsProvider, NEW_PARENT, api_error, is, retry_while};
use crate::provider::{ProviderError, ProviderResult};
use crate::resource::{ObjectSpec, ResourceId, Tags};

/// What the `x-amz-tagging` header must escape: everything but RFC 3986 unreserved
/// characters (tag keys contain `/` and `.`; values may contain `&` or `=`).
const TAG_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Tags as PutObject takes them: a URL-encoded query string `k=v&k2=v2`.
fn tagging_header(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, TAG_ESCAPE),
                utf8_percent_encode(v, TAG_ESCAPE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

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
        let out = match self
            .call(
                "GetObject",
                self.s3.get_object().bucket(bucket).key(key).send(),
            )
            .await
        {
            Ok(out) => out,
            Err(e) if is(&e, &["NoSuchKey", "NoSuchBucket"]) => return Ok(None),
            Err(e) => return Err(api_error(id, "GetObject", &e)),
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
        let tags = match self
            .call(
                "GetObjectTagging",
                self.s3.get_object_tagging().bucket(bucket).key(key).send(),
            )
            .await
        {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            // Deleted between the two calls.
            Err(e) if is(&e, &["NoSuchKey", "NoSuchBucket"]) => return Ok(None),
            Err(e) => return Err(api_error(id, "GetObjectTagging", &e)),
        };
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
        let tagging = tagging_header(&spec.tags);
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
        match self
            .call(
                "DeleteObject",
                self.s3
                    .delete_object()
                    .bucket(&before.bucket)
                    .key(&before.key)
                    .send(),
            )
            .await
        {
            Ok(_) => Ok(()),
            // A missing key is already a success in S3; a missing bucket took it along.
            Err(e) if is(&e, &["NoSuchBucket", "NoSuchKey"]) => Ok(()),
            Err(e) => Err(api_error(id, "DeleteObject", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_header_escapes_keys_and_values() {
        let tags: Tags = [
            ("Name".to_string(), "c1".to_string()),
            (
                "openshift.io/cloud-credential-operator/c1".to_string(),
                "owned".to_string(),
            ),
            ("odd".to_string(), "a=b&c d".to_string()),
        ]
        .into();
        assert_eq!(
            tagging_header(&tags),
            "Name=c1&odd=a%3Db%26c%20d&openshift.io%2Fcloud-credential-operator%2Fc1=owned"
        );
    }
}
