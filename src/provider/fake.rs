//! An in-memory AWS for fast tests: a map of specs plus injected failures. A test double,
//! compiled only for tests (the `test-support` feature).
//!
//! Follows the real provider's rules and answers with its errors, so a scenario that
//! passes here passes against AWS: missing → `None`; create adopts a bucket, role or OIDC
//! provider that carries the cluster's ownership tag key and refuses any other one
//! (another cluster's included) with the real provider's `NotOwned`; delete refuses what
//! is not the cluster's, and of what is gone succeeds; deleting the bucket empties it;
//! PutObject and PutRolePolicy overwrite, and fail without their bucket or role
//! (`NoSuchBucket`, `NoSuchEntity`); listings by name. Roles may hold managed policies
//! (`attach_role_policy`) and inline policies of any name; like IAM, the account refuses
//! to delete a role that still has either (`DeleteConflict`, counted), and like the real
//! provider, delete first removes the policies this provider listed, and lists again only
//! on `DeleteConflict`. Ownership is `ownership`'s rule, as for AWS. A private issuer's
//! CloudFront resources get ids and a domain on create, as CloudFront assigns them; a
//! distribution is deleted by `distribution_delete`, as by the real provider, and like
//! CloudFront the fake refuses to delete one that is enabled or whose disabling is not
//! deployed yet (`set_deploy_polls` says for how many looks it stays `InProgress`).
//! Local kinds go to `LocalFiles`, as in the real provider.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::distribution_delete::{self, Pace, Seen};
use super::local::LocalFiles;
use super::{Listing, Provider, ProviderError, ProviderResult, Sts};
use crate::keypair::PrivateKey;
use crate::ownership;
use crate::resource::Tags;
use crate::resource::{
    BucketSpec, DistributionSpec, OriginAccessControlSpec, Resource, ResourceId, ResourceKind, Spec,
};

/// Which call an injected failure hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `read`.
    Read,
    /// `create`.
    Create,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
}

/// A fake AWS account: outlives the providers that talk to it, as AWS outlives a run.
pub struct FakeCloud {
    account: String,
    resources: Mutex<BTreeMap<ResourceId, Spec>>,
    /// Role name → ARNs of the managed policies attached to it.
    attached: Mutex<BTreeMap<String, BTreeSet<String>>>,
    failures: Mutex<Vec<(ResourceId, Op, usize)>>,
    reads: AtomicUsize,
    writes: AtomicUsize,
    conflicts: AtomicUsize,
    /// CloudFront ids made so far (each create gets the next).
    cloudfront_ids: AtomicUsize,
    /// Distribution → looks left before its last change is `Deployed`.
    deploying: Mutex<BTreeMap<ResourceId, usize>>,
    /// How many looks a disabling stays `InProgress`.
    deploy_polls: AtomicUsize,
    /// How long and how often a distribution delete waits.
    pace: Mutex<Pace>,
    /// Roles and identity providers the account holds besides the fake's resources, and
    /// its role quota (`set_account_usage`): what the account summary counts.
    usage: Mutex<(u64, u64, u64)>,
}

/// The fake provider: a fake account plus the real local files.
pub struct FakeProvider {
    cloud: Arc<FakeCloud>,
    local: LocalFiles,
    /// Role name → (inline policy names, managed policy ARNs) as this provider listed
    /// them, kept true by its own deletes: what a role's delete removes first.
    listed: Mutex<BTreeMap<String, Listed>>,
}

/// A role's inline policy names and managed policy ARNs, as listed.
type Listed = (BTreeSet<String>, BTreeSet<String>);

impl FakeProvider {
    /// A provider for `cloud`; `key` is the signing key local writes may use.
    pub fn new(cloud: Arc<FakeCloud>, key: Option<PrivateKey>) -> FakeProvider {
        FakeProvider {
            cloud,
            local: LocalFiles::new(key),
            listed: Mutex::default(),
        }
    }

    /// Removes from `role` the inline policies `inline` and the managed ones `managed`
    /// (those gone already included).
    fn empty_role(
        &self,
        map: &mut BTreeMap<ResourceId, Spec>,
        role: &str,
        inline: &BTreeSet<String>,
        managed: &BTreeSet<String>,
    ) {
        if let Some(attached) = self.cloud.attached.lock().unwrap().get_mut(role) {
            attached.retain(|arn| !managed.contains(arn));
        }
        for policy in inline_policies(map, role) {
            if matches!(&map[&policy], Spec::IamRolePolicy(p) if inline.contains(&p.name)) {
                map.remove(&policy);
            }
        }
    }
}

