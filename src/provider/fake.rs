//! An in-memory AWS for fast tests: a map of specs plus injected failures.
//!
//! Behaves like the real provider where stsform relies on it (missing → `None`,
//! create on an existing name fails, a bucket without our tag is not ours, delete of
//! a missing resource succeeds, deleting the bucket empties it, listings by name) and
//! nothing more. Roles may hold managed policies (`attach_role_policy`) and inline
//! policies of any name; like IAM, the account refuses to delete a role that still has
//! either (DeleteConflict), and like the real provider, delete empties the role first.
//! Local kinds go to `LocalFiles`, as in the real provider.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::local::LocalFiles;
use super::{Listing, Provider, ProviderError, ProviderResult, Sts};
use crate::keypair::PrivateKey;
use crate::ownership::TAG_PREFIX as OWNERSHIP_TAG_PREFIX;
use crate::resource::{Resource, ResourceId, ResourceKind, Spec};

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
}

/// The fake provider: a fake account plus the real local files.
pub struct FakeProvider {
    cloud: Arc<FakeCloud>,
    local: LocalFiles,
}

impl FakeProvider {
    /// A provider for `cloud`; `key` is the signing key local writes may use.
    pub fn new(cloud: Arc<FakeCloud>, key: Option<PrivateKey>) -> FakeProvider {
        FakeProvider {
            cloud,
            local: LocalFiles::new(key),
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
        })
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
            return Err(ProviderError::Api {
                id: id.clone(),
                operation: format!("{op:?}"),
                message: "InjectedFailure: the fake was told to fail this call".into(),
            });
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

fn owned_by_someone(spec: &Spec) -> bool {
    match spec {
        Spec::S3Bucket(b) => b.tags.keys().any(|k| k.starts_with(OWNERSHIP_TAG_PREFIX)),
        _ => true,
    }
}

/// Whether `existing` carries an ownership tag that `wanted` also carries.
fn carries_our_tag(existing: &Spec, wanted: &Spec) -> bool {
    let tags = |s: &Spec| match s {
        Spec::IamRole(r) => Some(r.tags.clone()),
        Spec::IamOidcProvider(p) => Some(p.tags.clone()),
        _ => None,
    };
    match (tags(existing), tags(wanted)) {
        (Some(have), Some(want)) => want
            .keys()
            .any(|k| k.starts_with(OWNERSHIP_TAG_PREFIX) && have.contains_key(k)),
        _ => false,
    }
}

impl Provider for FakeProvider {
    async fn account_id(&self) -> ProviderResult<String> {
        Ok(self.cloud.account.clone())
    }

    async fn read(&self, id: &ResourceId, recorded: &Spec) -> ProviderResult<Option<Spec>> {
        self.cloud.reads.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(id, Op::Read)?;
        if !id.kind.is_remote() {
            return self.local.read(id, recorded);
        }
        Ok(self.cloud.resources.lock().unwrap().get(id).cloned())
    }

    async fn create(&self, resource: &Resource) -> ProviderResult<Spec> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(&resource.id, Op::Create)?;
        if !resource.id.kind.is_remote() {
            return self.local.write(resource);
        }
        let mut map = self.cloud.resources.lock().unwrap();
        if let Some(existing) = map.get(&resource.id) {
            if resource.id.kind == ResourceKind::S3Bucket && !owned_by_someone(existing) {
                return Err(ProviderError::NotOwned {
                    id: resource.id.clone(),
                    message:
                        "the bucket exists but carries no ownership tag and is not in the state"
                            .into(),
                });
            }
            // Like the AWS provider: a role or OIDC provider carrying our ownership tag
            // is adopted (an interrupted apply made it); anything else is a conflict.
            if resource.id.kind != ResourceKind::S3Bucket
                && resource.id.kind != ResourceKind::S3Object
                && !carries_our_tag(existing, &resource.spec)
            {
                return Err(ProviderError::Api {
                    id: resource.id.clone(),
                    operation: "Create".into(),
                    message: "EntityAlreadyExists".into(),
                });
            }
        }
        map.insert(resource.id.clone(), resource.spec.clone());
        Ok(resource.spec.clone())
    }

    async fn update(&self, resource: &Resource, _before: &Spec) -> ProviderResult<Spec> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(&resource.id, Op::Update)?;
        if !resource.id.kind.is_remote() {
            return self.local.write(resource);
        }
        let mut map = self.cloud.resources.lock().unwrap();
        if !map.contains_key(&resource.id) {
            return Err(ProviderError::Api {
                id: resource.id.clone(),
                operation: "Update".into(),
                message: "NoSuchEntity".into(),
            });
        }
        map.insert(resource.id.clone(), resource.spec.clone());
        Ok(resource.spec.clone())
    }

    async fn delete(&self, id: &ResourceId, before: &Spec) -> ProviderResult<()> {
        self.cloud.writes.fetch_add(1, Ordering::SeqCst);
        self.cloud.injected(id, Op::Delete)?;
        if !id.kind.is_remote() {
            return self.local.delete(id, before);
        }
        let mut map = self.cloud.resources.lock().unwrap();
        if id.kind == ResourceKind::S3Bucket {
            // Like the real provider: destroy empties the bucket before deleting it.
            let prefix = format!("{}/", id.name);
            map.retain(|k, _| !(k.kind == ResourceKind::S3Object && k.name.starts_with(&prefix)));
        }
        if id.kind == ResourceKind::IamRole {
            if !map.contains_key(id) {
                return Ok(());
            }
            // Like the real provider: detach every managed policy and delete every inline
            // one, then DeleteRole (which the account refuses while any remain).
            self.cloud.attached.lock().unwrap().remove(&id.name);
            for policy in inline_policies(&map, &id.name) {
                map.remove(&policy);
            }
            return self.cloud.delete_role_api(&mut map, id);
        }
        map.remove(id);
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
        };
        names.sort();
        Ok(names)
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
