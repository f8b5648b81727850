//! The account's IAM quotas against what a plan creates.
//!
//! A refreshing plan reads IAM's account summary (`GetAccountSummary`) once; this module
//! compares it with the plan: roles created against `Roles`/`RolesQuota`, the OIDC
//! provider created against `Providers` and the OIDC provider quota, each planned trust
//! policy against `AssumeRolePolicySizeQuota`. Pure: the summary arrives as a value.

use serde::{Deserialize, Serialize};

use super::findings::{Check, Finding};
use super::limits::{Quotas, policy_size, thousands};
use crate::plan::{Action, Plan};
use crate::resource::{ResourceKind, Spec};

/// The figures of IAM's account summary stsform uses; `None` when the summary lacks one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// `Roles`: roles in the account.
    pub roles: Option<u64>,
    /// `RolesQuota`: how many the account may have.
    pub roles_quota: Option<u64>,
    /// `Providers`: identity providers in the account, SAML and OIDC together (IAM's
    /// summary does not count them apart).
    pub providers: Option<u64>,
    /// `AssumeRolePolicySizeQuota`: the "Role trust policy length" quota.
    pub assume_role_policy_size_quota: Option<u64>,
}

/// What the plan creates that counts against a quota.
fn creates(plan: &Plan, kind: ResourceKind) -> usize {
    plan.changes
        .iter()
        .filter(|c| c.id.kind == kind && c.action == Action::Create)
        .count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The quota findings of a plan, given the account's summary and the quotas stsform.toml
/// declares. Empty when everything fits (or the summary lacks the figures).
pub fn check(summary: &AccountSummary, plan: &Plan, quotas: &Quotas) -> Vec<Finding> {
    let mut findings = Vec::new();
    let finding = |check, message: String| Finding {
        check,
        origin: None,
        action: None,
        message,
        acknowledged: false,
    };

    let roles = creates(plan, ResourceKind::IamRole);
    if let (Some(in_use), Some(quota)) = (summary.roles, summary.roles_quota)
        && roles > 0
        && in_use as usize + roles > quota as usize
    {
        let deletes = plan
            .changes
            .iter()
            .filter(|c| c.id.kind == ResourceKind::IamRole && c.action == Action::Delete)
            .count();
        // Deletes run alongside the creates, in no promised order, so they free no room.
        let also = if deletes > 0 {
            format!(
                " (the {} it deletes may go after the creates)",
                plural(deletes, "role", "roles")
            )
        } else {
            String::new()
        };
        findings.push(finding(
            Check::RoleQuota,
            format!(
                "the plan creates {}{also}, and the account has {} of the {} its quota allows: apply would stop at the quota; raise \"Roles per account\" in Service Quotas or delete unused roles first",
                plural(roles, "IAM role", "IAM roles"),
                thousands(in_use as usize),
                thousands(quota as usize),
            ),
        ));
    }

    let providers = creates(plan, ResourceKind::IamOidcProvider);
    let quota = quotas.openid_connect_providers;
    if let Some(in_use) = summary.providers
        && providers > 0
        && in_use as usize + providers > quota
    {
        let source = if quota == super::limits::OPENID_CONNECT_PROVIDERS {
            "IAM's default; set `[quotas] openid_connect_providers` in stsform.toml if the account's was raised"
        } else {
            "from `[quotas] openid_connect_providers` in stsform.toml"
        };
        findings.push(finding(
            Check::OidcProviderQuota,
            format!(
                "the plan creates {}, and the account has {} (SAML and OIDC together: IAM's account summary does not count them apart) of the {} OIDC providers its quota allows ({source}): apply may stop at the quota",
                plural(providers, "OIDC provider", "OIDC providers"),
                plural(in_use as usize, "identity provider", "identity providers"),
                thousands(quota),
            ),
        ));
    }

    if let Some(limit) = summary.assume_role_policy_size_quota {
        for change in &plan.changes {
            let Some(Spec::IamRole(role)) = &change.after else {
                continue;
            };
            let size = policy_size(&role.trust_policy);
            if size > limit as usize && change.attributes.iter().any(|a| a.name == "trust_policy") {
                findings.push(finding(
                    Check::TrustPolicyQuota,
                    format!(
                        "the trust policy of `{}` is {} characters (white space not counted); the account's \"Role trust policy length\" quota is {} (IAM's `AssumeRolePolicySizeQuota`): apply would fail on it",
                        change.id,
                        thousands(size),
                        thousands(limit as usize),
                    ),
                ));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{Change, Reason, Summary, diff_attributes};
    use crate::resource::{OidcProviderSpec, ResourceId, RoleSpec, Tags};

    fn role(name: &str, subjects: usize) -> Spec {
        let subjects: Vec<String> = (0..subjects)
            .map(|i| format!("system:serviceaccount:ns:sa-{i}"))
            .collect();
        Spec::IamRole(RoleSpec {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:role/{name}"),
            description: "d".into(),
            trust_policy: json!({"Statement": [{"Condition": {"StringEquals": {"h:sub": subjects}}}]}),
            permissions_boundary: None,
            tags: Tags::new(),
        })
    }

    fn change(id: ResourceId, action: Action, after: Option<Spec>) -> Change {
        Change {
            attributes: diff_attributes(None, after.as_ref()),
            state_rule: crate::plan::StateRule::of(id.kind, action),
            id,
            action,
            reason: Reason::New,
            before: None,
            after,
            replace_because: vec![],
            depends_on: vec![],
            source: None,
        }
    }

    fn plan(roles: usize, deletes: usize, provider: bool) -> Plan {
        let mut changes: Vec<Change> = (0..roles)
            .map(|i| {
                let name = format!("r{i}");
                change(
                    ResourceId::new(ResourceKind::IamRole, &name),
                    Action::Create,
                    Some(role(&name, 1)),
                )
            })
            .collect();
        changes.extend((0..deletes).map(|i| {
            change(
                ResourceId::new(ResourceKind::IamRole, format!("old{i}")),
                Action::Delete,
                None,
            )
        }));
        if provider {
            changes.push(change(
                ResourceId::new(ResourceKind::IamOidcProvider, "h"),
                Action::Create,
                Some(Spec::IamOidcProvider(OidcProviderSpec {
                    url: "https://h".into(),
                    arn: "arn".into(),
                    client_ids: vec![],
                    thumbprints: vec![],
                    tags: Tags::new(),
                })),
            ));
        }
        Plan {
            changes,
            summary: Summary::default(),
            ..Plan::default()
        }
    }

    fn summary(roles: u64, providers: u64) -> AccountSummary {
        AccountSummary {
            roles: Some(roles),
            roles_quota: Some(1000),
            providers: Some(providers),
            assume_role_policy_size_quota: Some(2048),
        }
    }

    fn messages(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(Finding::line).collect()
    }

    #[test]
    fn creates_that_fit_find_nothing() {
        assert!(check(&summary(997, 99), &plan(3, 0, true), &Quotas::default()).is_empty());
        // Nothing created: a full account is no news for this plan.
        assert!(check(&summary(1000, 100), &plan(0, 2, false), &Quotas::default()).is_empty());
        // A summary without the figures says nothing.
        assert!(
            check(
                &AccountSummary::default(),
                &plan(5, 0, true),
                &Quotas::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn roles_past_the_quota_are_a_finding_with_the_counts() {
        let findings = check(&summary(998, 0), &plan(3, 2, false), &Quotas::default());
        assert_eq!(
            messages(&findings),
            [
                "account: the plan creates 3 IAM roles (the 2 roles it deletes may go after the creates), and the account has 998 of the 1,000 its quota allows: apply would stop at the quota; raise \"Roles per account\" in Service Quotas or delete unused roles first [role-quota]"
            ]
        );
        assert!(!findings[0].check.acknowledgeable());
        let one = check(&summary(1000, 0), &plan(1, 0, false), &Quotas::default());
        assert_eq!(
            messages(&one),
            [
                "account: the plan creates 1 IAM role, and the account has 1,000 of the 1,000 its quota allows: apply would stop at the quota; raise \"Roles per account\" in Service Quotas or delete unused roles first [role-quota]"
            ]
        );
    }

    #[test]
    fn providers_count_against_the_default_or_the_declared_quota() {
        let findings = check(&summary(0, 100), &plan(0, 0, true), &Quotas::default());
        assert_eq!(
            messages(&findings),
            [
                "account: the plan creates 1 OIDC provider, and the account has 100 identity providers (SAML and OIDC together: IAM's account summary does not count them apart) of the 100 OIDC providers its quota allows (IAM's default; set `[quotas] openid_connect_providers` in stsform.toml if the account's was raised): apply may stop at the quota [oidc-provider-quota]"
            ]
        );
        let raised = Quotas {
            openid_connect_providers: 700,
            ..Quotas::default()
        };
        assert!(check(&summary(0, 100), &plan(0, 0, true), &raised).is_empty());
        let full = check(&summary(0, 700), &plan(0, 0, true), &raised);
        assert!(
            messages(&full)[0].contains("of the 700 OIDC providers its quota allows (from `[quotas] openid_connect_providers` in stsform.toml)"),
            "{full:?}"
        );
    }

    #[test]
    fn trust_policies_longer_than_the_accounts_quota_are_findings() {
        let mut p = plan(0, 0, false);
        p.changes.push(change(
            ResourceId::new(ResourceKind::IamRole, "big"),
            Action::Create,
            Some(role("big", 80)),
        ));
        p.changes.push(change(
            ResourceId::new(ResourceKind::IamRole, "small"),
            Action::Create,
            Some(role("small", 1)),
        ));
        let Some(Spec::IamRole(big)) = &p.changes[0].after else {
            unreachable!()
        };
        let size = policy_size(&big.trust_policy);
        assert!(size > 2048, "{size}");
        let findings = check(&summary(0, 0), &p, &Quotas::default());
        assert_eq!(
            messages(&findings),
            [format!(
                "account: the trust policy of `iam_role.big` is {} characters (white space not counted); the account's \"Role trust policy length\" quota is 2,048 (IAM's `AssumeRolePolicySizeQuota`): apply would fail on it [trust-policy-quota]",
                thousands(size)
            )]
        );
        // An update that leaves the trust policy alone does not send it.
        p.changes[0].attributes.retain(|a| a.name != "trust_policy");
        p.changes[0].action = Action::Update;
        assert!(check(&summary(0, 0), &p, &Quotas::default()).is_empty());
    }
}
