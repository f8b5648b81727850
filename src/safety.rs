//! safety: the refusals that keep a plan from breaking a running cluster. Pure.
//!
//! Terraform's `prevent_destroy` is the model: the plan is computed and shown in full,
//! then a check over it refuses, naming each offending change and why, unless the run
//! lifts the refusal explicitly for this run (a flag, never a setting in `stsform.toml`:
//! an opt-out that is always on protects nothing). Three rules:
//!
//! - **Issuer changes** ([`issuer_changes`], kept on the `Plan` as data so every renderer
//!   shows them): deleting or replacing the signing key, the OIDC bucket, its documents or
//!   the OIDC provider (or a private issuer's distribution, its origin access control or
//!   the bucket policy that lets it read); a `keys.json` that stops serving a key id it
//!   serves now; a discovery document that names another issuer (switching a public
//!   issuer to a private one, or back, is one). Each breaks token validation: STS
//!   checks every pod's token against the issuer and its keys, so pods stop getting AWS
//!   credentials. Allowed in destroy (`destroy`, `plan --destroy`) and with
//!   `--allow-issuer-change`.
//! - **Every role deleted, none created**: what a requests directory that lost its
//!   requests plans. Allowed with `--allow-deleting-all-roles`.
//! - **No AWS CredentialsRequest at all** ([`require_requests`]): an empty or wrong directory
//!   is an input error before any plan (the same flag accepts it for plan and apply).
//!
//! Must not do I/O or print; `commands` shows the refusal and picks the exit code.

use std::fmt;
use std::path::Path;

use crate::desired::{DISCOVERY_KEY, JWKS_KEY};
use crate::error::InputError;
use crate::plan::{Action, Change, Observed, Plan};
use crate::resource::{ResourceId, ResourceKind, Spec};

/// One planned change that breaks token validation for a running cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerChange {
    /// The resource.
    pub id: ResourceId,
    /// What happens to it, as a phrase after the address (`will be destroyed`).
    pub what: String,
}

impl fmt::Display for IssuerChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.what)
    }
}

/// Why breaking token validation matters, in one sentence (shown by every renderer).
pub const ISSUER_WHY: &str = "pods on the cluster would stop getting AWS credentials: STS \
     validates their tokens against this issuer and its keys";

/// The changes among `changes` that break token validation, in plan order.
pub fn issuer_changes(changes: &[Change]) -> Vec<IssuerChange> {
    changes.iter().filter_map(issuer_change).collect()
}

fn issuer_change(c: &Change) -> Option<IssuerChange> {
    let issuer_kind = matches!(
        c.id.kind,
        ResourceKind::KeyPair
            | ResourceKind::S3Bucket
            | ResourceKind::S3BucketPolicy
            | ResourceKind::S3Object
            | ResourceKind::CloudFrontOriginAccessControl
            | ResourceKind::CloudFrontDistribution
            | ResourceKind::IamOidcProvider
    );
    if !issuer_kind {
        return None;
    }
    let what = match c.action {
        Action::Create => return None,
        Action::Delete => "will be destroyed".to_string(),
        Action::Replace if c.replace_because.is_empty() => "must be replaced".to_string(),
        Action::Replace => format!("must be replaced ({})", c.replace_because.join(", ")),
        Action::Update => match (&c.before, &c.after) {
            (Some(Spec::S3Object(before)), Some(Spec::S3Object(after))) => {
                object_update(&before.key, &before.content, &after.content)?
            }
            _ => return None,
        },
    };
    Some(IssuerChange {
        id: c.id.clone(),
        what,
    })
}

