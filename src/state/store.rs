//! Where the state lives and who may change it: commands open a [`StateStore`] from the
//! `--state` setting (`PATH` or `s3://BUCKET/KEY`), take a [`Lock`] for their operation,
//! then `load` and `save` through it. A local state is a [`StateFile`]; a remote one is a
//! [`Remote`] over [`S3Objects`].

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::file::{LOCK_BACKOFF_MAX, LOCK_BACKOFF_START, clear_own_lock_info, force_unlock};
use super::remote::Remote;
use super::s3::S3Objects;
use super::{Detached, LockInfo, SaveState, State, StateError, StateFile};

/// Where a state is kept, parsed from `--state` / `state = "…"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local TOML file (locked with `flock` on `<path>.lock`).
    Local(PathBuf),
    /// An S3 object; the lock is `<key>.lock` in the same bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key of the state.
        key: String,
    },
}

impl Location {
    /// `s3://BUCKET/KEY` is remote; anything else is a local path.
    pub fn parse(state: &Path) -> Result<Location, String> {
        let text = state.to_string_lossy();
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Location::Local(state.to_path_buf()));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
            return Err(format!(
                "`{text}`: an S3 state is s3://BUCKET/KEY with a non-empty key (e.g. s3://my-states/clusters/prod.toml)"
            ));
        }
        Ok(Location::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// The state setting resolved to a backend; takes locks, reads without one.
#[derive(Clone, Debug)]
pub struct StateStore {
    location: Location,
    /// Region for the S3 client (`None`: the SDK's default chain).
    region: Option<String>,
}

/// A held lock on a state, local or remote, through which it is loaded and saved.
/// Dropping it releases the lock.
pub enum Lock {
    /// A local state file.
    Local(StateFile),
    /// An S3 state.
    S3(Box<Remote<S3Objects>>),
}

impl StateStore {
    /// The store for a `--state` value; `region` is where an S3 state bucket lives.
    pub fn open(state: &Path, region: Option<&str>) -> Result<StateStore, StateError> {
        let location = Location::parse(state).map_err(|message| StateError::Parse {
            path: state.to_path_buf(),
            message,
        })?;
        Ok(StateStore {
            location,
            region: region.map(str::to_string),
        })
    }

    /// Where the state is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    async fn remote(&self) -> Result<Remote<S3Objects>, StateError> {
        let Location::S3 { bucket, key } = &self.location else {
            unreachable!("remote() is only called for S3 locations");
        };
        let store = S3Objects::connect(bucket, self.region.as_deref())
            .await
            .map_err(|e| StateError::Remote {
                path: PathBuf::from(self.location.to_string()),
                operation: e.operation,
                message: e.message,
            })?;
        Ok(Remote::new(store, key, &self.location.to_string()))
    }

    /// Takes the lock for `operation`, waiting up to `timeout` for another holder.
    pub async fn lock(&self, operation: &str, timeout: Duration) -> Result<Lock, StateError> {
        self.lock_as(LockInfo::current(operation), timeout).await
    }

    /// [`StateStore::lock`] with a given owner token (tests; a retried lock write).
    pub async fn lock_as(&self, info: LockInfo, timeout: Duration) -> Result<Lock, StateError> {
        match &self.location {
            Location::Local(path) => {
                // One non-blocking try at a time, waiting in between on the async clock:
                // dropping this future (a signal while waiting) stops the wait at once,
                // which a blocking retry loop on another thread would not.
                let deadline = Instant::now() + timeout;
                let mut wait = LOCK_BACKOFF_START;
                loop {
                    match StateFile::lock_as(path, info.clone(), Duration::ZERO) {
                        Err(StateError::Locked { .. }) if Instant::now() < deadline => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            tokio::time::sleep(wait.min(left)).await;
                            wait = (wait * 2).min(LOCK_BACKOFF_MAX);
                        }
                        other => return Ok(Lock::Local(other?)),
                    }
                }
            }
            Location::S3 { .. } => {
                let remote = self.remote().await?.lock(info, timeout).await?;
                Ok(Lock::S3(Box::new(remote)))
            }
        }
    }

    /// Reads the state without locking (`state list`, `state show`): what a concurrent
    /// apply saved last. No state gives `State::new(cluster)`.
    pub async fn read(&self, cluster: &str) -> Result<State, StateError> {
        match &self.location {
            Location::Local(path) => {
                let text = match std::fs::read_to_string(path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Ok(State::new(cluster));
                    }
                    Err(source) => {
                        return Err(StateError::Io {
                            path: path.clone(),
                            source,
                        });
                    }
                };
                let state = State::from_toml(&text, &path.to_string_lossy())?;
                if state.cluster != cluster {
                    return Err(StateError::WrongCluster {
                        path: path.clone(),
                        found: state.cluster,
                        expected: cluster.to_string(),
                    });
                }
                Ok(state)
            }
            Location::S3 { .. } => self.remote().await?.load(cluster).await,
        }
    }

    /// Releases the lock if it is still the one with `id`; best effort, errors ignored.
    /// For a process that stops early (a signal): a remote lock write that was abandoned
    /// in flight may still have landed, and a second signal exits without the usual
    /// unlock. A local lock's `flock` dies with the process; its lock info is emptied.
    pub async fn release_if_held_by(&self, id: &str) {
        match &self.location {
            Location::Local(path) => clear_own_lock_info(path, id),
            Location::S3 { .. } => {
                if let Ok(remote) = self.remote().await {
                    let _ = remote.force_unlock(id).await;
                }
            }
        }
    }

    /// Removes a stale lock whose id is `id`.
    pub async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        match &self.location {
            Location::Local(path) => force_unlock(path, id),
            Location::S3 { .. } => self.remote().await?.force_unlock(id).await,
        }
    }
}

