//! Permission changes: for each role policy a plan creates, changes or deletes, the
//! permissions granted and revoked, one `action on resource` line each.
//!
//! A release upgrade's new permissions hide inside JSON diffs; these lines say them
//! plainly: `+ ec2:DescribeInstances on *`, `- kms:Decrypt on * when Bool
//! kms:GrantIsForAWSResource = true`. A policy is expanded into (effect, action, resource,
//! condition) tuples and the two sets compared; actions compare case-insensitively, as IAM
//! compares them. Pure: computed from the plan's before and after documents.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::iam_policy;
use crate::plan::{Change, Plan};
use crate::resource::{ResourceId, ResourceKind, Spec};

/// One permission: an effect, an action pattern, a resource pattern and the condition
/// under which it applies.
///
/// A statement of `a` actions and `r` resources expands into `a × r` of these, and a plan
/// holds one per permission each role policy grants or revokes (at scale, tens of
/// thousands): what they repeat (the effect, each action, each resource, the condition) is
/// shared with the other permissions of the statement, not copied into each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Permission {
    /// `Allow` or `Deny`.
    #[serde(serialize_with = "as_str")]
    pub effect: Arc<str>,
    /// The action (or, with `not_action`, the action excepted), as written.
    #[serde(serialize_with = "as_str")]
    pub action: Arc<str>,
    /// The resource (or, with `not_resource`, the resource excepted).
    #[serde(serialize_with = "as_str")]
    pub resource: Arc<str>,
    /// The statement's condition block (operator → key → values), if any.
    #[serde(serialize_with = "as_value")]
    pub condition: Option<Arc<Value>>,
    /// From a `NotAction` statement: every action but `action`.
    pub not_action: bool,
    /// From a `NotResource` statement: every resource but `resource`.
    pub not_resource: bool,
}

// Shared values serialize as the plain string and JSON they hold, as the owned ones did
// (plan JSON's `permission_changes` is unchanged; serde's `rc` feature is not enabled).
fn as_str<S: serde::Serializer>(s: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(s)
}

fn as_value<S: serde::Serializer>(
    v: &Option<Arc<Value>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    v.as_deref().serialize(serializer)
}

impl Permission {
    /// `ec2:DescribeInstances on *`, `deny s3:* on arn:… when Bool aws:SecureTransport = false`.
    pub fn line(&self) -> String {
        let effect = if &*self.effect == "Deny" { "deny " } else { "" };
        let action = if self.not_action {
            format!("every action but {}", self.action)
        } else {
            self.action.to_string()
        };
        let resource = if self.not_resource {
            format!("every resource but {}", self.resource)
        } else {
            self.resource.to_string()
        };
        let condition = self
            .condition
            .as_ref()
            .map(|c| format!(" when {}", condition_text(c)))
            .unwrap_or_default();
        format!("{effect}{action} on {resource}{condition}")
    }

    /// What makes two permissions the same: actions compare case-insensitively.
    fn key(&self) -> (String, bool, String, bool, String, String) {
        (
            self.action.to_ascii_lowercase(),
            self.not_action,
            self.resource.to_string(),
            self.not_resource,
            self.condition
                .as_deref()
                .map(Value::to_string)
                .unwrap_or_default(),
            self.effect.to_string(),
        )
    }
}

