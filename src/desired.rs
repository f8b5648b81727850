//! derive: from requests and settings to the resources that should exist. Pure.
//!
//! Owns ccoctl-compatible naming (bucket `N-oidc`, roles `N-<ns>-<secret>` cut to 64
//! bytes, policy name = role name), every document's content and the explicit
//! `depends_on` edges; a private issuer's CloudFront resources and issuer URL come from
//! `private_issuer`, and what names the issuer waits for the distribution. Must not do I/O, read the clock or use randomness: the same
//! inputs always give the same `Desired`. Values AWS assigns arrive as `Facts`.

use std::collections::BTreeMap;

use crate::credentials_request::CredentialsRequest;
use crate::error::{InputError, InputErrors};
use crate::iam_policy;
use crate::keypair::PublicKey;
use crate::private_issuer;
use crate::resource::{
    BucketSpec, FileContent, FileSpec, KeyPairSpec, Late, ObjectSpec, OidcProviderSpec,
    PublicAccessBlock, Resource, ResourceId, ResourceKind, RolePolicySpec, RoleSpec, Spec, UNKNOWN,
};
use crate::settings::Settings;

/// IAM's limit on role names; ccoctl cuts longer names to this many bytes.
pub const MAX_ROLE_NAME: usize = 64;
/// Audiences the OIDC provider accepts: the cluster's own and STS's.
pub const CLIENT_IDS: [&str; 2] = ["openshift", "sts.amazonaws.com"];
/// Where pods find their projected token (ccoctl's constant; `cloudTokenPath` is ignored
/// by `ccoctl aws` as well).
pub const TOKEN_PATH: &str = "/var/run/secrets/openshift/serviceaccount/token";
/// Key of the discovery document in the bucket.
pub const DISCOVERY_KEY: &str = ".well-known/openid-configuration";
/// Key of the JWKS in the bucket.
pub const JWKS_KEY: &str = "keys.json";
/// Authentication manifest, relative to the output directory.
pub const AUTHENTICATION_MANIFEST: &str = "manifests/cluster-authentication-02-config.yaml";
/// Installer's copy of the private key, relative to the output directory.
pub const INSTALLER_KEY: &str = "tls/bound-service-account-signing-key.key";
/// Name of the key-pair resource.
pub const KEY_PAIR: &str = "serviceaccount-signer";

/// What derive needs to know that only the outside world can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// AWS account id; `None` in an offline plan with nothing recorded.
    pub account_id: Option<String>,
    /// The keys keys.json serves; `None` before the key pair exists.
    pub signing_key: Option<SigningKey>,
    /// Thumbprints for the OIDC provider (given, computed, or kept from AWS).
    pub thumbprints: Vec<String>,
    /// What AWS assigned a private issuer's OAC and distribution, once they exist
    /// (recorded in the state, or found by a refresh or the discovery scan).
    pub private: private_issuer::Known,
    /// The kids the state recorded for keys.json (what stsform last wrote), in document
    /// order: those that stay served keep their places, and the other keys go after them
    /// (see [`SigningKey::jwks_keeping`]).
    pub recorded_kids: Vec<String>,
}

/// The public facts of the keys `keys.json` serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// The served key ids, in the order served.
    pub kids: Vec<String>,
    /// The JWKS document of the keys in the order given (what `keys.json` serves when
    /// it serves none of them yet; see [`SigningKey::jwks_keeping`]).
    pub jwks: String,
    /// The keys, in the order given (once each).
    pub keys: Vec<PublicKey>,
    /// The kid of the output dir's key pair when `keys.json` serves it: stsform then
    /// manages the pair (writes it, and the installer's copy of the private key). `None`
    /// when only `--public-key-file`s are served and none of them is that pair's.
    pub key_pair: Option<String>,
}

impl SigningKey {
    /// The output dir's key pair, served alone (no `--public-key-file`).
    pub fn key_pair(key: &PublicKey) -> SigningKey {
        SigningKey {
            kids: vec![key.kid()],
            jwks: key.jwks(),
            keys: vec![key.clone()],
            key_pair: Some(key.kid()),
        }
    }

