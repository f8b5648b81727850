//! The resource model: what stsform manages, named and typed.
//!
//! Owns `ResourceId`, `ResourceKind`, the typed `Spec` of every kind and `Resource`
//! (id + spec + explicit `depends_on`), and the values only known after apply
//! ([`UNKNOWN`], and the [`Late`] tokens of what CloudFront assigns, filled in once
//! known). It is plain data: no I/O, no AWS, no planning. `desired` builds these values,
//! `state` stores them, `plan` compares them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Placeholder for a value that only exists once AWS (or the key generator) has run.
///
/// It appears only in offline plans (`--refresh=false`) and for a key pair that does not
/// exist yet; `execute` refuses to apply a plan that still contains it. Values that apply
/// itself learns (a distribution's domain) are [`Late`] tokens instead.
pub const UNKNOWN: &str = "(known after apply)";

/// The common beginning of [`UNKNOWN`] and of every [`Late`] token.
pub const UNKNOWN_PREFIX: &str = "(known after apply";

/// A value AWS assigns when a resource is made, which resources made after it need: a
/// spec holds the value's token until then, and apply fills the real value in once the
/// resource that makes it has been made (see [`Spec::outputs`], [`Spec::filled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Late {
    /// A CloudFront Origin Access Control's id (the distribution's origin names it).
    OacId,
    /// A CloudFront distribution's id (its ARN, which the bucket policy names, ends with it).
    DistributionId,
    /// A distribution's domain (`d111111abcdef8.cloudfront.net`): a private issuer's host.
    DistributionDomain,
}

impl Late {
    /// Every late value.
    pub const ALL: [Late; 3] = [Late::OacId, Late::DistributionId, Late::DistributionDomain];

    /// What a spec holds until the value is known. Each token starts like [`UNKNOWN`]
    /// (without its closing parenthesis), so a reader sees "known after apply" and
    /// [`contains_unknown`] finds it, and each names its value, so [`fill`] knows which
    /// value goes where. None contains another or [`UNKNOWN`], and none needs escaping
    /// in JSON or TOML.
    pub const fn token(self) -> &'static str {
        match self {
            Late::OacId => "(known after apply: origin access control id)",
            Late::DistributionId => "(known after apply: distribution id)",
            Late::DistributionDomain => "(known after apply: distribution domain)",
        }
    }
}

/// Whether `text` is, as a whole, a value only known after apply ([`UNKNOWN`] or a
/// [`Late`] token): renderers show it bare, not as a string.
pub fn is_unknown(text: &str) -> bool {
    text == UNKNOWN || Late::ALL.iter().any(|l| l.token() == text)
}

/// Whether `text` holds a value only known after apply ([`UNKNOWN`] or a [`Late`] token).
pub fn contains_unknown(text: &str) -> bool {
    text.contains(UNKNOWN_PREFIX)
}

/// The late values `text` waits for.
pub fn late_in(text: &str) -> Vec<Late> {
    Late::ALL
        .into_iter()
        .filter(|l| text.contains(l.token()))
        .collect()
}

/// `text` with every late token whose value is in `values` replaced by that value.
pub fn fill(text: &str, values: &[(Late, String)]) -> String {
    let mut text = text.to_string();
    for (late, value) in values {
        if text.contains(late.token()) {
            text = text.replace(late.token(), value);
        }
    }
    text
}

