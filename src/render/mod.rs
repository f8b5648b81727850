//! Renderers: format a `Plan` for people and machines. They never compute diffs;
//! everything they show arrives in the `Plan`, as a `plan::Shown` (its local files'
//! paths as the user finds them, the rest borrowed).
//!
//! `text` is for terminals, `markdown` for PR comments and `$GITHUB_STEP_SUMMARY`, `json`
//! is the versioned machine contract (docs/plan-json.md). Markdown and text show nothing
//! the JSON lacks, so a CI policy can always check what a reviewer sees. `rotation` formats
//! `rotate-key`'s report (a `rotation::Status`, not a plan).

use std::borrow::Cow;

use serde_json::Value;

use crate::plan::AttributeChange;
use crate::resource::ResourceKind;

pub mod json;
pub mod markdown;
pub mod rotation;
pub mod text;

/// Facts about the run that the plan itself does not hold, shown by markdown and json.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Cluster name (`--name`).
    pub cluster: String,
    /// AWS region.
    pub region: String,
    /// Serial of the state the plan was made from (0 for a state never saved).
    pub serial: u64,
    /// Lineage of that state.
    pub lineage: String,
    /// AWS read calls the refresh made (0 for `--refresh=false`).
    pub reads: usize,
    /// The version of stsform that made the plan (`env!("CARGO_PKG_VERSION")`, or a
    /// saved plan's).
    pub version: String,
}

/// Said under a plan whose values wait for what CloudFront assigns (a private issuer's
/// distribution domain, and what names it).
pub(crate) const LATE_NOTE: &str = "Values shown as (known after apply: …) are what CloudFront \
     assigns when it makes the distribution and its origin access control (the private \
     issuer's domain among them); apply fills them in before the changes that need them run.";

/// Whether some change of `plan` waits for what CloudFront assigns.
pub(crate) fn has_late(plan: &crate::plan::Plan) -> bool {
    plan.changes
        .iter()
        .filter_map(|c| c.after.as_ref())
        .any(|s| !s.late_values().is_empty())
}

/// What every renderer shows instead of a sensitive value.
pub const SENSITIVE: &str = "(sensitive)";

/// Attributes whose values no renderer may show, by kind.
///
/// Empty on purpose: nothing in a `Spec` is secret today (the private key is referred to
/// by path and `kid` only, never held). A secret attribute added later goes here, and
/// text, markdown and json then show `(sensitive)` in its place.
pub(crate) const SENSITIVE_ATTRIBUTES: &[(ResourceKind, &str)] = &[];

fn is_sensitive(sensitive: &[(ResourceKind, &str)], kind: ResourceKind, name: &str) -> bool {
    sensitive.iter().any(|(k, n)| *k == kind && *n == name)
}

/// `attributes` (a JSON object) with the values of sensitive attributes replaced.
pub(crate) fn redact_attributes(
    sensitive: &[(ResourceKind, &str)],
    kind: ResourceKind,
    mut attributes: Value,
) -> Value {
    if let Value::Object(map) = &mut attributes {
        for (name, value) in map.iter_mut() {
            if is_sensitive(sensitive, kind, name) {
                *value = Value::String(SENSITIVE.into());
            }
        }
    }
    attributes
}

/// An attribute change with its values replaced if the attribute is sensitive.
pub(crate) fn redact_change<'a>(
    sensitive: &[(ResourceKind, &str)],
    kind: ResourceKind,
    change: &'a AttributeChange,
) -> Cow<'a, AttributeChange> {
    if !is_sensitive(sensitive, kind, &change.name) {
        return Cow::Borrowed(change);
    }
    let hide = |v: &Option<Value>| v.as_ref().map(|_| Value::String(SENSITIVE.into()));
    Cow::Owned(AttributeChange {
        name: change.name.clone(),
        before: hide(&change.before),
        after: hide(&change.after),
    })
}

/// The attribute of `keys.json` that [`key_lines`] shows by kid instead of as text.
pub(crate) const KEYS_ATTRIBUTE: &str = "content";