impl FakeCloud {
    /// An empty fake account with this id.
    pub fn new(account: &str) -> Arc<FakeCloud> {
        Arc::new(FakeCloud {
            account: account.to_string(),
            resources: Mutex::default(),
            attached: Mutex::default(),
            failures: Mutex::default(),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            conflicts: AtomicUsize::new(0),
            cloudfront_ids: AtomicUsize::new(0),
            deploying: Mutex::default(),
            deploy_polls: AtomicUsize::new(0),
            pace: Mutex::new(Pace {
                budget: std::time::Duration::from_secs(30),
                interval: std::time::Duration::from_millis(2),
            }),
            usage: Mutex::new((0, 0, 1000)),
        })
    }

    /// How many times DeleteRole was refused because the role still had policies.
    pub fn delete_conflicts(&self) -> usize {
        self.conflicts.load(Ordering::SeqCst)
    }

    /// From now on, CloudFront deploys a distribution's disabling only after `polls`
    /// looks (`InProgress` until then), as it takes minutes on AWS.
    pub fn set_deploy_polls(&self, polls: usize) {
        self.deploy_polls.store(polls, Ordering::SeqCst);
    }

    /// Makes every distribution still deploying deployed at its next look.
    pub fn finish_deploying(&self) {
        self.deploying.lock().unwrap().clear();
    }

    /// How long a distribution delete waits in all, and how often it looks.
    pub fn set_pace(&self, pace: Pace) {
        *self.pace.lock().unwrap() = pace;
    }

    /// Says the account also holds `roles` roles and `providers` identity providers
    /// stsform does not see, and allows `roles_quota` roles: the account summary counts
    /// them with the fake's own.
    pub fn set_account_usage(&self, roles: u64, providers: u64, roles_quota: u64) {
        *self.usage.lock().unwrap() = (roles, providers, roles_quota);
    }

    /// Makes the next `times` calls of `op` on `id` fail.
    pub fn fail(&self, id: &ResourceId, op: Op, times: usize) {
        self.failures.lock().unwrap().push((id.clone(), op, times));
    }

    /// What the fake account holds (AWS kinds only).
    pub fn snapshot(&self) -> BTreeMap<ResourceId, Spec> {
        self.resources.lock().unwrap().clone()
    }

    /// Changes a resource behind stsform's back (drift), or deletes it with `None`.
    pub fn set(&self, id: &ResourceId, spec: Option<Spec>) {
        let mut map = self.resources.lock().unwrap();
        match spec {
            Some(s) => map.insert(id.clone(), s),
            None => map.remove(id),
        };
    }

    /// Attaches a managed policy to a role behind stsform's back.
    pub fn attach_role_policy(&self, role: &str, policy_arn: &str) {
        self.attached
            .lock()
            .unwrap()
            .entry(role.to_string())
            .or_default()
            .insert(policy_arn.to_string());
    }

    /// Puts an inline policy of any name on a role behind stsform's back (one named like
    /// the role is the `iam_role_policy` resource stsform manages).
    pub fn put_inline_policy(&self, role: &str, policy: &str, document: serde_json::Value) {
        let name = if policy == role {
            role.to_string()
        } else {
            format!("{role}/{policy}")
        };
        let spec = Spec::IamRolePolicy(crate::resource::RolePolicySpec {
            role: role.to_string(),
            name: policy.to_string(),
            document,
        });
        self.set(
            &ResourceId::new(ResourceKind::IamRolePolicy, name),
            Some(spec),
        );
    }

    /// IAM's DeleteRole: refused while the role has policies, as AWS refuses it.
    fn delete_role_api(
        &self,
        map: &mut BTreeMap<ResourceId, Spec>,
        id: &ResourceId,
    ) -> ProviderResult<()> {
        let inline = inline_policies(map, &id.name);
        let attached = self
            .attached
            .lock()
            .unwrap()
            .get(&id.name)
            .is_some_and(|a| !a.is_empty());
        if !inline.is_empty() || attached {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(ProviderError::Api {
                id: id.clone(),
                operation: "DeleteRole".into(),
                message: "DeleteConflict: Cannot delete entity, must remove policies first.".into(),
            });
        }
        map.remove(id);
        Ok(())
    }

    /// Calls of `read` so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Calls of `create`, `update` and `delete` so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    fn injected(&self, id: &ResourceId, op: Op) -> ProviderResult<()> {
        let mut failures = self.failures.lock().unwrap();
        if let Some(f) = failures
            .iter_mut()
            .find(|(fid, fop, n)| fid == id && *fop == op && *n > 0)
        {
            f.2 -= 1;
            return Err(api(
                id,
                op,
                "InjectedFailure: the fake was told to fail this call",
            ));
        }
        Ok(())
    }
}

