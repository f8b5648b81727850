//! plan::compute: what must change to get from what is to what should be. Pure.
//!
//! Owns `Plan`, `Change`, `Action`, `Drift`, the attribute-level differences that
//! renderers show (with the permission changes of role policies, from
//! `review::permissions`), each change's [`StateRule`] (what the executor does with the
//! state around it), and [`Shown`], the plan as the renderers show it (local paths as the
//! user finds them). Input is `Desired` (from derive) and `Observed` (state, refreshed or
//! not, plus what `discover` found outside the state); output is a value the executor
//! follows exactly. Must not be async, do I/O or print. Destroy is
//! `compute(&Desired::empty(), &observed)`: one code path.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::desired::Desired;
use crate::discover::Discovery;
use crate::resource::{Late, ResourceId, ResourceKind, Spec};

/// A resource as recorded in state and, after a refresh, as found live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedResource {
    /// Attributes the last apply recorded.
    pub recorded: Spec,
    /// Attributes found in AWS (or on disk); `None` if it no longer exists.
    pub live: Option<Spec>,
    /// Dependencies recorded in state, so deletes stay ordered after inputs are gone.
    pub depends_on: Vec<ResourceId>,
}

/// Everything the state knows, refreshed or not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// By id.
    pub resources: BTreeMap<ResourceId, ObservedResource>,
    /// Whether `live` was read from AWS (false for `--refresh=false`).
    pub refreshed: bool,
    /// What of the cluster exists in AWS but not in the state (empty without a refresh).
    pub discovery: Discovery,
}

/// What the executor will do to one resource.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Make it.
    Create,
    /// Change it in place.
    Update,
    /// Delete it, then make it again (an attribute cannot change in place).
    Replace,
    /// Delete it.
    Delete,
}

/// Why a change is in the plan; reviewers ask this first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not in state yet.
    New,
    /// In state but deleted outside stsform.
    DeletedOutside,
    /// The inputs now ask for something else.
    InputsChanged,
    /// The inputs are unchanged; this undoes a change made outside stsform.
    RepairsDrift,
    /// The inputs no longer ask for it.
    NoLongerWanted,
    /// `destroy` (or `plan --destroy`): everything the state holds goes.
    DestroyRequested,
    /// It lives inside a resource that is replaced (an object in a bucket made anew), so
    /// it goes with the old one and is made again in the new one.
    ContainerReplaced,
    /// Not in the state, but it exists and carries the cluster's ownership tag: it is
    /// adopted (recorded, and brought to what the inputs ask) instead of created.
    Adopted,
    /// Tagged for the cluster but not managed (not in the state, not desired): deleted
    /// only by `destroy --include-unmanaged`.
    Unmanaged,
}

/// One attribute's before and after (`None` = absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeChange {
    /// Top-level attribute name.
    pub name: String,
    /// Value before (live), with policy documents as nested JSON.
    pub before: Option<Value>,
    /// Value after (desired).
    pub after: Option<Value>,
}

/// One planned change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The resource.
    pub id: ResourceId,
    /// What happens to it.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// Live attributes before the change (`None` for a create).
    pub before: Option<Spec>,
    /// Attributes after the change (`None` for a delete).
    pub after: Option<Spec>,
    /// The attributes that differ, in name order (every attribute for create/delete).
    pub attributes: Vec<AttributeChange>,
    /// For a replace: the attributes that cannot change in place.
    pub replace_because: Vec<String>,
    /// Dependencies: desired ones for create/update/replace, recorded ones for delete.
    pub depends_on: Vec<ResourceId>,
    /// The request the resource is made from (`file: document N`), when there is one.
    pub source: Option<String>,
    /// How the executor keeps the state true around this change.
    pub state_rule: StateRule,
}

/// How the keys `keys.json` serves change between two specs, by kid: what reviewers of a
/// key rotation read instead of a JSON diff. `None` unless both sides (either may be
/// absent) are the issuer's `keys.json`.
pub fn key_changes(
    id: &ResourceId,
    before: Option<&Spec>,
    after: Option<&Spec>,
) -> Option<crate::jwks::KeyChanges> {
    let content = |s: Option<&Spec>| -> Result<Option<String>, ()> {
        match s {
            None => Ok(None),
            Some(Spec::S3Object(o)) if o.key == crate::desired::JWKS_KEY => {
                Ok(Some(o.content.clone()))
            }
            Some(_) => Err(()),
        }
    };
    if id.kind != ResourceKind::S3Object {
        return None;
    }
    let (before, after) = (content(before).ok()?, content(after).ok()?);
    if before.is_none() && after.is_none() {
        return None;
    }
    Some(crate::jwks::diff(before.as_deref(), after.as_deref()))
}