/// An update of an issuer document that breaks validation: keys.json dropping a key id
/// it serves, or a discovery document naming another issuer.
fn object_update(key: &str, before: &str, after: &str) -> Option<String> {
    if key == JWKS_KEY {
        // A key generated during apply is not known yet: every served key goes.
        let keys = crate::jwks::diff(Some(before), Some(after));
        let ids = |kids: &[String]| {
            format!(
                "key id{} {}",
                if kids.len() == 1 { "" } else { "s" },
                kids.join(", ")
            )
        };
        let mut what = Vec::new();
        if !keys.removed.is_empty() {
            what.push(format!(
                "stops serving {}: tokens signed with {} will be rejected",
                ids(&keys.removed),
                if keys.removed.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ));
        }
        if !keys.changed.is_empty() {
            what.push(format!(
                "serves other key material under {}: tokens signed with the old material will be rejected",
                ids(&keys.changed)
            ));
        }
        return (!what.is_empty()).then(|| what.join("; "));
    }
    if key == DISCOVERY_KEY {
        let (old, new) = (issuer(before)?, issuer(after)?);
        return (old != new).then(|| format!("changes the issuer from {old} to {new}"));
    }
    None
}

/// The `issuer` a discovery document names.
fn issuer(doc: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(doc).ok()?;
    doc["issuer"].as_str().map(str::to_string)
}

/// Refusals a run lifts, each for this run only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// `--allow-issuer-change`.
    pub issuer_change: bool,
    /// `--allow-deleting-all-roles`.
    pub deleting_all_roles: bool,
}

impl Allow {
    /// Both sets of lifted refusals: what a saved plan was made with (it was reviewed
    /// so) and what the flags beside it add.
    pub fn and(self, more: Allow) -> Allow {
        Allow {
            issuer_change: self.issuer_change || more.issuer_change,
            deleting_all_roles: self.deleting_all_roles || more.deleting_all_roles,
        }
    }
}

/// Why a plan may not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Changes that break token validation, without `--allow-issuer-change`.
    IssuerChanges(Vec<IssuerChange>),
    /// Every role the state holds would be deleted and none created.
    AllRolesDeleted {
        /// How many roles.
        roles: usize,
    },
}

impl std::error::Error for Refusal {}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::IssuerChanges(changes) => {
                writeln!(
                    f,
                    "refusing {} change{} that break{} token validation for the running cluster:",
                    changes.len(),
                    if changes.len() == 1 { "" } else { "s" },
                    if changes.len() == 1 { "s" } else { "" }
                )?;
                for c in changes {
                    writeln!(f, "  {c}")?;
                }
                write!(
                    f,
                    "After these changes {ISSUER_WHY}. Nothing was changed. To make them on \
                     purpose (a new issuer, the end of a key rotation), run again with \
                     --allow-issuer-change; to tear the cluster down, use `stsform destroy`."
                )
            }
            Refusal::AllRolesDeleted { roles } => write!(
                f,
                "refusing a plan that deletes every role the state holds ({roles}) and creates \
                 none: the requests directory no longer asks for any of them. Nothing was \
                 changed. Check --credentials-requests-dir; to delete the roles on purpose, \
                 run again with --allow-deleting-all-roles (or `stsform destroy` to remove \
                 everything)."
            ),
        }
    }
}

/// Refuses `plan` unless it is a destroy or `allow` lifts what it would break.
/// `observed` is what the plan was computed from (it says which roles exist now).
pub fn check(
    plan: &Plan,
    observed: &Observed,
    destroying: bool,
    allow: Allow,
) -> Result<(), Refusal> {
    if destroying {
        return Ok(());
    }
    if !allow.issuer_change && !plan.issuer_changes.is_empty() {
        return Err(Refusal::IssuerChanges(plan.issuer_changes.clone()));
    }
    let count = |actions: &[Action]| {
        plan.changes
            .iter()
            .filter(|c| c.id.kind == ResourceKind::IamRole && actions.contains(&c.action))
            .count()
    };
    let existing = observed
        .resources
        .iter()
        .filter(|(id, o)| id.kind == ResourceKind::IamRole && o.live.is_some())
        .count();
    let deleted = count(&[Action::Delete]);
    let made = count(&[Action::Create, Action::Replace]);
    if !allow.deleting_all_roles && deleted > 0 && deleted == existing && made == 0 {
        return Err(Refusal::AllRolesDeleted { roles: deleted });
    }
    Ok(())
}

/// Who asks for the requests, which decides what an empty set may mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestsFor {
    /// `plan` and `apply`: `--allow-deleting-all-roles` accepts an empty set (every role
    /// planned away, on purpose).
    Plan(Allow),
    /// `validate`: the directory is the whole question.
    Validate,
    /// Commands without the flag (`graph`, `import`, `verify`).
    Other,
}

