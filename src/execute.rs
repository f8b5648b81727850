//! execute::apply: walk the change graph on tokio, doing exactly what the plan says.
//!
//! Owns scheduling (bounded parallelism), skipping the dependents of a failed change,
//! and keeping `State` true: it is the only writer of state during apply and saves after
//! every finished change, so a crash loses nothing AWS holds. A change is reported done,
//! and what depends on it starts, only once a save holds it; a save may run on a thread
//! of its own ([`Save::Background`]) while changes that do not wait for it start, which
//! keeps saving off the critical path. What it records ahead of a change and which
//! failures remove a resource from the state are each change's `StateRule`, decided by
//! the plan. Values the plan shows as "known after apply" ([`Late`] tokens: a
//! distribution's domain) are filled into each change as it starts, from what the changes
//! before it made (the graph orders every change after what it waits for). Running
//! changes may report progress and hear a stop (`activity`). Passes the provider's pacing
//! (a throttled service backing off) on as events. Must not print (it emits `Event`s to
//! an `Observer`) or decide anything the plan did not.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::activity::{self, Activity};
use crate::graph::ChangeGraph;
use crate::pacing::{Pacing, Service};
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
    /// AWS throttled calls to `service`, and at most `limit` of them run at once now,
    /// of `parallelism`; or (`limit == parallelism`) the service is back at full speed.
    Pacing {
        /// The service.
        service: Service,
        /// Its calls allowed at once now.
        limit: usize,
        /// The most it is allowed (`--parallelism`).
        parallelism: usize,
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
    /// What saving the state cost.
    pub saves: SaveTimes,
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

/// How apply saves the state. Either way a change is reported done, and what depends on
/// it starts, only once a save holds it.
pub enum Save<'a> {
    /// On the executor's own task: nothing starts while it saves.
    Inline(&'a mut dyn FnMut(&mut State) -> anyhow::Result<()>),
    /// On a blocking thread, which has the state meanwhile, while changes that do not
    /// wait for it go on starting: saving stays off the critical path. Changes that
    /// finish meanwhile go into the next save, which starts when this one ends.
    Background(SaveFn),
}

/// A save that can run on another thread.
pub type SaveFn = Arc<dyn Fn(&mut State) -> anyhow::Result<()> + Send + Sync>;

/// What saving the state cost an apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaveTimes {
    /// Saves made.
    pub count: usize,
    /// Time spent saving, wherever the saves ran.
    pub saving: Duration,
    /// Of it, the time apply could start nothing because of a save: every inline save,
    /// a save before a create recorded ahead, and waits for a save while no change ran.
    pub blocked: Duration,
}

/// A save that ended: the changes it holds and how it went.
struct Saved {
    batch: Vec<Done>,
    result: anyhow::Result<()>,
}

type Background = tokio::task::JoinHandle<(State, anyhow::Result<()>, Duration)>;

/// Runs saves the way [`Save`] says, one at a time, and keeps the state between them.
///
/// A background save takes the state itself to its thread and gives it back when it
/// ends; what finishes meanwhile is kept aside and recorded in the state when it comes
/// back. (A copy of the whole state for every save was most of the executor's own CPU at
/// scale: ~5 ms per save of a 1,500-resource state, on the thread that starts changes.)
struct Saver<'a> {
    save: Save<'a>,
    /// The state, unless a background save has it.
    state: Option<State>,
    /// Changes to record in the state when it comes back, in order.
    aside: Vec<(ResourceId, Option<StateResource>)>,
    running: Option<(Background, Vec<Done>)>,
    times: SaveTimes,
}