/// How `keys.json`'s keys change, one `(sign, text)` line per key: the keys served after in
/// their order (`+` added, `~` other material under the same kid, ` ` kept), then the
/// removed ones (`-`); when keys.json is updated (`update`), each added or removed one
/// says what happens to the tokens signed with it. Then what else a reviewer should know
/// (form-only changes, a side that is not a JWKS).
pub(crate) fn key_lines(k: &crate::jwks::KeyChanges, update: bool) -> Vec<(char, String)> {
    let note = |text: &str| {
        if update {
            format!(" ({text})")
        } else {
            String::new()
        }
    };
    let mut lines = Vec::new();
    if let Some(why) = &k.before_invalid {
        lines.push((' ', format!("# before: not a JWKS ({why})")));
    }
    for kid in &k.after {
        lines.push(if k.added.contains(kid) {
            (
                '+',
                format!("kid {kid}{}", note("added: tokens signed with it will verify")),
            )
        } else if k.changed.contains(kid) {
            (
                '~',
                format!(
                    "kid {kid} (other key material under this kid: tokens signed with the old one will be rejected)"
                ),
            )
        } else {
            (' ', format!("kid {kid}"))
        });
    }
    if k.after_unknown {
        lines.push(('+', format!("kid {}", crate::resource::UNKNOWN)));
    }
    for kid in &k.removed {
        lines.push((
            '-',
            format!(
                "kid {kid}{}",
                note("removed: tokens signed with it will be rejected")
            ),
        ));
    }
    if let Some(why) = &k.after_invalid {
        lines.push((' ', format!("# after: not a JWKS ({why})")));
    }
    if k.reordered {
        lines.push((' ', "# the keys are listed in another order".to_string()));
    }
    if k.reformatted {
        lines.push((
            ' ',
            "# the same keys; only the document's formatting changes".to_string(),
        ));
    }
    lines
}

/// What happens to a resource, in Terraform's words (`will be created`).
pub(crate) fn action_phrase(action: crate::plan::Action) -> &'static str {
    use crate::plan::Action;
    match action {
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::Delete => "will be destroyed",
        Action::Replace => "must be replaced",
    }
}

/// Why, when the reason is not simply "the inputs say so": a parenthesised note.
pub(crate) fn reason_note(reason: crate::plan::Reason) -> &'static str {
    use crate::plan::Reason;
    match reason {
        Reason::DeletedOutside => " (it was deleted outside stsform)",
        Reason::RepairsDrift => " (repairs the change made outside stsform)",
        Reason::NoLongerWanted => " (no longer in the configuration)",
        Reason::DestroyRequested => " (destroy requested)",
        Reason::ContainerReplaced => " (what it lives in is replaced)",
        Reason::New | Reason::InputsChanged | Reason::Adopted | Reason::Unmanaged => "",
    }
}

/// The cluster a plan's ownership phrases name.
pub(crate) fn owner(plan: &crate::plan::Plan) -> &str {
    if plan.owner.is_empty() {
        "this cluster"
    } else {
        &plan.owner
    }
}

/// What happens to a resource and why, after its address: `will be created`, `exists,
/// tagged for prod-east: will be adopted`, `will be destroyed (tagged for prod-east, not
/// managed)`.
pub(crate) fn change_phrase(c: &crate::plan::Change, owner: &str) -> String {
    use crate::plan::{Action, Reason};
    match c.reason {
        Reason::Adopted => {
            let then = match (c.action, c.attributes.is_empty()) {
                (_, true) => "",
                (Action::Replace, false) => " and replaced",
                _ => " and updated in-place",
            };
            format!("exists, tagged for {owner}: will be adopted{then}")
        }
        Reason::Unmanaged => format!("will be destroyed (tagged for {owner}, not managed)"),
        reason => format!("{}{}", action_phrase(c.action), reason_note(reason)),
    }
}

/// `Plan: 1 to adopt, 2 to add, 0 to change, 0 to destroy.` (adopt only when there is).
pub(crate) fn summary_line(s: crate::plan::Summary) -> String {
    let adopt = if s.adopt > 0 {
        format!("{} to adopt, ", s.adopt)
    } else {
        String::new()
    };
    format!(
        "{adopt}{} to add, {} to change, {} to destroy",
        s.add, s.change, s.destroy
    )
}

/// The heading of the untracked resources a plan lists.
pub(crate) fn unmanaged_heading(owner: &str) -> String {
    format!(
        "Tagged for {owner}, not managed (not in the state; this plan leaves them alone: `stsform destroy --include-unmanaged` deletes them, `stsform import` adopts them)"
    )
}

/// `5 permissions added, 2 removed` across the plan's role policies; `None` when none
/// change.
pub(crate) fn permissions_line(plan: &crate::plan::Plan) -> Option<String> {
    let (added, removed) = crate::review::permissions::totals(&plan.permissions);
    (added + removed > 0).then(|| {
        format!(
            "{added} permission{} added, {removed} removed",
            if added == 1 { "" } else { "s" }
        )
    })
}

