//! Findings: what a plan warns a reviewer about, and the acknowledgements that silence a
//! reviewed one.
//!
//! A finding is allowed by IAM but worth a second look (`"Action": "*"`, `iam:PassRole` on
//! `*`), or an account quota the plan would pass. Policy findings come from one request and
//! can be acknowledged per request in `stsform.toml`; an acknowledged finding stays in the
//! JSON plan (marked) and leaves the text and Markdown plans. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// What a finding is about: a stable id, used in `stsform.toml` and the JSON plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// `"Action": "*"` in an `Allow` statement: every action of every service.
    ActionWildcard,
    /// `service:*` in an `Allow` statement: every action of one service.
    ServiceWildcard,
    /// `iam:PassRole` (or a pattern that includes it) allowed on every resource.
    PassroleOnAnyResource,
    /// The roles the plan creates would pass the account's role quota.
    RoleQuota,
    /// The OIDC provider the plan creates would pass the account's provider quota.
    OidcProviderQuota,
    /// A planned trust policy is longer than the account's trust policy quota.
    TrustPolicyQuota,
}

impl Check {
    /// Every check, in the order plans list them.
    pub const ALL: [Check; 6] = [
        Check::ActionWildcard,
        Check::ServiceWildcard,
        Check::PassroleOnAnyResource,
        Check::RoleQuota,
        Check::OidcProviderQuota,
        Check::TrustPolicyQuota,
    ];

    /// The id as written in `stsform.toml` and the JSON plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::ActionWildcard => "action-wildcard",
            Check::ServiceWildcard => "service-wildcard",
            Check::PassroleOnAnyResource => "passrole-on-any-resource",
            Check::RoleQuota => "role-quota",
            Check::OidcProviderQuota => "oidc-provider-quota",
            Check::TrustPolicyQuota => "trust-policy-quota",
        }
    }

    /// Whether a request's finding of this check can be acknowledged in `stsform.toml`.
    /// Account quotas cannot: no review makes a full account accept one more role.
    pub fn acknowledgeable(self) -> bool {
        matches!(
            self,
            Check::ActionWildcard | Check::ServiceWildcard | Check::PassroleOnAnyResource
        )
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Check {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Check::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Check::ALL
                    .iter()
                    .filter(|c| c.acknowledgeable())
                    .map(|c| c.as_str())
                    .collect();
                format!("unknown check `{s}` (one of: {})", known.join(", "))
            })
    }
}

/// Where in the inputs a finding comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The request, as acknowledgements name it: its Secret, `namespace/name`
    /// (`spec.secretRef`), which stays the same when a release renames the file.
    pub request: String,
    /// The file and document (`credreqs/ingress.yaml: document 1`).
    pub source: String,
    /// The field (`spec.providerSpec.statementEntries[0].action[2]`).
    pub field: String,
}

/// One warning of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Which check found it.
    pub check: Check,
    /// The request it comes from; `None` for the account's quotas.
    pub origin: Option<Origin>,
    /// The action it is about, as written (`ec2:*`); `None` for the account's quotas.
    pub action: Option<String>,
    /// What is risky, one line, starting lowercase.
    pub message: String,
    /// Acknowledged in `stsform.toml`: kept in the JSON plan, left out of text and Markdown.
    pub acknowledged: bool,
}

impl Finding {
    /// The line plans show: `<file>: document N: <field>: <message> [<check>, request <ns/name>]`,
    /// or `account: <message> [<check>]`.
    pub fn line(&self) -> String {
        match &self.origin {
            Some(o) => format!(
                "{}: {}: {} [{}, request {}]",
                o.source, o.field, self.message, self.check, o.request
            ),
            None => format!("account: {} [{}]", self.message, self.check),
        }
    }