impl Lock {
    /// Reads the state for `cluster`.
    pub async fn load(&self, cluster: &str) -> Result<State, StateError> {
        match self {
            Lock::Local(f) => f.load(cluster),
            Lock::S3(r) => r.load(cluster).await,
        }
    }

    /// Saves `state` (serial + 1).
    pub async fn save(&self, state: &mut State) -> Result<(), StateError> {
        match self {
            Lock::Local(f) => f.save(state),
            Lock::S3(r) => r.save(state).await,
        }
    }

    /// Releases the lock now, reporting errors (dropping releases it best-effort).
    pub async fn unlock(mut self) -> Result<(), StateError> {
        match &mut self {
            Lock::Local(_) => Ok(()),
            Lock::S3(r) => r.unlock().await,
        }
    }

    /// The lock info this process wrote (S3 only; the local body is in the file).
    pub fn held(&self) -> Option<&LockInfo> {
        match self {
            Lock::Local(_) => None,
            Lock::S3(r) => r.held(),
        }
    }
}

/// Runs `future` to completion from synchronous code inside the runtime.
///
/// The executor calls its save callback synchronously between changes, and a remote save
/// is async. We block the current worker with `block_in_place` rather than make the
/// executor's callback async: the executor is the only writer of the state and waits for
/// every save anyway (a save must finish before the next change is recorded), so there is
/// nothing to overlap, and `block_in_place` hands this worker's other tasks (in-flight
/// provider calls) to the remaining workers. It needs the multi-threaded runtime, which
/// the binary uses; on a current-thread runtime it would panic, so that is an error here.
fn block_on<T>(
    path: impl FnOnce() -> PathBuf,
    future: impl Future<Output = Result<T, StateError>>,
) -> Result<T, StateError> {
    let handle = tokio::runtime::Handle::try_current()
        .ok()
        .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let Some(handle) = handle else {
        return Err(StateError::Remote {
            path: path(),
            operation: "save".into(),
            message: "a remote state needs the multi-threaded tokio runtime".into(),
        });
    };
    tokio::task::block_in_place(|| handle.block_on(future))
}

impl SaveState for Lock {
    fn save_state(&self, state: &mut State) -> Result<(), StateError> {
        match self {
            Lock::Local(f) => f.save(state),
            Lock::S3(r) => block_on(|| r.path(), r.save(state)),
        }
    }

    fn detached(&self) -> Option<Detached> {
        match self {
            Lock::Local(f) => f.detached(),
            // A copy of the remote (same client, key and held lock, and what it last read
            // or wrote, which the copies share) saves the same way.
            Lock::S3(r) => {
                let remote = (**r).clone();
                Some(std::sync::Arc::new(move |state: &mut State| {
                    block_on(|| remote.path(), remote.save(state))
                }))
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // The local lock releases itself (StateFile's Drop). A remote lock still held here
        // (an early return) is released best-effort; if that fails the lock stays and
        // names this process, and `force-unlock` clears it.
        if let Lock::S3(r) = self
            && r.held().is_some()
        {
            let path = r.path();
            if let Err(e) = block_on(|| path.clone(), r.unlock()) {
                crate::output::error_line(&format!(
                    "warning: could not release the state lock: {e}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse(Path::new("s3://b/clusters/x.toml")).unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: "clusters/x.toml".into()
            }
        );
        assert!(Location::parse(Path::new("s3://b")).is_err());
        assert!(Location::parse(Path::new("s3://b/")).is_err());
        assert_eq!(
            Location::parse(Path::new("state/x.toml")).unwrap(),
            Location::Local("state/x.toml".into())
        );
    }
}
