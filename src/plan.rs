//! plan::compute: what must change to get from what is to what should be. Pure.
//!
//! Owns `Plan`, `Change`, `Action`, `Drift` and the attribute-level differences that
//! renderers show. Input is `Desired` (from derive) and `Observed` (state, refreshed or
//! not); output is a value the executor follows exactly. Must not be async, do I/O or
//! print. Destroy is `compute(&Desired::empty(), &observed)`: one code path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::desired::Desired;
use crate::resource::{ResourceId, Spec};

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

/// Counts in Terraform's terms: a replace is one add and one destroy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Resources created (including replacements).
    pub add: usize,
    /// Resources updated in place.
    pub change: usize,
    /// Resources deleted (including replacements).
    pub destroy: usize,
    /// Resources already as desired.
    pub unchanged: usize,
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
}

impl Plan {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether some value is only known after apply (an offline plan cannot be applied).
    pub fn has_unknowns(&self) -> bool {
        self.changes
            .iter()
            .filter_map(|c| c.after.as_ref())
            .any(Spec::has_unknown)
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

/// Computes the plan. Deterministic: the same inputs give the same plan.
pub fn compute(desired: &Desired, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    let ids: BTreeSet<&ResourceId> = desired
        .resources
        .keys()
        .chain(observed.resources.keys())
        .collect();
    for id in ids {
        let want = desired.resources.get(id);
        let have = observed.resources.get(id);
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
        let live = have.and_then(|h| h.live.as_ref());
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
        };
        match (want, have, live) {
            (Some(want), None, _) => {
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
                let attributes = diff_attributes(Some(live), Some(&want.spec));
                let forced: Vec<String> = Spec::replace_attributes(id.kind)
                    .iter()
                    .filter(|a| attributes.iter().any(|c| c.name == **a))
                    .map(|a| a.to_string())
                    .collect();
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
            // Recorded, gone, and not wanted: nothing to do; the drift entry tells.
            (None, Some(_), None) | (None, None, _) => {}
        }
    }
    replace_contents(desired, observed, &mut plan);
    for c in &plan.changes {
        match c.action {
            Action::Create => plan.summary.add += 1,
            Action::Update => plan.summary.change += 1,
            Action::Replace => {
                plan.summary.add += 1;
                plan.summary.destroy += 1;
            }
            Action::Delete => plan.summary.destroy += 1,
        }
    }
    plan.issuer_changes = crate::safety::issuer_changes(&plan.changes);
    plan
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