    /// The `stsform.toml` entry that acknowledges this finding, or `None` if it cannot be.
    pub fn acknowledgement(&self) -> Option<String> {
        let origin = self
            .origin
            .as_ref()
            .filter(|_| self.check.acknowledgeable())?;
        let action = self
            .action
            .as_ref()
            .map(|a| format!("\naction = {}", toml_string(a)))
            .unwrap_or_default();
        Some(format!(
            "[[acknowledge]]\nrequest = {}\ncheck = {}{action}\nreason = \"...\"",
            toml_string(&origin.request),
            toml_string(self.check.as_str()),
        ))
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A reviewed finding, as `stsform.toml` holds it:
///
/// ```toml
/// [[acknowledge]]
/// request = "openshift-machine-api/aws-cloud-credentials"  # spec.secretRef: namespace/name
/// check = "passrole-on-any-resource"
/// action = "iam:PassRole"       # optional: without it, every such finding of the request
/// reason = "machine-api hands the worker role to the instances it creates"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// The request's Secret, `namespace/name`.
    pub request: String,
    /// The check id (`service-wildcard`).
    pub check: String,
    /// Only the finding about this action (case-insensitive, as IAM compares actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why the finding is accepted: for the people who read `stsform.toml` next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Acknowledgement {
    fn matches(&self, finding: &Finding) -> bool {
        let Some(origin) = &finding.origin else {
            return false;
        };
        origin.request == self.request
            && finding.check.as_str() == self.check
            && match (&self.action, &finding.action) {
                (None, _) => true,
                (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
                (Some(_), None) => false,
            }
    }
}

/// Checks the acknowledgements of `config` (the settings file as the user named it): a
/// request named `namespace/name`, a known check that can be acknowledged. Problems are
/// input errors at `acknowledge[i].<field>`.
pub fn validate(acknowledgements: &[Acknowledgement], config: &str) -> Vec<InputError> {
    let mut errors = Vec::new();
    for (i, ack) in acknowledgements.iter().enumerate() {
        let at = |field: &str| format!("acknowledge[{i}].{field}");
        let shaped = ack
            .request
            .split_once('/')
            .is_some_and(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'));
        if !shaped {
            errors.push(
                InputError::new(
                    config,
                    format!(
                        "`{}` is not a request: name it by its Secret, `namespace/name` (its `spec.secretRef`)",
                        ack.request
                    ),
                )
                .at(at("request")),
            );
        }
        match ack.check.parse::<Check>() {
            Ok(check) if !check.acknowledgeable() => errors.push(
                InputError::new(
                    config,
                    format!(
                        "`{check}` is about the account, not a request, and cannot be acknowledged: raise the quota in Service Quotas"
                    ),
                )
                .at(at("check")),
            ),
            Ok(_) => {}
            Err(e) => errors.push(InputError::new(config, e).at(at("check"))),
        }
        if let Some(action) = &ack.action
            && action.trim().is_empty()
        {
            errors.push(InputError::new(config, "must not be empty").at(at("action")));
        }
    }
    errors
}

/// Marks the findings an acknowledgement matches; returns a note for each acknowledgement
/// that matches none (the request no longer asks for it, or a typo), so stale ones get
/// removed instead of hiding a future finding.
pub fn acknowledge(
    findings: &mut [Finding],
    acknowledgements: &[Acknowledgement],
    config: &str,
) -> Vec<String> {
    let mut notes = Vec::new();
    for (i, ack) in acknowledgements.iter().enumerate() {
        let mut used = false;
        for finding in findings.iter_mut().filter(|f| ack.matches(f)) {
            finding.acknowledged = true;
            used = true;
        }
        if !used {
            let about = match &ack.action {
                Some(action) => format!("`{}` finding about `{action}`", ack.check),
                None => format!("`{}` finding", ack.check),
            };
            notes.push(format!(
                "{config}: acknowledge[{i}]: matches no warning (request `{}` has no {about}); remove it if the request no longer needs it",
                ack.request
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(request: &str, check: Check, action: &str) -> Finding {
        Finding {
            check,
            origin: Some(Origin {
                request: request.into(),
                source: "credreqs/a.yaml: document 1".into(),
                field: "spec.providerSpec.statementEntries[0].action[0]".into(),
            }),
            action: Some(action.into()),
            message: format!("`{action}` is risky"),
            acknowledged: false,
        }
    }

    fn ack(request: &str, check: &str, action: Option<&str>) -> Acknowledgement {
        Acknowledgement {
            request: request.into(),
            check: check.into(),
            action: action.map(str::to_string),
            reason: None,
        }
    }

    #[test]
    fn check_ids_round_trip_and_unknown_ones_list_the_known() {
        for check in Check::ALL {
            assert_eq!(check.as_str().parse::<Check>().unwrap(), check);
            assert_eq!(
                serde_json::to_value(check).unwrap(),
                serde_json::json!(check.as_str())
            );
        }
        assert_eq!(
            "service-wildcards".parse::<Check>().unwrap_err(),
            "unknown check `service-wildcards` (one of: action-wildcard, service-wildcard, passrole-on-any-resource)"
        );
    }

    #[test]
    fn lines_name_the_place_the_check_and_the_request() {
        let f = finding("ns/secret", Check::ServiceWildcard, "ec2:*");
        assert_eq!(
            f.line(),
            "credreqs/a.yaml: document 1: spec.providerSpec.statementEntries[0].action[0]: `ec2:*` is risky [service-wildcard, request ns/secret]"
        );
        let account = Finding {
            check: Check::RoleQuota,
            origin: None,
            action: None,
            message: "too many roles".into(),
            acknowledged: false,
        };
        assert_eq!(account.line(), "account: too many roles [role-quota]");
        assert_eq!(account.acknowledgement(), None);
        assert_eq!(
            f.acknowledgement().unwrap(),
            "[[acknowledge]]\nrequest = \"ns/secret\"\ncheck = \"service-wildcard\"\naction = \"ec2:*\"\nreason = \"...\""
        );
    }

    #[test]
    fn the_printed_acknowledgement_parses_and_matches_its_finding() {
        #[derive(Deserialize)]
        struct File {
            acknowledge: Vec<Acknowledgement>,
        }
        let f = finding("ns/se\"cret", Check::PassroleOnAnyResource, "iam:Pass*");
        let file: File = toml::from_str(&f.acknowledgement().unwrap()).unwrap();
        let mut findings = [f];
        assert!(acknowledge(&mut findings, &file.acknowledge, "stsform.toml").is_empty());
        assert!(findings[0].acknowledged);
    }

    #[test]
    fn acknowledgements_match_request_check_and_action() {
        let mut findings = [
            finding("a/x", Check::ServiceWildcard, "ec2:*"),
            finding("a/x", Check::ServiceWildcard, "s3:*"),
            finding("a/x", Check::PassroleOnAnyResource, "iam:PassRole"),
            finding("b/y", Check::ServiceWildcard, "ec2:*"),
        ];
        let notes = acknowledge(
            &mut findings,
            &[
                ack("a/x", "service-wildcard", Some("EC2:*")),
                ack("a/x", "passrole-on-any-resource", None),
                ack("a/x", "action-wildcard", None),
                ack("c/z", "service-wildcard", Some("kms:*")),
            ],
            "stsform.toml",
        );
        let marked: Vec<bool> = findings.iter().map(|f| f.acknowledged).collect();
        // Actions compare case-insensitively, as IAM compares them; another request's
        // finding and another action of the same request stay.
        assert_eq!(marked, [true, false, true, false]);
        assert_eq!(
            notes,
            [
                "stsform.toml: acknowledge[2]: matches no warning (request `a/x` has no `action-wildcard` finding); remove it if the request no longer needs it",
                "stsform.toml: acknowledge[3]: matches no warning (request `c/z` has no `service-wildcard` finding about `kms:*`); remove it if the request no longer needs it",
            ]
        );
    }

    #[test]
    fn account_findings_are_never_acknowledged() {
        let mut findings = [Finding {
            check: Check::RoleQuota,
            origin: None,
            action: None,
            message: "m".into(),
            acknowledged: false,
        }];
        let notes = acknowledge(&mut findings, &[ack("a/x", "role-quota", None)], "s.toml");
        assert!(!findings[0].acknowledged);
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn bad_acknowledgements_are_input_errors_at_their_field() {
        let errors = validate(
            &[
                ack("a/x", "service-wildcard", Some("ec2:*")),
                ack("ingress", "service-wildcard", None),
                ack("a/b/c", "service-wildcards", None),
                ack("a/x", "role-quota", Some(" ")),
            ],
            "stsform.toml",
        );
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "stsform.toml: acknowledge[1].request: `ingress` is not a request: name it by its Secret, `namespace/name` (its `spec.secretRef`)",
                "stsform.toml: acknowledge[2].request: `a/b/c` is not a request: name it by its Secret, `namespace/name` (its `spec.secretRef`)",
                "stsform.toml: acknowledge[2].check: unknown check `service-wildcards` (one of: action-wildcard, service-wildcard, passrole-on-any-resource)",
                "stsform.toml: acknowledge[3].check: `role-quota` is about the account, not a request, and cannot be acknowledged: raise the quota in Service Quotas",
                "stsform.toml: acknowledge[3].action: must not be empty",
            ]
        );
    }
}
