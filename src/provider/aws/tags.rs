//! Tags between stsform's [`Tags`] and the SDK: IAM's and S3's tag types, the changes
//! that turn one tag set into another (TagRole/UntagRole), and the `x-amz-tagging` header
//! PutObject takes.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::build_error;
use crate::provider::ProviderResult;
use crate::resource::{ResourceId, Tags};

/// Tags as IAM takes them (CreateRole, TagRole, CreateOpenIDConnectProvider…).
pub(super) fn to_iam(id: &ResourceId, tags: &Tags) -> ProviderResult<Vec<aws_sdk_iam::types::Tag>> {
    tags.iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| build_error(id, e))
}

/// Tags as S3 takes them (PutBucketTagging).
pub(super) fn to_s3(id: &ResourceId, tags: &Tags) -> ProviderResult<Vec<aws_sdk_s3::types::Tag>> {
    tags.iter()
        .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| build_error(id, e))
}

/// Tags as IAM returns them (GetRole, GetOpenIDConnectProvider).
pub(super) fn from_iam(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Tags as S3 returns them (GetBucketTagging, GetObjectTagging).
pub(super) fn from_s3(tags: &[aws_sdk_s3::types::Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Tags to add or change, and keys to remove, to go from `before` to `after`.
pub(super) fn changes(before: &Tags, after: &Tags) -> (Tags, Vec<String>) {
    let set = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// What the `x-amz-tagging` header must escape: everything but RFC 3986 unreserved
/// characters (tag keys contain `/` and `.`; values may contain `&` or `=`).
const TAG_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Tags as PutObject takes them: a URL-encoded query string `k=v&k2=v2`.
pub(super) fn header(tags: &Tags) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_changes_sets_changed_and_removes_dropped_keys() {
        let before = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let after = tags(&[("a", "1"), ("b", "20"), ("d", "4")]);
        let (set, remove) = changes(&before, &after);
        assert_eq!(set, tags(&[("b", "20"), ("d", "4")]));
        assert_eq!(remove, vec!["c".to_string()]);
        assert_eq!(changes(&after, &after), (Tags::new(), vec![]));
    }

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
            header(&tags),
            "Name=c1&odd=a%3Db%26c%20d&openshift.io%2Fcloud-credential-operator%2Fc1=owned"
        );
    }
}
