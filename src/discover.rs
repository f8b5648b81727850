//! discover: what of this cluster exists in AWS but is not in the state. I/O, run beside
//! refresh and sharing its pool of reads (before planning); must not compute a plan.
//!
//! One scan serves three uses, so there is one stage, not three:
//! - honest creates: a resource the plan would create that already exists is adopted when
//!   it carries the cluster's ownership tag key, and refused (the plan fails, naming it)
//!   when it does not;
//! - untracked resources: tagged for the cluster, neither in the state nor desired (a role
//!   whose request left the directory, an old OIDC provider); the plan lists them,
//!   `destroy --include-unmanaged` deletes them, `import` adopts them;
//! - roles that may be deleted: policies added to them outside stsform, which the delete
//!   removes first, so the plan can say so.
//!
//! What it reads, and nothing more (AWS has no tag filter for IAM roles or providers):
//! - `ListRoles`, every page (names only), keeping the names that start with `<name>-`
//!   (ccoctl's role names all do), and `GetRole` for each such role not in the state; a
//!   role tagged for the cluster but named otherwise is not found;
//! - whole-cluster states only: `ListOpenIDConnectProviders` (one call) and
//!   `GetOpenIDConnectProvider` for each provider not in the state (ccoctl finds its
//!   provider by tag, not by URL); the bucket `<name>-oidc` by name when it is not in the
//!   state, and, when it carries the tag, `ListObjectsV2` and each of its objects;
//! - a private issuer's (desired, in the state, or betrayed by the cluster's bucket blocking
//!   all public access, as a state-less destroy or import finds it): the OAC `<name>-oidc`
//!   by name (`ListOriginAccessControls`, every page) and the distribution whose origin is
//!   the bucket (`ListDistributions`, every page, then its tags) when they are not in the
//!   state, and the bucket's policy when the bucket is the cluster's;
//! - the inline policy named like each role found (ccoctl's);
//! - `ListRolePolicies` and `ListAttachedRolePolicies` for each role the plan may delete.
//!
//! Ownership is `ownership`'s rule (the tag *key* `openshift.io/cloud-credential-operator/<name>`,
//! value ignored, as ccoctl compares it; an OAC, which takes no tags, carries the key as
//! its description). An object's and a bucket policy's ownership follows its bucket, an
//! inline policy's its role.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::desired::Desired;
use crate::provider::{Listing, Provider, ProviderError, ProviderResult};
use crate::resource::{
    BucketPolicySpec, BucketSpec, DistributionSpec, Late, ObjectSpec, OidcProviderSpec,
    OriginAccessControlSpec, PublicAccessBlock, ResourceId, ResourceKind, RolePolicySpec, RoleSpec,
    Spec, Tags,
};
use crate::state::State;

/// A resource found in AWS that the state does not hold, and that is the cluster's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its live attributes.
    pub spec: Spec,
    /// What it needs first (an object its bucket, a policy its role), for ordering.
    pub depends_on: Vec<ResourceId>,
}

/// Policies on a role that stsform did not make; a delete removes them first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraPolicies {
    /// Inline policies other than the one named like the role (ccoctl's and stsform's).
    pub inline: Vec<String>,
    /// ARNs of attached managed policies (stsform and ccoctl attach none).
    pub managed: Vec<String>,
}

impl ExtraPolicies {
    /// Whether there is nothing extra.
    pub fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.managed.is_empty()
    }
}

/// What the scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The cluster whose ownership tag key was looked for; empty when no scan was made
    /// (`--refresh=false`).
    pub cluster: String,
    /// Not in the state, exists, and is the cluster's. Desired ones are adopted; the others
    /// are untracked ("tagged for the cluster, not managed").
    pub tagged: BTreeMap<ResourceId, Found>,
    /// Desired, not in the state, exists without the ownership tag: why it is not ours.
    pub untagged: BTreeMap<ResourceId, String>,
    /// Role name → policies on it stsform did not make, for roles the plan may delete.
    pub extra_policies: BTreeMap<String, ExtraPolicies>,
}

/// Where to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Cluster name (`--name`): role prefix `<name>-`, bucket `<name>-oidc`.
    pub cluster: String,
    /// `openshift.io/cloud-credential-operator/<name>`.
    pub ownership_key: String,
    /// The bucket's region.
    pub region: String,
    /// A roles-only (day-2) state: no bucket or provider is looked for, and tagged roles
    /// that are not desired are not reported, because roles made with the same `--name`
    /// may belong to the cluster or to another role set.
    pub roles_only: bool,
}

impl Scope {
    fn is_ours(&self, tags: &Tags) -> bool {
        crate::ownership::carries(tags, &self.ownership_key)
    }
}