/// The kinds of resource stsform manages. The order is the display order of plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// The service-account signing key pair (local files).
    KeyPair,
    /// The S3 bucket that serves the OIDC documents.
    S3Bucket,
    /// A private issuer's bucket policy (admitting only its distribution).
    S3BucketPolicy,
    /// An object in that bucket (discovery document, JWKS).
    S3Object,
    /// A private issuer's CloudFront Origin Access Control.
    CloudFrontOriginAccessControl,
    /// A private issuer's CloudFront distribution.
    CloudFrontDistribution,
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
    pub const ALL: [ResourceKind; 10] = [
        ResourceKind::KeyPair,
        ResourceKind::S3Bucket,
        ResourceKind::S3BucketPolicy,
        ResourceKind::S3Object,
        ResourceKind::CloudFrontOriginAccessControl,
        ResourceKind::CloudFrontDistribution,
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
            ResourceKind::S3BucketPolicy => "s3_bucket_policy",
            ResourceKind::S3Object => "s3_object",
            ResourceKind::CloudFrontOriginAccessControl => "cloudfront_origin_access_control",
            ResourceKind::CloudFrontDistribution => "cloudfront_distribution",
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

    /// The id with the late tokens its name holds filled in (a private issuer's OIDC
    /// provider is named by the distribution's domain).
    pub fn filled(&self, values: &[(Late, String)]) -> ResourceId {
        ResourceId::new(self.kind, fill(&self.name, values))
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
/// Its identity is its `kid`: files that moved are the same key (see `crate::paths` for
/// what the paths are relative to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPairSpec {
    /// Where the private key lives (absent when only `--public-key-file` was given),
    /// relative to the settings base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    /// Where the public key (SPKI PEM) lives, relative to the settings base.
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
    /// Public-access block: ACLs blocked, policies allowed (as ccoctl sets it); all four
    /// switches on for a private issuer.
    pub public_access_block: PublicAccessBlock,
    /// Bucket policy (canonical JSON; `null`: none). `None`: not the bucket's to manage:
    /// a private issuer's policy is the `s3_bucket_policy` resource, because it names the
    /// distribution, which is made after the bucket.
    #[serde(
        default,
        with = "json_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub policy: Option<serde_json::Value>,
}

/// A private issuer's bucket policy, kept apart from the bucket because it names the
/// distribution, which is made after the bucket (its origin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPolicySpec {
    /// Bucket name.
    pub bucket: String,
    /// Bucket region.
    pub region: String,
    /// The policy (canonical JSON).
    #[serde(with = "json_string")]
    pub policy: serde_json::Value,
}

/// A private issuer's CloudFront Origin Access Control: how the distribution signs its
/// reads of the bucket. OACs carry no tags; the description holds the cluster's
/// ownership tag key, as ccoctl's origin access identities carry it in their comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginAccessControlSpec {
    /// Name, unique in the account (`<name>-oidc`, like the bucket).
    pub name: String,
    /// `openshift.io/cloud-credential-operator/<name>`: the ownership marker.
    pub description: String,
    /// `s3`.
    pub origin_type: String,
    /// `always`.
    pub signing_behavior: String,
    /// `sigv4`.
    pub signing_protocol: String,
    /// Id CloudFront assigned, or [`Late::OacId`]'s token before it exists.
    pub id: String,
}

