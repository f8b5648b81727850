//! import: what to record for a cluster that exists but has no state (made by
//! `ccoctl aws create-all`, or by an stsform whose state was lost). Pure.
//!
//! `commands::import` derives the desired resources, reads each one live through the
//! provider (`Provider::read(id, &desired_spec)`), and hands the results here. A resource is
//! recorded with its *live* attributes when it is ours, so the next plan compares desired
//! against what really exists and shows only real differences:
//! - bucket, OIDC provider, role: they carry the cluster's ownership tag key
//!   (`openshift.io/cloud-credential-operator/<name>`, value ignored, as ccoctl checks);
//! - object: it is in a bucket that was imported;
//! - inline role policy: its role was imported;
//! - key pair and local files: they exist.
//!
//! Anything else is left out: not found (the plan creates it) or found but not ours
//! (left alone; the plan's create will then refuse it, naming the missing tag).

use std::collections::BTreeMap;

use crate::desired::Desired;
use crate::resource::{ResourceId, ResourceKind, Spec, Tags};
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

fn tags(spec: &Spec) -> Option<&Tags> {
    match spec {
        Spec::S3Bucket(b) => Some(&b.tags),
        Spec::IamOidcProvider(p) => Some(&p.tags),
        Spec::IamRole(r) => Some(&r.tags),
        _ => None,
    }
}

/// The kind a resource's ownership follows: its own tags, or its parent's import.
fn parent_kind(kind: ResourceKind) -> Option<ResourceKind> {
    match kind {
        ResourceKind::S3Object => Some(ResourceKind::S3Bucket),
        ResourceKind::IamRolePolicy => Some(ResourceKind::IamRole),
        _ => None,
    }
}

/// Fills `state` (which must be empty) with the live specs of the desired resources that
/// are ours. `live` holds each desired resource's read result (missing key = not read,
/// treated as not found); `ownership_key` is the tag key that marks the cluster's
/// resources.
pub fn record(
    desired: &Desired,
    live: &BTreeMap<ResourceId, Option<Spec>>,
    ownership_key: &str,
    state: &mut State,
) -> Report {
    let mut report = Report::default();
    // Parents (buckets, roles) sort before their children by kind, but decide them in a
    // first pass anyway so the rule does not depend on the id order.
    let mut order: Vec<&ResourceId> = desired.resources.keys().collect();
    order.sort_by_key(|id| parent_kind(id.kind).is_some());
    for id in order {
        let resource = &desired.resources[id];
        let Some(Some(spec)) = live.get(id) else {
            report.skipped.push((id.clone(), Skipped::NotFound));
            continue;
        };
        let verdict = if let Some(tags) = tags(spec) {
            if tags.contains_key(ownership_key) {
                Ok(())
            } else {
                Err(format!(
                    "exists but carries no `{ownership_key}` tag; left alone"
                ))
            }
        } else if let Some(parent) = parent_kind(id.kind) {
            let imported_parent = resource
                .depends_on
                .iter()
                .find(|d| d.kind == parent)
                .is_some_and(|d| state.resources.contains_key(d));
            if imported_parent {
                Ok(())
            } else {
                Err(format!(
                    "exists, but its {parent} is not this cluster's; left alone"
                ))
            }
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => {
                state.resources.insert(
                    id.clone(),
                    StateResource {
                        spec: spec.clone(),
                        depends_on: resource.depends_on.clone(),
                    },
                );
                report.imported.push(id.clone());
            }
            Err(why) => report.skipped.push((id.clone(), Skipped::NotOwned(why))),
        }
    }
    report.imported.sort();
    report.skipped.sort_by(|a, b| a.0.cmp(&b.0));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{BucketSpec, RolePolicySpec};
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
                policy: json!({}),
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
    fn records_owned_resources_and_their_children_only() {
        let d = desired();
        let mut live: BTreeMap<ResourceId, Option<Spec>> = d
            .resources
            .iter()
            .map(|(id, r)| (id.clone(), Some(r.spec.clone())))
            .collect();
        // Role c1-b exists without the tag: neither it nor its policy is imported.
        if let Some(Some(Spec::IamRole(r))) =
            live.get_mut(&ResourceId::new(ResourceKind::IamRole, "c1-b"))
        {
            r.tags = Tags::new();
        }
        // Role c1-a does not exist.
        live.insert(ResourceId::new(ResourceKind::IamRole, "c1-a"), None);
        let mut state = State::new("c1");
        let report = record(&d, &live, KEY, &mut state);
        let ids: Vec<String> = report.imported.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["s3_bucket.c1-oidc", "s3_object.c1-oidc/keys.json"]);
        let not_found: Vec<String> = report.not_found().map(ToString::to_string).collect();
        assert_eq!(not_found, ["iam_role.c1-a"]);
        let not_owned: Vec<String> = report.not_owned().map(|(id, _)| id.to_string()).collect();
        assert_eq!(not_owned, ["iam_role.c1-b", "iam_role_policy.c1-b"]);
        assert_eq!(
            state.resources.keys().cloned().collect::<Vec<_>>(),
            report.imported
        );
        // The object keeps its dependency on the bucket for destroy ordering.
        let object =
            &state.resources[&ResourceId::new(ResourceKind::S3Object, "c1-oidc/keys.json")];
        assert_eq!(
            object.depends_on,
            [ResourceId::new(ResourceKind::S3Bucket, "c1-oidc")]
        );
    }
}
