//! import: what to record for a cluster that exists but has no state (made by
//! `ccoctl aws create-all`, or by an stsform whose state was lost). Pure.
//!
//! `workflow::import` reads the desired local resources (key pair, files) and runs the
//! discovery scan (`discover`) against the empty state, and hands both here. Everything
//! the scan found that is the cluster's is recorded with its *live* attributes, so the
//! next plan compares desired against what really exists and shows only real differences:
//! - bucket, OIDC providers, roles: they carry the cluster's ownership tag key
//!   (`openshift.io/cloud-credential-operator/<name>`, value ignored, as ccoctl checks),
//!   whether or not a current request derives them (a role whose request left the
//!   directory is recorded too, so that `destroy` removes it like `ccoctl aws delete`);
//! - objects in that bucket, and each role's own inline policy;
//! - key pair and local files: they exist.
//!
//! Anything else is left out: not found (the plan creates it) or found but not ours
//! (left alone; the plan then refuses to create it, naming it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::desired::Desired;
use crate::discover::Discovery;
use crate::resource::{ResourceId, ResourceKind, Spec};
use crate::settings::Settings;
use crate::state::{State, StateResource};

/// Why a desired resource was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// Nothing of that name exists.
    NotFound,
    /// It exists, but is not this cluster's: why.
    NotOwned(String),
}

/// What import found, resource by resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Recorded in the state.
    pub imported: Vec<ResourceId>,
    /// Recorded, though no current request or setting derives them: the next plan
    /// deletes them (their requests are gone) unless the inputs ask for them again.
    pub untracked: Vec<ResourceId>,
    /// Not recorded, with the reason.
    pub skipped: Vec<(ResourceId, Skipped)>,
}

impl Report {
    /// Resources found to be missing.
    pub fn not_found(&self) -> impl Iterator<Item = &ResourceId> {
        self.skipped
            .iter()
            .filter(|(_, s)| *s == Skipped::NotFound)
            .map(|(id, _)| id)
    }

    /// Resources found but not owned, with why.
    pub fn not_owned(&self) -> impl Iterator<Item = (&ResourceId, &str)> {
        self.skipped.iter().filter_map(|(id, s)| match s {
            Skipped::NotOwned(why) => Some((id, why.as_str())),
            Skipped::NotFound => None,
        })
    }
}

/// Import only fills an empty state: anything else would mix two histories.
pub fn require_empty(state: &State, location: &str) -> anyhow::Result<()> {
    if state.resources.is_empty() {
        return Ok(());
    }
    let n = state.resources.len();
    anyhow::bail!(
        "{location}: the state already holds {n} resource{} (serial {}); import only fills an empty state. Run `stsform plan`, or `stsform state rm` what should be imported again",
        if n == 1 { "" } else { "s" },
        state.serial
    )
}

/// What to say about the signing key after an import: it decides the JWKS, and what
/// cannot be rebuilt must be said plainly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAdvice {
    /// The served keys are `--public-key-file`s (none of them the output dir's key pair):
    /// the JWKS still matches, but the installer's copy of the private key cannot be written.
    PublicKeyOnly(Vec<PathBuf>),
    /// No key pair in the output directory: the next apply would generate a new key and
    /// replace keys.json, breaking every token the cluster issues.
    WouldGenerate,
}

/// The advice for `settings` after `report`; `private_exists`: whether the output dir
/// holds the private key. None in day-2 mode (no key pair, bucket or provider is managed)
/// or when the key pair was imported with its private half.
pub fn key_advice(settings: &Settings, report: &Report, private_exists: bool) -> Option<KeyAdvice> {
    if settings.identity_provider_arn.is_some() {
        return None;
    }
    let key_pair_imported = report
        .imported
        .iter()
        .any(|id| id.kind == ResourceKind::KeyPair);
    if !settings.public_key_files.is_empty() {
        // One of them is the output dir's pair, managed and imported with its private half.
        return (!key_pair_imported || !private_exists)
            .then(|| KeyAdvice::PublicKeyOnly(settings.public_key_files.clone()));
    }
    (!key_pair_imported || !private_exists).then_some(KeyAdvice::WouldGenerate)
}

