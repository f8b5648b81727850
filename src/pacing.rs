//! pacing: how many AWS calls run at once, per service, adapting to throttling.
//!
//! Each service (IAM, S3, STS, CloudFront) has a window: the calls to it that may run at once. It
//! starts at `--parallelism` and follows AIMD, as TCP's congestion window does: an attempt
//! the service throttled halves it (down to one call), and every attempt that got an
//! answer without being throttled adds `1/window`, so a full window of answers adds one
//! call, back up to `--parallelism`. A window is halved at most once per round of calls:
//! only by an attempt that started after the last halving, since the attempts already in
//! flight then were sent at the old rate and say nothing about the new one. All services
//! together are also bounded by `--parallelism`.
//!
//! Throttled attempts are retried by the SDK (its backoff and attempt budget, `sdk`), not
//! here. While the SDK backs off after a throttled attempt, the call steps out of its
//! window (its place goes to a waiting call) and steps back in for the retry, even over
//! the window: the retry has waited its turn already, in its backoff. A call that kept
//! its place through a backoff of up to seconds would leave a halved window sleeping: the
//! benchmark measured adaptive pacing slower than fixed until calls stepped out. The
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
}

#[derive(Debug)]
struct Windows {
    services: [Window; 4],
    /// Calls in flight, all services.
    in_flight: usize,
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
                if window.in_flight < allowed && w.in_flight < self.ceiling {
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

    /// The call holding `slot` tries again: it takes a place at once, over the window if
    /// need be (it waited its turn in its backoff).
    pub fn step_in(&self, slot: &Slot) {
        if slot.away.swap(false, Ordering::SeqCst) {
            let mut w = self.windows.lock().expect("pacing lock");
            w.services[slot.service.index()].in_flight += 1;
            w.in_flight += 1;
        }
    }

    /// Records how an attempt to `service` that started at `started` went, and moves its
    /// window: halved when throttled (once per round), widened when answered.
    pub fn attempt(&self, service: Service, started: Instant, attempt: Attempt) {
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
                    let new_round = window.halved_at.is_none_or(|at| started >= at);
                    if self.adaptive && new_round {
                        window.limit = (window.limit / 2.0).max(1.0);
                        window.halved_at = Some(Instant::now());
                    }
                }
                Attempt::Answered => {
                    if self.adaptive {
                        let grown = window.limit + 1.0 / window.limit;
                        window.limit = grown.min(self.ceiling as f64);
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

    #[test]
    fn a_throttle_halves_once_per_round_and_answers_widen_it_back() {
        let p = Pacer::new(10, true);
        let before = Instant::now();
        p.attempt(Service::Iam, before, Attempt::Throttled);
        assert_eq!(limit(&p, Service::Iam), 5);
        // Attempts already in flight at the halving do not halve again.
        p.attempt(Service::Iam, before, Attempt::Throttled);
        assert_eq!(limit(&p, Service::Iam), 5);
        // One sent after it does.
        p.attempt(Service::Iam, Instant::now(), Attempt::Throttled);
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
        // A window's worth of answers adds about one call; never past the ceiling.
        for _ in 0..2 {
            p.attempt(Service::Iam, Instant::now(), Attempt::Answered);
        }
        assert_eq!(limit(&p, Service::Iam), 3);
        p.attempt(Service::Iam, Instant::now(), Attempt::Unanswered);
        assert_eq!(limit(&p, Service::Iam), 3);
        for _ in 0..1000 {
            p.attempt(Service::Iam, Instant::now(), Attempt::Answered);
        }
        assert_eq!(limit(&p, Service::Iam), 10);
        assert!(p.now().slowed.is_empty());
        // It never goes below one call.
        for _ in 0..10 {
            p.attempt(Service::Iam, Instant::now(), Attempt::Throttled);
        }
        assert_eq!(limit(&p, Service::Iam), 1);
    }

    #[tokio::test]
    async fn a_fixed_pacer_counts_throttles_and_keeps_its_windows() {
        let p = Pacer::new(4, false);
        p.attempt(Service::S3, Instant::now(), Attempt::Throttled);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_wait_for_a_place_in_their_window_and_under_the_overall_bound() {
        let p = Arc::new(Pacer::new(4, true));
        // IAM backs off to 2; S3 keeps 4, but all together stay within 4.
        p.attempt(Service::Iam, Instant::now(), Attempt::Throttled);
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
