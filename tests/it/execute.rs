//! The executor on its own: bounded parallelism, save after every change, Ctrl-C.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stsform::desired::{self, Facts};
use stsform::execute::{self, Controls, Event, Observer, Save};
use stsform::plan::{self, Observed};
use stsform::progress::Recorder;
use stsform::provider::fake::{FakeCloud, FakeProvider};
use stsform::provider::{Provider, ProviderResult};
use stsform::resource::{Resource, ResourceId, Spec};
use stsform::state::State;

/// Wraps a provider, slowing every write and recording how many run at once.
struct Slow {
    inner: FakeProvider,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Slow {
    async fn around<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(15)).await;
        let out = f.await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

impl Provider for Slow {
    async fn account_id(&self) -> ProviderResult<String> {
        self.inner.account_id().await
    }
    async fn account_summary(&self) -> ProviderResult<stsform::review::AccountSummary> {
        self.inner.account_summary().await
    }
    async fn read(&self, id: &ResourceId, recorded: &Spec) -> ProviderResult<Option<Spec>> {
        self.inner.read(id, recorded).await
    }
    async fn create(&self, r: &Resource) -> ProviderResult<Spec> {
        self.around(self.inner.create(r)).await
    }
    async fn update(&self, r: &Resource, before: &Spec) -> ProviderResult<Spec> {
        self.around(self.inner.update(r, before)).await
    }
    async fn delete(&self, id: &ResourceId, before: &Spec) -> ProviderResult<()> {
        self.around(self.inner.delete(id, before)).await
    }
    async fn list(&self, listing: &stsform::provider::Listing) -> ProviderResult<Vec<String>> {
        self.inner.list(listing).await
    }
}

/// The plan of a new cluster (examples/cluster), writing local files into a temp dir.
fn new_cluster_plan(dir: &std::path::Path) -> plan::Plan {
    let creds = crate::derive::root().join("examples/cluster");
    let mut s = crate::derive::settings("ex", "us-east-2", &creds);
    s.output_dir = dir.to_path_buf();
    s.recorded_output_dir = dir.to_path_buf();
    let facts = Facts {
        account_id: Some("123456789012".into()),
        signing_key: Some(crate::derive::fixed_key()),
        ..Facts::default()
    };
    let desired = desired::derive(&crate::derive::requests(&creds), &s, &facts).unwrap();
    plan::compute(&desired, &Observed::default())
}

fn fixed_private_key() -> stsform::keypair::PrivateKey {
    let pem = std::fs::read_to_string(
        crate::derive::root().join("tests/fixtures/keys/fixed.private.pem"),
    )
    .unwrap();
    stsform::keypair::PrivateKey::from_pem(&pem, "fixed").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallelism_bounds_concurrent_changes_and_state_is_saved_after_each() {
    let dir = tempfile::tempdir().unwrap();
    let plan = new_cluster_plan(dir.path());
    let graph = stsform::graph::build(&plan).unwrap();
    for parallelism in [1, 3] {
        let provider = Arc::new(Slow {
            inner: FakeProvider::new(FakeCloud::new("123456789012"), Some(fixed_private_key())),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        });
        let mut state = State::new("ex");
        let saved: Arc<Mutex<BTreeSet<ResourceId>>> = Arc::default();
        let mut saves = Vec::new();
        let mut save = |s: &mut State| -> anyhow::Result<()> {
            saves.push(s.resources.len());
            *saved.lock().unwrap() = s.resources.keys().cloned().collect();
            Ok(())
        };
        let observer = SavedBeforeReported {
            saved: Arc::clone(&saved),
            recorder: Recorder::default(),
        };
        let stop = AtomicBool::new(false);
        let controls = Controls {
            observer: &observer,
            parallelism,
            stop: &stop,
        };
        let outcome = execute::apply(
            &plan,
            &graph,
            Arc::clone(&provider),
            &mut state,
            Save::Inline(&mut save),
            controls,
        )
        .await;
        assert!(outcome.is_complete(), "{outcome:#?}");
        assert_eq!(provider.peak.load(Ordering::SeqCst), parallelism);
        // Saves grow with every batch of finished changes and end with all of them;
        // `SavedBeforeReported` checked that each was saved before it was reported.
        // (The bucket's create is recorded ahead of it: one save holds the same count.)
        assert!(saves.windows(2).all(|w| w[0] <= w[1]), "{saves:?}");
        assert_eq!(saves.last(), Some(&28));
        let recorder = &observer.recorder;
        assert_eq!(state.resources.len(), 28);
        // Every change starts only after the changes it depends on finished.
        let events = recorder.events();
        for change in &plan.changes {
            let started = events
                .iter()
                .position(|e| matches!(e, Event::Started { id, .. } if *id == change.id))
                .unwrap();
            for dep in &change.depends_on {
                let finished = events
                    .iter()
                    .position(|e| matches!(e, Event::Finished { id, .. } if id == dep))
                    .unwrap();
                assert!(
                    finished < started,
                    "{} started before {dep} finished",
                    change.id
                );
            }
        }
    }
}

/// Applies `plan` in graph order, `parallelism` changes at once, saving with `save` on a
/// thread of its own, with no stop.
async fn apply_saving_in_background<P: Provider + 'static>(
    plan: &stsform::plan::Plan,
    provider: Arc<P>,
    state: &mut State,
    save: execute::SaveFn,
    parallelism: usize,
    observer: &dyn Observer,
) -> execute::Outcome {
    let graph = stsform::graph::build(plan).unwrap();
    let stop = AtomicBool::new(false);
    let controls = Controls {
        observer,
        parallelism,
        stop: &stop,
    };
    execute::apply(
        plan,
        &graph,
        provider,
        state,
        Save::Background(save),
        controls,
    )
    .await
}

/// Saved on a thread of its own while changes go on: still every change is in a save
/// before it is reported and before what depends on it starts, the saves carry the
/// serial forward, and the last save holds everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_saves_hold_every_change_before_it_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let plan = new_cluster_plan(dir.path());
    let provider = Arc::new(Slow {
        inner: FakeProvider::new(FakeCloud::new("123456789012"), Some(fixed_private_key())),
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let mut state = State::new("ex");
    let saved: Arc<Mutex<BTreeSet<ResourceId>>> = Arc::default();
    let last = Arc::new(AtomicUsize::new(0));
    let save = {
        let (saved, last) = (Arc::clone(&saved), Arc::clone(&last));
        move |s: &mut State| -> anyhow::Result<()> {
            // A slow disk: changes finish while a save is in flight.
            std::thread::sleep(Duration::from_millis(20));
            s.serial += 1;
            *saved.lock().unwrap() = s.resources.keys().cloned().collect();
            last.store(s.resources.len(), Ordering::SeqCst);
            Ok(())
        }
    };
    let observer = SavedBeforeReported {
        saved: Arc::clone(&saved),
        recorder: Recorder::default(),
    };
    let outcome = apply_saving_in_background(
        &plan,
        Arc::clone(&provider),
        &mut state,
        Arc::new(save),
        3,
        &observer,
    )
    .await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(state.resources.len(), 28);
    assert_eq!(
        last.load(Ordering::SeqCst),
        28,
        "the last save holds everything"
    );
    assert_eq!(state.serial, outcome.saves.count as u64);
    assert!(outcome.saves.saving >= Duration::from_millis(20) * outcome.saves.count as u32);
    let events = observer.recorder.events();
    for change in &plan.changes {
        let started = events
            .iter()
            .position(|e| matches!(e, Event::Started { id, .. } if *id == change.id))
            .unwrap();
        for dep in &change.depends_on {
            let finished = events
                .iter()
                .position(|e| matches!(e, Event::Finished { id, .. } if id == dep))
                .unwrap();
            assert!(
                finished < started,
                "{} started before {dep} was saved",
                change.id
            );
        }
    }
}

/// A save that panics on its thread stops apply like a failed save, and the state comes
/// back with every finished change recorded: the save's thread had it, not a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_background_save_that_panics_stops_apply_and_the_state_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let plan = new_cluster_plan(dir.path());
    let provider = Arc::new(FakeProvider::new(
        FakeCloud::new("123456789012"),
        Some(fixed_private_key()),
    ));
    let mut state = State::new("ex");
    let calls = Arc::new(AtomicUsize::new(0));
    let save = {
        let calls = Arc::clone(&calls);
        move |s: &mut State| -> anyhow::Result<()> {
            if calls.fetch_add(1, Ordering::SeqCst) == 2 {
                panic!("a bug in a save");
            }
            s.serial += 1;
            Ok(())
        }
    };
    let observer = Recorder::default();
    let outcome =
        apply_saving_in_background(&plan, provider, &mut state, Arc::new(save), 4, &observer).await;
    assert_eq!(
        outcome.save_error.as_deref(),
        Some("the save panicked"),
        "{outcome:#?}"
    );
    assert!(!outcome.is_complete());
    // Two saves went through before the one that panicked (and later ones may have
    // saved what was running then).
    assert!(state.serial >= 2, "serial {}", state.serial);
    assert_eq!(state.cluster, "ex");
    // Whatever finished is in the state the caller gets back, reported or not.
    let finished = outcome.succeeded.len();
    assert!(finished >= 1, "{outcome:#?}");
    assert!(
        state.resources.len() >= finished,
        "{} recorded, {finished} reported",
        state.resources.len()
    );
    for (id, _) in &outcome.succeeded {
        assert!(state.resources.contains_key(id), "{id} lost");
    }
}

/// Checks that a change is in the saved state before it is reported finished, and that
/// a change starts only when what it depends on is saved.
struct SavedBeforeReported {
    saved: Arc<Mutex<BTreeSet<ResourceId>>>,
    recorder: Recorder,
}

impl Observer for SavedBeforeReported {
    fn event(&self, event: &Event) {
        if let Event::Finished { id, .. } = event {
            assert!(
                self.saved.lock().unwrap().contains(id),
                "{id} reported before it was saved"
            );
        }
        self.recorder.event(event);
    }
}

/// Sets the stop flag (as the Ctrl-C handler does) when the first change finishes.
struct StopAfterFirst<'a>(&'a AtomicBool, Recorder);