/// `Bool kms:GrantIsForAWSResource = true and StringEquals ec2:CreateAction in [a, b]`.
fn condition_text(condition: &Value) -> String {
    let Value::Object(ops) = condition else {
        return condition.to_string();
    };
    let mut parts = Vec::new();
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            parts.push(format!("{op} {keys}"));
            continue;
        };
        for (key, values) in keys {
            let items: Vec<String> = match values {
                Value::Array(items) => items.iter().map(scalar).collect(),
                other => vec![scalar(other)],
            };
            match items.as_slice() {
                [one] => parts.push(format!("{op} {key} = {one}")),
                many => parts.push(format!("{op} {key} in [{}]", many.join(", "))),
            }
        }
    }
    parts.join(" and ")
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The permissions a policy document grants or denies, in document order, one per
/// action × resource of each statement.
pub fn expand(document: &Value) -> Vec<Permission> {
    let canonical = iam_policy::canonicalize(document);
    let statements: &[Value] = match canonical.get("Statement") {
        Some(Value::Array(items)) => items,
        _ => &[],
    };
    let strings = |v: Option<&Value>| -> Vec<Arc<str>> {
        match v {
            Some(Value::Array(items)) => items.iter().map(|i| scalar(i).into()).collect(),
            Some(other) => vec![scalar(other).into()],
            None => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for statement in statements {
        let effect: Arc<str> = statement
            .get("Effect")
            .map(scalar)
            .unwrap_or_else(|| "Allow".into())
            .into();
        let (actions, not_action) = match statement.get("NotAction") {
            Some(v) => (strings(Some(v)), true),
            None => (strings(statement.get("Action")), false),
        };
        let (resources, not_resource) = match statement.get("NotResource") {
            Some(v) => (strings(Some(v)), true),
            None => (strings(statement.get("Resource")), false),
        };
        let resources = if resources.is_empty() {
            vec!["(no resource)".into()]
        } else {
            resources
        };
        let condition = statement
            .get("Condition")
            .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()))
            .map(|c| Arc::new(c.clone()));
        for action in &actions {
            for resource in &resources {
                out.push(Permission {
                    effect: Arc::clone(&effect),
                    action: Arc::clone(action),
                    resource: Arc::clone(resource),
                    condition: condition.clone(),
                    not_action,
                    not_resource,
                });
            }
        }
    }
    out
}

/// The permission changes of one role policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PermissionChange {
    /// The policy (`iam_role_policy.<role>`).
    #[serde(rename = "address")]
    pub id: ResourceId,
    /// The role it belongs to.
    pub role: String,
    /// The request it is made from (`file: document N`), when there is one.
    pub source: Option<String>,
    /// Permissions after the change that were not there before, sorted.
    pub granted: Vec<Permission>,
    /// Permissions before the change that are gone after it, sorted.
    pub revoked: Vec<Permission>,
}

fn document(spec: Option<&Spec>) -> Option<&Value> {
    match spec {
        Some(Spec::IamRolePolicy(p)) => Some(&p.document),
        _ => None,
    }
}

fn role_of(change: &Change) -> String {
    match change.after.as_ref().or(change.before.as_ref()) {
        Some(Spec::IamRolePolicy(p)) => p.role.clone(),
        _ => change.id.name.clone(),
    }
}

/// `before` − `after`, by meaning, sorted by action, resource and condition.
fn difference(before: &[Permission], after: &[Permission]) -> Vec<Permission> {
    let after: BTreeMap<_, _> = after.iter().map(|p| (p.key(), p)).collect();
    let mut out: BTreeMap<_, Permission> = BTreeMap::new();
    for p in before {
        if !after.contains_key(&p.key()) {
            out.entry(p.key()).or_insert_with(|| p.clone());
        }
    }
    out.into_values().collect()
}

/// The permission changes of every role policy the plan touches, in plan order; policies
/// whose permissions stay the same (a change of name or role only) are left out.
pub fn changes(plan: &Plan) -> Vec<PermissionChange> {
    plan.changes
        .iter()
        .filter(|c| c.id.kind == ResourceKind::IamRolePolicy)
        .filter_map(|c| {
            let before = document(c.before.as_ref()).map(expand).unwrap_or_default();
            let after = document(c.after.as_ref()).map(expand).unwrap_or_default();
            let granted = difference(&after, &before);
            let revoked = difference(&before, &after);
            (!granted.is_empty() || !revoked.is_empty()).then(|| PermissionChange {
                id: c.id.clone(),
                role: role_of(c),
                source: c.source.clone(),
                granted,
                revoked,
            })
        })
        .collect()
}

/// Permissions granted and revoked across all changes.
pub fn totals(changes: &[PermissionChange]) -> (usize, usize) {
    changes.iter().fold((0, 0), |(g, r), c| {
        (g + c.granted.len(), r + c.revoked.len())
    })
}