    /// `keys`, served in this order; `key_pair` is the kid of the output dir's pair when
    /// it is one of them.
    pub fn served(keys: &[PublicKey], key_pair: Option<String>) -> SigningKey {
        let mut kids: Vec<String> = Vec::new();
        let mut once = Vec::new();
        for key in keys {
            let kid = key.kid();
            if !kids.contains(&kid) {
                kids.push(kid);
                once.push(key.clone());
            }
        }
        SigningKey {
            kids,
            jwks: crate::jwks::document(&once),
            keys: once,
            key_pair,
        }
    }

    /// The JWKS to serve after stsform last wrote keys.json serving `recorded` (kids, in
    /// document order): the recorded keys that stay keep their order and come first, the
    /// others follow in the order given. So the last served key is the newest one whatever
    /// order the settings list the keys in, and a key merged in by hand before the current
    /// one (the documented `jq` merge) moves after it: `rotate-key` takes the last served
    /// key as the newest, and phase 2 keeps that one. (The order means nothing to STS.)
    pub fn jwks_keeping(&self, recorded: &[String]) -> String {
        let position = |key: &PublicKey| {
            let kid = key.kid();
            recorded
                .iter()
                .position(|s| *s == kid)
                .unwrap_or(recorded.len())
        };
        let mut ordered = self.keys.clone();
        // Stable: the other keys (all at `recorded.len()`) keep the order given.
        ordered.sort_by_key(position);
        if ordered == self.keys {
            return self.jwks.clone();
        }
        crate::jwks::document(&ordered)
    }

    /// The served kids in one string (`a, b`), to tell whether the keys changed.
    pub fn fingerprint(&self) -> String {
        self.kids.join(", ")
    }
}

/// The resources that should exist, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Every desired resource.
    pub resources: BTreeMap<ResourceId, Resource>,
    /// Where a resource comes from (`file: document N`), for resources made from a request:
    /// reviewers see which manifest a change traces back to.
    pub sources: BTreeMap<ResourceId, String>,
    /// What plans should tell reviewers about the inputs (feature-gated requests).
    pub notes: Vec<String>,
}

impl Desired {
    /// Nothing: what `destroy` plans against.
    pub fn empty() -> Desired {
        Desired::default()
    }

    fn add(&mut self, id: ResourceId, spec: Spec, depends_on: &[&ResourceId]) -> ResourceId {
        let mut deps: Vec<ResourceId> = depends_on.iter().map(|d| (*d).clone()).collect();
        deps.sort();
        deps.dedup();
        let resource = Resource {
            id: id.clone(),
            spec,
            depends_on: deps,
        };
        self.resources.insert(id.clone(), resource);
        id
    }
}

/// The role name ccoctl gives a request: `<name>-<ns>-<secret>`, first 64 bytes.
pub fn role_name(cluster: &str, request: &CredentialsRequest) -> String {
    let full = format!(
        "{cluster}-{}-{}",
        request.secret_ref.namespace, request.secret_ref.name
    );
    let mut end = full.len().min(MAX_ROLE_NAME);
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    full[..end].to_string()
}

/// The role's inline policy document for `request`: its statements as written. The review
/// measures this same document, so its size check is the size IAM will see.
pub fn inline_policy(request: &CredentialsRequest) -> serde_json::Value {
    let statements: Vec<iam_policy::Statement<'_>> = request
        .statements
        .iter()
        .map(|s| iam_policy::Statement {
            effect: &s.effect,
            actions: &s.action,
            resource: &s.resource,
            condition: s.policy_condition.as_ref(),
        })
        .collect();
    iam_policy::permissions_policy(&statements)
}

