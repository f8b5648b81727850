//! activity: what a running change and apply tell each other while the change works.
//!
//! A change that waits for minutes (a CloudFront distribution being disabled before it
//! can be deleted) says how it is getting on ([`note`]), and hears when the run is asked
//! to stop ([`sleep_unless_stopped`], [`stop_requested`]) so that Ctrl-C does not wait
//! for it to end. A task-local that `execute` sets around each change; providers use it
//! without knowing plans or observers. Outside apply (a refresh, a test calling the
//! provider) notes go nowhere and no stop is ever asked. Must not print.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::resource::ResourceId;

/// The channel of one running change.
#[derive(Clone, Debug)]
pub struct Activity {
    /// The change's resource.
    pub id: ResourceId,
    /// Where its notes go (the executor turns them into events).
    pub notes: mpsc::UnboundedSender<(ResourceId, String)>,
    /// `true` once the run is asked to stop.
    pub stop: watch::Receiver<bool>,
}

tokio::task_local! {
    static ACTIVITY: Activity;
}

/// Runs `future` as the work of `activity`'s change.
pub async fn scope<F: Future>(activity: Activity, future: F) -> F::Output {
    ACTIVITY.scope(activity, future).await
}

/// Tells apply how the running change is getting on (one line, no resource id: the
/// observer names the resource).
pub fn note(message: impl Into<String>) {
    let _ = ACTIVITY.try_with(|a| a.notes.send((a.id.clone(), message.into())));
}

/// Whether the run has been asked to stop.
pub fn stop_requested() -> bool {
    ACTIVITY.try_with(|a| *a.stop.borrow()).unwrap_or(false)
}

/// Sleeps for `duration`, or until the run is asked to stop; returns whether it was.
pub async fn sleep_unless_stopped(duration: Duration) -> bool {
    let Ok(mut stop) = ACTIVITY.try_with(|a| a.stop.clone()) else {
        tokio::time::sleep(duration).await;
        return false;
    };
    let sleep = tokio::time::sleep(duration);
    tokio::pin!(sleep);
    loop {
        if *stop.borrow_and_update() {
            return true;
        }
        tokio::select! {
            () = &mut sleep => return false,
            changed = stop.changed() => {
                if changed.is_err() {
                    // Apply is gone (it never drops the sender while a change runs):
                    // nobody can ask to stop any more.
                    (&mut sleep).await;
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_reach_apply_and_a_stop_cuts_a_sleep_short() {
        let (notes, mut received) = mpsc::unbounded_channel();
        let (stop_tx, stop) = watch::channel(false);
        let id = ResourceId::new(crate::resource::ResourceKind::CloudFrontDistribution, "d");
        let activity = Activity {
            id: id.clone(),
            notes,
            stop,
        };
        let started = std::time::Instant::now();
        let waited = scope(activity, async {
            note("waiting");
            assert!(!stop_requested());
            let long = sleep_unless_stopped(Duration::from_secs(60));
            let ask = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                stop_tx.send(true).unwrap();
            };
            let (stopped, ()) = tokio::join!(long, ask);
            (stopped, stop_requested())
        })
        .await;
        assert_eq!(waited, (true, true));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(received.recv().await, Some((id, "waiting".to_string())));
    }

    #[tokio::test]
    async fn outside_apply_notes_go_nowhere_and_sleeps_run_out() {
        note("nobody listens");
        assert!(!stop_requested());
        assert!(!sleep_unless_stopped(Duration::from_millis(5)).await);
    }
}
