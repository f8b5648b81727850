//! Interrupts: SIGINT (Ctrl-C) and SIGTERM (what CI runners send on cancel) while a
//! command works on a state.
//!
//! Installed before the state lock is taken, so no signal can leave a lock behind:
//! - before apply starts (waiting for the lock, refresh, planning, the prompt) the first
//!   signal stops the command: [`Interrupts::until`] returns [`Interrupted`], the command
//!   drops its lock (which releases it, local or S3) and exits 1 with a one-line message;
//!   nothing was changed;
//! - once apply runs, the first signal sets the stop flag the executor watches: no new
//!   change starts, running ones finish, the state is saved, the lock released, exit 1;
//! - a second signal exits at once (exit 1) after a best-effort release of the lock,
//!   bounded by [`RELEASE_TIMEOUT`], whatever the command was doing.
//!
//! Owns the process's handling of the two signals from [`Interrupts::install`] on. Must
//! not decide anything about plans or state; it only reports and releases.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::output::error_line;
use crate::state::StateStore;

/// How long a second signal waits for the lock to be released before exiting anyway.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The command was interrupted by a signal before it changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// `SIGINT` or `SIGTERM`.
    pub signal: &'static str,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.signal)
    }
}

impl std::error::Error for Interrupted {}

/// What a second signal releases before the process exits: the lock this command holds.
pub struct Release {
    /// Where the state is.
    pub store: StateStore,
    /// The id of our lock (written in its lock info).
    pub id: String,
}

struct Inner {
    /// Signals received so far.
    count: watch::Sender<usize>,
    /// The first one's name.
    first: Mutex<&'static str>,
    /// Set by the first signal; the executor stops starting changes.
    stop: AtomicBool,
    /// Whether apply is running (the first signal then says what happens next).
    applying: AtomicBool,
    release: Mutex<Option<Release>>,
}

/// The signal handling of one command.
#[derive(Clone)]
pub struct Interrupts {
    inner: Arc<Inner>,
}

impl Interrupts {
    /// Takes over SIGINT and SIGTERM for the rest of the process (call inside the runtime).
    pub fn install() -> std::io::Result<Interrupts> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (count, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            count,
            first: Mutex::new("SIGINT"),
            stop: AtomicBool::new(false),
            applying: AtomicBool::new(false),
            release: Mutex::new(None),
        });
        let listener = Arc::clone(&inner);
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                let n = *listener.count.borrow() + 1;
                if n == 1 {
                    // Named and flagged before the count is published: whoever wakes on
                    // it must see which signal it was.
                    *listener.first.lock().expect("signal name lock") = name;
                    listener.stop.store(true, Ordering::SeqCst);
                }
                listener.count.send_modify(|c| *c = n);
                if n == 1 {
                    if listener.applying.load(Ordering::SeqCst) {
                        error_line(&format!(
                            "\nInterrupt received: finishing running changes, then saving state. \
                             ({name}; a second signal exits at once.)"
                        ));
                    }
                    continue;
                }
                if listener.applying.load(Ordering::SeqCst) {
                    error_line(&format!(
                        "\nSecond signal ({name}): exiting now without waiting for running \
                         changes; the state may miss the last of them (the next apply \
                         adopts what they made, by its ownership tag)."
                    ));
                } else {
                    error_line(&format!("\nSecond signal ({name}): exiting now."));
                }
                let release = listener.release.lock().expect("release lock").take();
                if let Some(r) = release {
                    let _ =
                        tokio::time::timeout(RELEASE_TIMEOUT, r.store.release_if_held_by(&r.id))
                            .await;
                }
                std::process::exit(1);
            }
        });
        Ok(Interrupts { inner })
    }

    /// Runs `work` unless or until a signal arrives (one that arrived earlier counts).
    pub async fn until<T>(&self, work: impl Future<Output = T>) -> Result<T, Interrupted> {
        let mut signals = self.inner.count.subscribe();
        tokio::select! {
            biased;
            _ = signals.wait_for(|n| *n > 0) => Err(Interrupted { signal: self.first() }),
            done = work => Ok(done),
        }
    }

    /// The name of the first signal (`SIGINT` before any).
    pub fn first(&self) -> &'static str {
        *self.inner.first.lock().expect("signal name lock")
    }

    /// Whether a signal arrived.
    pub fn interrupted(&self) -> bool {
        *self.inner.count.borrow() > 0
    }

    /// The flag the executor watches: set by the first signal.
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.inner.stop
    }

    /// Apply starts: from now on the first signal lets running changes finish.
    pub fn applying(&self) {
        self.inner.applying.store(true, Ordering::SeqCst);
    }

    /// What a second signal releases; `None` once the lock is released normally.
    pub fn set_release(&self, release: Option<Release>) {
        *self.inner.release.lock().expect("release lock") = release;
    }
}