/// Ids of the inline policies of `role` (whatever their names).
fn inline_policies(map: &BTreeMap<ResourceId, Spec>, role: &str) -> Vec<ResourceId> {
    map.iter()
        .filter(|(_, spec)| matches!(spec, Spec::IamRolePolicy(p) if p.role == role))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The tags of a kind that carries ownership tags, and how the real provider names it in
/// a refused create and a refused delete.
fn owned_kind(spec: &Spec) -> Option<(&Tags, &'static str, &'static str)> {
    match spec {
        Spec::S3Bucket(b) => Some((&b.tags, "bucket", "bucket (and its objects)")),
        Spec::CloudFrontDistribution(d) => Some((&d.tags, "distribution", "distribution")),
        Spec::IamRole(r) => Some((&r.tags, "role", "role")),
        Spec::IamOidcProvider(p) => Some((&p.tags, "OIDC provider", "OIDC provider")),
        _ => None,
    }
}

/// The AWS call a change of `kind` makes first, named in the fake's API errors.
fn operation(kind: ResourceKind, op: Op) -> &'static str {
    use ResourceKind::*;
    match (kind, op) {
        (S3Bucket, Op::Read) => "GetBucketLocation",
        (S3Bucket, Op::Create) => "CreateBucket",
        (S3Bucket, Op::Update) => "PutBucketTagging",
        (S3Bucket, Op::Delete) => "DeleteBucket",
        (S3BucketPolicy, Op::Read) => "GetBucketPolicy",
        (S3BucketPolicy, Op::Create | Op::Update) => "PutBucketPolicy",
        (S3BucketPolicy, Op::Delete) => "DeleteBucketPolicy",
        (CloudFrontOriginAccessControl, Op::Read) => "GetOriginAccessControl",
        (CloudFrontOriginAccessControl, Op::Create) => "CreateOriginAccessControl",
        (CloudFrontOriginAccessControl, Op::Update) => "UpdateOriginAccessControl",
        (CloudFrontOriginAccessControl, Op::Delete) => "DeleteOriginAccessControl",
        (CloudFrontDistribution, Op::Read) => "GetDistribution",
        (CloudFrontDistribution, Op::Create) => "CreateDistributionWithTags",
        (CloudFrontDistribution, Op::Update) => "UpdateDistribution",
        (CloudFrontDistribution, Op::Delete) => "DeleteDistribution",
        (S3Object, Op::Read) => "GetObject",
        (S3Object, Op::Create | Op::Update) => "PutObject",
        (S3Object, Op::Delete) => "DeleteObject",
        (IamOidcProvider, Op::Read) => "GetOpenIDConnectProvider",
        (IamOidcProvider, Op::Create) => "CreateOpenIDConnectProvider",
        (IamOidcProvider, Op::Update) => "UpdateOpenIDConnectProviderThumbprint",
        (IamOidcProvider, Op::Delete) => "DeleteOpenIDConnectProvider",
        (IamRole, Op::Read) => "GetRole",
        (IamRole, Op::Create) => "CreateRole",
        (IamRole, Op::Update) => "UpdateAssumeRolePolicy",
        (IamRole, Op::Delete) => "DeleteRole",
        (IamRolePolicy, Op::Read) => "GetRolePolicy",
        (IamRolePolicy, Op::Create | Op::Update) => "PutRolePolicy",
        (IamRolePolicy, Op::Delete) => "DeleteRolePolicy",
        (KeyPair | File, _) => "local",
    }
}

fn api(id: &ResourceId, op: Op, message: &str) -> ProviderError {
    ProviderError::Api {
        id: id.clone(),
        operation: operation(id.kind, op).into(),
        message: message.into(),
    }
}

/// What a put needs to exist first: an object its bucket, an inline policy its role.
fn missing_parent(
    map: &BTreeMap<ResourceId, Spec>,
    id: &ResourceId,
    spec: &Spec,
    op: Op,
) -> Option<ProviderError> {
    let (parent, answer) = match spec {
        Spec::S3Object(o) => (
            ResourceId::new(ResourceKind::S3Bucket, &o.bucket),
            "NoSuchBucket: The specified bucket does not exist",
        ),
        Spec::S3BucketPolicy(p) => (
            ResourceId::new(ResourceKind::S3Bucket, &p.bucket),
            "NoSuchBucket: The specified bucket does not exist",
        ),
        Spec::IamRolePolicy(p) => (
            ResourceId::new(ResourceKind::IamRole, &p.role),
            "NoSuchEntity: The role with name cannot be found.",
        ),
        _ => return None,
    };
    (!map.contains_key(&parent)).then(|| api(id, op, answer))
}

