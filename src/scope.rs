//! scope: whether a run may use the state it was pointed at. Pure.
//!
//! A state records what it manages ([`Scope`]): the whole cluster, or day-2 roles against
//! a provider it does not own, for one named request set. A run's settings ask for one of
//! these. A run that does not match its state is refused before any AWS call (reading an
//! S3 state aside), with the flag or state to use instead, because a mismatch plans
//! deletions: a day-2 run against the cluster's state would delete the issuer and every
//! operator role; one team's day-2 run against another team's state would delete that
//! team's roles.
//!
//! Rules: a state holding no resources may be claimed by any run (there is nothing to
//! lose); a state whose request set is unknown (version 1) accepts any set and records
//! the run's. Must not do I/O; `commands` and `workflow` call [`claim`] right after load.

use crate::settings::Settings;
use crate::state::{Scope, State};

/// A run that does not match its state; the message says what to use instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopeError(pub String);

/// What a run with these settings manages.
pub fn expected(settings: &Settings) -> Scope {
    match &settings.identity_provider_arn {
        None => Scope::Cluster,
        Some(arn) => Scope::Roles {
            identity_provider_arn: arn.clone(),
            request_set: settings.request_set.clone(),
        },
    }
}

/// Refuses a run whose settings do not match what `state` manages.
pub fn check(state: &State, settings: &Settings) -> Result<(), ScopeError> {
    let Some(recorded) = &state.scope else {
        return Ok(());
    };
    if state.resources.is_empty() {
        return Ok(());
    }
    let path = settings.state.display();
    let name = &settings.name;
    let held = format!(
        "{} resource{}",
        state.resources.len(),
        if state.resources.len() == 1 { "" } else { "s" }
    );
    let refuse = |message: String| Err(ScopeError(format!("{path}: {message}")));
    match (recorded, expected(settings)) {
        (Scope::Cluster, Scope::Cluster) => Ok(()),
        (Scope::Cluster, Scope::Roles { request_set, .. }) => {
            let default = match &request_set {
                Some(set) => format!("state/{name}-roles-{set}.toml"),
                None => format!("state/{name}-roles-<request set>.toml"),
            };
            refuse(format!(
                "this state manages the whole cluster `{name}` ({held}: signing key, OIDC \
                 bucket and provider, operator roles), but --identity-provider-arn asks for \
                 day-2 roles only; planned against this state, that would delete the \
                 cluster's issuer and every operator role. Day-2 roles keep a state of their \
                 own: drop --state (and `state` in stsform.toml) to use {default}, or give \
                 another --state; to manage the cluster itself, drop --identity-provider-arn"
            ))
        }
        (
            Scope::Roles {
                identity_provider_arn,
                request_set,
            },
            Scope::Cluster,
        ) => {
            let set = request_set
                .as_ref()
                .map(|s| format!(" --request-set {s}"))
                .unwrap_or_default();
            refuse(format!(
                "this state holds only day-2 roles ({held}) trusting {identity_provider_arn}; \
                 without --identity-provider-arn this run would manage the whole cluster \
                 `{name}` and plan those roles away. Add --identity-provider-arn \
                 {identity_provider_arn}{set} to work on these roles, or use the cluster's \
                 own state (state/{name}.toml, the default without --state)"
            ))
        }
        (
            Scope::Roles {
                identity_provider_arn: theirs,
                request_set: their_set,
            },
            Scope::Roles {
                identity_provider_arn: ours,
                request_set: our_set,
            },
        ) => {
            if *theirs != ours {
                return refuse(format!(
                    "the roles in this state ({held}) trust {theirs}, but \
                     --identity-provider-arn names {ours}. Give --identity-provider-arn \
                     {theirs} to work on this state, or another --state for roles trusting \
                     {ours}"
                ));
            }
            match (their_set, our_set) {
                (Some(theirs), Some(ours)) if *theirs != ours => refuse(format!(
                    "this state manages the day-2 request set `{theirs}` ({held}), but this \
                     run reads the set `{ours}` (from --credentials-requests-dir {dir}); \
                     planned against this state, it would delete the roles of `{theirs}`. \
                     Each set keeps its own state: drop --state to use \
                     state/{name}-roles-{ours}.toml; if `{ours}` is `{theirs}` under a new \
                     name, pass --request-set {theirs}",
                    dir = settings.credentials_requests_dir.display()
                )),
                _ => Ok(()),
            }
        }
    }
}