impl Change {
    /// The kid-level change of `keys.json` (see [`key_changes`]).
    pub fn keys(&self) -> Option<crate::jwks::KeyChanges> {
        key_changes(&self.id, self.before.as_ref(), self.after.as_ref())
    }
}

impl Drift {
    /// The kid-level change of `keys.json` made outside stsform (see [`key_changes`]).
    pub fn keys(&self) -> Option<crate::jwks::KeyChanges> {
        key_changes(&self.id, Some(&self.recorded), self.live.as_ref())
    }
}

/// What the executor does with the state around one change: decided here, with the plan,
/// and only followed by the executor. A function of the resource kind and the action, so
/// a saved plan read back gets the same rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateRule {
    /// Record the planned resource in the state before the first provider call. For a
    /// create that takes several calls (a bucket is made, then tagged): a crash in between
    /// would otherwise leave a resource that is in AWS, untagged and in no state (nobody's).
    /// Recorded first, a crash leaves it in the state, and the next plan repairs or
    /// re-creates it.
    pub record_ahead: bool,
    /// On failure, remove the resource from the state when the provider says the name is
    /// taken by something that is not the cluster's (`NotOwned`): a create recorded ahead
    /// never made it. Other failures of such a create keep it (how far it got is unknown;
    /// the next refresh finds out either way).
    pub forget_if_not_owned: bool,
    /// On failure after the delete half of a replace succeeded, remove the resource from
    /// the state: the old one is gone and the new one was not made.
    pub forget_if_deleted: bool,
}

impl StateRule {
    /// The rule for `action` on a resource of `kind`.
    pub fn of(kind: ResourceKind, action: Action) -> StateRule {
        // Only the bucket's create takes several calls (CreateBucket, then its tags,
        // public-access block and policy); every other create is one call.
        let record_ahead = action == Action::Create && kind == ResourceKind::S3Bucket;
        StateRule {
            record_ahead,
            forget_if_not_owned: record_ahead,
            forget_if_deleted: action == Action::Replace,
        }
    }
}

/// A change made outside stsform since the last apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// The resource.
    pub id: ResourceId,
    /// What the state recorded.
    pub recorded: Spec,
    /// What exists now (`None` = deleted).
    pub live: Option<Spec>,
    /// Attributes that differ.
    pub attributes: Vec<AttributeChange>,
}

/// Counts in Terraform's terms: a replace is one add and one destroy; an adopted resource
/// counts as adopted, and also as changed when it needs an update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Resources adopted (found tagged for the cluster, recorded instead of created).
    #[serde(default)]
    pub adopt: usize,
    /// Resources created (including replacements).
    pub add: usize,
    /// Resources updated in place.
    pub change: usize,
    /// Resources deleted (including replacements).
    pub destroy: usize,
    /// Resources already as desired.
    pub unchanged: usize,
}

/// A resource tagged for the cluster that stsform does not manage and will not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmanaged {
    /// The resource.
    pub id: ResourceId,
    /// Its live attributes.
    pub spec: Spec,
}

/// The plan: every change, sorted by id, plus drift and counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Changes in id order.
    pub changes: Vec<Change>,
    /// Drift found by the refresh, in id order.
    pub drift: Vec<Drift>,
    /// Counts.
    pub summary: Summary,
    /// The changes that break token validation for a running cluster (see `safety`),
    /// in plan order: data, so that every renderer shows them and a check refuses them.
    pub issuer_changes: Vec<crate::safety::IssuerChange>,
    /// The cluster whose ownership tag marks adopted and unmanaged resources (empty when
    /// nothing was looked for).
    pub owner: String,
    /// Tagged for `owner`, not managed, left alone by this plan; in id order.
    pub unmanaged: Vec<Unmanaged>,
    /// What a reviewer should know besides the changes: feature-gated requests, policies
    /// added outside stsform that a delete removes. One line each.
    pub notes: Vec<String>,
    /// The permissions each role policy it creates, changes or deletes grants and revokes
    /// (see `review::permissions`), in plan order.
    pub permissions: Vec<crate::review::permissions::PermissionChange>,
    /// Warnings of the review: risky statements of the requests, the account's quotas
    /// against what the plan creates. Acknowledged ones are kept, marked.
    pub findings: Vec<crate::review::Finding>,
    /// IAM's account summary, when a refreshing plan read it.
    pub account: Option<crate::review::AccountSummary>,
}