impl Provider for FakeProvider {
    async fn account_id(&self) -> ProviderResult<String> {
        Ok(self.cloud.account.clone())
    }

    async fn account_summary(&self) -> ProviderResult<crate::review::AccountSummary> {
        self.cloud.reads.fetch_add(1, Ordering::SeqCst);
        let (roles, providers, quota) = *self.cloud.usage.lock().unwrap();
        let map = self.cloud.resources.lock().unwrap();
        let count = |kind| map.keys().filter(|id| id.kind == kind).count() as u64;
        Ok(crate::review::AccountSummary {
            roles: Some(roles + count(ResourceKind::IamRole)),
            roles_quota: Some(quota),
            providers: Some(providers + count(ResourceKind::IamOidcProvider)),
            assume_role_policy_size_quota: Some(crate::review::limits::TRUST_POLICY_LENGTH as u64),
        })
    }

    async fn read(&self, id: &ResourceId, recorded: &Spec) -> ProviderResult<Option<Spec>> {
        self.cloud.reads.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(id, Op::Read)?;
        if !id.kind.is_remote() {
            return self.local.read(id, recorded);
        }
        let map = self.cloud.resources.lock().unwrap();
        Ok(match (map.get(id), recorded) {
            // As the AWS provider reads a bucket: its policy only where the bucket manages
            // one (`Some` recorded), and then whatever the bucket's one policy slot holds.
            (Some(Spec::S3Bucket(live)), Spec::S3Bucket(recorded)) => {
                let slot = match map.get(&ResourceId::new(ResourceKind::S3BucketPolicy, &live.name))
                {
                    Some(Spec::S3BucketPolicy(p)) => Some(p.policy.clone()),
                    _ => live.policy.clone(),
                };
                Some(Spec::S3Bucket(BucketSpec {
                    policy: recorded
                        .policy
                        .as_ref()
                        .map(|_| slot.unwrap_or(serde_json::Value::Null)),
                    ..live.clone()
                }))
            }
            (live, _) => live.cloned(),
        })
    }