/// Refuses a requests directory holding no AWS CredentialsRequest (`skipped` documents
/// were read and set aside), unless `who` may accept it: an input error naming the
/// directory and what this command offers instead.
pub fn require_requests(
    dir: &Path,
    found: usize,
    skipped: usize,
    who: RequestsFor,
) -> Result<(), InputError> {
    let remedy = match who {
        _ if found > 0 => return Ok(()),
        RequestsFor::Plan(allow) if allow.deleting_all_roles => return Ok(()),
        RequestsFor::Plan(_) => {
            "an empty set would plan every role away. Check --credentials-requests-dir; to \
             delete what the state holds, run `stsform destroy`; to delete every role \
             and keep the rest on purpose, add --allow-deleting-all-roles"
        }
        RequestsFor::Other => {
            "check --credentials-requests-dir; to delete what the state holds, run \
             `stsform destroy`"
        }
        RequestsFor::Validate => {
            "plan and apply refuse it (an empty set would plan every role away). Check the \
             directory; to delete what a state holds, run `stsform destroy`"
        }
    };
    Err(no_requests(dir, skipped, remedy))
}

/// The input error for a requests directory holding no AWS CredentialsRequest (`skipped`
/// documents were read and set aside). `remedy` is what this command offers instead.
fn no_requests(dir: &Path, skipped: usize, remedy: &str) -> InputError {
    let read = match skipped {
        0 => String::new(),
        1 => " (1 document skipped, see the note above)".to_string(),
        n => format!(" ({n} documents skipped, see the notes above)"),
    };
    InputError::new(
        dir.display().to_string(),
        format!("no AWS CredentialsRequest found{read}; {remedy}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ObservedResource, Reason};
    use crate::resource::{ObjectSpec, RoleSpec, Tags, UNKNOWN};

    fn object(key: &str, content: &str) -> Spec {
        Spec::S3Object(ObjectSpec {
            bucket: "c-oidc".into(),
            key: key.into(),
            content_type: "application/json".into(),
            tags: Tags::new(),
            content: content.into(),
        })
    }

    fn change(id: ResourceId, action: Action, before: Option<Spec>, after: Option<Spec>) -> Change {
        Change {
            state_rule: crate::plan::StateRule::of(id.kind, action),
            id,
            action,
            reason: Reason::InputsChanged,
            attributes: crate::plan::diff_attributes(before.as_ref(), after.as_ref()),
            before,
            after,
            replace_because: vec![],
            depends_on: vec![],
            source: None,
        }
    }

    fn id(kind: ResourceKind, name: &str) -> ResourceId {
        ResourceId::new(kind, name)
    }

    #[test]
    fn deletes_replaces_dropped_keys_and_a_new_issuer_are_issuer_changes() {
        let jwks = |kids: &[&str]| {
            let keys: Vec<_> = kids.iter().map(|k| serde_json::json!({"kid": k})).collect();
            serde_json::json!({ "keys": keys }).to_string()
        };
        let doc = |issuer: &str| format!("{{\n\t\"issuer\": \"{issuer}\"\n}}");
        let jwks_id = id(ResourceKind::S3Object, "c-oidc/keys.json");
        let doc_id = id(
            ResourceKind::S3Object,
            "c-oidc/.well-known/openid-configuration",
        );
        let mut replace = change(
            id(ResourceKind::IamOidcProvider, "h"),
            Action::Replace,
            None,
            None,
        );
        replace.replace_because = vec!["url".into()];
        let changes = vec![
            change(
                id(ResourceKind::S3Bucket, "c-oidc"),
                Action::Delete,
                None,
                None,
            ),
            replace,
            // Rotation, first step: old and new served. Not a break.
            change(
                jwks_id.clone(),
                Action::Update,
                Some(object(JWKS_KEY, &jwks(&["a"]))),
                Some(object(JWKS_KEY, &jwks(&["a", "b"]))),
            ),
            // A key generated during apply replaces the served one.
            change(
                jwks_id.clone(),
                Action::Update,
                Some(object(JWKS_KEY, &jwks(&["a"]))),
                Some(object(JWKS_KEY, UNKNOWN)),
            ),
            change(
                doc_id.clone(),
                Action::Update,
                Some(object(DISCOVERY_KEY, &doc("https://a"))),
                Some(object(DISCOVERY_KEY, &doc("https://b"))),
            ),
            // Same issuer, other bytes (ccoctl's formatting): not a break.
            change(
                doc_id,
                Action::Update,
                Some(object(DISCOVERY_KEY, &doc("https://a"))),
                Some(object(DISCOVERY_KEY, &format!("{} ", doc("https://a")))),
            ),
            change(id(ResourceKind::IamRole, "r"), Action::Delete, None, None),
            change(id(ResourceKind::KeyPair, "k"), Action::Create, None, None),
            // A private issuer's distribution serves the documents: deleting it is one.
            change(
                id(ResourceKind::CloudFrontDistribution, "c-oidc"),
                Action::Delete,
                None,
                None,
            ),
            // Repairing it is not.
            change(
                id(ResourceKind::CloudFrontDistribution, "c-oidc"),
                Action::Update,
                None,
                None,
            ),
        ];
        let found: Vec<String> = issuer_changes(&changes)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "s3_bucket.c-oidc will be destroyed",
                "iam_oidc_provider.h must be replaced (url)",
                "s3_object.c-oidc/keys.json stops serving key id a: tokens signed with it will be rejected",
                "s3_object.c-oidc/.well-known/openid-configuration changes the issuer from https://a to https://b",
                "cloudfront_distribution.c-oidc will be destroyed",
            ]
        );
    }

    fn role(name: &str) -> Spec {
        Spec::IamRole(RoleSpec {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:role/{name}"),
            description: String::new(),
            trust_policy: serde_json::json!({}),
            permissions_boundary: None,
            tags: Tags::new(),
        })
    }

    fn observed(roles: &[&str]) -> Observed {
        let mut o = Observed::default();
        for r in roles {
            o.resources.insert(
                id(ResourceKind::IamRole, r),
                ObservedResource {
                    recorded: role(r),
                    live: Some(role(r)),
                    depends_on: vec![],
                },
            );
        }
        o
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            issuer_changes: issuer_changes(&changes),
            changes,
            ..Plan::default()
        }
    }

    #[test]
    fn destroy_and_the_flag_lift_the_issuer_refusal() {
        let p = plan(vec![change(
            id(ResourceKind::IamOidcProvider, "h"),
            Action::Delete,
            None,
            None,
        )]);
        let o = Observed::default();
        let err = check(&p, &o, false, Allow::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("refusing 1 change that breaks token validation")
                && text.contains("\n  iam_oidc_provider.h will be destroyed\n")
                && text.contains("pods on the cluster would stop getting AWS credentials")
                && text.contains("--allow-issuer-change"),
            "{text}"
        );
        check(&p, &o, true, Allow::default()).unwrap();
        let allow = Allow {
            issuer_change: true,
            ..Allow::default()
        };
        check(&p, &o, false, allow).unwrap();
    }

    #[test]
    fn deleting_every_role_and_making_none_is_refused() {
        let delete = |r: &str| change(id(ResourceKind::IamRole, r), Action::Delete, None, None);
        let o = observed(&["a", "b"]);
        let all = plan(vec![delete("a"), delete("b")]);
        assert_eq!(
            check(&all, &o, false, Allow::default()),
            Err(Refusal::AllRolesDeleted { roles: 2 })
        );
        let allow = Allow {
            deleting_all_roles: true,
            ..Allow::default()
        };
        check(&all, &o, false, allow).unwrap();
        // One of two: an ordinary edit.
        check(&plan(vec![delete("a")]), &o, false, Allow::default()).unwrap();
        // All replaced by others: a rename, not a loss.
        let create = change(id(ResourceKind::IamRole, "c"), Action::Create, None, None);
        check(
            &plan(vec![delete("a"), delete("b"), create]),
            &o,
            false,
            Allow::default(),
        )
        .unwrap();
    }
}
