//! refresh: read every resource the state records, concurrently. With `discover`, the
//! only I/O before planning; the two share one pool of reads. Must not compute a diff;
//! `plan` does.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::plan::{Observed, ObservedResource};
use crate::provider::{Provider, ProviderError, ProviderResult};
use crate::resource::{ResourceId, Spec};
use crate::state::{State, StateResource};

/// Observed resources as the state records them, without asking anyone (`--refresh=false`).
pub fn unrefreshed(state: &State) -> Observed {
    Observed {
        resources: state
            .resources
            .iter()
            .map(|(id, r)| {
                let observed = ObservedResource {
                    recorded: r.spec.clone(),
                    live: Some(r.spec.clone()),
                    depends_on: r.depends_on.clone(),
                };
                (id.clone(), observed)
            })
            .collect(),
        refreshed: false,
        discovery: Default::default(),
    }
}

/// Reads every recorded resource through the provider, at most `parallelism` at once.
/// Every failed read is returned, not only the first.
pub async fn refresh<P: Provider>(
    provider: Arc<P>,
    state: &State,
    parallelism: usize,
) -> Result<Observed, Vec<ProviderError>> {
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    refresh_with(provider, state, &permits).await
}

/// [`refresh`], with a read in flight per permit of `permits`: the plan shares them with
/// discovery and the account lookup, so that all of a plan's reads fill one pool of
/// `--parallelism` and none waits for another stage to end. A read's task is spawned only
/// once it holds its permit, so a large state costs one task per read in flight, not one
/// per resource.
pub async fn refresh_with<P: Provider>(
    provider: Arc<P>,
    state: &State,
    permits: &Arc<Semaphore>,
) -> Result<Observed, Vec<ProviderError>> {
    let mut observed = unrefreshed(state);
    observed.refreshed = true;
    let mut errors = Vec::new();
    type Read = (ResourceId, ProviderResult<Option<Spec>>);
    let mut record = |joined: Result<Read, tokio::task::JoinError>| {
        let (id, live) = joined.expect("read tasks do not panic");
        match live {
            Ok(live) => {
                observed
                    .resources
                    .get_mut(&id)
                    .expect("read ids come from the state")
                    .live = live;
            }
            Err(e) => errors.push(e),
        }
    };
    let mut reads = JoinSet::new();
    for (id, r) in &state.resources {
        let permit = Arc::clone(permits)
            .acquire_owned()
            .await
            .expect("never closed");
        // Collect what has finished meanwhile, so finished reads do not pile up.
        while let Some(joined) = reads.try_join_next() {
            record(joined);
        }
        let provider = Arc::clone(&provider);
        let (id, recorded) = (id.clone(), r.spec.clone());
        reads.spawn(async move {
            let _permit = permit;
            let live = provider.read(&id, &recorded).await;
            (id, live)
        });
    }
    while let Some(joined) = reads.join_next().await {
        record(joined);
    }
    if errors.is_empty() {
        Ok(observed)
    } else {
        errors.sort_by_key(ToString::to_string);
        Err(errors)
    }
}

/// Why a day-2 run's provider cannot be trusted by the roles it would make.
#[derive(Debug, thiserror::Error)]
pub enum IdentityProviderError {
    /// No provider has that ARN.
    #[error(
        "--identity-provider-arn {arn}: no such OIDC provider in this account; the roles would \
         trust nothing. Check the ARN (`aws iam list-open-id-connect-providers`)"
    )]
    Missing {
        /// The ARN given.
        arn: String,
    },
    /// Its URL is not the issuer the roles' trust policies name.
    #[error(
        "--identity-provider-arn {arn}: the provider's URL is {url}, but the roles would \
         trust tokens from {expected} (the issuer its ARN names); tokens would never match"
    )]
    OtherIssuer {
        /// The ARN given.
        arn: String,
        /// The provider's URL.
        url: String,
        /// The issuer derived from the ARN.
        expected: String,
    },
    /// Reading it failed.
    #[error("--identity-provider-arn {arn}: cannot read the provider: {source}")]
    Read {
        /// The ARN given.
        arn: String,
        /// The provider error.
        source: ProviderError,
    },
}

/// Reads the OIDC provider a day-2 run's roles will trust (it is not in the state: the
/// run does not own it) and checks that it exists and serves the issuer its ARN names,
/// which is the issuer host the roles' trust conditions use.
pub async fn identity_provider<P: Provider>(
    provider: &P,
    arn: &str,
) -> Result<(), IdentityProviderError> {
    use crate::resource::{OidcProviderSpec, ResourceKind, Tags};
    let host = arn.split_once(":oidc-provider/").map_or("", |(_, h)| h);
    let expected = format!("https://{host}");
    let id = ResourceId::new(ResourceKind::IamOidcProvider, host);
    let recorded = Spec::IamOidcProvider(OidcProviderSpec {
        url: expected.clone(),
        arn: arn.to_string(),
        client_ids: Vec::new(),
        thumbprints: Vec::new(),
        tags: Tags::new(),
    });
    match provider.read(&id, &recorded).await {
        Ok(Some(Spec::IamOidcProvider(live))) if live.url.trim_end_matches('/') == expected => {
            Ok(())
        }
        Ok(Some(Spec::IamOidcProvider(live))) => Err(IdentityProviderError::OtherIssuer {
            arn: arn.to_string(),
            url: live.url,
            expected,
        }),
        Ok(_) => Err(IdentityProviderError::Missing {
            arn: arn.to_string(),
        }),
        Err(source) => Err(IdentityProviderError::Read {
            arn: arn.to_string(),
            source,
        }),
    }
}

/// The state as AWS has it now: what is gone is forgotten, drifted attributes recorded as
/// found. Apply starts from this, so its saves never claim what AWS does not hold. Takes
/// the live specs out of `observed` rather than copying them.
pub fn refreshed_state(state: &State, observed: Observed) -> State {
    // Field by field, not `state.clone()`: that would copy every recorded spec only to
    // replace them (a transient copy of the whole state at scale).
    let State {
        version,
        serial,
        lineage,
        cluster,
        scope,
        resources: _,
        local_paths,
    } = state;
    let resources = observed
        .resources
        .into_iter()
        .filter_map(|(id, o)| {
            o.live.map(|spec| {
                let r = StateResource {
                    spec,
                    depends_on: o.depends_on,
                };
                (id, r)
            })
        })
        .collect();
    State {
        version: *version,
        serial: *serial,
        lineage: lineage.clone(),
        cluster: cluster.clone(),
        scope: scope.clone(),
        resources,
        local_paths: *local_paths,
    }
}
