//! The resource model: what stsform manages, named and typed.
//!
//! Owns `ResourceId`, `ResourceKind`, the typed `Spec` of every kind and `Resource`
//! (id + spec + explicit `depends_on`). It is plain data: no I/O, no AWS, no planning.
//! `desired` builds these values, `state` stores them, `plan` compares them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Placeholder for a value that only exists once AWS (or the key generator) has run.
///
/// It appears only in offline plans (`--refresh=false`) and for a key pair that does not
/// exist yet; `execute` refuses to apply a plan that still contains it.
pub const UNKNOWN: &str = "(known after apply)";

/// The kinds of resource stsform manages. The order is the display order of plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// The service-account signing key pair (local files).
    KeyPair,
    /// The S3 bucket that serves the OIDC documents.
    S3Bucket,
    /// An object in that bucket (discovery document, JWKS).
    S3Object,
    /// The IAM OIDC identity provider.
    IamOidcProvider,
    /// One IAM role per CredentialsRequest.
    IamRole,
    /// The inline policy of such a role.
    IamRolePolicy,
    /// A local file the installer reads (manifests, installer key copy).
    File,
}

impl ResourceKind {
    /// Every kind, in display order.
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::KeyPair,
        ResourceKind::S3Bucket,
        ResourceKind::S3Object,
        ResourceKind::IamOidcProvider,
        ResourceKind::IamRole,
        ResourceKind::IamRolePolicy,
        ResourceKind::File,
    ];

    /// The name used in ids, state files and plans (`iam_role`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::KeyPair => "key_pair",
            ResourceKind::S3Bucket => "s3_bucket",
            ResourceKind::S3Object => "s3_object",
            ResourceKind::IamOidcProvider => "iam_oidc_provider",
            ResourceKind::IamRole => "iam_role",
            ResourceKind::IamRolePolicy => "iam_role_policy",
            ResourceKind::File => "file",
        }
    }

    /// Whether the resource lives in AWS (as opposed to the local output directory).
    pub fn is_remote(self) -> bool {
        !matches!(self, ResourceKind::KeyPair | ResourceKind::File)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown resource kind `{s}`"))
    }
}

/// A resource's identity: kind plus a name unique within the kind.
///
/// Renaming anything that is part of the name (a role, a bucket) makes a new resource:
/// the plan shows a destroy and a create, never an in-place rename.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    /// What kind of resource this is.
    pub kind: ResourceKind,
    /// Its name within the kind (role name, bucket name, `bucket/key`, file path).
    pub name: String,
}

impl ResourceId {
    /// Builds an id.
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        ResourceId {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

impl FromStr for ResourceId {
    type Err = String;
    /// Parses `kind.name`; the kind never contains a dot, the name may.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s
            .split_once('.')
            .ok_or_else(|| format!("`{s}` is not a resource id (expected `kind.name`)"))?;
        if name.is_empty() {
            return Err(format!("`{s}` has an empty name"));
        }
        Ok(ResourceId::new(kind.parse()?, name))
    }
}

impl Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Tags as AWS holds them: key → value, sorted so output is stable.
pub type Tags = BTreeMap<String, String>;

/// The signing key pair. The private key is referred to by path only, never held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPairSpec {
    /// Where the private key lives (absent when only `--public-key-file` was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    /// Where the public key (SPKI PEM) lives.
    pub public_key_file: String,
    /// JWKS key id: base64url(SHA-256(SPKI DER)), or `UNKNOWN` before generation.
    pub kid: String,
}

/// The S3 bucket that serves the discovery document and JWKS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpec {
    /// Bucket name (`N-oidc`).
    pub name: String,
    /// Region the bucket lives in; changing it forces a new bucket.
    pub region: String,
    /// Ownership and user tags.
    pub tags: Tags,
    /// Public-access block: ACLs blocked, policies allowed (as ccoctl sets it).
    pub public_access_block: PublicAccessBlock,
    /// Bucket policy (canonical JSON).
    #[serde(with = "json_string")]
    pub policy: serde_json::Value,
}

/// S3's four public-access-block switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Reject PUTs carrying public ACLs.
    pub block_public_acls: bool,
    /// Ignore public ACLs that exist.
    pub ignore_public_acls: bool,
    /// Reject public bucket policies.
    pub block_public_policy: bool,
    /// Restrict access under public policies to AWS principals.
    pub restrict_public_buckets: bool,
}

