//! pacing: how many AWS calls run at once, per service, adapting to throttling.
//!
//! Each service (IAM, S3, STS, CloudFront) has a window: the calls to it that may run at once. It
//! starts at `--parallelism` and follows AIMD, as TCP's congestion window does: an attempt
//! the service throttled halves it (down to one call), and every attempt that got an
//! answer without being throttled adds to it, back up to `--parallelism`. A window is
//! halved at most once per round of calls: only by an attempt that started after the last
//! halving, since the attempts already in flight then were sent at the old rate and say
//! nothing about the new one. All services together are also bounded by `--parallelism`.
//!
//! How fast a window grows back depends on where the service throttled. Each throttled
//! attempt says how many calls to its service were in flight when it was sent (its
//! *level*); the level of the attempt that halved the window is remembered. Below it the
//! window grows as plain AIMD does (a full window of answers adds one call); in the last
//! call below it, growth is slower by a factor that doubles each time the service
//! throttles again at or above that level (a failed probe), up to 64, and resets when the
//! service throttles lower (it takes less now) or the window grows a whole call past the
//! level unthrottled (it takes more). Plain AIMD re-grew past the limit every few calls:
//! behind the benchmark's service that throttles above 3 calls at once it throttled 182
//! of an N=100 destroy's 616 calls, each throttled call then waiting through the SDK's
//! backoff. Remembering the level keeps the window at the highest level that was
//! answered and probes above it ever more rarely (in TCP, CUBIC's plateau near its last
//! maximum serves the same end).
//!
//! Throttled attempts are retried by the SDK (its backoff and attempt budget, `sdk`), not
//! here. While the SDK backs off after a throttled attempt, the call steps out of its
//! window (its place goes to a waiting call); after the backoff it waits for a place
//! again, ahead of calls not started yet ([`Pacer::step_back_in`], run inside the SDK's
//! backoff sleep). A call that kept its place through a backoff of up to seconds would
//! leave a halved window sleeping: the benchmark measured adaptive pacing slower than
//! fixed until calls stepped out. Retries that came back in over the window were
//! throttled again in turn, and backed off longer each time (81 of the throttled
//! attempts of an N=100 destroy behind a service that throttles above 3 calls). The
//! SDK's own adaptive retry mode (a client-side request *rate* limiter) is not turned on:
//! two controllers on one signal would each slow down for the same throttle.
//!
//! Which call an attempt belongs to is a task-local [`Slot`] set around the call
//! ([`Permit::around`]): the SDK runs its interceptors inside the call's own future.
//!
//! Owns the windows and what progress is told about them (a `watch` channel of
//! [`Pacing`]); must not classify errors (the SDK's retry classifiers do, in `sdk`) or
//! retry anything.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, watch};

/// An AWS service with a window of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// IAM (roles, policies, OIDC providers).
    Iam,
    /// S3 (the bucket and its objects).
    S3,
    /// STS (the caller's identity).
    Sts,
    /// CloudFront (a private issuer's distribution and origin access control).
    CloudFront,
}

impl Service {
    /// Every service, in order.
    pub const ALL: [Service; 4] = [Service::Iam, Service::S3, Service::Sts, Service::CloudFront];

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Iam => "IAM",
            Service::S3 => "S3",
            Service::Sts => "STS",
            Service::CloudFront => "CloudFront",
        })
    }
}

/// How an attempt went, as far as pacing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The service answered (a success, or an error that is not throttling).
    Answered,
    /// The service throttled it (`Throttling`, `SlowDown`, `RequestLimitExceeded`, … as
    /// the SDK classifies them).
    Throttled,
    /// No answer (connection refused, timeout): says nothing about the rate.
    Unanswered,
}

/// A service whose window is below `--parallelism` now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slowed {
    /// The service.
    pub service: Service,
    /// Calls to it allowed at once now.
    pub limit: usize,
}