    async fn create(&self, resource: &Resource) -> ProviderResult<Spec> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(&resource.id, Op::Create)?;
        if !resource.id.kind.is_remote() {
            return self.local.write(resource);
        }
        known(resource)?;
        let mut map = self.cloud.resources.lock().unwrap();
        if let Some(err) = missing_parent(&map, &resource.id, &resource.spec, Op::Create) {
            return Err(err);
        }
        // Like the AWS provider: a bucket, role or OIDC provider of that name carrying the
        // cluster's ownership tag key is adopted (an interrupted apply made it, or ccoctl)
        // and brought to the spec; any other one is refused, untouched. Objects and
        // inline policies are overwritten, as PutObject and PutRolePolicy do.
        if let Some(existing) = map.get(&resource.id)
            && let (Some((have, what, _)), Some((want, _, _))) =
                (owned_kind(existing), owned_kind(&resource.spec))
            && !ownership::is_owned(want, have)
        {
            return Err(ProviderError::not_owned(&resource.id, what, want));
        }
        if let Some(err) = foreign_oac(&map, &resource.id, &resource.spec, Op::Create) {
            return Err(err);
        }
        let spec = match map.get(&resource.id) {
            // Adopted: CloudFront keeps what it assigned.
            Some(existing) => keep_assigned(existing, &resource.spec),
            None => self.cloud.assign(&resource.spec),
        };
        map.insert(resource.id.clone(), spec.clone());
        one_policy_slot(&mut map, &spec, None);
        Ok(spec)
    }

    async fn update(&self, resource: &Resource, before: &Spec) -> ProviderResult<Spec> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(&resource.id, Op::Update)?;
        if !resource.id.kind.is_remote() {
            return self.local.update(resource, before);
        }
        known(resource)?;
        let mut map = self.cloud.resources.lock().unwrap();
        if let Some(err) = missing_parent(&map, &resource.id, &resource.spec, Op::Update) {
            return Err(err);
        }
        // PutObject, PutBucketPolicy and PutRolePolicy make what is missing; the other
        // kinds' calls fail.
        let puts = matches!(
            resource.id.kind,
            ResourceKind::S3Object | ResourceKind::S3BucketPolicy | ResourceKind::IamRolePolicy
        );
        if !puts && !map.contains_key(&resource.id) {
            let answer = match resource.id.kind {
                ResourceKind::S3Bucket => "NoSuchBucket: The specified bucket does not exist",
                ResourceKind::CloudFrontDistribution => {
                    "NoSuchDistribution: The specified distribution does not exist."
                }
                ResourceKind::CloudFrontOriginAccessControl => {
                    "NoSuchOriginAccessControl: The specified origin access control does not exist."
                }
                _ => "NoSuchEntity: the resource does not exist",
            };
            return Err(api(&resource.id, Op::Update, answer));
        }
        let spec = match map.get(&resource.id) {
            Some(existing) => keep_assigned(existing, &resource.spec),
            None => resource.spec.clone(),
        };
        map.insert(resource.id.clone(), spec.clone());
        one_policy_slot(&mut map, &spec, Some(before));
        Ok(spec)
    }

    async fn delete(&self, id: &ResourceId, before: &Spec) -> ProviderResult<()> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(id, Op::Delete)?;
        if !id.kind.is_remote() {
            return self.local.delete(id, before);
        }
        if id.kind == ResourceKind::CloudFrontDistribution {
            return self.delete_distribution(id, before).await;
        }
        let mut map = self.cloud.resources.lock().unwrap();
        if let Some(err) = foreign_oac(&map, id, before, Op::Delete) {
            return Err(err);
        }
        if let Some(err) = foreign_bucket(&map, id, before) {
            return Err(err);
        }
        if let Spec::S3BucketPolicy(p) = before {
            // DeleteBucketPolicy empties the bucket's one policy slot, whoever set it.
            let bucket = ResourceId::new(ResourceKind::S3Bucket, &p.bucket);
            if let Some(Spec::S3Bucket(b)) = map.get_mut(&bucket)
                && b.policy.is_some()
            {
                b.policy = Some(serde_json::Value::Null);
            }
        }
        let Some(live) = map.get(id) else {
            // Deleting what is already gone succeeds, as for AWS.
            return Ok(());
        };
        // Like the AWS provider: only what carries the cluster's ownership tag is deleted
        // (emptying a bucket is irreversible; another cluster's roles may trust a provider).
        if let (Some((have, _, what)), Some((recorded, _, _))) =
            (owned_kind(live), owned_kind(before))
            && !ownership::is_owned(recorded, have)
        {
            return Err(ProviderError::delete_refused(id, what, recorded));
        }
        if id.kind == ResourceKind::S3Bucket {
            // Like the real provider: destroy empties the bucket before deleting it, and
            // its policy goes with it.
            let prefix = format!("{}/", id.name);
            map.retain(|k, _| !(k.kind == ResourceKind::S3Object && k.name.starts_with(&prefix)));
            map.remove(&ResourceId::new(ResourceKind::S3BucketPolicy, &id.name));
        }
        if id.kind == ResourceKind::CloudFrontOriginAccessControl {
            // Like CloudFront: not while a distribution signs with it.
            let Some(Spec::CloudFrontOriginAccessControl(oac)) = map.get(id) else {
                return Ok(());
            };
            let in_use = map.values().any(|s| {
                matches!(s, Spec::CloudFrontDistribution(d) if d.origin_access_control_id == oac.id)
            });
            if in_use {
                return Err(api(
                    id,
                    Op::Delete,
                    "OriginAccessControlInUse: The origin access control is in use.",
                ));
            }
        }
        if id.kind == ResourceKind::IamRole {
            // Like the real provider: remove the policies listed earlier, then DeleteRole;
            // when the account refuses (something was put on the role since, or nothing
            // was listed), list them now, remove them, and delete again.
            let known = self.listed.lock().unwrap().remove(&id.name);
            let (inline, managed) = known.unwrap_or_default();
            self.empty_role(&mut map, &id.name, &inline, &managed);
            if self.cloud.delete_role_api(&mut map, id).is_ok() {
                return Ok(());
            }
            self.cloud.reads.fetch_add(2, Ordering::SeqCst);
            let inline = inline_policies(&map, &id.name)
                .iter()
                .filter_map(|p| match &map[p] {
                    Spec::IamRolePolicy(p) => Some(p.name.clone()),
                    _ => None,
                })
                .collect();
            let managed = self
                .cloud
                .attached
                .lock()
                .unwrap()
                .get(&id.name)
                .cloned()
                .unwrap_or_default();
            self.empty_role(&mut map, &id.name, &inline, &managed);
            return self.cloud.delete_role_api(&mut map, id);
        }
        if let Some(Spec::IamRolePolicy(p)) = map.remove(id)
            && let Some((inline, _)) = self.listed.lock().unwrap().get_mut(&p.role)
        {
            inline.remove(&p.name);
        }
        Ok(())
    }

    async fn list(&self, listing: &Listing) -> ProviderResult<Vec<String>> {
        self.cloud.reads.fetch_add(1, Ordering::SeqCst);
        let map = self.cloud.resources.lock().unwrap();
        let mut names: Vec<String> = match listing {
            Listing::Roles { prefix } => map
                .keys()
                .filter(|id| id.kind == ResourceKind::IamRole && id.name.starts_with(prefix))
                .map(|id| id.name.clone())
                .collect(),
            Listing::OidcProviders => map
                .values()
                .filter_map(|spec| match spec {
                    Spec::IamOidcProvider(p) => Some(p.arn.clone()),
                    _ => None,
                })
                .collect(),
            Listing::Objects { bucket, .. } => map
                .values()
                .filter_map(|spec| match spec {
                    Spec::S3Object(o) if o.bucket == *bucket => Some(o.key.clone()),
                    _ => None,
                })
                .collect(),
            Listing::InlinePolicies { role } => map
                .values()
                .filter_map(|spec| match spec {
                    Spec::IamRolePolicy(p) if p.role == *role => Some(p.name.clone()),
                    _ => None,
                })
                .collect(),
            Listing::AttachedPolicies { role } => self
                .cloud
                .attached
                .lock()
                .unwrap()
                .get(role)
                .map(|a| a.iter().cloned().collect())
                .unwrap_or_default(),
            Listing::Distributions { origin_domain } => map
                .values()
                .filter_map(|spec| match spec {
                    Spec::CloudFrontDistribution(d) if d.origin_domain == *origin_domain => {
                        Some(d.id.clone())
                    }
                    _ => None,
                })
                .collect(),
            Listing::OriginAccessControls { name } => map
                .values()
                .filter_map(|spec| match spec {
                    Spec::CloudFrontOriginAccessControl(o) if o.name == *name => Some(o.id.clone()),
                    _ => None,
                })
                .collect(),
        };
        names.sort();
        // Remembered, as the real provider does, for deleting the role later.
        match listing {
            Listing::InlinePolicies { role } => {
                let mut listed = self.listed.lock().unwrap();
                listed.entry(role.clone()).or_default().0 = names.iter().cloned().collect();
            }
            Listing::AttachedPolicies { role } => {
                let mut listed = self.listed.lock().unwrap();
                listed.entry(role.clone()).or_default().1 = names.iter().cloned().collect();
            }
            _ => {}
        }
        Ok(names)
    }
}