/// Whether a state manages only roles: it holds roles but no key pair, bucket or provider.
/// (With `--identity-provider-arn` the settings say so too; `destroy` may not be given it.)
pub fn state_is_roles_only(state: &State) -> bool {
    let kinds: BTreeSet<ResourceKind> = state.resources.keys().map(|id| id.kind).collect();
    kinds.contains(&ResourceKind::IamRole)
        && !kinds.contains(&ResourceKind::KeyPair)
        && !kinds.contains(&ResourceKind::S3Bucket)
        && !kinds.contains(&ResourceKind::IamOidcProvider)
}

/// Scans AWS for the cluster's resources that `state` does not hold, at most
/// `parallelism` reads at once. Every failed read is returned, not only the first.
pub async fn discover<P: Provider>(
    provider: &Arc<P>,
    scope: &Scope,
    state: &State,
    desired: &Desired,
    parallelism: usize,
) -> Result<Discovery, Vec<ProviderError>> {
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    discover_with(provider, scope, state, desired, &permits).await
}

/// [`discover`], with a read in flight per permit of `permits` (shared with the refresh,
/// so that the two fill one pool). Each read starts as soon as what it needs is known:
/// the policies of the state's roles the plan may delete at once, beside the listings of
/// names and the bucket; a candidate's read once its name is listed; a found role's
/// policies and a found bucket's objects once it is found. Only the resource *ids* of
/// `desired` matter here (which ones are wanted, and what they depend on), so a caller may
/// pass a derive made before the account is known.
pub async fn discover_with<P: Provider>(
    provider: &Arc<P>,
    scope: &Scope,
    state: &State,
    desired: &Desired,
    permits: &Arc<Semaphore>,
) -> Result<Discovery, Vec<ProviderError>> {
    let doomed_in_state: Vec<String> = state
        .resources
        .keys()
        .filter(|id| id.kind == ResourceKind::IamRole && !desired.resources.contains_key(id))
        .map(|id| id.name.clone())
        .collect();
    let (in_state, found) = tokio::join!(
        added_policies(provider, doomed_in_state, permits),
        scan(provider, scope, state, desired, permits),
    );
    let (extra, mut found) = both(in_state, found)?;
    found.extra_policies.extend(extra);
    Ok(found)
}