/// What progress shows: the services backing off, and the window they may back off from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// `--parallelism`: every window's ceiling.
    pub parallelism: usize,
    /// Services below it, in service order; empty at full speed.
    pub slowed: Vec<Slowed>,
    /// Throttled attempts so far, all services.
    pub throttled: usize,
}

#[derive(Debug)]
struct Window {
    /// Calls allowed at once (fractional: additive increase adds `1/limit` per answer).
    limit: f64,
    in_flight: usize,
    /// When the window was last halved.
    halved_at: Option<Instant>,
    throttled: usize,
    /// Throttled calls whose backoff is over, waiting for a place: they go first.
    returning: usize,
    /// The level (calls in flight when sent) of the throttled attempt that last halved
    /// the window: it grows slowly from one call below it.
    throttled_at: Option<usize>,
    /// How much slower than AIMD the window grows near `throttled_at`: doubles with each
    /// failed probe there.
    slowdown: u32,
}

/// The most a failed probe slows growth near the throttled level: the window still probes
/// one call higher after 64 windows of answers, in case the service takes more by then.
const MAX_SLOWDOWN: u32 = 64;

/// When an attempt was sent and its *level*: how many calls to its service were in flight
/// then (itself included), or the window's width if more: what [`Pacer::attempt`] needs
/// to judge its answer.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    at: Instant,
    level: usize,
}

#[derive(Debug)]
struct Windows {
    services: [Window; 4],
    /// Calls in flight, all services.
    in_flight: usize,
}

impl Window {
    fn throttled_again(&mut self, sent: Sent) {
        let new_round = self.halved_at.is_none_or(|at| sent.at >= at);
        if !new_round {
            // Sent at the old rate: says nothing new.
            return;
        }
        self.slowdown = match self.throttled_at {
            // A probe at or above the level throttled before failed: probe more rarely.
            Some(level) if sent.level >= level => (self.slowdown * 2).min(MAX_SLOWDOWN),
            _ => 1,
        };
        self.throttled_at = Some(sent.level);
        self.limit = (self.limit / 2.0).max(1.0);
        self.halved_at = Some(Instant::now());
    }

    fn answered(&mut self, ceiling: usize) {
        let mut step = 1.0 / self.limit;
        if let Some(level) = self.throttled_at {
            if self.limit >= (level + 1) as f64 {
                // A whole call past the level it throttled at, unthrottled: the service
                // takes more now. (One attempt answered at that level says little: how
                // many calls the service sees at once varies with timing.)
                self.throttled_at = None;
                self.slowdown = 1;
            } else if self.limit + 1.0 >= level as f64 && self.limit < level as f64 {
                step /= f64::from(self.slowdown);
            }
        }
        self.limit = (self.limit + step).min(ceiling as f64);
    }
}

/// The windows of one provider (one run).
#[derive(Debug)]
pub struct Pacer {
    ceiling: usize,
    adaptive: bool,
    windows: Mutex<Windows>,
    freed: Notify,
    status: watch::Sender<Pacing>,
}

/// A place in a service's window, given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    pacer: &'a Pacer,
    slot: Arc<Slot>,
}

/// A throttled call waiting for a place after its backoff, counted in its window's
/// `returning` until dropped.
struct Returning<'a> {
    pacer: &'a Pacer,
    service: usize,
}

impl Drop for Returning<'_> {
    fn drop(&mut self) {
        self.pacer.windows.lock().expect("pacing lock").services[self.service].returning -= 1;
        // Calls not started yet may go now.
        self.pacer.freed.notify_waiters();
    }
}

/// A call's place, as its attempts see it: out of the window while the SDK backs off.
#[derive(Debug)]
pub struct Slot {
    service: Service,
    away: AtomicBool,
}

tokio::task_local! {
    /// The place of the call whose future is being polled.
    static SLOT: Arc<Slot>;
}

impl Permit<'_> {
    /// Runs `call` (one SDK call and its retries) holding this place, so that its
    /// attempts can step out of the window and back in ([`Pacer::step_out`]).
    pub async fn around<F: Future>(&self, call: F) -> F::Output {
        SLOT.scope(Arc::clone(&self.slot), call).await
    }
}