/// An object in the OIDC bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSpec {
    /// Bucket holding the object.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// `Content-Type` header.
    pub content_type: String,
    /// Object tags (ccoctl's ownership tags, so `ccoctl aws delete` can clean up too).
    pub tags: Tags,
    /// The body, or `UNKNOWN` while the key pair it depends on does not exist.
    pub content: String,
}

/// The IAM OIDC identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProviderSpec {
    /// Issuer URL with `https://`.
    pub url: String,
    /// Provider ARN (`arn:<partition>:iam::<account>:oidc-provider/<host>`), or `UNKNOWN`.
    pub arn: String,
    /// Audiences (`openshift`, `sts.amazonaws.com`), sorted.
    pub client_ids: Vec<String>,
    /// Server certificate thumbprints (uppercase hex); empty lets AWS use its CA library.
    pub thumbprints: Vec<String>,
    /// Ownership and user tags.
    pub tags: Tags,
}

/// An IAM role for one CredentialsRequest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSpec {
    /// Role name (cut to 64 bytes as ccoctl does).
    pub name: String,
    /// Role ARN, or `UNKNOWN`.
    pub arn: String,
    /// `OpenShift role for <ns>/<name>`.
    pub description: String,
    /// Trust policy (canonical JSON).
    #[serde(with = "json_string")]
    pub trust_policy: serde_json::Value,
    /// Permissions boundary policy ARN, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    /// Ownership and user tags.
    pub tags: Tags,
}

/// The inline policy of a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePolicySpec {
    /// Role the policy belongs to.
    pub role: String,
    /// Policy name (= role name, as ccoctl names it).
    pub name: String,
    /// Policy document (canonical JSON).
    #[serde(with = "json_string")]
    pub document: serde_json::Value,
}

/// A local file in the output directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpec {
    /// Path as written (output directory joined with the relative path).
    pub path: String,
    /// Unix permission bits.
    pub mode: u32,
    /// What the file holds.
    pub content: FileContent,
}

/// What a local file holds. Secret material is named, never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileContent {
    /// Plain text (manifests); may contain `UNKNOWN` in an offline plan.
    Text(String),
    /// A byte copy of the private key whose public half has this `kid`.
    PrivateKeyCopy {
        /// Key id of the public half.
        kid: String,
    },
}

/// The typed attributes of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    /// See [`KeyPairSpec`].
    KeyPair(KeyPairSpec),
    /// See [`BucketSpec`].
    S3Bucket(BucketSpec),
    /// See [`ObjectSpec`].
    S3Object(ObjectSpec),
    /// See [`OidcProviderSpec`].
    IamOidcProvider(OidcProviderSpec),
    /// See [`RoleSpec`].
    IamRole(RoleSpec),
    /// See [`RolePolicySpec`].
    IamRolePolicy(RolePolicySpec),
    /// See [`FileSpec`].
    File(FileSpec),
}