/// A plan as the renderers show it: the changes and drift of local files (the key pair,
/// the manifests) with their paths as the user finds them, everything else borrowed from
/// the plan. Only those few are copied (at scale a whole copy of the plan for display
/// was the largest thing a run held).
#[derive(Clone, Debug)]
pub struct Shown<'a> {
    /// The plan: everything but its changes and drift is shown as it is.
    pub plan: &'a Plan,
    /// The plan's changes, in its order, local paths mapped.
    pub changes: Vec<Cow<'a, Change>>,
    /// The plan's drift, in its order, local paths mapped.
    pub drift: Vec<Cow<'a, Drift>>,
}

impl<'a> Shown<'a> {
    /// The plan with its paths as recorded (tests, and output that maps nothing).
    pub fn recorded(plan: &'a Plan) -> Shown<'a> {
        Shown {
            plan,
            changes: plan.changes.iter().map(Cow::Borrowed).collect(),
            drift: plan.drift.iter().map(Cow::Borrowed).collect(),
        }
    }
}

impl Plan {
    /// The warnings not acknowledged in the settings file: what text and Markdown show,
    /// and what `--strict` refuses.
    pub fn warnings(&self) -> impl Iterator<Item = &crate::review::Finding> {
        self.findings.iter().filter(|f| !f.acknowledged)
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The plan as shown to people, with every local path mapped by `f`
    /// (`crate::paths::shown` turns the recorded paths into paths as found from the
    /// working directory). See [`Shown`].
    pub fn shown(&self, f: impl Fn(&str) -> String) -> Shown<'_> {
        let map = |spec: &Option<Spec>| spec.as_ref().map(|s| s.with_local_paths(&f));
        // Only local resources hold paths: the others are borrowed as planned, neither
        // copied nor diffed again.
        let local = |spec: Option<&Spec>| matches!(spec, Some(Spec::KeyPair(_) | Spec::File(_)));
        let changes = self
            .changes
            .iter()
            .map(|c| {
                if !(local(c.before.as_ref()) || local(c.after.as_ref())) {
                    return Cow::Borrowed(c);
                }
                let (before, after) = (map(&c.before), map(&c.after));
                Cow::Owned(Change {
                    attributes: diff_attributes(before.as_ref(), after.as_ref()),
                    before,
                    after,
                    ..c.clone()
                })
            })
            .collect();
        let drift = self
            .drift
            .iter()
            .map(|d| {
                if !(local(Some(&d.recorded)) || local(d.live.as_ref())) {
                    return Cow::Borrowed(d);
                }
                let (recorded, live) = (d.recorded.with_local_paths(&f), map(&d.live));
                Cow::Owned(Drift {
                    id: d.id.clone(),
                    attributes: diff_attributes(Some(&recorded), live.as_ref()),
                    recorded,
                    live,
                })
            })
            .collect();
        Shown {
            plan: self,
            changes,
            drift,
        }
    }

    /// Whether some value is only known after apply: plain unknowns (an offline plan, a
    /// key not generated yet) or late values apply fills in itself.
    pub fn has_unknowns(&self) -> bool {
        self.changes
            .iter()
            .filter_map(|c| c.after.as_ref())
            .any(Spec::has_unknown)
    }

    /// Whether some value is plainly unknown ([`crate::resource::UNKNOWN`]): neither this
    /// plan nor its apply can learn it (an offline plan's account, a key not generated).
    pub fn has_plain_unknowns(&self) -> bool {
        self.changes
            .iter()
            .filter_map(|c| c.after.as_ref())
            .any(Spec::has_plain_unknown)
    }

