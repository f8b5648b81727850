//! ownership: the one rule for "is this resource the cluster's?", written once.
//!
//! A resource is cluster `<name>`'s when it carries the tag *key*
//! `openshift.io/cloud-credential-operator/<name>`; the value is ignored, as ccoctl
//! compares the key only. What stsform creates carries ccoctl's two tags (that key
//! `= owned`, and `Name=<name>`), so clusters made by ccoctl are adopted and clusters made
//! by stsform can still be cleaned by ccoctl. What takes no tags (a CloudFront Origin
//! Access Control) carries the key as its description instead ([`marked`]). The real
//! provider, the fake, discovery and import all ask here. Pure: no I/O.

use crate::resource::Tags;

/// Tag key prefix ccoctl uses to mark ownership; `<prefix>/<name> = owned`.
pub const TAG_PREFIX: &str = "openshift.io/cloud-credential-operator";

/// `openshift.io/cloud-credential-operator/<cluster>`, the key ccoctl looks for.
pub fn tag_key(cluster: &str) -> String {
    format!("{TAG_PREFIX}/{cluster}")
}

/// ccoctl's two ownership tags for `cluster`: the key `= owned`, and `Name=<cluster>`.
pub fn tags(cluster: &str) -> Tags {
    Tags::from([
        (tag_key(cluster), "owned".to_string()),
        ("Name".to_string(), cluster.to_string()),
    ])
}

/// The rule: whether `tags` carry the ownership `key` (whatever its value).
pub fn carries(tags: &Tags, key: &str) -> bool {
    tags.contains_key(key)
}

/// The ownership key among the tags stsform wants on a resource (its spec's): the
/// `openshift.io/cloud-credential-operator/…` key, else the one built from the `Name` tag.
pub fn key_in(wanted: &Tags) -> Option<String> {
    let prefix = format!("{TAG_PREFIX}/");
    wanted
        .keys()
        .find(|k| k.starts_with(&prefix))
        .cloned()
        .or_else(|| wanted.get("Name").map(|name| format!("{prefix}{name}")))
}

/// Whether `live` (a resource found in AWS) is owned by the cluster whose tags `wanted`
/// (the spec stsform wants, or recorded) carries. With no key to look for (a spec
/// without tags) any ccoctl ownership tag will do.
pub fn is_owned(wanted: &Tags, live: &Tags) -> bool {
    match key_in(wanted) {
        Some(key) => carries(live, &key),
        None => live.keys().any(|k| k.starts_with(TAG_PREFIX)),
    }
}

/// The rule for what takes no tags (a CloudFront Origin Access Control): its description
/// is the ownership key itself, as ccoctl marks its origin access identities with the key
/// in their comment.
pub fn marked(description: &str, key: &str) -> bool {
    description == key
}

/// The cluster the ownership key of `wanted` names, for messages.
pub fn owner_name(wanted: &Tags) -> String {
    key_in(wanted)
        .and_then(|k| k.rsplit('/').next().map(str::to_string))
        .unwrap_or_else(|| "this cluster".to_string())
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
    fn ownership_key_comes_from_the_spec_or_its_name_tag() {
        let key = "openshift.io/cloud-credential-operator/c1";
        assert_eq!(
            key_in(&tags(&[("Name", "other"), (key, "owned")])).as_deref(),
            Some(key)
        );
        assert_eq!(key_in(&tags(&[("Name", "c1")])).as_deref(), Some(key));
        assert_eq!(key_in(&tags(&[])), None);
    }

    #[test]
    fn another_clusters_tag_is_not_ours() {
        let wanted = tags(&[("openshift.io/cloud-credential-operator/c1", "owned")]);
        let theirs = tags(&[("openshift.io/cloud-credential-operator/c2", "owned")]);
        assert!(!is_owned(&wanted, &theirs));
        assert!(is_owned(&wanted, &wanted));
        assert!(!is_owned(&wanted, &tags(&[])));
        // Without a key to look for, any ccoctl ownership tag counts.
        assert!(is_owned(&tags(&[]), &theirs));
    }

    #[test]
    fn the_key_counts_not_its_value() {
        let key = tag_key("c1");
        assert!(carries(&tags(&[(&key, "shared")]), &key));
        assert!(is_owned(&super::tags("c1"), &tags(&[(&key, "")])));
        assert_eq!(owner_name(&super::tags("c1")), "c1");
    }
}