impl Saver<'_> {
    fn busy(&self) -> bool {
        self.running.is_some()
    }

    /// Records `id` as `resource` (`None`: gone) in the state, now or when it is back.
    fn set(&mut self, id: ResourceId, resource: Option<StateResource>) {
        match &mut self.state {
            Some(state) => put(state, id, resource),
            None => self.aside.push((id, resource)),
        }
    }

    /// Saves the state holding `batch`: done at once inline (returned), or started on a
    /// blocking thread (then `None`; [`Saver::finish`] waits for it). Never while busy.
    fn start(&mut self, batch: Vec<Done>) -> Option<Saved> {
        debug_assert!(!self.busy(), "one save at a time");
        self.times.count += 1;
        let state = self
            .state
            .as_mut()
            .expect("the state is home while no save runs");
        match &mut self.save {
            Save::Inline(save) => {
                let started = Instant::now();
                let result = save(state);
                let elapsed = started.elapsed();
                self.times.saving += elapsed;
                self.times.blocked += elapsed;
                Some(Saved { batch, result })
            }
            Save::Background(save) => {
                let save = Arc::clone(save);
                let mut state = self.state.take().expect("checked above");
                let task = tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    // The state must come back whatever the save does.
                    let result =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| save(&mut state)))
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("the save panicked")));
                    (state, result, started.elapsed())
                });
                self.running = Some((task, batch));
                None
            }
        }
    }

    /// Waits for the save in flight (pending forever when there is none) and takes the
    /// state back, with what was set aside meanwhile.
    async fn finish(&mut self) -> Saved {
        let Some((task, _)) = &mut self.running else {
            return std::future::pending().await;
        };
        // The closure catches panics, and apply keeps the runtime alive while it waits.
        let (mut state, result, elapsed) = task
            .await
            .expect("a save's thread is neither panicked nor cancelled");
        let (_, batch) = self.running.take().expect("a save was running");
        for (id, resource) in self.aside.drain(..) {
            put(&mut state, id, resource);
        }
        self.state = Some(state);
        self.times.saving += elapsed;
        Saved { batch, result }
    }

    /// Saves the state holding `batch` and waits for it, after the save in flight (if
    /// any).
    async fn save_now(&mut self, batch: Vec<Done>) -> (Option<Saved>, Saved) {
        let started = Instant::now();
        let earlier = if self.busy() {
            Some(self.finish().await)
        } else {
            None
        };
        let this = match self.start(batch) {
            Some(done) => done,
            None => self.finish().await,
        };
        if !matches!(self.save, Save::Inline(_)) {
            self.times.blocked += started.elapsed();
        }
        (earlier, this)
    }
}

fn put(state: &mut State, id: ResourceId, resource: Option<StateResource>) {
    match resource {
        Some(resource) => {
            state.resources.insert(id, resource);
        }
        None => {
            state.resources.remove(&id);
        }
    }
}

/// The walk over the graph: what is ready, started, skipped, and what happened.
struct Walk<'a> {
    /// The plan's changes as apply learns what only AWS could tell (a distribution's
    /// domain): a change is filled in when it starts, with what the changes before it
    /// made. Borrowed from the plan until then: a copy of every change (each with its
    /// specs and attribute diffs) was the largest part of apply's memory at scale.
    changes: Vec<Cow<'a, Change>>,
    /// What finished changes made that later ones may need (`Late` values).
    learned: Vec<(Late, String)>,
    g: &'a petgraph::graph::DiGraph<usize, ()>,
    observer: &'a dyn Observer,
    outcome: Outcome,
    /// Per node: dependencies not yet finished and saved.
    waiting: Vec<usize>,
    /// Ready nodes run in plan (id) order, so runs are reproducible.
    ready: VecDeque<NodeIndex>,
    started: Vec<bool>,
    skipped: Vec<bool>,
}