impl Observer for StopAfterFirst<'_> {
    fn event(&self, event: &Event) {
        if matches!(event, Event::Finished { .. }) {
            self.0.store(true, Ordering::SeqCst);
        }
        self.1.event(event);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_lets_running_changes_finish_and_starts_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let plan = new_cluster_plan(dir.path());
    let graph = stsform::graph::build(&plan).unwrap();
    let provider = Arc::new(Slow {
        inner: FakeProvider::new(FakeCloud::new("123456789012"), Some(fixed_private_key())),
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let mut state = State::new("ex");
    let saved = AtomicUsize::new(0);
    let mut save = |_: &mut State| -> anyhow::Result<()> {
        saved.fetch_add(1, Ordering::SeqCst);
        Ok(())
    };
    let stop = AtomicBool::new(false);
    let observer = StopAfterFirst(&stop, Recorder::default());
    let controls = Controls {
        observer: &observer,
        parallelism: 2,
        stop: &stop,
    };
    let outcome = execute::apply(
        &plan,
        &graph,
        provider,
        &mut state,
        Save::Inline(&mut save),
        controls,
    )
    .await;
    assert!(!outcome.is_complete());
    // The two that were running when the stop came both finished and were saved.
    assert_eq!(outcome.succeeded.len(), 2, "{outcome:#?}");
    // One save for the bucket recorded ahead, then one or two for the two finished
    // changes (they finish together or one after the other).
    let saves = saved.load(Ordering::SeqCst);
    assert!((2..=3).contains(&saves), "{saves} saves");
    assert_eq!(state.resources.len(), 2);
    assert_eq!(outcome.not_started.len(), 26);
    let started = observer
        .1
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Started { .. }))
        .count();
    assert_eq!(started, 2);
}

