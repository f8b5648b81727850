//! The plan as JSON: a versioned machine contract for CI policies (docs/plan-json.md).
//!
//! Modelled on `terraform show -json` (`actions` lists, `before`/`after`, `after_unknown`)
//! but with policy documents as nested JSON, never as strings to decode again. Built from
//! `#[derive(Serialize)]` views so the field order is the declaration order and the
//! output is deterministic.
//!
//! Versioning: `FORMAT_VERSION` is `major.minor`. Adding a field bumps the minor version;
//! renaming, removing or changing the meaning of a field bumps the major version.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use super::{Meta, SENSITIVE_ATTRIBUTES, redact_attributes};
use crate::plan::{Action, Change, Drift, Reason, Shown, Summary};
use crate::resource::{ResourceId, ResourceKind, Spec, contains_unknown};

/// Version of the document's schema (see the module docs for the rule).
pub const FORMAT_VERSION: &str = "1.2";

/// Writes the plan as pretty-printed JSON with a trailing newline.
pub fn render(shown: &Shown, meta: &Meta, out: &mut dyn Write) -> io::Result<()> {
    let doc = document(shown, meta, SENSITIVE_ATTRIBUTES);
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// The whole document.
#[derive(Serialize)]
struct PlanView<'a> {
    format_version: &'static str,
    stsform_version: &'a str,
    cluster: &'a str,
    region: &'a str,
    state: StateView<'a>,
    aws_reads: usize,
    summary: SummaryView,
    changes: Vec<ChangeView<'a>>,
    drift: Vec<DriftView<'a>>,
    has_changes: bool,
    issuer_changes: Vec<IssuerChangeView<'a>>,
    owner: &'a str,
    unmanaged: Vec<UnmanagedView<'a>>,
    notes: &'a [String],
    permission_changes: &'a [crate::review::permissions::PermissionChange],
    findings: Vec<FindingView<'a>>,
    account: Option<crate::review::AccountSummary>,
}

/// The plan's counts, with the permissions added and removed across its role policies.
#[derive(Serialize)]
struct SummaryView {
    #[serde(flatten)]
    resources: Summary,
    permissions_added: usize,
    permissions_removed: usize,
}

/// One warning of the review, flat.
#[derive(Serialize)]
struct FindingView<'a> {
    check: crate::review::Check,
    acknowledged: bool,
    request: Option<&'a str>,
    source: Option<&'a str>,
    field: Option<&'a str>,
    action: Option<&'a str>,
    message: &'a str,
}

/// A resource tagged for the cluster that the plan leaves alone.
#[derive(Serialize)]
struct UnmanagedView<'a> {
    address: String,
    kind: ResourceKind,
    name: &'a str,
    attributes: Value,
}

/// A change that breaks token validation for a running cluster (see `safety`).
#[derive(Serialize)]
struct IssuerChangeView<'a> {
    address: String,
    change: &'a str,
}

/// The state the plan was made from.
#[derive(Serialize)]
struct StateView<'a> {
    serial: u64,
    lineage: &'a str,
}

/// One planned change.
#[derive(Serialize)]
struct ChangeView<'a> {
    address: String,
    kind: ResourceKind,
    name: &'a str,
    actions: &'static [&'static str],
    reason: Reason,
    replace_because: &'a [String],
    before: Option<Value>,
    after: Option<Value>,
    after_unknown: Vec<String>,
    changed_attributes: Vec<&'a str>,
    depends_on: &'a [ResourceId],
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<KeysView>,
}

/// How keys.json's keys change, by kid (only on keys.json; since 1.2).
#[derive(Serialize)]
struct KeysView {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    kept: Vec<String>,
    after: Vec<String>,
    reordered: bool,
    reformatted: bool,
    after_unknown: bool,
    breaks_tokens: bool,
    before_invalid: Option<String>,
    after_invalid: Option<String>,
}