/// Fills `state` (which must be empty) with what is the cluster's: the desired local
/// resources that exist (`local`: each one's read result; a missing key is not found)
/// and everything the scan found tagged for the cluster.
pub fn record(
    desired: &Desired,
    local: &BTreeMap<ResourceId, Option<Spec>>,
    found: &Discovery,
    state: &mut State,
) -> Report {
    let mut report = Report::default();
    for (id, resource) in &desired.resources {
        let live = if id.kind.is_remote() {
            found.tagged.get(id).map(|f| &f.spec)
        } else {
            local.get(id).and_then(Option::as_ref)
        };
        match live {
            Some(spec) => {
                state.resources.insert(
                    id.clone(),
                    StateResource {
                        spec: spec.clone(),
                        depends_on: resource.depends_on.clone(),
                    },
                );
                report.imported.push(id.clone());
            }
            None => {
                let why = match found.untagged.get(id) {
                    Some(why) => Skipped::NotOwned(format!("{why}; left alone")),
                    None => Skipped::NotFound,
                };
                report.skipped.push((id.clone(), why));
            }
        }
    }
    for (id, f) in &found.tagged {
        if desired.resources.contains_key(id) {
            continue;
        }
        state.resources.insert(
            id.clone(),
            StateResource {
                spec: f.spec.clone(),
                depends_on: f.depends_on.clone(),
            },
        );
        report.untracked.push(id.clone());
    }
    report.imported.sort();
    report.untracked.sort();
    report.skipped.sort_by(|a, b| a.0.cmp(&b.0));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{BucketSpec, ResourceKind, RolePolicySpec, Tags};
    use crate::resource::{ObjectSpec, PublicAccessBlock, Resource, RoleSpec};
    use serde_json::json;

    const KEY: &str = "openshift.io/cloud-credential-operator/c1";

    fn owned() -> Tags {
        Tags::from([(KEY.to_string(), "owned".to_string())])
    }

    fn desired() -> Desired {
        let mut d = Desired::default();
        let bucket = ResourceId::new(ResourceKind::S3Bucket, "c1-oidc");
        let object = ResourceId::new(ResourceKind::S3Object, "c1-oidc/keys.json");
        let role = ResourceId::new(ResourceKind::IamRole, "c1-a");
        let other = ResourceId::new(ResourceKind::IamRole, "c1-b");
        let policy = ResourceId::new(ResourceKind::IamRolePolicy, "c1-b");
        let add = |d: &mut Desired, id: &ResourceId, spec: Spec, deps: Vec<ResourceId>| {
            d.resources.insert(
                id.clone(),
                Resource {
                    id: id.clone(),
                    spec,
                    depends_on: deps,
                },
            );
        };
        add(
            &mut d,
            &bucket,
            Spec::S3Bucket(BucketSpec {
                name: "c1-oidc".into(),
                region: "us-east-2".into(),
                tags: owned(),
                public_access_block: PublicAccessBlock {
                    block_public_acls: true,
                    ignore_public_acls: true,
                    block_public_policy: false,
                    restrict_public_buckets: false,
                },
                policy: Some(json!({})),
            }),
            vec![],
        );
        add(
            &mut d,
            &object,
            Spec::S3Object(ObjectSpec {
                bucket: "c1-oidc".into(),
                key: "keys.json".into(),
                content_type: "application/json".into(),
                tags: owned(),
                content: "{}".into(),
            }),
            vec![bucket.clone()],
        );
        for r in [&role, &other] {
            add(
                &mut d,
                r,
                Spec::IamRole(RoleSpec {
                    name: r.name.clone(),
                    arn: "arn".into(),
                    description: String::new(),
                    trust_policy: json!({}),
                    permissions_boundary: None,
                    tags: owned(),
                }),
                vec![],
            );
        }
        add(
            &mut d,
            &policy,
            Spec::IamRolePolicy(RolePolicySpec {
                role: "c1-b".into(),
                name: "c1-b".into(),
                document: json!({}),
            }),
            vec![other.clone()],
        );
        d
    }

    #[test]
    fn records_what_the_scan_found_and_what_no_request_derives() {
        use crate::discover::Found;
        let d = desired();
        let spec = |id: &ResourceId| d.resources[id].spec.clone();
        let bucket = ResourceId::new(ResourceKind::S3Bucket, "c1-oidc");
        let object = ResourceId::new(ResourceKind::S3Object, "c1-oidc/keys.json");
        let stray = ResourceId::new(ResourceKind::S3Object, "c1-oidc/stray.txt");
        let orphan = ResourceId::new(ResourceKind::IamRole, "c1-gone");
        let mut found = Discovery::default();
        found.tagged.insert(
            bucket.clone(),
            Found {
                spec: spec(&bucket),
                depends_on: vec![],
            },
        );
        found.tagged.insert(
            object.clone(),
            Found {
                spec: spec(&object),
                depends_on: vec![bucket.clone()],
            },
        );
        found.tagged.insert(
            stray.clone(),
            Found {
                spec: spec(&object),
                depends_on: vec![bucket.clone()],
            },
        );
        let Spec::IamRole(mut gone) = spec(&ResourceId::new(ResourceKind::IamRole, "c1-a")) else {
            unreachable!()
        };
        gone.name = "c1-gone".into();
        found.tagged.insert(
            orphan.clone(),
            Found {
                spec: Spec::IamRole(gone),
                depends_on: vec![],
            },
        );
        // Role c1-b exists without the tag; c1-a does not exist.
        found.untagged.insert(
            ResourceId::new(ResourceKind::IamRole, "c1-b"),
            "exists but carries no tag".into(),
        );
        let mut state = State::new("c1");
        let report = record(&d, &BTreeMap::new(), &found, &mut state);
        let names = |ids: &[ResourceId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            names(&report.imported),
            ["s3_bucket.c1-oidc", "s3_object.c1-oidc/keys.json"]
        );
        assert_eq!(
            names(&report.untracked),
            ["s3_object.c1-oidc/stray.txt", "iam_role.c1-gone"]
        );
        let not_found: Vec<String> = report.not_found().map(ToString::to_string).collect();
        assert_eq!(not_found, ["iam_role.c1-a", "iam_role_policy.c1-b"]);
        let not_owned: Vec<String> = report
            .not_owned()
            .map(|(id, why)| format!("{id}: {why}"))
            .collect();
        assert_eq!(
            not_owned,
            ["iam_role.c1-b: exists but carries no tag; left alone"]
        );
        let recorded: Vec<ResourceId> = state.resources.keys().cloned().collect();
        let mut expected = report.imported.clone();
        expected.extend(report.untracked.clone());
        expected.sort();
        assert_eq!(recorded, expected);
        // Dependencies are kept for destroy ordering, desired or found.
        assert_eq!(
            state.resources[&object].depends_on,
            std::slice::from_ref(&bucket)
        );
        assert_eq!(state.resources[&stray].depends_on, [bucket]);
    }
}