impl FakeCloud {
    /// What CloudFront assigns a new OAC or distribution (ids, domain, ARN).
    fn assign(&self, spec: &Spec) -> Spec {
        let n = self.cloudfront_ids.fetch_add(1, Ordering::SeqCst) + 1;
        match spec {
            Spec::CloudFrontOriginAccessControl(o) => {
                Spec::CloudFrontOriginAccessControl(OriginAccessControlSpec {
                    id: format!("EOAC{n:09}"),
                    ..o.clone()
                })
            }
            Spec::CloudFrontDistribution(d) => {
                let id = format!("EDIST{n:08}");
                Spec::CloudFrontDistribution(DistributionSpec {
                    arn: format!("arn:aws:cloudfront::{}:distribution/{id}", self.account),
                    domain_name: format!("d{n:013}.cloudfront.net"),
                    id,
                    ..d.clone()
                })
            }
            other => other.clone(),
        }
    }
}

/// `spec`, with what CloudFront assigned `existing` (ids, domain, ARN) kept.
fn keep_assigned(existing: &Spec, spec: &Spec) -> Spec {
    match (existing, spec) {
        (Spec::CloudFrontOriginAccessControl(e), Spec::CloudFrontOriginAccessControl(o)) => {
            Spec::CloudFrontOriginAccessControl(OriginAccessControlSpec {
                id: e.id.clone(),
                ..o.clone()
            })
        }
        (Spec::CloudFrontDistribution(e), Spec::CloudFrontDistribution(d)) => {
            Spec::CloudFrontDistribution(DistributionSpec {
                id: e.id.clone(),
                arn: e.arn.clone(),
                domain_name: e.domain_name.clone(),
                ..d.clone()
            })
        }
        _ => spec.clone(),
    }
}

/// Like the real provider: a spec still waiting for a late value is a bug, never sent.
fn known(resource: &Resource) -> ProviderResult<()> {
    let late = resource.spec.waits_for();
    if late.is_empty() {
        return Ok(());
    }
    Err(ProviderError::Invalid {
        id: resource.id.clone(),
        message: format!("still waits for {late:?}"),
    })
}