/// The cluster's resources outside the state, and the policies added to those of them
/// the plan may delete.
async fn scan<P: Provider>(
    provider: &Arc<P>,
    scope: &Scope,
    state: &State,
    desired: &Desired,
    permits: &Arc<Semaphore>,
) -> Result<Discovery, Vec<ProviderError>> {
    let mut found = Discovery {
        cluster: scope.cluster.clone(),
        ..Discovery::default()
    };
    let untracked = |id: &ResourceId| !state.resources.contains_key(id);
    let desired_spec = |id: &ResourceId| desired.resources.get(id).map(|r| r.spec.clone());

    // The names (roles by prefix and, for a whole cluster, every provider) and the
    // bucket, which is found by its name, at once.
    let mut listings = vec![Listing::Roles {
        prefix: format!("{}-", scope.cluster),
    }];
    if !scope.roles_only {
        listings.push(Listing::OidcProviders);
    }
    let bucket_id = ResourceId::new(ResourceKind::S3Bucket, format!("{}-oidc", scope.cluster));
    let mut bucket_read = Vec::new();
    if !scope.roles_only && untracked(&bucket_id) {
        let stub = bucket_stub(&bucket_id.name, &scope.region);
        bucket_read.push((bucket_id.clone(), desired_spec(&bucket_id).unwrap_or(stub)));
    }
    let (names, bucket_live) = tokio::join!(
        list_all(provider, listings, permits),
        read_all(provider, bucket_read, permits),
    );
    let (names, bucket_live) = both(names, bucket_live)?;

    // Then the candidates not in the state, read live: roles and providers.
    let mut reads = Vec::new();
    for (listing, names) in &names {
        for name in names {
            let (id, stub) = match listing {
                Listing::Roles { .. } => (
                    ResourceId::new(ResourceKind::IamRole, name),
                    role_stub(name),
                ),
                Listing::OidcProviders => {
                    let host = name.split_once(":oidc-provider/").map_or("", |(_, h)| h);
                    (
                        ResourceId::new(ResourceKind::IamOidcProvider, host),
                        provider_stub(name, host),
                    )
                }
                _ => continue,
            };
            if !untracked(&id) {
                continue;
            }
            let mut spec = desired_spec(&id).unwrap_or_else(|| stub.clone());
            // Read a provider at the ARN IAM listed, whatever derive expected.
            if let (Spec::IamOidcProvider(p), Spec::IamOidcProvider(s)) = (&mut spec, &stub) {
                p.arn = s.arn.clone();
            }
            reads.push((id, spec));
        }
    }
    // A private issuer's CloudFront resources, found by the bucket's name (the OAC) and
    // by the bucket as their origin (the distribution): what derive wants, what the state
    // holds (a destroy), or, when neither says (a destroy or an import whose state was
    // lost), a bucket of the cluster's that blocks all public access, as only a private
    // issuer's does (a public one lets its policy through). Never scanned for a public
    // cluster: ListDistributions reads every distribution of the account.
    let found_private_bucket = bucket_live.iter().any(|(id, spec)| {
        *id == bucket_id
            && matches!(spec, Some(Spec::S3Bucket(b)) if scope.is_ours(&b.tags) && all_blocked(b))
    });
    let private = !scope.roles_only
        && (desired
            .resources
            .keys()
            .chain(state.resources.keys())
            .any(|id| is_cloudfront(id.kind))
            || matches!(state.resources.get(&bucket_id).map(|r| &r.spec),
                Some(Spec::S3Bucket(b)) if all_blocked(b))
            || found_private_bucket);
    let bucket = &bucket_id.name;
    let oac_id = ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, bucket);
    let distribution_id = ResourceId::new(ResourceKind::CloudFrontDistribution, bucket);
    if private {
        if untracked(&oac_id) {
            let stub = oac_stub(bucket, &scope.ownership_key);
            reads.push((oac_id.clone(), desired_spec(&oac_id).unwrap_or(stub)));
        }
        if untracked(&distribution_id)
            && let Ok(region) = crate::settings::Region::parse(&scope.region)
        {
            let stub = distribution_stub(bucket, &region, &scope.ownership_key);
            reads.push((
                distribution_id.clone(),
                desired_spec(&distribution_id).unwrap_or(stub),
            ));
        }
    }
    let mut live = read_all(provider, reads, permits).await?;
    live.extend(bucket_live);

    let mut children = Vec::new();
    let mut listings = Vec::new();
    let mut doomed = Vec::new();
    for (id, spec) in live {
        let Some(spec) = spec else { continue };
        let wanted = desired.resources.get(&id);
        let ours = match &spec {
            Spec::IamRole(r) => scope.is_ours(&r.tags),
            Spec::IamOidcProvider(p) => scope.is_ours(&p.tags),
            Spec::S3Bucket(b) => scope.is_ours(&b.tags),
            Spec::CloudFrontDistribution(d) => scope.is_ours(&d.tags),
            Spec::CloudFrontOriginAccessControl(o) => {
                crate::ownership::marked(&o.description, &scope.ownership_key)
            }
            _ => continue,
        };
        if !ours {
            if wanted.is_some() {
                let why = match &spec {
                    Spec::CloudFrontOriginAccessControl(_) => format!(
                        "exists, but its description is not `{}` (the mark of what the cluster \
                         owns; origin access controls take no tags) and it is not in the state",
                        scope.ownership_key
                    ),
                    _ => format!(
                        "exists but carries no `{}` tag and is not in the state",
                        scope.ownership_key
                    ),
                };
                found.untagged.insert(id.clone(), why);
            }
            continue;
        }
        if scope.roles_only && wanted.is_none() {
            continue;
        }
        match &spec {
            Spec::IamRole(r) => {
                let policy = ResourceId::new(ResourceKind::IamRolePolicy, &r.name);
                if untracked(&policy) {
                    let stub = policy_stub(&r.name);
                    children.push((policy.clone(), desired_spec(&policy).unwrap_or(stub)));
                }
                // Untracked and not wanted: the plan may delete it (`--include-unmanaged`).
                if wanted.is_none() {
                    doomed.push(r.name.clone());
                }
            }
            Spec::S3Bucket(b) => {
                listings.push(Listing::Objects {
                    bucket: b.name.clone(),
                    region: b.region.clone(),
                });
                let policy = ResourceId::new(ResourceKind::S3BucketPolicy, &b.name);
                if private && untracked(&policy) {
                    let stub = bucket_policy_stub(&b.name, &b.region);
                    children.push((policy.clone(), desired_spec(&policy).unwrap_or(stub)));
                }
            }
            _ => {}
        }
        // What is not wanted is deleted in this order (dependents first).
        let depends_on = match (wanted, &spec) {
            (Some(w), _) => w.depends_on.clone(),
            (None, Spec::CloudFrontDistribution(_)) => vec![bucket_id.clone(), oac_id.clone()],
            (None, _) => Vec::new(),
        };
        found.tagged.insert(id, Found { spec, depends_on });
    }

    // The bucket's objects and each role's own inline policy belong to their parent; the
    // policies added to the found roles the plan may delete are listed beside them.
    let objects = async {
        let mut objects = Vec::new();
        for (listing, keys) in list_all(provider, listings, permits).await? {
            let Listing::Objects { bucket, .. } = listing else {
                continue;
            };
            for key in keys {
                let id = ResourceId::new(ResourceKind::S3Object, format!("{bucket}/{key}"));
                if untracked(&id) {
                    let stub = object_stub(&bucket, &key);
                    objects.push((id.clone(), desired_spec(&id).unwrap_or(stub)));
                }
            }
        }
        read_all(provider, objects, permits).await
    };
    let (objects, policies, extra) = tokio::join!(
        objects,
        read_all(provider, children, permits),
        added_policies(provider, doomed, permits),
    );
    let ((objects, policies), extra) = both(both(objects, policies), extra)?;
    found.extra_policies = extra;
    for (id, spec) in objects.into_iter().chain(policies) {
        let Some(spec) = spec else { continue };
        let parents = match &spec {
            Spec::S3Object(o) => vec![ResourceId::new(ResourceKind::S3Bucket, &o.bucket)],
            Spec::S3BucketPolicy(p) => vec![
                ResourceId::new(ResourceKind::S3Bucket, &p.bucket),
                distribution_id.clone(),
            ],
            Spec::IamRolePolicy(p) => vec![ResourceId::new(ResourceKind::IamRole, &p.role)],
            _ => continue,
        };
        let depends_on = match desired.resources.get(&id) {
            Some(w) => w.depends_on.clone(),
            None => parents,
        };
        found.tagged.insert(id, Found { spec, depends_on });
    }
    Ok(found)
}