/// The lines of one role's changes: `+ …` for each granted, then `- …` for each revoked.
pub fn lines(change: &PermissionChange) -> Vec<String> {
    change
        .granted
        .iter()
        .map(|p| format!("+ {}", p.line()))
        .chain(change.revoked.iter().map(|p| format!("- {}", p.line())))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{Action, Reason};
    use crate::resource::RolePolicySpec;

    fn policy(document: Value) -> Spec {
        Spec::IamRolePolicy(RolePolicySpec {
            role: "c-ns-secret".into(),
            name: "c-ns-secret".into(),
            document: iam_policy::canonicalize(&document),
        })
    }

    fn change(action: Action, before: Option<Value>, after: Option<Value>) -> Change {
        let before = before.map(policy);
        let after = after.map(policy);
        Change {
            id: ResourceId::new(ResourceKind::IamRolePolicy, "c-ns-secret"),
            action,
            reason: Reason::InputsChanged,
            attributes: crate::plan::diff_attributes(before.as_ref(), after.as_ref()),
            before,
            after,
            replace_because: vec![],
            depends_on: vec![],
            source: Some("credreqs/a.yaml: document 1".into()),
            state_rule: crate::plan::StateRule::of(ResourceKind::IamRolePolicy, action),
        }
    }

    fn all_lines(plan: &Plan) -> Vec<String> {
        changes(plan).iter().flat_map(lines).collect()
    }

    #[test]
    fn an_upgrade_lists_what_it_grants_and_revokes() {
        let before = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ec2:DescribeInstances", "tag:GetResources"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]});
        let after = json!({"Version": "2012-10-17", "Statement": [
            // Same permission, other case and order: not a change.
            {"Effect": "Allow", "Action": ["ec2:describeinstances", "ec2:DescribeVolumes"], "Resource": "*"},
            // Same action, now under another condition: one revoked, one granted.
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": ["ec2.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]}}},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": ["arn:aws:s3:::a", "arn:aws:s3:::b"]},
        ]});
        let plan = Plan {
            changes: vec![change(Action::Update, Some(before), Some(after))],
            ..Plan::default()
        };
        assert_eq!(
            all_lines(&plan),
            [
                "+ ec2:DescribeVolumes on *",
                "+ kms:Decrypt on * when StringEquals kms:ViaService in [ec2.us-east-1.amazonaws.com, s3.us-east-1.amazonaws.com]",
                "+ deny s3:DeleteBucket on arn:aws:s3:::a",
                "+ deny s3:DeleteBucket on arn:aws:s3:::b",
                "- kms:Decrypt on * when Bool kms:GrantIsForAWSResource = true",
                "- tag:GetResources on *",
            ]
        );
        let c = &changes(&plan)[0];
        assert_eq!(c.role, "c-ns-secret");
        assert_eq!(c.source.as_deref(), Some("credreqs/a.yaml: document 1"));
        assert_eq!(totals(&changes(&plan)), (4, 2));
    }

    #[test]
    fn creates_grant_everything_and_deletes_revoke_everything() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]});
        let plan = Plan {
            changes: vec![
                change(Action::Create, None, Some(doc.clone())),
                change(Action::Delete, Some(doc), None),
            ],
            ..Plan::default()
        };
        assert_eq!(
            all_lines(&plan),
            [
                "+ s3:GetObject on *",
                "+ s3:ListBucket on *",
                "- s3:GetObject on *",
                "- s3:ListBucket on *",
            ]
        );
    }

    #[test]
    fn unchanged_permissions_and_other_kinds_are_left_out() {
        let doc =
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let same = json!({"Statement": [{"Effect": "Allow", "Action": ["S3:GETOBJECT"], "Resource": ["*"]}]});
        let mut role = change(Action::Update, None, None);
        role.id = ResourceId::new(ResourceKind::IamRole, "c-ns-secret");
        let plan = Plan {
            changes: vec![change(Action::Update, Some(doc), Some(same)), role],
            ..Plan::default()
        };
        assert!(changes(&plan).is_empty());
    }

    #[test]
    fn documents_added_outside_stsform_are_read_too() {
        // Live documents can hold what stsform never writes: NotAction, NotResource.
        let live = json!({"Statement": [
            {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret"},
        ]});
        let want =
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let plan = Plan {
            changes: vec![change(Action::Update, Some(live), Some(want))],
            ..Plan::default()
        };
        assert_eq!(
            all_lines(&plan),
            [
                "+ s3:GetObject on *",
                "- every action but iam:* on every resource but arn:aws:s3:::secret",
            ]
        );
    }

    #[test]
    fn permissions_serialize_as_data() {
        let p = &expand(
            &json!({"Statement": [{"Effect": "Allow", "Action": "a:B", "Resource": "*",
            "Condition": {"Bool": {"k:x": true}}}]}),
        )[0];
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            json!({"effect": "Allow", "action": "a:B", "resource": "*",
                "condition": {"Bool": {"k:x": ["true"]}}, "not_action": false, "not_resource": false})
        );
    }
}