/// The heading of a role policy's permission lines: its address and the request it is
/// made from.
pub(crate) fn permission_heading(change: &crate::review::permissions::PermissionChange) -> String {
    match &change.source {
        Some(source) => format!("{} (from {source})", change.id),
        None => change.id.to_string(),
    }
}

/// How many warnings were acknowledged, as the line that says they are not shown.
pub(crate) fn acknowledged_line(plan: &crate::plan::Plan) -> Option<String> {
    let n = plan.findings.iter().filter(|f| f.acknowledged).count();
    (n > 0).then(|| {
        format!(
            "{n} acknowledged warning{} not shown (`--format json` lists {})",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        )
    })
}

/// The settings-file entry that would acknowledge the first warning that can be, as an
/// example for the reader.
pub(crate) fn acknowledge_example(plan: &crate::plan::Plan) -> Option<String> {
    plan.warnings()
        .find_map(crate::review::Finding::acknowledgement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::{KeyChanges, diff};
    use crate::plan::{Drift, Plan, diff_attributes};
    use crate::resource::{ObjectSpec, ResourceId, Spec};

    fn jwks(kids: &[&str]) -> String {
        let keys: Vec<Value> = kids
            .iter()
            .map(|k| serde_json::json!({"kid": k, "kty": "RSA"}))
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({ "keys": keys })).unwrap()
    }

    fn lines(k: &KeyChanges, update: bool) -> Vec<String> {
        key_lines(k, update)
            .into_iter()
            .map(|(sign, text)| format!("{sign} {text}"))
            .collect()
    }

    #[test]
    fn key_lines_follow_the_new_order_then_say_what_was_removed() {
        let (a, ab, b) = (jwks(&["A"]), jwks(&["A", "B"]), jwks(&["B"]));
        assert_eq!(
            lines(&diff(Some(&a), Some(&ab)), true),
            [
                "  kid A",
                "+ kid B (added: tokens signed with it will verify)"
            ]
        );
        assert_eq!(
            lines(&diff(Some(&ab), Some(&b)), true),
            [
                "  kid B",
                "- kid A (removed: tokens signed with it will be rejected)"
            ]
        );
        // A create or a delete lists the keys without the notes.
        assert_eq!(lines(&diff(None, Some(&ab)), false), ["+ kid A", "+ kid B"]);
        assert_eq!(
            lines(&diff(Some(&a), Some(crate::resource::UNKNOWN)), true),
            [
                "+ kid (known after apply)",
                "- kid A (removed: tokens signed with it will be rejected)"
            ]
        );
        assert_eq!(
            lines(&diff(Some(&ab), Some(&jwks(&["B", "A"]))), true),
            [
                "  kid B",
                "  kid A",
                "  # the keys are listed in another order"
            ]
        );
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(&a).unwrap()).unwrap();
        assert_eq!(
            lines(&diff(Some(&compact), Some(&a)), true),
            [
                "  kid A",
                "  # the same keys; only the document's formatting changes"
            ]
        );
        assert_eq!(
            lines(&diff(Some("<html>"), Some(&a)), true),
            [
                "  # before: not a JWKS (not valid JSON (expected value at line 1 column 1))",
                "+ kid A (added: tokens signed with it will verify)"
            ]
        );
        let mut tampered: Value = serde_json::from_str(&a).unwrap();
        tampered["keys"][0]["n"] = Value::String("AQAB".into());
        assert_eq!(
            lines(&diff(Some(&tampered.to_string()), Some(&a)), true),
            [
                "~ kid A (other key material under this kid: tokens signed with the old one will be rejected)"
            ]
        );
    }

    /// The documented `jq` merge done by hand shows up as drift by kid.
    #[test]
    fn keys_json_changed_outside_is_drift_by_kid() {
        let object = |content: String| {
            Spec::S3Object(ObjectSpec {
                bucket: "c-oidc".into(),
                key: "keys.json".into(),
                content_type: "application/json".into(),
                tags: Default::default(),
                content,
            })
        };
        let (recorded, live) = (object(jwks(&["A"])), object(jwks(&["A", "B"])));
        let plan = Plan {
            drift: vec![Drift {
                id: ResourceId::new(ResourceKind::S3Object, "c-oidc/keys.json"),
                attributes: diff_attributes(Some(&recorded), Some(&live)),
                recorded,
                live: Some(live),
            }],
            ..Plan::default()
        };
        let mut out = Vec::new();
        text::render(&crate::plan::Shown::recorded(&plan), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains(
                "  # s3_object.c-oidc/keys.json has changed\n    ~ content = keys by kid:\n          kid A\n        + kid B (added: tokens signed with it will verify)\n"
            ),
            "{out}"
        );
    }
}