impl Walk<'_> {
    /// Records what a finished change did in the state; whether the state changed.
    fn record(&mut self, saver: &mut Saver, done: &Done) -> bool {
        let change = &self.changes[self.g[done.node]];
        match &done.result {
            Ok(Some(spec)) => {
                for output in spec.outputs() {
                    if !self.learned.contains(&output) {
                        self.learned.push(output);
                    }
                }
                saver.set(
                    change.id.clone(),
                    Some(StateResource {
                        spec: spec.clone(),
                        depends_on: change.depends_on.clone(),
                    }),
                );
                true
            }
            Ok(None) => {
                saver.set(change.id.clone(), None);
                true
            }
            // Failures that remove it from the state, as the plan says (`StateRule`).
            Err(e)
                if (done.gone && change.state_rule.forget_if_deleted)
                    || (change.state_rule.forget_if_not_owned
                        && matches!(e, ProviderError::NotOwned { .. })) =>
            {
                saver.set(change.id.clone(), None);
                true
            }
            Err(_) => false,
        }
    }

    /// Reports a finished change (after a save holds it) and releases, or skips, what
    /// depends on it.
    fn report(&mut self, done: Done) {
        let g = self.g;
        let change = &self.changes[g[done.node]];
        match done.result {
            Ok(_) => {
                self.observer.event(&Event::Finished {
                    id: change.id.clone(),
                    action: change.action,
                    elapsed: done.elapsed,
                });
                self.outcome
                    .succeeded
                    .push((change.id.clone(), change.action));
                let mut next: Vec<NodeIndex> = Vec::new();
                for succ in g.neighbors_directed(done.node, Direction::Outgoing) {
                    let n = &mut self.waiting[succ.index()];
                    *n -= 1;
                    if *n == 0 && !self.skipped[succ.index()] {
                        next.push(succ);
                    }
                }
                next.sort_by_key(|n| g[*n]);
                self.ready.extend(next);
            }
            Err(error) => {
                let error = error.to_string();
                self.observer.event(&Event::Failed {
                    id: change.id.clone(),
                    action: change.action,
                    error: error.clone(),
                });
                self.outcome.failed.push(Failure {
                    id: change.id.clone(),
                    action: change.action,
                    error,
                });
                // Skip everything downstream, once each, naming the failed change.
                let mut stack: Vec<NodeIndex> = g
                    .neighbors_directed(done.node, Direction::Outgoing)
                    .collect();
                while let Some(n) = stack.pop() {
                    if self.skipped[n.index()] {
                        continue;
                    }
                    self.skipped[n.index()] = true;
                    let id = self.changes[g[n]].id.clone();
                    self.observer.event(&Event::Skipped {
                        id: id.clone(),
                        because: change.id.clone(),
                    });
                    self.outcome.skipped.push((id, change.id.clone()));
                    stack.extend(g.neighbors_directed(n, Direction::Outgoing));
                }
            }
        }
    }

    /// A save ended: its changes are reported.
    fn saved(&mut self, saved: Saved) {
        if let Err(e) = saved.result
            && self.outcome.save_error.is_none()
        {
            self.outcome.save_error = Some(format!("{e:#}"));
        }
        for done in saved.batch {
            self.report(done);
        }
    }

    /// Tells the observer which services started backing off (or backed off further)
    /// and which are back at full speed, from `before` to `now`.
    fn pacing(&self, before: &Pacing, now: &Pacing) {
        let limit = |p: &Pacing, service| {
            p.slowed
                .iter()
                .find(|s| s.service == service)
                .map_or(p.parallelism, |s| s.limit)
        };
        for service in [Service::Iam, Service::S3, Service::Sts] {
            let (was, is) = (limit(before, service), limit(now, service));
            if is < was || (is == now.parallelism && was < is) {
                self.observer.event(&Event::Pacing {
                    service,
                    limit: is,
                    parallelism: now.parallelism,
                });
            }
        }
    }
}

/// What woke the executor.
enum Wake {
    Finished(Option<Result<Done, tokio::task::JoinError>>),
    Saved(Saved),
    Pacing(Option<Pacing>),
    /// A running change's note.
    Note(ResourceId, String),
    /// Time to look at the stop flag.
    Poll,
}

/// The provider's next pacing, `None` once it has no more to say (pending without one).
async fn next_pacing(pacing: &mut Option<watch::Receiver<Pacing>>) -> Option<Pacing> {
    let Some(rx) = pacing else {
        return std::future::pending().await;
    };
    match rx.changed().await {
        Ok(()) => Some(rx.borrow_and_update().clone()),
        Err(_) => None,
    }
}