/// A private issuer's CloudFront distribution, serving the bucket's two documents under
/// its own domain. Only the attributes stsform sets are here; the rest of the
/// distribution's configuration is left as CloudFront has it (updates change only these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionSpec {
    /// Id CloudFront assigned (or [`Late::DistributionId`]'s token).
    pub id: String,
    /// `arn:<partition>:cloudfront::<account>:distribution/<id>`.
    pub arn: String,
    /// `<random>.cloudfront.net` (or [`Late::DistributionDomain`]'s token): the issuer host.
    pub domain_name: String,
    /// `openshift.io/cloud-credential-operator/<name>` (as ccoctl writes it).
    pub comment: String,
    /// The bucket's regional endpoint: the origin of the default cache behaviour.
    pub origin_domain: String,
    /// The OAC that origin signs with (its id, or [`Late::OacId`]'s token).
    pub origin_access_control_id: String,
    /// Serving; `destroy` disables it before deleting it.
    pub enabled: bool,
    /// The default cache behaviour's viewer protocol policy (`https-only`).
    pub viewer_protocol_policy: String,
    /// The default cache behaviour's cache policy (AWS's managed CachingDisabled).
    pub cache_policy_id: String,
    /// Ownership and user tags.
    pub tags: Tags,
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
    /// Where the file is: the output directory joined with the file's name, relative to
    /// the settings base (absolute when the output directory was given so; `crate::paths`).
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
    /// See [`BucketPolicySpec`].
    S3BucketPolicy(BucketPolicySpec),
    /// See [`ObjectSpec`].
    S3Object(ObjectSpec),
    /// See [`OriginAccessControlSpec`].
    CloudFrontOriginAccessControl(OriginAccessControlSpec),
    /// See [`DistributionSpec`].
    CloudFrontDistribution(DistributionSpec),
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
            Spec::S3BucketPolicy(_) => ResourceKind::S3BucketPolicy,
            Spec::S3Object(_) => ResourceKind::S3Object,
            Spec::CloudFrontOriginAccessControl(_) => ResourceKind::CloudFrontOriginAccessControl,
            Spec::CloudFrontDistribution(_) => ResourceKind::CloudFrontDistribution,
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
            ResourceKind::S3BucketPolicy => Spec::S3BucketPolicy(from(attributes)?),
            ResourceKind::S3Object => Spec::S3Object(from(attributes)?),
            ResourceKind::CloudFrontOriginAccessControl => {
                Spec::CloudFrontOriginAccessControl(from(attributes)?)
            }
            ResourceKind::CloudFrontDistribution => Spec::CloudFrontDistribution(from(attributes)?),
            ResourceKind::IamOidcProvider => Spec::IamOidcProvider(from(attributes)?),
            ResourceKind::IamRole => Spec::IamRole(from(attributes)?),
            ResourceKind::IamRolePolicy => Spec::IamRolePolicy(from(attributes)?),
            ResourceKind::File => Spec::File(from(attributes)?),
        })
    }

    /// The spec with every local path (a key pair's files, a file's path) mapped by `f`;
    /// other specs as they are.
    pub fn with_local_paths(&self, f: impl Fn(&str) -> String) -> Spec {
        match self {
            Spec::KeyPair(k) => Spec::KeyPair(KeyPairSpec {
                private_key_file: k.private_key_file.as_deref().map(&f),
                public_key_file: f(&k.public_key_file),
                kid: k.kid.clone(),
            }),
            Spec::File(file) => Spec::File(FileSpec {
                path: f(&file.path),
                ..file.clone()
            }),
            other => other.clone(),
        }
    }

    /// Whether any attribute is still unknown ([`UNKNOWN`] or a [`Late`] token).
    pub fn has_unknown(&self) -> bool {
        contains_unknown(&self.attributes().to_string())
    }

    /// Whether any attribute is [`UNKNOWN`] itself: a value neither this plan nor its
    /// apply can learn (an offline plan's, or a key pair not generated yet).
    pub fn has_plain_unknown(&self) -> bool {
        self.attributes().to_string().contains(UNKNOWN)
    }

    /// The late values this spec waits for.
    pub fn late_values(&self) -> Vec<Late> {
        late_in(&self.attributes().to_string())
    }

    /// The late values this spec needs from other resources before it can be made: its
    /// late values but those making it assigns (an OAC's own id).
    pub fn waits_for(&self) -> Vec<Late> {
        let own = self.makes();
        self.late_values()
            .into_iter()
            .filter(|l| !own.contains(l))
            .collect()
    }

    /// The late values CloudFront assigns when it makes this resource.
    pub fn makes(&self) -> Vec<Late> {
        match self {
            Spec::CloudFrontOriginAccessControl(_) => vec![Late::OacId],
            Spec::CloudFrontDistribution(_) => vec![Late::DistributionId, Late::DistributionDomain],
            _ => Vec::new(),
        }
    }

    /// The late values making this resource has given (none while they are tokens).
    pub fn outputs(&self) -> Vec<(Late, String)> {
        let known = |late: Late, value: &str| {
            (!contains_unknown(value) && !value.is_empty()).then(|| (late, value.to_string()))
        };
        match self {
            Spec::CloudFrontOriginAccessControl(o) => {
                known(Late::OacId, &o.id).into_iter().collect()
            }
            Spec::CloudFrontDistribution(d) => [
                known(Late::DistributionId, &d.id),
                known(Late::DistributionDomain, &d.domain_name),
            ]
            .into_iter()
            .flatten()
            .collect(),
            _ => Vec::new(),
        }
    }

    /// The spec with the late tokens whose values are in `values` filled in.
    pub fn filled(&self, values: &[(Late, String)]) -> Spec {
        let text = self.attributes().to_string();
        if late_in(&text).is_empty() {
            return self.clone();
        }
        // Tokens and values are plain text that JSON does not escape (domains, ids), so
        // the replacement keeps the document valid, and only whole tokens are replaced.
        let attributes = serde_json::from_str(&fill(&text, values))
            .expect("filling late tokens keeps the JSON valid");
        Spec::from_attributes(self.kind(), attributes)
            .expect("filling late tokens keeps the attributes of the kind")
    }

    /// The resource this one lives inside, if any: an object or a policy in its bucket,
    /// an inline policy in its role. When the container is replaced, what lives inside it
    /// is gone with the old one and must be made again (`plan` plans that).
    pub fn container(&self) -> Option<ResourceId> {
        match self {
            Spec::S3Object(o) => Some(ResourceId::new(ResourceKind::S3Bucket, &o.bucket)),
            Spec::S3BucketPolicy(p) => Some(ResourceId::new(ResourceKind::S3Bucket, &p.bucket)),
            Spec::IamRolePolicy(p) => Some(ResourceId::new(ResourceKind::IamRole, &p.role)),
            _ => None,
        }
    }

    /// Attributes that cannot change in place: a difference in any of them means replace.
    pub fn replace_attributes(kind: ResourceKind) -> &'static [&'static str] {
        match kind {
            ResourceKind::S3Bucket | ResourceKind::S3BucketPolicy => &["region"],
            ResourceKind::IamOidcProvider => &["url"],
            // The key is its kid: files that moved are rewritten where they go now, and
            // the key (what validates the cluster's tokens) stays.
            ResourceKind::KeyPair => &["kid"],
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

/// [`json_string`] for an optional document (absent when `None`; use with
/// `#[serde(default, skip_serializing_if = "Option::is_none")]`).
pub mod json_string_opt {
    use serde::{Deserializer, Serializer};

    /// Writes the document as compact JSON text (only called for `Some`).
    pub fn serialize<S: Serializer>(
        v: &Option<serde_json::Value>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::json_string::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Reads JSON text back into a document (the field is present).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<serde_json::Value>, D::Error> {
        super::json_string::deserialize(d).map(Some)
    }
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

    fn distribution(id: &str, domain: &str, oac: &str) -> Spec {
        Spec::CloudFrontDistribution(DistributionSpec {
            id: id.into(),
            arn: format!("arn:aws:cloudfront::123456789012:distribution/{id}"),
            domain_name: domain.into(),
            comment: String::new(),
            origin_domain: "c-oidc.s3.us-east-1.amazonaws.com".into(),
            origin_access_control_id: oac.into(),
            enabled: true,
            viewer_protocol_policy: "https-only".into(),
            cache_policy_id: String::new(),
            tags: Tags::new(),
        })
    }

    #[test]
    fn late_values_are_waited_for_made_and_filled_in() {
        let planned = distribution(
            Late::DistributionId.token(),
            Late::DistributionDomain.token(),
            Late::OacId.token(),
        );
        assert!(planned.has_unknown() && !planned.has_plain_unknown());
        assert_eq!(planned.late_values(), Late::ALL);
        // Its own id and domain it makes; the OAC's id it needs first.
        assert_eq!(planned.waits_for(), [Late::OacId]);
        assert_eq!(
            planned.makes(),
            [Late::DistributionId, Late::DistributionDomain]
        );
        // Nothing is learnt from a spec still holding tokens.
        assert!(planned.outputs().is_empty());

        let oac = [(Late::OacId, "E1OAC".to_string())];
        let Spec::CloudFrontDistribution(filled) = planned.filled(&oac) else {
            panic!()
        };
        assert_eq!(filled.origin_access_control_id, "E1OAC");
        assert_eq!(filled.id, Late::DistributionId.token());
        assert!(filled.arn.ends_with(Late::DistributionId.token()));

        let made = distribution("EDIST", "d1.cloudfront.net", "E1OAC");
        assert_eq!(
            made.outputs(),
            [
                (Late::DistributionId, "EDIST".to_string()),
                (Late::DistributionDomain, "d1.cloudfront.net".to_string())
            ]
        );
        let provider = ResourceId::new(
            ResourceKind::IamOidcProvider,
            Late::DistributionDomain.token(),
        );
        assert_eq!(
            provider.filled(&made.outputs()).to_string(),
            "iam_oidc_provider.d1.cloudfront.net"
        );
        assert!(is_unknown(UNKNOWN) && is_unknown(Late::OacId.token()));
        assert!(!is_unknown(
            "https://(known after apply: distribution domain)"
        ));
    }

    #[test]
    fn a_public_bucket_policy_is_stored_and_a_private_one_is_not_the_buckets() {
        let bucket = |policy| {
            Spec::S3Bucket(BucketSpec {
                name: "c-oidc".into(),
                region: "us-east-1".into(),
                tags: Tags::new(),
                public_access_block: PublicAccessBlock {
                    block_public_acls: true,
                    ignore_public_acls: true,
                    block_public_policy: true,
                    restrict_public_buckets: true,
                },
                policy,
            })
        };
        let private = bucket(None);
        let attrs = private.attributes();
        assert!(attrs.get("policy").is_none(), "{attrs}");
        assert_eq!(
            Spec::from_attributes(ResourceKind::S3Bucket, attrs).unwrap(),
            private
        );
        // Existing states: a policy (or none, `null`) is always there.
        let none = bucket(Some(serde_json::Value::Null));
        let attrs = none.attributes();
        assert_eq!(attrs["policy"], "null");
        assert_eq!(
            Spec::from_attributes(ResourceKind::S3Bucket, attrs).unwrap(),
            none
        );
    }
}