    /// The changes that cannot be applied as planned: a plain unknown, or a late value
    /// that no change of this plan makes (only a create or replace of the resource that
    /// assigns it can). Empty for a plan apply can carry out.
    pub fn unresolvable(&self) -> Vec<&ResourceId> {
        let made: BTreeSet<Late> = self
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Replace))
            .filter_map(|c| c.after.as_ref())
            .flat_map(Spec::makes)
            .collect();
        self.changes
            .iter()
            .filter(|c| {
                c.after.as_ref().is_some_and(|after| {
                    after.has_plain_unknown()
                        || after.late_values().iter().any(|l| !made.contains(l))
                })
            })
            .map(|c| &c.id)
            .collect()
    }
}

impl Change {
    /// The change with the late values in `values` filled in: its id (a private issuer's
    /// provider is named by the distribution's domain), its attributes and its
    /// dependencies. What it had before is live, and has no late values.
    pub fn filled(&self, values: &[(Late, String)]) -> Change {
        if values.is_empty() {
            return self.clone();
        }
        let after = self.after.as_ref().map(|a| a.filled(values));
        Change {
            id: self.id.filled(values),
            attributes: diff_attributes(self.before.as_ref(), after.as_ref()),
            after,
            depends_on: self.depends_on.iter().map(|d| d.filled(values)).collect(),
            ..self.clone()
        }
    }
}