/// Applies `plan` in the order of `graph`.
///
/// `state` is updated after every finished change and saved through `save`.
pub async fn apply<P: Provider>(
    plan: &Plan,
    graph: &ChangeGraph,
    provider: Arc<P>,
    state: &mut State,
    save: Save<'_>,
    controls: Controls<'_>,
) -> Outcome {
    let Controls {
        observer,
        parallelism,
        stop,
    } = controls;
    let g = &graph.graph;
    let waiting: Vec<usize> = g
        .node_indices()
        .map(|n| g.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: Vec<NodeIndex> = g
        .node_indices()
        .filter(|n| waiting[n.index()] == 0)
        .collect();
    ready.sort_by_key(|n| g[*n]);
    let mut walk = Walk {
        changes: plan.changes.iter().map(Cow::Borrowed).collect(),
        learned: Vec::new(),
        g,
        observer,
        outcome: Outcome::default(),
        waiting,
        ready: ready.into(),
        started: vec![false; g.node_count()],
        skipped: vec![false; g.node_count()],
    };
    // The saver keeps the state for the run; the caller's gets it back at the end.
    let mut saver = Saver {
        save,
        state: Some(std::mem::replace(state, State::new(&state.cluster))),
        aside: Vec::new(),
        running: None,
        times: SaveTimes::default(),
    };
    // Changes finished and recorded in `state`, not yet in a save that ended.
    let mut unsaved: Vec<Done> = Vec::new();
    let mut running = JoinSet::new();
    let parallelism = parallelism.max(1);
    // What running changes say (`activity`), and the stop they hear.
    let (notes_tx, mut notes) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut pacing = provider.pacing();
    let mut shown = Pacing::default();
    if let Some(rx) = &mut pacing {
        // Backing off already (the refresh was throttled): say so first.
        let now = rx.borrow_and_update().clone();
        shown.parallelism = now.parallelism;
        walk.pacing(&shown, &now);
        shown = now;
    }

    loop {
        // Every change that finished since the last save goes into the next one, before
        // anything new starts (inline; in the background, beside it): the state is
        // saved after every finished change, but a save never waits on each in turn (a
        // save costs O(resources), so one per change made apply O(n²)).
        if !saver.busy()
            && !unsaved.is_empty()
            && let Some(saved) = saver.start(std::mem::take(&mut unsaved))
        {
            walk.saved(saved);
        }
        while running.len() < parallelism
            && !stop.load(Ordering::SeqCst)
            && walk.outcome.save_error.is_none()
        {
            let Some(node) = walk.ready.pop_front() else {
                break;
            };
            let change = walk.changes[g[node]].filled(&walk.learned);
            if !walk.learned.is_empty() {
                // Kept for what follows (recording it, naming it in skips) only when
                // filling may have changed it; else the plan's own stays borrowed.
                walk.changes[g[node]] = Cow::Owned(change.clone());
            }
            if change.state_rule.record_ahead
                && let Some(spec) = &change.after
            {
                // Recorded and saved before it is made, as the plan says (`StateRule`).
                saver.set(
                    change.id.clone(),
                    Some(StateResource {
                        spec: spec.clone(),
                        depends_on: change.depends_on.clone(),
                    }),
                );
                let (earlier, this) = saver.save_now(std::mem::take(&mut unsaved)).await;
                if let Some(earlier) = earlier {
                    walk.saved(earlier);
                }
                let failed = this.result.is_err();
                walk.saved(this);
                if failed {
                    saver.set(change.id.clone(), None);
                    walk.ready.push_front(node);
                    break;
                }
            }
            observer.event(&Event::Started {
                id: change.id.clone(),
                action: change.action,
            });
            walk.started[node.index()] = true;
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
        if running.is_empty() && !saver.busy() {
            debug_assert!(unsaved.is_empty(), "every finished change was saved");
            break;
        }
        // The stop flag is a plain bool: passed on to the running changes whenever the
        // loop wakes (a note, or the poll below), so a change that waits
        // (`activity::sleep_unless_stopped`) hears it at once.
        if stop.load(Ordering::SeqCst) && !*stop_tx.borrow() {
            let _ = stop_tx.send(true);
        }
        let idle = running.is_empty();
        let waited = Instant::now();
        let woke = tokio::select! {
            joined = running.join_next(), if !running.is_empty() => Wake::Finished(joined),
            saved = saver.finish(), if saver.busy() => Wake::Saved(saved),
            next = next_pacing(&mut pacing), if pacing.is_some() => Wake::Pacing(next),
            Some((id, message)) = notes.recv() => Wake::Note(id, message),
            () = tokio::time::sleep(STOP_POLL), if !*stop_tx.borrow() => Wake::Poll,
        };
        match woke {
            Wake::Finished(joined) => {
                let mut batch: Vec<_> = joined.into_iter().collect();
                while let Some(more) = running.try_join_next() {
                    batch.push(more);
                }
                for joined in batch {
                    match joined {
                        Ok(done) => {
                            if walk.record(&mut saver, &done) {
                                unsaved.push(done);
                            } else {
                                // A failure that changed nothing: nothing to save first.
                                walk.report(done);
                            }
                        }
                        // A panicking provider is a bug; the task's node is unknown, so
                        // stop cleanly.
                        Err(e) => {
                            walk.outcome.save_error = Some(format!("a change panicked: {e}"));
                        }
                    }
                }
            }
            Wake::Saved(saved) => {
                if idle {
                    saver.times.blocked += waited.elapsed();
                }
                walk.saved(saved);
            }
            Wake::Pacing(Some(now)) => {
                walk.pacing(&shown, &now);
                shown = now;
            }
            Wake::Pacing(None) => pacing = None,
            Wake::Note(id, message) => observer.event(&Event::Note { id, message }),
            Wake::Poll => {}
        }
    }
    *state = saver.state.take().expect("no save runs after the walk");
    let mut outcome = walk.outcome;
    let mut not_started: Vec<ResourceId> = g
        .node_indices()
        .filter(|n| !walk.started[n.index()] && !walk.skipped[n.index()])
        .map(|n| walk.changes[g[n]].id.clone())
        .collect();
    not_started.sort();
    outcome.not_started = not_started;
    outcome.skipped.sort();
    outcome.saves = saver.times;
    outcome
}