/// The place of the call being polled, if it holds one.
pub fn current_slot() -> Option<Arc<Slot>> {
    SLOT.try_with(Arc::clone).ok()
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // A call that ended while stepped out (its last attempt throttled, or dropped
        // during a backoff) gave its place back already.
        if !self.slot.away.swap(true, Ordering::SeqCst) {
            self.pacer.release(self.slot.service);
        }
    }
}

impl Pacer {
    /// Windows of `parallelism` calls each (at least one), all services together bounded
    /// by it too. `adaptive` false keeps every window fixed (the benchmark's comparison).
    pub fn new(parallelism: usize, adaptive: bool) -> Pacer {
        let ceiling = parallelism.max(1);
        let window = || Window {
            limit: ceiling as f64,
            in_flight: 0,
            halved_at: None,
            throttled: 0,
            returning: 0,
            throttled_at: None,
            slowdown: 1,
        };
        Pacer {
            ceiling,
            adaptive,
            windows: Mutex::new(Windows {
                services: [window(), window(), window(), window()],
                in_flight: 0,
            }),
            freed: Notify::new(),
            status: watch::Sender::new(Pacing {
                parallelism: ceiling,
                ..Pacing::default()
            }),
        }
    }

    /// Waits for a place in `service`'s window (and under the overall bound).
    pub async fn acquire(&self, service: Service) -> Permit<'_> {
        loop {
            // Registered before the check, so a place freed in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut w = self.windows.lock().expect("pacing lock");
                let window = &w.services[service.index()];
                let allowed = (window.limit.floor() as usize).max(1);
                // Calls back from a backoff go first.
                let taken = window.in_flight + window.returning;
                if taken < allowed && w.in_flight < self.ceiling {
                    w.services[service.index()].in_flight += 1;
                    w.in_flight += 1;
                    return Permit {
                        pacer: self,
                        slot: Arc::new(Slot {
                            service,
                            away: AtomicBool::new(false),
                        }),
                    };
                }
            }
            freed.await;
        }
    }

    /// Gives a place in `service`'s window back.
    fn release(&self, service: Service) {
        {
            let mut w = self.windows.lock().expect("pacing lock");
            w.services[service.index()].in_flight -= 1;
            w.in_flight -= 1;
        }
        self.freed.notify_waiters();
    }

    /// The call holding `slot` was throttled and waits for its retry: its place goes to a
    /// waiting call meanwhile.
    /// A fixed pacer keeps the call in its place, as stsform did before it adapted.
    pub fn step_out(&self, slot: &Slot) {
        if self.adaptive && !slot.away.swap(true, Ordering::SeqCst) {
            self.release(slot.service);
        }
    }

    /// The call holding `slot`, out of its window since it was throttled, waits for a
    /// place again, ahead of calls not started yet. Returns at once for a call that holds
    /// its place (`slot` not stepped out, or a fixed pacer).
    pub async fn step_back_in(&self, slot: &Slot) {
        let service = slot.service.index();
        // Counted among the window's returning calls while it waits (and no longer once
        // it is back in, or stopped while waiting).
        let mut returning: Option<Returning<'_>> = None;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let back = {
                let mut w = self.windows.lock().expect("pacing lock");
                let allowed = (w.services[service].limit.floor() as usize).max(1);
                if !slot.away.load(Ordering::SeqCst) {
                    true
                } else if w.services[service].in_flight < allowed && w.in_flight < self.ceiling {
                    slot.away.store(false, Ordering::SeqCst);
                    w.services[service].in_flight += 1;
                    w.in_flight += 1;
                    true
                } else {
                    if returning.is_none() {
                        w.services[service].returning += 1;
                        returning = Some(Returning {
                            pacer: self,
                            service,
                        });
                    }
                    false
                }
            };
            if back {
                return;
            }
            freed.await;
        }
    }

    /// The call holding `slot` tries again without having waited for a place (a retry
    /// the SDK sends without a backoff sleep): it takes one at once, over the window if
    /// need be.
    pub fn step_in(&self, slot: &Slot) {
        if slot.away.swap(false, Ordering::SeqCst) {
            let mut w = self.windows.lock().expect("pacing lock");
            w.services[slot.service.index()].in_flight += 1;
            w.in_flight += 1;
        }
    }

    /// An attempt to `service` is being sent (its call holds a place in the window).
    pub fn sent(&self, service: Service) -> Sent {
        let w = self.windows.lock().expect("pacing lock");
        let window = &w.services[service.index()];
        // How many calls the service sees at once is not exactly how many hold a place
        // (a place is taken a little before the request leaves and given back a little
        // after its answer): a window that was full counts as its width.
        Sent {
            at: Instant::now(),
            level: window.in_flight.max(window.limit.floor() as usize).max(1),
        }
    }

    /// Records how an attempt to `service` sent as `sent` went, and moves its window:
    /// halved when throttled (once per round), widened when answered.
    pub fn attempt(&self, service: Service, sent: Sent, attempt: Attempt) {
        let before;
        let after;
        {
            let mut w = self.windows.lock().expect("pacing lock");
            let window = &mut w.services[service.index()];
            before = window.limit.floor() as usize;
            match attempt {
                Attempt::Unanswered => return,
                Attempt::Throttled => {
                    window.throttled += 1;
                    if self.adaptive {
                        window.throttled_again(sent);
                    }
                }
                Attempt::Answered => {
                    if self.adaptive {
                        window.answered(self.ceiling);
                    }
                }
            }
            after = window.limit.floor() as usize;
        }
        if after > before {
            // A wider window lets waiting calls start.
            self.freed.notify_waiters();
        }
        if after != before || attempt == Attempt::Throttled {
            self.publish();
        }
    }

    fn publish(&self) {
        let pacing = {
            let w = self.windows.lock().expect("pacing lock");
            Pacing {
                parallelism: self.ceiling,
                slowed: Service::ALL
                    .iter()
                    .filter_map(|&service| {
                        let limit = w.services[service.index()].limit.floor() as usize;
                        (limit < self.ceiling).then_some(Slowed { service, limit })
                    })
                    .collect(),
                throttled: w.services.iter().map(|s| s.throttled).sum(),
            }
        };
        self.status.send_if_modified(|now| {
            let changed = *now != pacing;
            *now = pacing;
            changed
        });
    }

    /// Follows [`Pacing`] as it changes.
    pub fn watch(&self) -> watch::Receiver<Pacing> {
        self.status.subscribe()
    }

    /// The pacing now.
    pub fn now(&self) -> Pacing {
        self.status.borrow().clone()
    }

    /// Throttled attempts to `service` so far.
    pub fn throttled(&self, service: Service) -> usize {
        self.windows.lock().expect("pacing lock").services[service.index()].throttled
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn limit(p: &Pacer, s: Service) -> usize {
        p.windows.lock().unwrap().services[s.index()].limit.floor() as usize
    }

    /// An attempt sent now at `level` calls in flight.
    fn at(level: usize) -> Sent {
        Sent {
            at: Instant::now(),
            level,
        }
    }

    #[test]
    fn a_throttle_halves_once_per_round_and_answers_widen_it_back() {
        let p = Pacer::new(10, true);
        let before = at(10);
        p.attempt(Service::Iam, before, Attempt::Throttled);
        assert_eq!(limit(&p, Service::Iam), 5);
        // Attempts already in flight at the halving do not halve again.
        p.attempt(Service::Iam, before, Attempt::Throttled);
        assert_eq!(limit(&p, Service::Iam), 5);
        // One sent after it does.
        p.attempt(Service::Iam, at(5), Attempt::Throttled);
        assert_eq!(limit(&p, Service::Iam), 2);
        // Other services keep their window.
        assert_eq!(limit(&p, Service::S3), 10);
        assert_eq!(
            p.now().slowed,
            [Slowed {
                service: Service::Iam,
                limit: 2
            }]
        );
        assert_eq!((p.now().throttled, p.throttled(Service::Iam)), (3, 3));
        // Below the throttled level, a window's worth of answers adds about one call.
        for _ in 0..2 {
            p.attempt(Service::Iam, at(2), Attempt::Answered);
        }
        assert_eq!(limit(&p, Service::Iam), 3);
        p.attempt(Service::Iam, at(3), Attempt::Unanswered);
        assert_eq!(limit(&p, Service::Iam), 3);
        // Answered at the level that throttled: the service takes more now, and the
        // window grows back to the ceiling, never past it.
        for level in (3..=10).chain([10; 1000]) {
            p.attempt(Service::Iam, at(level), Attempt::Answered);
        }
        assert_eq!(limit(&p, Service::Iam), 10);
        assert!(p.now().slowed.is_empty());
        // It never goes below one call.
        for _ in 0..10 {
            p.attempt(Service::Iam, at(1), Attempt::Throttled);
        }
        assert_eq!(limit(&p, Service::Iam), 1);
    }

    /// Sends `attempts` attempts one after another to a service that throttles an attempt
    /// sent over `capacity` calls in flight, each at the window's full level; returns
    /// (throttled, attempts sent at `capacity`).
    fn drive(p: &Pacer, capacity: usize, attempts: usize) -> (usize, usize) {
        let (mut throttled, mut at_capacity) = (0, 0);
        for _ in 0..attempts {
            let level = limit(p, Service::Iam);
            if level > capacity {
                throttled += 1;
                p.attempt(Service::Iam, at(level), Attempt::Throttled);
            } else {
                at_capacity += usize::from(level == capacity);
                p.attempt(Service::Iam, at(level), Attempt::Answered);
            }
        }
        (throttled, at_capacity)
    }

    #[test]
    fn a_window_settles_below_the_level_that_throttled_and_probes_it_ever_more_rarely() {
        let p = Pacer::new(10, true);
        let (throttled, at_capacity) = drive(&p, 3, 600);
        // Plain AIMD re-grows to 4 every few answers: 87 of 600 throttled here.
        assert!(throttled <= 12, "{throttled} of 600 attempts throttled");
        assert!(at_capacity >= 500, "only {at_capacity} of 600 sent at 3");
        // When the service takes more, the window finds it again.
        let (_, at_capacity) = drive(&p, 8, 2000);
        assert!(at_capacity >= 1000, "only {at_capacity} of 2000 sent at 8");
        // And when it takes less, it settles lower without waiting for slow probes.
        let (throttled, at_capacity) = drive(&p, 2, 300);
        assert!(throttled <= 10, "{throttled} of 300 attempts throttled");
        assert!(at_capacity >= 250, "only {at_capacity} of 300 sent at 2");
    }

    #[tokio::test]
    async fn a_fixed_pacer_counts_throttles_and_keeps_its_windows() {
        let p = Pacer::new(4, false);
        p.attempt(Service::S3, at(4), Attempt::Throttled);
        assert_eq!(limit(&p, Service::S3), 4);
        assert_eq!(p.throttled(Service::S3), 1);
        // And its throttled calls keep their place through the backoff.
        let permit = p.acquire(Service::S3).await;
        let slot = permit.around(async { current_slot() }).await.unwrap();
        p.step_out(&slot);
        assert_eq!(in_flight(&p, Service::S3), (1, 1));
        drop(permit);
        assert_eq!(in_flight(&p, Service::S3), (0, 0));
    }

    fn in_flight(p: &Pacer, s: Service) -> (usize, usize) {
        let w = p.windows.lock().unwrap();
        (w.services[s.index()].in_flight, w.in_flight)
    }

    #[tokio::test]
    async fn a_throttled_call_steps_out_while_it_backs_off_and_back_in_for_its_retry() {
        let p = Pacer::new(1, true);
        let first = p.acquire(Service::Iam).await;
        // The window is full: a second call waits.
        let waiting = tokio::time::timeout(Duration::from_millis(20), p.acquire(Service::Iam));
        assert!(
            waiting.await.is_err(),
            "a second call got in over a full window"
        );
        // The first one is throttled and backs off: its place goes to the second.
        let slot = first.around(async { current_slot() }).await.unwrap();
        assert!(current_slot().is_none(), "no place outside a call");
        p.step_out(&slot);
        p.step_out(&slot);
        assert_eq!(in_flight(&p, Service::Iam), (0, 0));
        let second = p.acquire(Service::Iam).await;
        // Its retry goes in over the window; stepping in twice counts once.
        p.step_in(&slot);
        p.step_in(&slot);
        assert_eq!(in_flight(&p, Service::Iam), (2, 2));
        drop(first);
        drop(second);
        assert_eq!(in_flight(&p, Service::Iam), (0, 0));
        // A call that ends while out (its last attempt throttled) gives nothing back twice.
        let third = p.acquire(Service::Iam).await;
        let slot = third.around(async { current_slot() }).await.unwrap();
        p.step_out(&slot);
        drop(third);
        assert_eq!(in_flight(&p, Service::Iam), (0, 0));
    }

    #[tokio::test]
    async fn after_its_backoff_a_throttled_call_waits_for_a_place_ahead_of_new_calls() {
        let p = Arc::new(Pacer::new(1, true));
        let first = p.acquire(Service::Iam).await;
        let slot = first.around(async { current_slot() }).await.unwrap();
        p.step_out(&slot);
        // Its place went to a second call; a third waits behind it.
        let second = p.acquire(Service::Iam).await;
        let back = {
            let (p, slot) = (Arc::clone(&p), Arc::clone(&slot));
            tokio::spawn(async move { p.step_back_in(&slot).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!back.is_finished(), "came back in over a full window");
        let third = {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                let _permit = p.acquire(Service::Iam).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The second call ends: its place goes to the returning call, not the new one.
        drop(second);
        back.await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !third.is_finished(),
            "a new call went ahead of a returning one"
        );
        assert_eq!(in_flight(&p, Service::Iam), (1, 1));
        drop(first);
        third.await.unwrap();
        assert_eq!(in_flight(&p, Service::Iam), (0, 0));
        // A call holding its place does not wait.
        let held = p.acquire(Service::Iam).await;
        let slot = held.around(async { current_slot() }).await.unwrap();
        p.step_back_in(&slot).await;
        assert_eq!(in_flight(&p, Service::Iam), (1, 1));
        // One stopped while it waits is no longer ahead of anyone.
        p.step_out(&slot);
        let other = p.acquire(Service::Iam).await;
        let waiting = tokio::time::timeout(Duration::from_millis(20), p.step_back_in(&slot));
        assert!(waiting.await.is_err());
        drop(other);
        let _new = tokio::time::timeout(Duration::from_secs(5), p.acquire(Service::Iam))
            .await
            .expect("a stopped returning call kept new calls out");
        drop(held);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_wait_for_a_place_in_their_window_and_under_the_overall_bound() {
        let p = Arc::new(Pacer::new(4, true));
        // IAM backs off to 2; S3 keeps 4, but all together stay within 4.
        p.attempt(Service::Iam, at(4), Attempt::Throttled);
        let peak = |service| {
            let p = Arc::clone(&p);
            let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let tasks: Vec<_> = (0..12)
                .map(|_| {
                    let (p, now, peak) = (Arc::clone(&p), Arc::clone(&now), Arc::clone(&peak));
                    tokio::spawn(async move {
                        let _permit = p.acquire(service).await;
                        peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            (tasks, peak)
        };
        let (iam, iam_peak) = peak(Service::Iam);
        let (s3, s3_peak) = peak(Service::S3);
        for t in iam.into_iter().chain(s3) {
            t.await.unwrap();
        }
        assert_eq!(iam_peak.load(Ordering::SeqCst), 2);
        assert!(s3_peak.load(Ordering::SeqCst) <= 4);
        let w = p.windows.lock().unwrap();
        assert_eq!((w.in_flight, w.services[0].in_flight), (0, 0));
    }
}
