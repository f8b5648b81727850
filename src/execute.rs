//! execute::apply: walk the change graph on tokio, doing exactly what the plan says.
//!
//! Owns scheduling (bounded parallelism), skipping the dependents of a failed change,
//! and keeping `State` true: it is the only writer of state during apply and saves after
//! every finished change, so a crash loses nothing AWS holds. What it records ahead of a
//! change and which failures remove a resource from the state are each change's
//! `StateRule`, decided by the plan. Values the plan shows as "known after apply" ([`Late`]
//! tokens: a distribution's domain) are filled into each change as it starts, from what
//! the changes before it made (the graph orders every change after what it waits for).
//! Running changes may report progress and hear a stop (`activity`). Must not print (it
//! emits `Event`s to an `Observer`) or decide anything the plan did not.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::activity::{self, Activity};

use crate::graph::ChangeGraph;
use crate::plan::{Action, Change, Plan};
use crate::provider::{Provider, ProviderError};
use crate::resource::{Late, Resource, ResourceId, Spec};
use crate::state::{State, StateResource};

/// Something that happened during apply, for progress display and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A change started.
    Started {
        /// The resource.
        id: ResourceId,
        /// What is being done.
        action: Action,
    },
    /// A change finished.
    Finished {
        /// The resource.
        id: ResourceId,
        /// What was done.
        action: Action,
        /// How long it took.
        elapsed: Duration,
    },
    /// A change failed.
    Failed {
        /// The resource.
        id: ResourceId,
        /// What was attempted.
        action: Action,
        /// Why, one line.
        error: String,
    },
    /// A running change says how it is getting on (it waits for AWS, say).
    Note {
        /// The resource.
        id: ResourceId,
        /// One line.
        message: String,
    },
    /// A change was not attempted because one it depends on failed.
    Skipped {
        /// The resource.
        id: ResourceId,
        /// The failed change it depends on.
        because: ResourceId,
    },
}

/// Receives events; implementations live in `progress`.
pub trait Observer: Send + Sync {
    /// Called once per event, from the executor's loop.
    fn event(&self, event: &Event);
}

/// A failed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The resource.
    pub id: ResourceId,
    /// What was attempted.
    pub action: Action,
    /// Why.
    pub error: String,
}

/// What apply did: every success, failure and skip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Changes that finished.
    pub succeeded: Vec<(ResourceId, Action)>,
    /// Changes that failed.
    pub failed: Vec<Failure>,
    /// Changes skipped because a dependency failed: (skipped, failed dependency).
    pub skipped: Vec<(ResourceId, ResourceId)>,
    /// Changes not started because apply was interrupted.
    pub not_started: Vec<ResourceId>,
    /// Saving the state failed: apply stopped starting new work.
    pub save_error: Option<String>,
}

impl Outcome {
    /// Whether every planned change was made.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.not_started.is_empty()
            && self.save_error.is_none()
    }
}

/// How often apply looks at the stop flag while changes run.
const STOP_POLL: Duration = Duration::from_millis(200);

/// What one change's task reports back.
struct Done {
    node: NodeIndex,
    result: Result<Option<Spec>, ProviderError>,
    /// For a failed replace: the old resource was deleted before the create failed.
    gone: bool,
    elapsed: Duration,
}

async fn run_change<P: Provider>(provider: Arc<P>, node: NodeIndex, change: Change) -> Done {
    let started = Instant::now();
    let resource = change.after.clone().map(|spec| Resource {
        id: change.id.clone(),
        spec,
        depends_on: change.depends_on.clone(),
    });
    let before = change.before.as_ref();
    let mut gone = false;
    let result = match (change.action, &resource, before) {
        (Action::Create, Some(r), _) => provider.create(r).await.map(Some),
        (Action::Update, Some(r), Some(b)) => provider.update(r, b).await.map(Some),
        (Action::Delete, _, Some(b)) => provider.delete(&change.id, b).await.map(|()| None),
        (Action::Replace, Some(r), Some(b)) => match provider.delete(&change.id, b).await {
            Ok(()) => {
                gone = true;
                provider.create(r).await.map(Some)
            }
            Err(e) => Err(e),
        },
        _ => Err(ProviderError::Invalid {
            id: change.id.clone(),
            message: "the plan's change lacks the attributes its action needs".into(),
        }),
    };
    Done {
        node,
        result,
        gone,
        elapsed: started.elapsed(),
    }
}