impl Spec {
    /// The kind this spec describes.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Spec::KeyPair(_) => ResourceKind::KeyPair,
            Spec::S3Bucket(_) => ResourceKind::S3Bucket,
            Spec::S3Object(_) => ResourceKind::S3Object,
            Spec::IamOidcProvider(_) => ResourceKind::IamOidcProvider,
            Spec::IamRole(_) => ResourceKind::IamRole,
            Spec::IamRolePolicy(_) => ResourceKind::IamRolePolicy,
            Spec::File(_) => ResourceKind::File,
        }
    }

    /// The attributes as a JSON object (policies as JSON strings, as in the state file).
    pub fn attributes(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("specs always serialize")
    }

    /// The attributes as people read them, for display and diffs: policy documents as
    /// nested JSON, file modes in octal, file text as text.
    pub fn display_attributes(&self) -> serde_json::Value {
        let mut v = self.attributes();
        if let (Spec::File(f), serde_json::Value::Object(map)) = (self, &mut v) {
            map.insert("mode".into(), format!("{:04o}", f.mode).into());
            let content = match &f.content {
                FileContent::Text(text) => text.clone(),
                FileContent::PrivateKeyCopy { kid } => {
                    format!("(copy of the private key whose kid is {kid})")
                }
            };
            map.insert("content".into(), content.into());
        }
        if let serde_json::Value::Object(map) = &mut v {
            for key in ["policy", "trust_policy", "document"] {
                if let Some(serde_json::Value::String(s)) = map.get(key)
                    && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(s)
                {
                    map.insert(key.to_string(), parsed);
                }
            }
        }
        v
    }

    /// Rebuilds a spec of `kind` from its attributes (as stored in state). The error
    /// names the attribute at fault (`trust_policy: …`), or none for a missing one.
    pub fn from_attributes(
        kind: ResourceKind,
        attributes: serde_json::Value,
    ) -> Result<Spec, serde_path_to_error::Error<serde_json::Error>> {
        fn from<T: serde::de::DeserializeOwned>(
            attributes: serde_json::Value,
        ) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
            serde_path_to_error::deserialize(attributes)
        }
        Ok(match kind {
            ResourceKind::KeyPair => Spec::KeyPair(from(attributes)?),
            ResourceKind::S3Bucket => Spec::S3Bucket(from(attributes)?),
            ResourceKind::S3Object => Spec::S3Object(from(attributes)?),
            ResourceKind::IamOidcProvider => Spec::IamOidcProvider(from(attributes)?),
            ResourceKind::IamRole => Spec::IamRole(from(attributes)?),
            ResourceKind::IamRolePolicy => Spec::IamRolePolicy(from(attributes)?),
            ResourceKind::File => Spec::File(from(attributes)?),
        })
    }

    /// Whether any attribute is still `UNKNOWN`.
    pub fn has_unknown(&self) -> bool {
        self.attributes().to_string().contains(UNKNOWN)
    }

    /// The resource this one lives inside, if any: an object in its bucket, an inline
    /// policy in its role. When the container is replaced, what lives inside it is gone
    /// with the old one and must be made again (`plan` plans that).
    pub fn container(&self) -> Option<ResourceId> {
        match self {
            Spec::S3Object(o) => Some(ResourceId::new(ResourceKind::S3Bucket, &o.bucket)),
            Spec::IamRolePolicy(p) => Some(ResourceId::new(ResourceKind::IamRole, &p.role)),
            _ => None,
        }
    }

    /// Attributes that cannot change in place: a difference in any of them means replace.
    pub fn replace_attributes(kind: ResourceKind) -> &'static [&'static str] {
        match kind {
            ResourceKind::S3Bucket => &["region"],
            ResourceKind::IamOidcProvider => &["url"],
            ResourceKind::KeyPair => &["kid", "private_key_file", "public_key_file"],
            ResourceKind::File => &["path"],
            _ => &[],
        }
    }
}

/// A resource stsform wants to exist: identity, attributes and what it needs first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Identity.
    pub id: ResourceId,
    /// Attributes.
    pub spec: Spec,
    /// Resources that must exist before this one (sorted, no duplicates).
    pub depends_on: Vec<ResourceId>,
}

/// Serde adapter storing a JSON document as a string (TOML cannot hold JSON `null`,
/// and policies read best as the JSON people paste into the AWS console).
pub mod json_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the document as compact JSON text.
    pub fn serialize<S: Serializer>(v: &serde_json::Value, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Reads JSON text back into a document.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text)
            .map_err(|e| serde::de::Error::custom(format!("not a JSON policy document: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_through_text() {
        let id = ResourceId::new(
            ResourceKind::S3Object,
            "c-oidc/.well-known/openid-configuration",
        );
        let text = id.to_string();
        assert_eq!(text, "s3_object.c-oidc/.well-known/openid-configuration");
        assert_eq!(text.parse::<ResourceId>().unwrap(), id);
        assert!("nonsense".parse::<ResourceId>().is_err());
        assert!("iam_thing.x".parse::<ResourceId>().is_err());
    }

    #[test]
    fn spec_round_trips_through_attributes() {
        let spec = Spec::IamRolePolicy(RolePolicySpec {
            role: "r".into(),
            name: "r".into(),
            document: serde_json::json!({"Version": "2012-10-17", "Statement": []}),
        });
        let attrs = spec.attributes();
        assert!(attrs["document"].is_string());
        assert_eq!(
            Spec::from_attributes(ResourceKind::IamRolePolicy, attrs).unwrap(),
            spec
        );
        assert!(spec.display_attributes()["document"].is_object());
    }
}