/// Attribute-level differences between two specs of one kind (either may be absent).
pub fn diff_attributes(before: Option<&Spec>, after: Option<&Spec>) -> Vec<AttributeChange> {
    let as_map = |s: Option<&Spec>| match s.map(Spec::display_attributes) {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (b, a) = (as_map(before), as_map(after));
    let names: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    names
        .into_iter()
        .filter(|n| b.get(*n) != a.get(*n))
        .map(|n| AttributeChange {
            name: n.clone(),
            before: b.get(n).cloned(),
            after: a.get(n).cloned(),
        })
        .collect()
}

/// Computes the plan. Deterministic: the same inputs give the same plan. Untracked
/// resources of the cluster are listed, not deleted.
pub fn compute(desired: &Desired, observed: &Observed) -> Plan {
    compute_with(desired, observed, false)
}

/// [`compute`], deleting the untracked resources of the cluster too when
/// `include_unmanaged` (`destroy --include-unmanaged`).
pub fn compute_with(desired: &Desired, observed: &Observed, include_unmanaged: bool) -> Plan {
    let discovery = &observed.discovery;
    let mut plan = Plan {
        owner: discovery.cluster.clone(),
        notes: desired.notes.clone(),
        ..Plan::default()
    };
    let ids: BTreeSet<&ResourceId> = desired
        .resources
        .keys()
        .chain(observed.resources.keys())
        .chain(discovery.tagged.keys())
        .collect();
    for id in ids {
        let want = desired.resources.get(id);
        let have = observed.resources.get(id);
        // Found outside the state: only what the state does not hold.
        let found = have.is_none().then(|| discovery.tagged.get(id)).flatten();
        if let Some(have) = have
            && have.live.as_ref() != Some(&have.recorded)
        {
            plan.drift.push(Drift {
                id: id.clone(),
                recorded: have.recorded.clone(),
                live: have.live.clone(),
                attributes: diff_attributes(Some(&have.recorded), have.live.as_ref()),
            });
        }
        let live = have
            .and_then(|h| h.live.as_ref())
            .or(found.map(|f| &f.spec));
        let change = |action, reason, depends_on: &[ResourceId], replace_because| Change {
            id: id.clone(),
            action,
            reason,
            before: live.cloned(),
            after: want.map(|w| w.spec.clone()),
            attributes: diff_attributes(live, want.map(|w| &w.spec)),
            replace_because,
            depends_on: depends_on.to_vec(),
            source: want.and_then(|_| desired.sources.get(id).cloned()),
            state_rule: StateRule::of(id.kind, action),
        };
        match (want, have, live) {
            (Some(want), None, Some(live)) => {
                // Adopted: recorded even when nothing differs, brought to `want` if needed.
                let forced = forced_replace(id, live, &want.spec);
                let action = if forced.is_empty() {
                    Action::Update
                } else {
                    Action::Replace
                };
                plan.changes
                    .push(change(action, Reason::Adopted, &want.depends_on, forced));
            }
            (Some(want), None, None) => {
                plan.changes.push(change(
                    Action::Create,
                    Reason::New,
                    &want.depends_on,
                    vec![],
                ));
            }
            (Some(want), Some(_), None) => plan.changes.push(change(
                Action::Create,
                Reason::DeletedOutside,
                &want.depends_on,
                vec![],
            )),
            (Some(want), Some(have), Some(live)) => {
                if *live == want.spec {
                    plan.summary.unchanged += 1;
                    continue;
                }
                let reason = if have.recorded == want.spec {
                    Reason::RepairsDrift
                } else {
                    Reason::InputsChanged
                };
                let forced = forced_replace(id, live, &want.spec);
                let action = if forced.is_empty() {
                    Action::Update
                } else {
                    Action::Replace
                };
                plan.changes
                    .push(change(action, reason, &want.depends_on, forced));
            }
            (None, Some(have), Some(_)) => plan.changes.push(change(
                Action::Delete,
                Reason::NoLongerWanted,
                &have.depends_on,
                vec![],
            )),
            (None, None, Some(spec)) => {
                let found = found.expect("a live value without state comes from discovery");
                if include_unmanaged {
                    plan.changes.push(change(
                        Action::Delete,
                        Reason::Unmanaged,
                        &found.depends_on,
                        vec![],
                    ));
                } else {
                    plan.unmanaged.push(Unmanaged {
                        id: id.clone(),
                        spec: spec.clone(),
                    });
                }
            }
            // Recorded, gone, and not wanted: nothing to do; the drift entry tells.
            (None, Some(_), None) | (None, None, None) => {}
        }
    }
    replace_contents(desired, observed, &mut plan);
    for c in &plan.changes {
        // An adoption that changes nothing is recorded, not counted as a change.
        let adopted = c.reason == Reason::Adopted;
        if adopted {
            plan.summary.adopt += 1;
            if c.attributes.is_empty() {
                continue;
            }
        }
        match c.action {
            Action::Create => plan.summary.add += 1,
            Action::Update => plan.summary.change += 1,
            Action::Replace => {
                plan.summary.add += 1;
                plan.summary.destroy += 1;
            }
            Action::Delete => plan.summary.destroy += 1,
        }
        // A role deleted with policies someone else put on it: say what goes with it.
        if c.id.kind == ResourceKind::IamRole
            && c.action == Action::Delete
            && let Some(extra) = discovery.extra_policies.get(&c.id.name)
        {
            plan.notes.push(extra_policies_note(&c.id, extra));
        }
    }
    plan.issuer_changes = crate::safety::issuer_changes(&plan.changes);
    plan.permissions = crate::review::permissions::changes(&plan);
    plan
}

/// The attributes of `id` that differ between `live` and `want` and cannot change in place.
fn forced_replace(id: &ResourceId, live: &Spec, want: &Spec) -> Vec<String> {
    let attributes = diff_attributes(Some(live), Some(want));
    Spec::replace_attributes(id.kind)
        .iter()
        .filter(|a| attributes.iter().any(|c| c.name == **a))
        .map(|a| a.to_string())
        .collect()
}

/// `iam_role.x: policies added outside stsform are removed before the role is deleted: …`.
fn extra_policies_note(id: &ResourceId, extra: &crate::discover::ExtraPolicies) -> String {
    let mut parts = Vec::new();
    if !extra.inline.is_empty() {
        parts.push(format!(
            "inline {} deleted",
            extra
                .inline
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !extra.managed.is_empty() {
        parts.push(format!(
            "managed {} detached",
            extra
                .managed
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    format!(
        "{id}: has policies stsform did not make; before the role is deleted, {}",
        parts.join("; ")
    )
}

/// Plans a replace of every wanted resource that lives inside a replaced one (see
/// `Spec::container`) and would otherwise be left unchanged or updated in place: the old
/// container takes it along, so it must be made again in the new one. Repeats until no
/// more containers are replaced; changes stay in id order.
fn replace_contents(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    loop {
        let replaced: BTreeSet<ResourceId> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Replace)
            .map(|c| c.id.clone())
            .collect();
        let mut added = false;
        for (id, want) in &desired.resources {
            if !want
                .spec
                .container()
                .is_some_and(|container| replaced.contains(&container))
            {
                continue;
            }
            let Some(live) = observed.resources.get(id).and_then(|o| o.live.as_ref()) else {
                continue; // not there: already a create
            };
            match plan.changes.iter_mut().find(|c| c.id == *id) {
                Some(c) if c.action == Action::Update => {
                    c.action = Action::Replace;
                    c.reason = Reason::ContainerReplaced;
                    c.state_rule = StateRule::of(id.kind, Action::Replace);
                    added = true;
                }
                Some(_) => {}
                None => {
                    plan.summary.unchanged -= 1;
                    plan.changes.push(Change {
                        id: id.clone(),
                        action: Action::Replace,
                        reason: Reason::ContainerReplaced,
                        before: Some(live.clone()),
                        after: Some(want.spec.clone()),
                        attributes: diff_attributes(Some(live), Some(&want.spec)),
                        replace_because: vec![],
                        depends_on: want.depends_on.clone(),
                        source: desired.sources.get(id).cloned(),
                        state_rule: StateRule::of(id.kind, Action::Replace),
                    });
                    added = true;
                }
            }
        }
        if !added {
            break;
        }
        plan.changes.sort_by(|a, b| a.id.cmp(&b.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{ExtraPolicies, Found};
    use crate::resource::{Resource, RoleSpec, Tags};

    fn role(name: &str, description: &str) -> Spec {
        Spec::IamRole(RoleSpec {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:role/{name}"),
            description: description.into(),
            trust_policy: serde_json::json!({}),
            permissions_boundary: None,
            tags: Tags::new(),
        })
    }

    fn desired(roles: &[(&str, &str)]) -> Desired {
        let mut d = Desired::default();
        for (name, description) in roles {
            let id = ResourceId::new(ResourceKind::IamRole, *name);
            d.resources.insert(
                id.clone(),
                Resource {
                    id,
                    spec: role(name, description),
                    depends_on: vec![],
                },
            );
        }
        d
    }

    fn found(roles: &[(&str, &str)]) -> Observed {
        let mut o = Observed {
            refreshed: true,
            ..Observed::default()
        };
        o.discovery.cluster = "c1".into();
        for (name, description) in roles {
            o.discovery.tagged.insert(
                ResourceId::new(ResourceKind::IamRole, *name),
                Found {
                    spec: role(name, description),
                    depends_on: vec![],
                },
            );
        }
        o
    }

    #[test]
    fn local_paths_are_mapped_in_local_changes_only() {
        use crate::resource::{FileContent, FileSpec};
        let file = |path: &str| {
            Spec::File(FileSpec {
                path: path.into(),
                mode: 0o600,
                content: FileContent::Text("x".into()),
            })
        };
        let mut d = desired(&[("r1", "new")]);
        let fid = ResourceId::new(ResourceKind::File, "out/a.yaml");
        d.resources.insert(
            fid.clone(),
            Resource {
                id: fid.clone(),
                spec: file("out/a.yaml"),
                depends_on: vec![],
            },
        );
        let plan = compute(&d, &found(&[("r1", "old")]));
        let shown = plan.shown(|p| format!("../{p}"));
        assert_eq!(shown.changes.len(), plan.changes.len());
        for (was, now) in plan.changes.iter().zip(&shown.changes) {
            if was.id == fid {
                assert!(matches!(now, Cow::Owned(_)));
                assert_eq!(now.after, Some(file("../out/a.yaml")));
                let path = now.attributes.iter().find(|a| a.name == "path").unwrap();
                assert_eq!(path.after, Some(serde_json::json!("../out/a.yaml")));
            } else {
                // A role holds no path: borrowed, exactly as planned.
                assert!(matches!(now, Cow::Borrowed(c) if std::ptr::eq(*c, was)));
            }
        }
        assert!(shown.changes.iter().any(|c| c.id == fid));
    }

    #[test]
    fn late_values_are_resolvable_only_when_the_plan_makes_them() {
        use crate::resource::{Late, OidcProviderSpec};
        let provider = ResourceId::new(
            ResourceKind::IamOidcProvider,
            Late::DistributionDomain.token(),
        );
        let mut d = Desired::default();
        d.resources.insert(
            provider.clone(),
            Resource {
                id: provider.clone(),
                spec: Spec::IamOidcProvider(OidcProviderSpec {
                    url: format!("https://{}", Late::DistributionDomain.token()),
                    arn: String::new(),
                    client_ids: vec![],
                    thumbprints: vec![],
                    tags: Tags::new(),
                }),
                depends_on: vec![],
            },
        );
        let plan = compute(&d, &Observed::default());
        assert!(plan.has_unknowns() && !plan.has_plain_unknowns());
        // No distribution is made by this plan: nothing can tell the domain.
        assert_eq!(plan.unresolvable(), [&provider]);

        let filled =
            plan.changes[0].filled(&[(Late::DistributionDomain, "d1.cloudfront.net".to_string())]);
        assert_eq!(filled.id.name, "d1.cloudfront.net");
        let Some(Spec::IamOidcProvider(p)) = &filled.after else {
            panic!()
        };
        assert_eq!(p.url, "https://d1.cloudfront.net");
        assert!(filled.attributes.iter().any(|a| a.name == "url"));
    }

    #[test]
    fn found_and_desired_is_adopted_counted_once_and_updated_only_if_it_differs() {
        let d = desired(&[("c1-a", "same"), ("c1-b", "wanted")]);
        let o = found(&[("c1-a", "same"), ("c1-b", "found")]);
        let plan = compute(&d, &o);
        let changes: Vec<(Action, Reason, usize)> = plan
            .changes
            .iter()
            .map(|c| (c.action, c.reason, c.attributes.len()))
            .collect();
        assert_eq!(
            changes,
            [
                (Action::Update, Reason::Adopted, 0),
                (Action::Update, Reason::Adopted, 1)
            ]
        );
        assert_eq!(
            (plan.summary.adopt, plan.summary.change, plan.summary.add),
            (2, 1, 0)
        );
        assert!(plan.unmanaged.is_empty());
        assert_eq!(plan.owner, "c1");
    }

    #[test]
    fn found_and_not_desired_is_listed_or_deleted_with_the_flag_and_its_policies_named() {
        let mut o = found(&[("c1-old", "x")]);
        o.discovery.extra_policies.insert(
            "c1-old".into(),
            ExtraPolicies {
                inline: vec!["hand".into()],
                managed: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            },
        );
        let listed = compute(&Desired::empty(), &o);
        assert!(!listed.has_changes());
        assert_eq!(listed.unmanaged.len(), 1);
        assert!(
            listed.notes.is_empty(),
            "nothing is deleted, nothing to say"
        );

        let deleted = compute_with(&Desired::empty(), &o, true);
        assert!(deleted.unmanaged.is_empty());
        let c = &deleted.changes[0];
        assert_eq!((c.action, c.reason), (Action::Delete, Reason::Unmanaged));
        assert_eq!(deleted.summary.destroy, 1);
        assert_eq!(
            deleted.notes,
            [
                "iam_role.c1-old: has policies stsform did not make; before the role is deleted, inline `hand` deleted; managed `arn:aws:iam::aws:policy/ReadOnlyAccess` detached"
            ]
        );
    }

    #[test]
    fn each_change_carries_its_state_rule() {
        // A bucket is made, then tagged: recorded ahead, and forgotten only if the name
        // turns out to be someone else's.
        let bucket = StateRule::of(ResourceKind::S3Bucket, Action::Create);
        assert!(bucket.record_ahead && bucket.forget_if_not_owned && !bucket.forget_if_deleted);
        for kind in ResourceKind::ALL {
            let update = StateRule::of(kind, Action::Update);
            assert_eq!(update, StateRule::default(), "{kind}");
            let replace = StateRule::of(kind, Action::Replace);
            assert!(replace.forget_if_deleted && !replace.record_ahead, "{kind}");
            if kind != ResourceKind::S3Bucket {
                assert_eq!(StateRule::of(kind, Action::Create), StateRule::default());
            }
        }
        // And the plan hands each change its rule.
        let plan = compute(&desired(&[("c1-a", "x")]), &Observed::default());
        assert_eq!(plan.changes[0].state_rule, StateRule::default());
    }

    #[test]
    fn what_the_state_holds_is_never_taken_from_discovery() {
        // Recorded and gone, found again by the scan (it cannot be: discovery skips what
        // the state holds); the state's view wins and the plan re-creates it.
        let d = desired(&[("c1-a", "wanted")]);
        let mut o = found(&[("c1-a", "found")]);
        o.resources.insert(
            ResourceId::new(ResourceKind::IamRole, "c1-a"),
            ObservedResource {
                recorded: role("c1-a", "wanted"),
                live: None,
                depends_on: vec![],
            },
        );
        let plan = compute(&d, &o);
        assert_eq!(plan.changes[0].reason, Reason::DeletedOutside);
        assert_eq!(plan.summary.adopt, 0);
    }
}