/// Policies added outside stsform to `roles` (which the plan may delete), by role: inline
/// ones not named like the role, and every attached managed one.
async fn added_policies<P: Provider>(
    provider: &Arc<P>,
    roles: Vec<String>,
    permits: &Arc<Semaphore>,
) -> Result<BTreeMap<String, ExtraPolicies>, Vec<ProviderError>> {
    let listings = roles
        .into_iter()
        .flat_map(|role| {
            [
                Listing::InlinePolicies { role: role.clone() },
                Listing::AttachedPolicies { role },
            ]
        })
        .collect();
    let mut extra: BTreeMap<String, ExtraPolicies> = BTreeMap::new();
    for (listing, names) in list_all(provider, listings, permits).await? {
        match listing {
            Listing::InlinePolicies { role } => {
                let added: Vec<String> = names.into_iter().filter(|n| *n != role).collect();
                if !added.is_empty() {
                    extra.entry(role).or_default().inline = added;
                }
            }
            Listing::AttachedPolicies { role } if !names.is_empty() => {
                extra.entry(role).or_default().managed = names;
            }
            _ => {}
        }
    }
    Ok(extra)
}

/// Both results, or the errors of either (or both, sorted).
fn both<A, B>(
    a: Result<A, Vec<ProviderError>>,
    b: Result<B, Vec<ProviderError>>,
) -> Result<(A, B), Vec<ProviderError>> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut errors: Vec<ProviderError> =
                [a.err(), b.err()].into_iter().flatten().flatten().collect();
            errors.sort_by_key(ToString::to_string);
            Err(errors)
        }
    }
}