/// `system:serviceaccount:<namespace>:<name>`: the `sub` of a service account's token.
pub fn subject(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

/// The token subjects a request's role trusts: its service accounts in the namespace of
/// its Secret (`spec.secretRef.namespace`, as ccoctl uses it, not `metadata.namespace`).
pub fn subjects(request: &CredentialsRequest) -> Vec<String> {
    request
        .service_account_names
        .iter()
        .map(|sa| subject(&request.secret_ref.namespace, sa))
        .collect()
}

/// The issuer URL of a cluster: its public bucket's, or (`--create-private-s3-bucket`)
/// its distribution's, with a late token while the distribution is not known.
pub fn issuer(settings: &Settings, known: &private_issuer::Known) -> String {
    if !settings.create_private_s3_bucket {
        return issuer_url(settings);
    }
    match &known.distribution {
        Some((_, domain)) => private_issuer::issuer_url(domain),
        None => private_issuer::issuer_url(Late::DistributionDomain.token()),
    }
}

/// Issuer URL of a cluster whose documents are served from its S3 bucket.
pub fn issuer_url(settings: &Settings) -> String {
    format!(
        "https://{}.s3.{}.{}",
        settings.bucket_name(),
        settings.region.name,
        settings.region.dns_suffix
    )
}

/// The OIDC discovery document, byte for byte as ccoctl writes it.
pub fn discovery_document(issuer: &str) -> String {
    format!(
        "{{\n\t\"issuer\": \"{issuer}\",\n\t\"jwks_uri\": \"{issuer}/{JWKS_KEY}\",\n    \"response_types_supported\": [\n        \"id_token\"\n    ],\n    \"subject_types_supported\": [\n        \"public\"\n    ],\n    \"id_token_signing_alg_values_supported\": [\n        \"RS256\"\n    ],\n    \"claims_supported\": [\n        \"aud\",\n        \"exp\",\n        \"sub\",\n        \"iat\",\n        \"iss\",\n        \"sub\"\n    ]\n}}"
    )
}

/// The Secret manifest the cluster's operator reads, as ccoctl writes it.
pub fn secret_manifest(request: &CredentialsRequest, role_arn: &str) -> String {
    format!(
        "apiVersion: v1\nstringData:\n  credentials: |-\n    [default]\n    sts_regional_endpoints = regional\n    role_arn = {role_arn}\n    web_identity_token_file = {TOKEN_PATH}\nkind: Secret\nmetadata:\n  name: {}\n  namespace: {}\ntype: Opaque",
        request.secret_ref.name, request.secret_ref.namespace
    )
}

/// The Authentication manifest that points the cluster at the issuer.
pub fn authentication_manifest(issuer: &str) -> String {
    format!(
        "apiVersion: config.openshift.io/v1\nkind: Authentication\nmetadata:\n  name: cluster\nspec:\n  serviceAccountIssuer: {issuer}"
    )
}

fn arn(partition: &str, account: Option<&str>, resource: &str) -> String {
    match account {
        Some(account) => format!("arn:{partition}:iam::{account}:{resource}"),
        None => UNKNOWN.to_string(),
    }
}

/// Derives every desired resource. Errors (colliding role names) are input errors.
pub fn derive(
    requests: &[CredentialsRequest],
    settings: &Settings,
    facts: &Facts,
) -> Result<Desired, InputErrors> {
    let mut desired = Desired::default();
    let partition = settings.region.partition;
    let account = facts.account_id.as_deref();
    // Local paths as the state records them: from the settings base, so that the same
    // settings record the same paths from any working directory (`paths`).
    let out = |rel: &str| {
        crate::paths::normalize(&settings.recorded_output_dir.join(rel))
            .display()
            .to_string()
    };
    let tags = settings.resource_tags();

    // Day-2 mode manages roles against a provider it does not own: no key, bucket or
    // provider, and the issuer host is the provider ARN's resource path.
    let (provider_arn, issuer_host, provider_id) = match &settings.identity_provider_arn {
        Some(arn) => {
            let host = arn.split_once(":oidc-provider/").map_or("", |(_, h)| h);
            (arn.clone(), host.to_string(), None)
        }
        None => {
            let bucket = settings.bucket_name();
            let private = settings.create_private_s3_bucket.then(|| {
                private_issuer::derive(
                    private_issuer::Inputs {
                        bucket: &bucket,
                        region: &settings.region,
                        account,
                        ownership_key: &settings.ownership_tag_key(),
                        tags: &tags,
                        objects: &[DISCOVERY_KEY, JWKS_KEY],
                    },
                    &facts.private,
                )
            });
            let issuer = match &private {
                Some(p) => p.issuer.clone(),
                None => issuer_url(settings),
            };
            let host = issuer.trim_start_matches("https://").to_string();
            // The output dir's key pair is managed while keys.json serves it: always
            // without `--public-key-file` (generated by the first apply), and when one of
            // the given files is its public key (a rotation of a key stsform generated).
            let kid = if settings.public_key_files.is_empty() {
                Some(
                    facts
                        .signing_key
                        .as_ref()
                        .and_then(|k| k.key_pair.clone())
                        .unwrap_or_else(|| UNKNOWN.to_string()),
                )
            } else {
                facts.signing_key.as_ref().and_then(|k| k.key_pair.clone())
            };
            let key_pair = kid.as_ref().map(|kid| {
                desired.add(
                    ResourceId::new(ResourceKind::KeyPair, KEY_PAIR),
                    Spec::KeyPair(KeyPairSpec {
                        private_key_file: Some(out("serviceaccount-signer.private")),
                        public_key_file: out("serviceaccount-signer.public"),
                        kid: kid.clone(),
                    }),
                    &[],
                )
            });
            let bucket_id = desired.add(
                ResourceId::new(ResourceKind::S3Bucket, &bucket),
                Spec::S3Bucket(BucketSpec {
                    name: bucket.clone(),
                    region: settings.region.name.clone(),
                    tags: tags.clone(),
                    // ccoctl's: ACLs blocked, the anonymous-read policy allowed. A private
                    // issuer's bucket blocks everything public; its policy is its own
                    // resource (it names the distribution, made after the bucket).
                    public_access_block: PublicAccessBlock {
                        block_public_acls: true,
                        ignore_public_acls: true,
                        block_public_policy: private.is_some(),
                        restrict_public_buckets: private.is_some(),
                    },
                    policy: private
                        .is_none()
                        .then(|| iam_policy::bucket_policy(partition, &bucket)),
                }),
                &[],
            );
            // A private issuer: the OAC, the distribution reading the bucket through it,
            // and the bucket policy admitting only that distribution.
            let distribution_id = private.as_ref().map(|p| {
                let oac_id = desired.add(
                    ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, &bucket),
                    Spec::CloudFrontOriginAccessControl(p.oac.clone()),
                    &[],
                );
                let distribution_id = desired.add(
                    ResourceId::new(ResourceKind::CloudFrontDistribution, &bucket),
                    Spec::CloudFrontDistribution(p.distribution.clone()),
                    &[&bucket_id, &oac_id],
                );
                desired.add(
                    ResourceId::new(ResourceKind::S3BucketPolicy, &bucket),
                    Spec::S3BucketPolicy(p.bucket_policy.clone()),
                    &[&bucket_id, &distribution_id],
                );
                distribution_id
            });
            // Objects carry ccoctl's ownership tags only: S3 allows 10 tags per object, and
            // user tags (cost allocation, ownership by team) belong on the bucket.
            let object = |key: &str, content: String| {
                Spec::S3Object(ObjectSpec {
                    bucket: bucket.clone(),
                    key: key.to_string(),
                    content_type: "application/json".to_string(),
                    tags: settings.ownership_tags(),
                    content,
                })
            };
            // The discovery document names the issuer: a private one's waits for its
            // distribution's domain.
            let discovery_deps: Vec<&ResourceId> = std::iter::once(&bucket_id)
                .chain(distribution_id.as_ref())
                .collect();
            desired.add(
                ResourceId::new(ResourceKind::S3Object, format!("{bucket}/{DISCOVERY_KEY}")),
                object(DISCOVERY_KEY, discovery_document(&issuer)),
                &discovery_deps,
            );
            let jwks = facts.signing_key.as_ref().map_or(UNKNOWN.to_string(), |k| {
                k.jwks_keeping(&facts.recorded_kids)
            });
            let jwks_deps: Vec<&ResourceId> = std::iter::once(&bucket_id)
                .chain(key_pair.as_ref())
                .collect();
            desired.add(
                ResourceId::new(ResourceKind::S3Object, format!("{bucket}/{JWKS_KEY}")),
                object(JWKS_KEY, jwks),
                &jwks_deps,
            );
            let provider_arn = arn(partition, account, &format!("oidc-provider/{host}"));
            let provider_id = desired.add(
                ResourceId::new(ResourceKind::IamOidcProvider, &host),
                Spec::IamOidcProvider(OidcProviderSpec {
                    url: issuer.clone(),
                    arn: provider_arn.clone(),
                    client_ids: CLIENT_IDS.iter().map(|s| s.to_string()).collect(),
                    thumbprints: facts.thumbprints.clone(),
                    tags: tags.clone(),
                }),
                // The provider needs only the issuer URL, not the bucket: IAM does not
                // fetch the documents when the provider is created. Keeping the bucket's
                // four calls off the roles' path shortens apply. A private issuer's URL
                // is the distribution's domain: the provider waits for it.
                &distribution_id.iter().collect::<Vec<_>>(),
            );
            desired.add(
                ResourceId::new(ResourceKind::File, AUTHENTICATION_MANIFEST),
                Spec::File(FileSpec {
                    path: out(AUTHENTICATION_MANIFEST),
                    mode: 0o600,
                    content: FileContent::Text(authentication_manifest(&issuer)),
                }),
                &[&provider_id],
            );
            if let (Some(key_pair), Some(kid)) = (&key_pair, kid) {
                desired.add(
                    ResourceId::new(ResourceKind::File, INSTALLER_KEY),
                    Spec::File(FileSpec {
                        path: out(INSTALLER_KEY),
                        mode: 0o600,
                        content: FileContent::PrivateKeyCopy { kid },
                    }),
                    &[key_pair],
                );
            }
            (provider_arn, host, Some(provider_id))
        }
    };

    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, &CredentialsRequest> = BTreeMap::new();
    for request in requests {
        let role = role_name(&settings.name, request);
        if let Some(first) = seen.get(&role) {
            errors.push(
                InputError::new(
                    &request.source.file,
                    format!(
                        "role name `{role}` (cut to {MAX_ROLE_NAME} bytes) collides with the request in {}: document {}; shorten --name or the secret's namespace/name",
                        first.source.file, first.source.document
                    ),
                )
                .in_document(request.source.document)
                .at("spec.secretRef"),
            );
            continue;
        }
        seen.insert(role.clone(), request);

        let subjects = subjects(request);
        let role_arn = arn(partition, account, &format!("role/{role}"));
        let deps: Vec<&ResourceId> = provider_id.iter().collect();
        let source = format!(
            "{}: document {}",
            request.source.file, request.source.document
        );
        let role_id = desired.add(
            ResourceId::new(ResourceKind::IamRole, &role),
            Spec::IamRole(RoleSpec {
                name: role.clone(),
                arn: role_arn.clone(),
                description: format!(
                    "OpenShift role for {}/{}",
                    request.secret_ref.namespace, request.secret_ref.name
                ),
                trust_policy: iam_policy::trust_policy(&provider_arn, &issuer_host, &subjects),
                permissions_boundary: settings.permissions_boundary_arn.clone(),
                tags: tags.clone(),
            }),
            &deps,
        );
        let policy_id = desired.add(
            ResourceId::new(ResourceKind::IamRolePolicy, &role),
            Spec::IamRolePolicy(RolePolicySpec {
                role: role.clone(),
                name: role.clone(),
                document: inline_policy(request),
            }),
            &[&role_id],
        );
        let manifest = format!(
            "manifests/{}-{}-credentials.yaml",
            request.secret_ref.namespace, request.secret_ref.name
        );
        let manifest_id = desired.add(
            ResourceId::new(ResourceKind::File, &manifest),
            Spec::File(FileSpec {
                path: out(&manifest),
                mode: 0o600,
                content: FileContent::Text(secret_manifest(request, &role_arn)),
            }),
            &[&role_id],
        );
        for id in [role_id, policy_id, manifest_id] {
            desired.sources.insert(id, source.clone());
        }
        desired.notes.extend(request.feature_gate_note());
    }
    if errors.is_empty() {
        Ok(desired)
    } else {
        Err(InputErrors(errors))
    }
}
