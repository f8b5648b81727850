//! refresh: read every resource the state records, concurrently. The only I/O before
//! planning. Must not compute a diff; `plan` does.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::plan::{Observed, ObservedResource};
use crate::provider::{Provider, ProviderError};
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
    let mut reads = JoinSet::new();
    for (id, r) in &state.resources {
        let (provider, permits) = (Arc::clone(&provider), Arc::clone(&permits));
        let (id, recorded) = (id.clone(), r.spec.clone());
        reads.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let live = provider.read(&id, &recorded).await;
            (id, live)
        });
    }
    let mut observed = unrefreshed(state);
    observed.refreshed = true;
    let mut errors = Vec::new();
    while let Some(joined) = reads.join_next().await {
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
    }
    if errors.is_empty() {
        Ok(observed)
    } else {
        errors.sort_by_key(ToString::to_string);
        Err(errors)
    }
}

/// The state as AWS has it now: what is gone is forgotten, drifted attributes recorded as
/// found. Apply starts from this, so its saves never claim what AWS does not hold.
pub fn refreshed_state(state: &State, observed: &Observed) -> State {
    let mut next = state.clone();
    next.resources = observed
        .resources
        .iter()
        .filter_map(|(id, o)| {
            o.live.clone().map(|spec| {
                let r = StateResource {
                    spec,
                    depends_on: o.depends_on.clone(),
                };
                (id.clone(), r)
            })
        })
        .collect();
    next
}
