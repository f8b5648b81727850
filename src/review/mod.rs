//! review: what a reviewer needs before apply that a diff alone does not show. Pure.
//!
//! Owns IAM's documented limits (`limits`), the policy checks (`policy`), findings and
//! their acknowledgements (`findings`), the account quotas against a plan (`quota`), the
//! permissions a plan grants and revokes (`permissions`) and the Mermaid picture of its
//! order (`mermaid`). Errors here are input errors found before any AWS call; warnings
//! travel in the plan. Must not do I/O or call AWS: the account summary arrives as a value.

use serde::{Deserialize, Serialize};

use crate::credentials_request::CredentialsRequest;
use crate::desired::{self, Facts};
use crate::error::{InputError, InputErrors};
use crate::plan::Plan;
use crate::resource::{ResourceId, ResourceKind, Spec};
use crate::settings::Settings;

pub mod findings;
pub mod limits;
pub mod mermaid;
pub mod permissions;
pub mod policy;
pub mod quota;

pub use findings::{Acknowledgement, Check, Finding, Origin};
pub use limits::Quotas;
pub use quota::AccountSummary;

/// What `stsform.toml` says about the review: the account's raised quotas and the
/// acknowledged findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// `[quotas]`, IAM's defaults where not given.
    pub quotas: Quotas,
    /// `[[acknowledge]]` entries, in file order.
    pub acknowledgements: Vec<Acknowledgement>,
    /// The settings file as the user named it, for notes about its entries.
    pub file: String,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            quotas: Quotas::default(),
            acknowledgements: Vec::new(),
            file: crate::settings::DEFAULT_CONFIG.to_string(),
        }
    }
}

/// An account id of the right length: sizes are counted on documents whose ARNs name an
/// account, and every account id has 12 digits, so any 12 give IAM's count.
const SIZE_ACCOUNT: &str = "000000000000";

/// The request as acknowledgements name it: its Secret, `namespace/name`.
pub fn request_name(request: &CredentialsRequest) -> String {
    format!(
        "{}/{}",
        request.secret_ref.namespace, request.secret_ref.name
    )
}