/// A bucket is created, then tagged: two calls. Its create is recorded in the state first,
/// so a failure (or a crash) between them never leaves an untagged bucket nobody owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_create_is_recorded_ahead_and_converges_after_a_failure() {
    use crate::fake_account::FakeAccount;
    use crate::harness::{Account, Env};
    use stsform::provider::fake::Op;
    use stsform::resource::ResourceKind;
    use stsform::workflow::Mode;

    let account = FakeAccount::new();
    let env = Env::new(account.clone(), "wa", "cluster");
    let bucket = ResourceId::new(ResourceKind::S3Bucket, "wa-oidc");
    account.0.fail(&bucket, Op::Create, 1);
    let (_, outcome) = env.apply().await;
    let failed: Vec<&ResourceId> = outcome.failed.iter().map(|f| &f.id).collect();
    assert_eq!(failed, [&bucket]);
    // How far the create got is unknown, so the state keeps the bucket it recorded ahead.
    assert!(env.state().resources.contains_key(&bucket));
    // The next run finds it missing and makes it; then nothing is left to do.
    let (planned, outcome) = env.apply().await;
    assert!(planned.plan.changes.iter().any(|c| c.id == bucket));
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(!env.plan().await.plan.has_changes());

    // Someone else's bucket of that name: the plan refuses it, naming it.
    let other = FakeAccount::new();
    other.create_foreign_object("wb-oidc", "theirs.txt").await;
    let env = Env::new(other.clone(), "wb", "cluster");
    let err = env.try_plan(Mode::Apply).await.unwrap_err().to_string();
    assert!(
        err.contains("s3_bucket.wb-oidc: exists but carries no"),
        "{err}"
    );
    assert_eq!(other.0.writes(), 0);
    // Made after the plan (a race the plan cannot see): apply refuses it and does not
    // record it as ours.
    let other = FakeAccount::new();
    let env = Env::new(other.clone(), "wb", "cluster");
    let planned = env.plan().await;
    other.create_foreign_object("wb-oidc", "theirs.txt").await;
    let (outcome, _) = env.execute(&planned).await;
    let failed: Vec<String> = outcome.failed.iter().map(|f| f.id.to_string()).collect();
    assert_eq!(failed, ["s3_bucket.wb-oidc"]);
    assert!(
        !env.state()
            .resources
            .contains_key(&ResourceId::new(ResourceKind::S3Bucket, "wb-oidc"))
    );
}