/// Checks, then records the run's scope in `state` (kept in memory until a save): a new
/// state learns what it manages, and a version 1 state its request set.
pub fn claim(state: &mut State, settings: &Settings) -> Result<(), ScopeError> {
    check(state, settings)?;
    let mut scope = expected(settings);
    if let (
        Scope::Roles {
            request_set: ours @ None,
            ..
        },
        Some(Scope::Roles {
            request_set: Some(theirs),
            ..
        }),
    ) = (&mut scope, &state.scope)
    {
        // A run that does not name its set (a destroy given only --state) keeps the
        // recorded one.
        *ours = Some(theirs.clone());
    }
    state.scope = Some(scope);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{ResourceId, ResourceKind, RoleSpec, Spec, Tags};
    use crate::settings::{Need, SettingsInput, resolve};
    use crate::state::StateResource;

    const IDP: &str = "arn:aws:iam::123456789012:oidc-provider/c-oidc.s3.us-east-2.amazonaws.com";
    const OTHER_IDP: &str = "arn:aws:iam::123456789012:oidc-provider/other.example.com";

    fn settings(idp: Option<&str>, dir: &str) -> Settings {
        let empty = std::env::temp_dir().join("stsform-scope-test-empty.toml");
        std::fs::write(&empty, "").unwrap();
        resolve(
            &SettingsInput {
                name: Some("c".into()),
                region: Some("us-east-2".into()),
                credentials_requests_dir: Some(dir.into()),
                identity_provider_arn: idp.map(str::to_string),
                state: Some("state/x.toml".into()),
                config: Some(empty),
                ..SettingsInput::default()
            },
            Need::Cluster,
        )
        .unwrap()
    }

    fn with_role(scope: Option<Scope>) -> State {
        let mut state = State::new("c");
        state.scope = scope;
        state.resources.insert(
            ResourceId::new(ResourceKind::IamRole, "c-ns-s"),
            StateResource {
                spec: Spec::IamRole(RoleSpec {
                    name: "c-ns-s".into(),
                    arn: "arn:aws:iam::123456789012:role/c-ns-s".into(),
                    description: "d".into(),
                    trust_policy: serde_json::json!({}),
                    permissions_boundary: None,
                    tags: Tags::new(),
                }),
                depends_on: vec![],
            },
        );
        state
    }

    fn roles(idp: &str, set: Option<&str>) -> Option<Scope> {
        Some(Scope::Roles {
            identity_provider_arn: idp.into(),
            request_set: set.map(str::to_string),
        })
    }

    #[test]
    fn a_day2_run_against_the_clusters_state_is_refused() {
        let err = check(
            &with_role(Some(Scope::Cluster)),
            &settings(Some(IDP), "teams/day2"),
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("state/x.toml: this state manages the whole cluster `c`"));
        assert!(err.contains("drop --state"), "{err}");
        assert!(err.contains("state/c-roles-day2.toml"), "{err}");
    }

    #[test]
    fn a_cluster_run_against_a_roles_state_is_refused() {
        let err = check(
            &with_role(roles(IDP, Some("day2"))),
            &settings(None, "creds"),
        )
        .unwrap_err()
        .0;
        assert!(
            err.contains(&format!(
                "Add --identity-provider-arn {IDP} --request-set day2"
            )),
            "{err}"
        );
    }

    #[test]
    fn another_provider_or_request_set_is_refused() {
        let state = with_role(roles(IDP, Some("team-a")));
        let err = check(&state, &settings(Some(OTHER_IDP), "team-a"))
            .unwrap_err()
            .0;
        assert!(err.contains(&format!("trust {IDP}")), "{err}");
        let err = check(&state, &settings(Some(IDP), "dirs/team-b"))
            .unwrap_err()
            .0;
        assert!(
            err.contains("manages the day-2 request set `team-a`")
                && err.contains("reads the set `team-b`")
                && err.contains("state/c-roles-team-b.toml")
                && err.contains("--request-set team-a"),
            "{err}"
        );
        check(&state, &settings(Some(IDP), "other/team-a")).unwrap();
    }

    #[test]
    fn empty_unknown_and_legacy_states_are_claimed() {
        // Nothing held: any run may take it over.
        let mut empty = State::new("c");
        empty.scope = Some(Scope::Cluster);
        claim(&mut empty, &settings(Some(IDP), "day2")).unwrap();
        assert_eq!(empty.scope, roles(IDP, Some("day2")));
        // A version 1 roles state learns its request set.
        let mut legacy = with_role(roles(IDP, None));
        claim(&mut legacy, &settings(Some(IDP), "day2")).unwrap();
        assert_eq!(legacy.scope, roles(IDP, Some("day2")));
        // Not known at all.
        let mut unknown = with_role(None);
        claim(&mut unknown, &settings(None, "creds")).unwrap();
        assert_eq!(unknown.scope, Some(Scope::Cluster));
    }
}