/// Checks every request, and the role and policy derived from it, against IAM's rules
/// and limits. What IAM (or IAM Access Analyzer) refuses is an input error naming the
/// file, the document and the field, like every other input problem, with role-name
/// collisions among them; what IAM allows but a reviewer should see comes back as
/// findings, in request order, acknowledged per `settings.review`. Runs before any AWS
/// call. `named`: the cluster's name is known, so role names and trust policies (which
/// hold the issuer) can be checked too; `validate` without `--name` checks the rest.
pub fn requests(
    requests: &[CredentialsRequest],
    settings: &Settings,
    named: bool,
) -> Result<Vec<Finding>, InputErrors> {
    let mut errors: Vec<InputError> = Vec::new();
    let mut found = Vec::new();
    let located = |request: &CredentialsRequest, field: &str, problem: String| {
        InputError::new(&request.source.file, problem)
            .in_document(request.source.document)
            .at(field)
    };
    for request in requests {
        let (problems, warnings) = policy::check(&request.statements);
        errors.extend(
            problems
                .into_iter()
                .map(|p| located(request, &p.field, p.message)),
        );
        found.extend(warnings.into_iter().map(|w| Finding {
            check: w.check,
            origin: Some(Origin {
                request: request_name(request),
                source: request.source.to_string(),
                field: w.field,
            }),
            action: Some(w.action),
            message: w.message,
            acknowledged: false,
        }));
        // The inline policy as derive writes it: its size needs no cluster name.
        let size = limits::policy_size(&crate::desired::inline_policy(request));
        if let Err(problem) = limits::check_role_policy_size(size) {
            errors.push(located(request, policy::STATEMENTS, problem));
        }
    }

    if named {
        let facts = Facts {
            account_id: Some(SIZE_ACCOUNT.to_string()),
            ..Facts::default()
        };
        match desired::derive(requests, settings, &facts) {
            Err(collisions) => errors.extend(collisions.0),
            Ok(desired) => {
                for request in requests {
                    let role = desired::role_name(&settings.name, request);
                    if let Err(problem) = limits::check_role_name(&role) {
                        errors.push(located(request, "spec.secretRef", problem));
                    }
                    let id = ResourceId::new(ResourceKind::IamRole, &role);
                    if let Some(Spec::IamRole(r)) = desired.resources.get(&id).map(|r| &r.spec) {
                        let size = limits::policy_size(&r.trust_policy);
                        let accounts = request.service_account_names.len();
                        if let Err(problem) = limits::check_trust_policy_size(
                            size,
                            accounts,
                            settings.review.quotas.role_trust_policy_length,
                        ) {
                            errors.push(located(request, "spec.serviceAccountNames", problem));
                        }
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(InputErrors(errors))
    }
}

/// The findings of a plan: the requests' (from [`requests`]) and, when the account summary
/// was read, the account's quotas against what the plan creates; acknowledgements of
/// `review` applied. Returns them with a note for each acknowledgement that matched none.
pub fn plan_findings(
    request_findings: &[Finding],
    summary: Option<&AccountSummary>,
    plan: &Plan,
    review: &ReviewSettings,
) -> (Vec<Finding>, Vec<String>) {
    let mut all = request_findings.to_vec();
    if let Some(summary) = summary {
        all.extend(quota::check(summary, plan, &review.quotas));
    }
    let notes = findings::acknowledge(&mut all, &review.acknowledgements, &review.file);
    (all, notes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::credentials_request::{self, LoadOptions};

    fn settings(name: &str) -> Settings {
        crate::settings::resolve(
            &crate::settings::SettingsInput {
                name: Some(name.into()),
                region: Some("us-east-2".into()),
                credentials_requests_dir: Some("creds".into()),
                config: Some(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/empty-stsform.toml"),
                ),
                ..Default::default()
            },
            crate::settings::Need::Cluster,
        )
        .unwrap()
    }

    fn load(dir: &str) -> Vec<CredentialsRequest> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        credentials_request::load(&dir, &LoadOptions::default())
            .unwrap()
            .requests
    }

    /// A request file: `actions` allowed on `resource`, `accounts` service accounts.
    fn request_file(actions: &[String], resource: &str, accounts: usize) -> String {
        let actions: String = actions.iter().map(|a| format!("      - {a:?}\n")).collect();
        let accounts: String = (0..accounts).map(|i| format!("  - sa-{i}\n")).collect();
        format!(
            "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata:\n  name: x\nspec:\n  secretRef:\n    name: creds\n    namespace: team\n  serviceAccountNames:\n{accounts}  providerSpec:\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: Allow\n      action:\n{actions}      resource: {resource:?}\n"
        )
    }

    fn load_text(text: &str) -> (tempfile::TempDir, Vec<CredentialsRequest>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.yaml"), text).unwrap();
        let requests = credentials_request::load(dir.path(), &LoadOptions::default())
            .unwrap()
            .requests;
        (dir, requests)
    }

    fn errors_of(
        dir: &tempfile::TempDir,
        result: Result<Vec<Finding>, InputErrors>,
    ) -> Vec<String> {
        let prefix = format!("{}/", dir.path().display());
        result
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.to_string().replace(&prefix, ""))
            .collect()
    }

    #[test]
    fn the_shipped_example_requests_pass_with_their_known_warnings() {
        let requests = load("examples/cluster");
        let findings = super::requests(&requests, &settings("prod"), true).unwrap();
        let lines: Vec<String> = findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}",
                    f.origin.as_ref().unwrap().request,
                    f.check,
                    f.action.as_deref().unwrap()
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "openshift-cluster-api/capa-manager-bootstrap-credentials passrole-on-any-resource iam:PassRole",
                "openshift-machine-api/aws-cloud-credentials passrole-on-any-resource iam:PassRole",
            ]
        );
        let f = &findings[1];
        assert_eq!(
            f.origin.as_ref().unwrap().field,
            "spec.providerSpec.statementEntries[0].action[21]"
        );
        assert!(
            f.origin.as_ref().unwrap().source.ends_with(
                "examples/cluster/0000_30_machine-api-operator_00_credentials-request.yaml: document 1"
            ),
            "{f:?}"
        );
    }

    #[test]
    fn policy_problems_are_input_errors_at_their_field() {
        let (dir, requests) = load_text(&request_file(
            &[
                "ec2:Describe Instances".into(),
                "*:Get*".into(),
                "s3:*".into(),
            ],
            "bucket",
            1,
        ));
        assert_eq!(
            errors_of(&dir, super::requests(&requests, &settings("c"), true)),
            [
                "r.yaml: document 1: spec.providerSpec.statementEntries[0].action[0]: `ec2:Describe Instances`: the action name holds ` `; action names are letters and digits, with `*` and `?` as wildcards",
                "r.yaml: document 1: spec.providerSpec.statementEntries[0].action[1]: `*:Get*` has a wildcard in its service prefix, which IAM refuses (\"Action vendors must not contain wildcards\"): name the service",
                "r.yaml: document 1: spec.providerSpec.statementEntries[0].resource: `bucket` is not an ARN (`arn:partition:service:region:account:resource`) or `*`; IAM refuses any other resource (MalformedPolicyDocument)",
            ]
        );
    }

    #[test]
    fn an_inline_policy_over_iams_limit_is_an_error() {
        // 400 distinct long actions: far over 10,240 characters.
        let actions: Vec<String> = (0..400)
            .map(|i| format!("ec2:DescribeSomethingQuiteLongNumber{i:04}"))
            .collect();
        let (dir, requests) = load_text(&request_file(&actions, "*", 1));
        let errors = errors_of(&dir, super::requests(&requests, &settings("c"), true));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "r.yaml: document 1: spec.providerSpec.statementEntries: the role's inline policy would be "
            ),
            "{errors:?}"
        );
        assert!(
            errors[0].ends_with(
                " characters (white space not counted); IAM allows 10,240 for a role's inline policies together and refuses it (LimitExceeded)"
            ),
            "{errors:?}"
        );
        // Exactly at the limit passes: the count is the one IAM makes of what is sent.
        let desired = desired::derive(
            &requests,
            &settings("c"),
            &Facts {
                account_id: Some(SIZE_ACCOUNT.into()),
                ..Facts::default()
            },
        )
        .unwrap();
        let Some(Spec::IamRolePolicy(p)) = desired
            .resources
            .get(&ResourceId::new(
                ResourceKind::IamRolePolicy,
                "c-team-creds",
            ))
            .map(|r| &r.spec)
        else {
            panic!("no policy")
        };
        let size = limits::policy_size(&p.document);
        assert!(
            errors[0].contains(&limits::thousands(size)),
            "{size} {errors:?}"
        );
    }

    #[test]
    fn a_trust_policy_over_the_quota_is_an_error_unless_the_quota_was_raised() {
        let (dir, requests) = load_text(&request_file(&["s3:GetObject".into()], "*", 60));
        let errors = errors_of(&dir, super::requests(&requests, &settings("c"), true));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "r.yaml: document 1: spec.serviceAccountNames: the role's trust policy would be "
            ),
            "{errors:?}"
        );
        assert!(
            errors[0].contains(" characters (white space not counted) for its 60 service accounts; the account's \"Role trust policy length\" quota is 2,048 (IAM's default;"),
            "{errors:?}"
        );
        let mut raised = settings("c");
        raised.review.quotas.role_trust_policy_length = 8_192;
        assert!(super::requests(&requests, &raised, true).is_ok());
        // Without the cluster's name the trust policy is not known, and not checked.
        assert!(super::requests(&requests, &settings("c"), false).is_ok());
    }

    #[test]
    fn trust_policies_are_counted_with_a_real_length_arn() {
        // The provider ARN is unknown before the account is read; the count must not
        // shrink because of it: an account id has 12 digits, so the count is exact.
        let (_dir, requests) = load_text(&request_file(&["s3:GetObject".into()], "*", 1));
        let s = settings("c");
        let with = |account: &str| {
            let d = desired::derive(
                &requests,
                &s,
                &Facts {
                    account_id: Some(account.into()),
                    ..Facts::default()
                },
            )
            .unwrap();
            match &d.resources[&ResourceId::new(ResourceKind::IamRole, "c-team-creds")].spec {
                Spec::IamRole(r) => limits::policy_size(&r.trust_policy),
                _ => unreachable!(),
            }
        };
        assert_eq!(with(SIZE_ACCOUNT), with("123456789012"));
    }

    #[test]
    fn collisions_still_come_back_with_the_rest() {
        let two = format!(
            "{}---\n{}",
            request_file(&["s3:GetObject".into()], "*", 1),
            request_file(&["s3:GetObject".into()], "*", 1).replace("name: creds", "name: creds2")
        );
        let (dir, requests) = load_text(&two);
        let long = "c".repeat(58);
        let errors = errors_of(&dir, super::requests(&requests, &settings(&long), true));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("collides with the request in"),
            "{errors:?}"
        );
    }
}