/// Runs `listings`, one per permit; results in the listings' order.
async fn list_all<P: Provider>(
    provider: &Arc<P>,
    listings: Vec<Listing>,
    permits: &Arc<Semaphore>,
) -> Result<Vec<(Listing, Vec<String>)>, Vec<ProviderError>> {
    let mut tasks = JoinSet::new();
    for (i, listing) in listings.into_iter().enumerate() {
        let permit = Arc::clone(permits)
            .acquire_owned()
            .await
            .expect("never closed");
        let provider = Arc::clone(provider);
        tasks.spawn(async move {
            let _permit = permit;
            let names = provider.list(&listing).await;
            (i, listing, names)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("listing tasks do not panic"));
    }
    results.sort_by_key(|(i, _, _)| *i);
    collect(
        results
            .into_iter()
            .map(|(_, listing, names)| names.map(|n| (listing, n))),
    )
}

/// Reads `specs`, one per permit; results in id order.
async fn read_all<P: Provider>(
    provider: &Arc<P>,
    specs: Vec<(ResourceId, Spec)>,
    permits: &Arc<Semaphore>,
) -> Result<BTreeMap<ResourceId, Option<Spec>>, Vec<ProviderError>> {
    let mut tasks = JoinSet::new();
    for (id, spec) in specs {
        let permit = Arc::clone(permits)
            .acquire_owned()
            .await
            .expect("never closed");
        let provider = Arc::clone(provider);
        tasks.spawn(async move {
            let _permit = permit;
            let live = provider.read(&id, &spec).await;
            live.map(|l| (id, l))
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("read tasks do not panic"));
    }
    Ok(collect(results.into_iter())?.into_iter().collect())
}

/// Every success, or every error (sorted, so messages are stable).
fn collect<T>(
    results: impl Iterator<Item = ProviderResult<T>>,
) -> Result<Vec<T>, Vec<ProviderError>> {
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(v) => ok.push(v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(ok);
    }
    errors.sort_by_key(ToString::to_string);
    Err(errors)
}

// Minimal specs that say where to read something not in the state: name, ARN, region.

fn role_stub(name: &str) -> Spec {
    Spec::IamRole(RoleSpec {
        name: name.to_string(),
        arn: String::new(),
        description: String::new(),
        trust_policy: serde_json::Value::Null,
        permissions_boundary: None,
        tags: Tags::new(),
    })
}

fn provider_stub(arn: &str, host: &str) -> Spec {
    Spec::IamOidcProvider(OidcProviderSpec {
        url: format!("https://{host}"),
        arn: arn.to_string(),
        client_ids: Vec::new(),
        thumbprints: Vec::new(),
        tags: Tags::new(),
    })
}

fn bucket_stub(name: &str, region: &str) -> Spec {
    Spec::S3Bucket(BucketSpec {
        name: name.to_string(),
        region: region.to_string(),
        tags: Tags::new(),
        public_access_block: PublicAccessBlock {
            block_public_acls: false,
            ignore_public_acls: false,
            block_public_policy: false,
            restrict_public_buckets: false,
        },
        policy: Some(serde_json::Value::Null),
    })
}

fn bucket_policy_stub(bucket: &str, region: &str) -> Spec {
    Spec::S3BucketPolicy(BucketPolicySpec {
        bucket: bucket.to_string(),
        region: region.to_string(),
        policy: serde_json::Value::Null,
    })
}

/// An OAC named like the bucket, id unknown: the provider finds it by name.
fn oac_stub(bucket: &str, ownership_key: &str) -> Spec {
    Spec::CloudFrontOriginAccessControl(OriginAccessControlSpec {
        name: bucket.to_string(),
        description: ownership_key.to_string(),
        origin_type: String::new(),
        signing_behavior: String::new(),
        signing_protocol: String::new(),
        id: Late::OacId.token().to_string(),
    })
}

/// A distribution in front of the bucket, id unknown: the provider finds it by its
/// origin, preferring one that carries the ownership tag.
fn distribution_stub(bucket: &str, region: &crate::settings::Region, ownership_key: &str) -> Spec {
    Spec::CloudFrontDistribution(DistributionSpec {
        id: Late::DistributionId.token().to_string(),
        arn: String::new(),
        domain_name: Late::DistributionDomain.token().to_string(),
        comment: String::new(),
        origin_domain: crate::private_issuer::origin_domain(bucket, region),
        origin_access_control_id: String::new(),
        enabled: false,
        viewer_protocol_policy: String::new(),
        cache_policy_id: String::new(),
        tags: Tags::from([(ownership_key.to_string(), "owned".to_string())]),
    })
}

/// Whether every public-access switch of the bucket is on: a private issuer's bucket
/// (stsform's and ccoctl's), never a public one (its anonymous-read policy needs
/// `BlockPublicPolicy` and `RestrictPublicBuckets` off).
fn all_blocked(bucket: &BucketSpec) -> bool {
    let b = bucket.public_access_block;
    b.block_public_acls
        && b.ignore_public_acls
        && b.block_public_policy
        && b.restrict_public_buckets
}

/// Whether `kind` is one of a private issuer's CloudFront resources.
pub fn is_cloudfront(kind: ResourceKind) -> bool {
    matches!(
        kind,
        ResourceKind::CloudFrontDistribution | ResourceKind::CloudFrontOriginAccessControl
    )
}

fn object_stub(bucket: &str, key: &str) -> Spec {
    Spec::S3Object(ObjectSpec {
        bucket: bucket.to_string(),
        key: key.to_string(),
        content_type: String::new(),
        tags: Tags::new(),
        content: String::new(),
    })
}

fn policy_stub(role: &str) -> Spec {
    Spec::IamRolePolicy(RolePolicySpec {
        role: role.to_string(),
        name: role.to_string(),
        document: serde_json::Value::Null,
    })
}