impl KeysView {
    fn of(k: crate::jwks::KeyChanges) -> KeysView {
        KeysView {
            breaks_tokens: k.breaks_tokens(),
            added: k.added,
            removed: k.removed,
            changed: k.changed,
            kept: k.kept,
            after: k.after,
            reordered: k.reordered,
            reformatted: k.reformatted,
            after_unknown: k.after_unknown,
            before_invalid: k.before_invalid,
            after_invalid: k.after_invalid,
        }
    }
}

/// One change made outside stsform.
#[derive(Serialize)]
struct DriftView<'a> {
    address: String,
    kind: ResourceKind,
    name: &'a str,
    deleted: bool,
    recorded: Value,
    live: Option<Value>,
    changed_attributes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<KeysView>,
}

/// Terraform's action lists: a replace is a delete, then a create.
fn actions(action: Action) -> &'static [&'static str] {
    match action {
        Action::Create => &["create"],
        Action::Update => &["update"],
        Action::Delete => &["delete"],
        Action::Replace => &["delete", "create"],
    }
}

/// Top-level attributes whose value is, or contains, the unknown placeholder.
fn unknown_attributes(after: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(map)) = after else {
        return Vec::new();
    };
    map.iter()
        .filter(|(_, v)| match v {
            Value::String(s) => contains_unknown(s),
            Value::Object(_) | Value::Array(_) => contains_unknown(&v.to_string()),
            _ => false,
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn document<'a>(
    shown: &'a Shown<'a>,
    meta: &'a Meta,
    sensitive: &[(ResourceKind, &str)],
) -> PlanView<'a> {
    let plan = shown.plan;
    let attributes =
        |kind, spec: &Spec| redact_attributes(sensitive, kind, spec.display_attributes());
    let change = |c: &'a Change| {
        let after = c.after.as_ref().map(|s| attributes(c.id.kind, s));
        ChangeView {
            address: c.id.to_string(),
            kind: c.id.kind,
            name: &c.id.name,
            actions: actions(c.action),
            reason: c.reason,
            replace_because: &c.replace_because,
            before: c.before.as_ref().map(|s| attributes(c.id.kind, s)),
            after_unknown: unknown_attributes(after.as_ref()),
            after,
            changed_attributes: c.attributes.iter().map(|a| a.name.as_str()).collect(),
            depends_on: &c.depends_on,
            source: c.source.as_deref(),
            keys: c.keys().map(KeysView::of),
        }
    };
    let drift = |d: &'a Drift| DriftView {
        address: d.id.to_string(),
        kind: d.id.kind,
        name: &d.id.name,
        deleted: d.live.is_none(),
        recorded: attributes(d.id.kind, &d.recorded),
        live: d.live.as_ref().map(|s| attributes(d.id.kind, s)),
        changed_attributes: d.attributes.iter().map(|a| a.name.as_str()).collect(),
        keys: d.keys().map(KeysView::of),
    };
    PlanView {
        format_version: FORMAT_VERSION,
        stsform_version: &meta.version,
        cluster: &meta.cluster,
        region: &meta.region,
        state: StateView {
            serial: meta.serial,
            lineage: &meta.lineage,
        },
        aws_reads: meta.reads,
        summary: {
            let (added, removed) = crate::review::permissions::totals(&plan.permissions);
            SummaryView {
                resources: plan.summary,
                permissions_added: added,
                permissions_removed: removed,
            }
        },
        changes: shown.changes.iter().map(|c| change(c)).collect(),
        drift: shown.drift.iter().map(|d| drift(d)).collect(),
        has_changes: plan.has_changes(),
        issuer_changes: plan
            .issuer_changes
            .iter()
            .map(|c| IssuerChangeView {
                address: c.id.to_string(),
                change: &c.what,
            })
            .collect(),
        owner: &plan.owner,
        unmanaged: plan
            .unmanaged
            .iter()
            .map(|u| UnmanagedView {
                address: u.id.to_string(),
                kind: u.id.kind,
                name: &u.id.name,
                attributes: attributes(u.id.kind, &u.spec),
            })
            .collect(),
        notes: &plan.notes,
        permission_changes: &plan.permissions,
        findings: plan
            .findings
            .iter()
            .map(|f| FindingView {
                check: f.check,
                acknowledged: f.acknowledged,
                request: f.origin.as_ref().map(|o| o.request.as_str()),
                source: f.origin.as_ref().map(|o| o.source.as_str()),
                field: f.origin.as_ref().map(|o| o.field.as_str()),
                action: f.action.as_deref(),
                message: &f.message,
            })
            .collect(),
        account: plan.account,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::resource::{FileContent, FileSpec, UNKNOWN};

    fn meta() -> Meta {
        Meta {
            cluster: "c".into(),
            region: "us-east-2".into(),
            serial: 3,
            lineage: "l".into(),
            reads: 0,
            version: "test".into(),
        }
    }

    fn file(content: &str) -> Spec {
        Spec::File(FileSpec {
            path: "out/secret".into(),
            mode: 0o600,
            content: FileContent::Text(content.into()),
        })
    }

    #[test]
    fn the_sensitive_hook_redacts_changes_and_drift() {
        let id = ResourceId::new(ResourceKind::File, "secret");
        let recorded = file("hunter2");
        let live = file("hunter3");
        let want = file("hunter4");
        let plan = Plan {
            changes: vec![Change {
                id: id.clone(),
                action: Action::Update,
                reason: Reason::InputsChanged,
                attributes: crate::plan::diff_attributes(Some(&live), Some(&want)),
                before: Some(live.clone()),
                after: Some(want),
                replace_because: vec![],
                depends_on: vec![],
                source: None,
                state_rule: crate::plan::StateRule::of(ResourceKind::File, Action::Update),
            }],
            drift: vec![Drift {
                id,
                attributes: crate::plan::diff_attributes(Some(&recorded), Some(&live)),
                recorded,
                live: Some(live),
            }],
            summary: Summary {
                change: 1,
                ..Summary::default()
            },
            ..Plan::default()
        };
        let meta = meta();
        let sensitive = [(ResourceKind::File, "content")];
        let text =
            serde_json::to_string(&document(&Shown::recorded(&plan), &meta, &sensitive)).unwrap();
        assert!(!text.contains("hunter"), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["changes"][0]["before"]["content"],
            super::super::SENSITIVE
        );
        assert_eq!(v["changes"][0]["after"]["content"], super::super::SENSITIVE);
        assert_eq!(v["changes"][0]["after"]["path"], "out/secret");
        assert_eq!(v["changes"][0]["changed_attributes"][0], "content");
        assert_eq!(
            v["drift"][0]["recorded"]["content"],
            super::super::SENSITIVE
        );
        assert_eq!(v["drift"][0]["live"]["content"], super::super::SENSITIVE);

        // Without the hook the values are there: the test above proves redaction, not absence.
        let text = serde_json::to_string(&document(&Shown::recorded(&plan), &meta, &[])).unwrap();
        assert!(text.contains("hunter4"));

        // The other renderers share the hook.
        let a = &plan.changes[0].attributes[0];
        let hidden = crate::render::redact_change(&sensitive, ResourceKind::File, a);
        assert_eq!(
            hidden.after,
            Some(Value::String(super::super::SENSITIVE.into()))
        );
        let shown = crate::render::redact_change(&[], ResourceKind::File, a);
        assert_eq!(shown.after, a.after);
    }

    #[test]
    fn unknown_attributes_are_listed_by_name() {
        let after = serde_json::json!({
            "arn": UNKNOWN,
            "name": "r",
            "content": {"text": format!("role_arn = {UNKNOWN}\n")},
            "mode": 384,
        });
        assert_eq!(unknown_attributes(Some(&after)), ["arn", "content"]);
        assert!(unknown_attributes(None).is_empty());
    }
}