/// An OAC of that name without the cluster's mark: refused, as the real provider does.
fn foreign_oac(
    map: &BTreeMap<ResourceId, Spec>,
    id: &ResourceId,
    spec: &Spec,
    op: Op,
) -> Option<ProviderError> {
    let (
        Some(Spec::CloudFrontOriginAccessControl(live)),
        Spec::CloudFrontOriginAccessControl(want),
    ) = (map.get(id), spec)
    else {
        return None;
    };
    (!ownership::marked(&live.description, &want.description)).then(|| ProviderError::NotOwned {
        id: id.clone(),
        message: format!(
            "the origin access control `{}` is not marked `{}`; {}",
            live.name,
            want.description,
            if op == Op::Delete {
                "refusing to delete it"
            } else {
                "choose another --name"
            }
        ),
    })
}

/// A bucket has one policy, which two resources may write: the bucket itself (a public
/// issuer's anonymous-read policy) and `s3_bucket_policy` (a private issuer's). As in S3,
/// the last write wins: a bucket that puts its policy (on create, or on an update that
/// changes it, as the AWS provider does) replaces the `s3_bucket_policy`, and a policy
/// put shows in the bucket's own `policy` where the bucket manages one.
fn one_policy_slot(map: &mut BTreeMap<ResourceId, Spec>, written: &Spec, before: Option<&Spec>) {
    match written {
        Spec::S3Bucket(b) => {
            let before_policy = match before {
                Some(Spec::S3Bucket(before)) => before.policy.as_ref(),
                _ => None,
            };
            if b.policy.is_some() && b.policy.as_ref() != before_policy {
                map.remove(&ResourceId::new(ResourceKind::S3BucketPolicy, &b.name));
            }
        }
        Spec::S3BucketPolicy(p) => {
            let bucket = ResourceId::new(ResourceKind::S3Bucket, &p.bucket);
            if let Some(Spec::S3Bucket(b)) = map.get_mut(&bucket)
                && b.policy.is_some()
            {
                b.policy = Some(p.policy.clone());
            }
        }
        _ => {}
    }
}

/// A bucket policy whose bucket is not the cluster's: not removed, as the real provider.
fn foreign_bucket(
    map: &BTreeMap<ResourceId, Spec>,
    id: &ResourceId,
    spec: &Spec,
) -> Option<ProviderError> {
    let Spec::S3BucketPolicy(p) = spec else {
        return None;
    };
    let bucket = ResourceId::new(ResourceKind::S3Bucket, &p.bucket);
    let Some(Spec::S3Bucket(b)) = map.get(&bucket) else {
        return None;
    };
    let wanted = ownership::tags(p.bucket.strip_suffix("-oidc").unwrap_or(&p.bucket));
    (!ownership::is_owned(&wanted, &b.tags))
        .then(|| ProviderError::delete_refused(id, "bucket of this policy", &wanted))
}

impl FakeProvider {
    async fn delete_distribution(&self, id: &ResourceId, before: &Spec) -> ProviderResult<()> {
        {
            let map = self.cloud.resources.lock().unwrap();
            let Some(live) = map.get(id) else {
                return Ok(());
            };
            if let (Some((have, _, what)), Some((recorded, _, _))) =
                (owned_kind(live), owned_kind(before))
                && !ownership::is_owned(recorded, have)
            {
                return Err(ProviderError::delete_refused(id, what, recorded));
            }
        }
        let pace = *self.cloud.pace.lock().unwrap();
        let calls = FakeDistribution {
            cloud: &self.cloud,
            id,
        };
        distribution_delete::disable_wait_delete(id, &calls, pace).await
    }
}

/// `distribution_delete`'s calls against the fake account: CloudFront's rules.
struct FakeDistribution<'a> {
    cloud: &'a FakeCloud,
    id: &'a ResourceId,
}

impl distribution_delete::Calls for FakeDistribution<'_> {
    async fn look(&self) -> ProviderResult<Option<Seen>> {
        self.cloud.reads.fetch_add(1, Ordering::SeqCst);
        let map = self.cloud.resources.lock().unwrap();
        let Some(Spec::CloudFrontDistribution(d)) = map.get(self.id) else {
            return Ok(None);
        };
        let mut deploying = self.cloud.deploying.lock().unwrap();
        let status = match deploying.get_mut(self.id) {
            Some(left) if *left > 0 => {
                *left -= 1;
                "InProgress"
            }
            _ => "Deployed",
        };
        Ok(Some(Seen {
            enabled: d.enabled,
            status: status.into(),
        }))
    }

    async fn disable(&self) -> ProviderResult<()> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        let mut map = self.cloud.resources.lock().unwrap();
        if let Some(Spec::CloudFrontDistribution(d)) = map.get_mut(self.id) {
            d.enabled = false;
            let polls = self.cloud.deploy_polls.load(Ordering::SeqCst);
            self.cloud
                .deploying
                .lock()
                .unwrap()
                .insert(self.id.clone(), polls);
        }
        Ok(())
    }

    async fn delete(&self) -> ProviderResult<()> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        let mut map = self.cloud.resources.lock().unwrap();
        let Some(Spec::CloudFrontDistribution(d)) = map.get(self.id) else {
            return Ok(());
        };
        let deploying = self
            .cloud
            .deploying
            .lock()
            .unwrap()
            .get(self.id)
            .is_some_and(|left| *left > 0);
        if d.enabled || deploying {
            return Err(api(
                self.id,
                Op::Delete,
                "DistributionNotDisabled: The distribution you are trying to delete has not been disabled.",
            ));
        }
        map.remove(self.id);
        Ok(())
    }
}