/// How apply runs: who watches, how wide, and when to stop.
pub struct Controls<'a> {
    /// Receives every event.
    pub observer: &'a dyn Observer,
    /// At most this many changes at once.
    pub parallelism: usize,
    /// Set to true (Ctrl-C) to stop starting new changes; running ones finish.
    pub stop: &'a AtomicBool,
}

/// Applies `plan` in the order of `graph`.
///
/// `state` is updated after every finished change and handed to `save`.
pub async fn apply<P: Provider>(
    plan: &Plan,
    graph: &ChangeGraph,
    provider: Arc<P>,
    state: &mut State,
    save: &mut dyn FnMut(&mut State) -> anyhow::Result<()>,
    controls: Controls<'_>,
) -> Outcome {
    let Controls {
        observer,
        parallelism,
        stop,
    } = controls;
    let g = &graph.graph;
    let mut outcome = Outcome::default();
    let mut waiting: BTreeMap<NodeIndex, usize> = g
        .node_indices()
        .map(|n| (n, g.neighbors_directed(n, Direction::Incoming).count()))
        .collect();
    // Ready nodes run in plan (id) order, so runs are reproducible.
    let mut ready: VecDeque<NodeIndex> = {
        let mut r: Vec<NodeIndex> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(i, _)| *i)
            .collect();
        r.sort_by_key(|n| g[*n]);
        r.into()
    };
    let mut started: Vec<bool> = vec![false; g.node_count()];
    let mut skipped: Vec<bool> = vec![false; g.node_count()];
    let mut running = JoinSet::new();
    let parallelism = parallelism.max(1);
    // The plan's changes as apply learns what only AWS could tell (a distribution's
    // domain): a change is filled in when it starts, with what the changes before it made.
    let mut changes: Vec<Change> = plan.changes.clone();
    let mut learned: Vec<(Late, String)> = Vec::new();
    // What running changes say (`activity`), and the stop they hear.
    let (notes_tx, mut notes) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);

    loop {
        while running.len() < parallelism
            && !stop.load(Ordering::SeqCst)
            && outcome.save_error.is_none()
        {
            let Some(node) = ready.pop_front() else { break };
            let change = changes[g[node]].filled(&learned);
            changes[g[node]] = change.clone();
            if change.state_rule.record_ahead
                && let Some(spec) = &change.after
            {
                // Recorded before it is made, as the plan says (see `StateRule`).
                state.resources.insert(
                    change.id.clone(),
                    StateResource {
                        spec: spec.clone(),
                        depends_on: change.depends_on.clone(),
                    },
                );
                if let Err(e) = save(state) {
                    outcome.save_error = Some(format!("{e:#}"));
                    state.resources.remove(&change.id);
                    ready.push_front(node);
                    break;
                }
            }
            observer.event(&Event::Started {
                id: change.id.clone(),
                action: change.action,
            });
            started[node.index()] = true;
            let activity = Activity {
                id: change.id.clone(),
                notes: notes_tx.clone(),
                stop: stop_rx.clone(),
            };
            running.spawn(activity::scope(
                activity,
                run_change(Arc::clone(&provider), node, change),
            ));
        }
        let joined = loop {
            // The stop flag is a plain bool: passed on to the running changes whenever the
            // loop wakes (a note, or the poll below), so a change that waits
            // (`activity::sleep_unless_stopped`) hears it at once.
            if stop.load(Ordering::SeqCst) && !*stop_tx.borrow() {
                let _ = stop_tx.send(true);
            }
            tokio::select! {
                joined = running.join_next() => break joined,
                Some((id, message)) = notes.recv() => {
                    observer.event(&Event::Note { id, message });
                }
                () = tokio::time::sleep(STOP_POLL), if !*stop_tx.borrow() => {}
            }
        };
        let Some(joined) = joined else {
            break;
        };
        // Every change that has finished by now is recorded together, in one save,
        // before anything that depends on them starts: the state is still saved after
        // every finished change, but a save no longer waits on each of them in turn
        // (a save costs O(resources), so one per change made apply O(n²)).
        let mut batch = vec![joined];
        while let Some(more) = running.try_join_next() {
            batch.push(more);
        }
        let mut finished: Vec<Done> = Vec::with_capacity(batch.len());
        for joined in batch {
            match joined {
                Ok(done) => finished.push(done),
                // A panicking provider is a bug; the task's node is unknown, so stop cleanly.
                Err(e) => outcome.save_error = Some(format!("a change panicked: {e}")),
            }
        }
        let mut changed = false;
        for done in &finished {
            let change = &changes[g[done.node]];
            match &done.result {
                Ok(Some(spec)) => {
                    for output in spec.outputs() {
                        if !learned.contains(&output) {
                            learned.push(output);
                        }
                    }
                    state.resources.insert(
                        change.id.clone(),
                        StateResource {
                            spec: spec.clone(),
                            depends_on: change.depends_on.clone(),
                        },
                    );
                    changed = true;
                }
                Ok(None) => {
                    state.resources.remove(&change.id);
                    changed = true;
                }
                // Failures that remove it from the state, as the plan says (`StateRule`).
                Err(e)
                    if (done.gone && change.state_rule.forget_if_deleted)
                        || (change.state_rule.forget_if_not_owned
                            && matches!(e, ProviderError::NotOwned { .. })) =>
                {
                    state.resources.remove(&change.id);
                    changed = true;
                }
                Err(_) => {}
            }
        }
        if changed && let Err(e) = save(state) {
            outcome.save_error = Some(format!("{e:#}"));
        }
        for done in finished {
            let change = &changes[g[done.node]];
            match done.result {
                Ok(_) => {
                    observer.event(&Event::Finished {
                        id: change.id.clone(),
                        action: change.action,
                        elapsed: done.elapsed,
                    });
                    outcome.succeeded.push((change.id.clone(), change.action));
                    let mut next: Vec<NodeIndex> = Vec::new();
                    for succ in g.neighbors_directed(done.node, Direction::Outgoing) {
                        let n = waiting.get_mut(&succ).expect("every node has a count");
                        *n -= 1;
                        if *n == 0 && !skipped[succ.index()] {
                            next.push(succ);
                        }
                    }
                    next.sort_by_key(|n| g[*n]);
                    ready.extend(next);
                }
                Err(error) => {
                    let error = error.to_string();
                    observer.event(&Event::Failed {
                        id: change.id.clone(),
                        action: change.action,
                        error: error.clone(),
                    });
                    outcome.failed.push(Failure {
                        id: change.id.clone(),
                        action: change.action,
                        error,
                    });
                    // Skip everything downstream, once each, naming the failed change.
                    let mut stack: Vec<NodeIndex> = g
                        .neighbors_directed(done.node, Direction::Outgoing)
                        .collect();
                    while let Some(n) = stack.pop() {
                        if skipped[n.index()] {
                            continue;
                        }
                        skipped[n.index()] = true;
                        let id = changes[g[n]].id.clone();
                        observer.event(&Event::Skipped {
                            id: id.clone(),
                            because: change.id.clone(),
                        });
                        outcome.skipped.push((id, change.id.clone()));
                        stack.extend(g.neighbors_directed(n, Direction::Outgoing));
                    }
                }
            }
        }
    }
    let mut not_started: Vec<ResourceId> = g
        .node_indices()
        .filter(|n| !started[n.index()] && !skipped[n.index()])
        .map(|n| changes[g[n]].id.clone())
        .collect();
    not_started.sort();
    outcome.not_started = not_started;
    outcome.skipped.sort();
    outcome
}