impl Sts for FakeProvider {
    /// Evaluates nothing (like the emulator): the role must exist, and that is all.
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        _token: &str,
        session: &str,
    ) -> ProviderResult<String> {
        let map = self.cloud.resources.lock().unwrap();
        let role = map.values().find_map(|spec| match spec {
            Spec::IamRole(r) if r.arn == role_arn => Some(r.name.clone()),
            _ => None,
        });
        match role {
            Some(name) => Ok(format!(
                "arn:aws:sts::{}:assumed-role/{name}/{session}",
                self.cloud.account
            )),
            None => Err(ProviderError::Api {
                id: ResourceId::new(ResourceKind::IamRole, role_arn),
                operation: "AssumeRoleWithWebIdentity".into(),
                message: format!("NoSuchEntity: no role {role_arn}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{ObjectSpec, RolePolicySpec};

    fn resource(spec: Spec) -> Resource {
        let id = match &spec {
            Spec::S3Object(o) => {
                ResourceId::new(ResourceKind::S3Object, format!("{}/{}", o.bucket, o.key))
            }
            Spec::IamRolePolicy(p) => ResourceId::new(ResourceKind::IamRolePolicy, &p.role),
            _ => unreachable!(),
        };
        Resource {
            id,
            spec,
            depends_on: vec![],
        }
    }

    #[tokio::test]
    async fn puts_need_their_bucket_or_role_and_answer_as_aws_does() {
        let provider = FakeProvider::new(FakeCloud::new("123456789012"), None);
        let object = resource(Spec::S3Object(ObjectSpec {
            bucket: "gone-oidc".into(),
            key: "keys.json".into(),
            content_type: "application/json".into(),
            tags: Tags::new(),
            content: "{}".into(),
        }));
        let err = provider.create(&object).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "s3_object.gone-oidc/keys.json: PutObject: NoSuchBucket: The specified bucket does not exist"
        );
        let policy = resource(Spec::IamRolePolicy(RolePolicySpec {
            role: "gone".into(),
            name: "gone".into(),
            document: serde_json::json!({}),
        }));
        let err = provider.update(&policy, &policy.spec).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("iam_role_policy.gone: PutRolePolicy: NoSuchEntity: "),
            "{err}"
        );
        // A role with a policy left on it: IAM's DeleteRole refuses (the provider's delete
        // empties the role first, as the real one does).
        let cloud = FakeCloud::new("123456789012");
        let role = ResourceId::new(ResourceKind::IamRole, "r");
        cloud.set(
            &role,
            Some(Spec::IamRole(crate::resource::RoleSpec {
                name: "r".into(),
                arn: "arn:aws:iam::123456789012:role/r".into(),
                description: String::new(),
                trust_policy: serde_json::json!({}),
                permissions_boundary: None,
                tags: crate::ownership::tags("c"),
            })),
        );
        cloud.put_inline_policy("r", "extra", serde_json::json!({}));
        {
            let mut map = cloud.resources.lock().unwrap();
            let err = cloud
                .delete_role_api(&mut map, &role)
                .unwrap_err()
                .to_string();
            assert!(err.contains("DeleteRole: DeleteConflict"), "{err}");
        }
        // The provider removes what it listed; a policy attached after its listing makes
        // IAM refuse once, and it lists again, detaches it and deletes the role.
        let provider = FakeProvider::new(Arc::clone(&cloud), None);
        let listed = provider
            .list(&Listing::InlinePolicies { role: "r".into() })
            .await
            .unwrap();
        assert_eq!(listed, ["extra"]);
        cloud.attach_role_policy("r", "arn:aws:iam::aws:policy/ReadOnlyAccess");
        let conflicts = cloud.delete_conflicts();
        let before = cloud.snapshot()[&role].clone();
        provider.delete(&role, &before).await.unwrap();
        assert_eq!(cloud.delete_conflicts(), conflicts + 1);
        assert!(cloud.snapshot().is_empty(), "{:?}", cloud.snapshot());
    }
}
