//! Where the state lives and who may change it: a local file or an S3 object.
//!
//! Commands open a [`StateStore`] from the `--state` setting (`PATH` or `s3://BUCKET/KEY`),
//! take a [`Lock`] for their operation, then `load` and `save` through it. The local
//! backend is [`StateFile`]; the remote one is [`Remote`], generic over a tiny
//! [`ObjectStore`] (get / conditional put / delete) so that its locking and overwrite
//! rules are tested without AWS. The S3 implementation of `ObjectStore` lives in
//! `provider::aws::state_store`, the only place that knows the SDK.
//!
//! Remote rules (`state/README.md` has the user-facing version):
//! - lock = `PutObject KEY.lock` with `If-None-Match: *` and a [`LockInfo`] body whose
//!   `id` is the owner token. A 412 whose body carries *our* id is our own write that the
//!   SDK retried after it had already succeeded: the lock is ours.
//! - save = read the object, refuse another lineage or a higher serial, keep the previous
//!   version (bucket versioning, else `KEY.backup`), then write with `If-Match: <ETag>` of
//!   what was checked (`If-None-Match: *` when there was none), so a writer that slipped
//!   in between the check and the write makes the write fail instead of being overwritten.
//! - unlock = read the lock, delete it only if its id is ours (or the id given to
//!   `force-unlock`).

// `StateError::Locked` carries a `LockInfo` by value, as in `state`.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::state::{self, LockInfo, SaveState, State, StateError, StateFile};

/// First wait between local lock attempts; doubled after each failed attempt.
const LOCAL_BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest wait between local lock attempts, so a freed lock is noticed within 2 s.
const LOCAL_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// First wait between remote lock attempts; doubled after each failed attempt.
const BACKOFF_START: Duration = Duration::from_millis(200);
/// Longest wait between remote lock attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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

/// One stored object as the remote store sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Its entity tag (`If-Match` target), when the store reports one.
    pub etag: Option<String>,
}

/// A condition on a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Write unconditionally.
    None,
    /// Write only if no object exists (`If-None-Match: *`).
    Absent,
    /// Write only if the object's ETag is this one (`If-Match`).
    Matches(String),
}

/// What a conditional write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Put {
    /// Written; the new ETag if reported.
    Written(Option<String>),
    /// The precondition did not hold (HTTP 412); nothing was written.
    PreconditionFailed,
    /// Another conditional write to the key was in flight (S3's 409
    /// `ConditionalRequestConflict`); nothing was written, try again.
    Busy,
}

/// A failed store call: operation and service message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// The API operation (`PutObject`).
    pub operation: String,
    /// The service's error code and message.
    pub message: String,
}

/// The few object operations a remote state needs. Keys are relative to the store's bucket.
#[allow(async_fn_in_trait)]
pub trait ObjectStore {
    /// The object, or `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError>;
    /// Writes `body` to `key` if `condition` holds.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Precondition,
    ) -> Result<Put, StoreError>;
    /// Deletes `key` (deleting a missing key succeeds).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Whether the bucket keeps old versions of overwritten objects.
    async fn versioning_enabled(&self) -> Result<bool, StoreError>;
}

/// A state kept in an [`ObjectStore`] under `key`, with its lock at `key.lock`.
pub struct Remote<S> {
    store: S,
    key: String,
    /// `s3://bucket/key`, for messages.
    url: String,
    /// The lock this value holds (`None` when built only to force-unlock or read).
    held: Option<LockInfo>,
    versioning: OnceLock<bool>,
}

impl<S: ObjectStore> Remote<S> {
    /// A remote state at `key` of `store`, named `url` in messages. Takes no lock.
    pub fn new(store: S, key: &str, url: &str) -> Remote<S> {
        Remote {
            store,
            key: key.to_string(),
            url: url.to_string(),
            held: None,
            versioning: OnceLock::new(),
        }
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn backup_key(&self) -> String {
        format!("{}.backup", self.key)
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(&self.url)
    }

    fn err(&self, suffix: &str, e: StoreError) -> StateError {
        StateError::Remote {
            path: PathBuf::from(format!("{}{suffix}", self.url)),
            operation: e.operation,
            message: e.message,
        }
    }

    /// The lock's current body, if there is a lock and it parses.
    async fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        let lock = self
            .store
            .get(&self.lock_key())
            .await
            .map_err(|e| self.err(".lock", e))?;
        Ok(lock.and_then(|o| serde_json::from_slice(&o.body).ok()))
    }

    /// Takes the lock as `info` (its `id` is the owner token), retrying with backoff until
    /// `timeout` has passed; then fails naming the holder. A zero timeout tries once.
    pub async fn lock(mut self, info: LockInfo, timeout: Duration) -> Result<Self, StateError> {
        let body = serde_json::to_vec_pretty(&info).expect("lock info serializes");
        let deadline = Instant::now() + timeout;
        let mut wait = BACKOFF_START;
        loop {
            let put = self
                .store
                .put(
                    &self.lock_key(),
                    body.clone(),
                    "application/json",
                    Precondition::Absent,
                )
                .await
                .map_err(|e| self.err(".lock", e))?;
            let holder = match put {
                Put::Written(_) => None,
                // Someone's lock is there, or our own first attempt succeeded and this
                // is the SDK's retry of it: the owner token tells.
                Put::PreconditionFailed => match self.read_lock().await? {
                    Some(h) if h.id == info.id => None,
                    // Released between our put and our get: try again at once.
                    None => continue,
                    Some(h) => Some(Some(h)),
                },
                Put::Busy => Some(None),
            };
            let Some(holder) = holder else {
                self.held = Some(info);
                return Ok(self);
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(StateError::Locked {
                    path: self.path(),
                    holder,
                });
            }
            tokio::time::sleep(wait.min(deadline - now)).await;
            wait = (wait * 2).min(BACKOFF_MAX);
        }
    }

    /// The lock this value holds.
    pub fn held(&self) -> Option<&LockInfo> {
        self.held.as_ref()
    }

    /// Releases the lock if it is still ours (a force-unlocked and re-taken lock is left
    /// to its new holder).
    pub async fn unlock(&mut self) -> Result<(), StateError> {
        let Some(info) = self.held.take() else {
            return Ok(());
        };
        match self.read_lock().await? {
            Some(h) if h.id == info.id => self
                .store
                .delete(&self.lock_key())
                .await
                .map_err(|e| self.err(".lock", e)),
            _ => Ok(()),
        }
    }

    /// Removes the lock if its id is `id` (`stsform force-unlock ID`).
    pub async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let Some(info) = self.read_lock().await? else {
            return Err(StateError::NotLocked { path: self.path() });
        };
        if info.id != id {
            return Err(StateError::LockId {
                path: self.path(),
                given: id.to_string(),
                found: info.id,
            });
        }
        self.store
            .delete(&self.lock_key())
            .await
            .map_err(|e| self.err(".lock", e))
    }

    /// The state text and ETag, or `None` if there is no state object.
    async fn current(&self) -> Result<Option<(State, Object)>, StateError> {
        let Some(object) = self
            .store
            .get(&self.key)
            .await
            .map_err(|e| self.err("", e))?
        else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&object.body).into_owned();
        let state = State::from_toml(&text, &self.url)?;
        Ok(Some((state, object)))
    }

    /// Reads the state for `cluster`; no object gives `State::new(cluster)`.
    pub async fn load(&self, cluster: &str) -> Result<State, StateError> {
        let Some((state, _)) = self.current().await? else {
            return Ok(State::new(cluster));
        };
        if state.cluster != cluster {
            return Err(StateError::WrongCluster {
                path: self.path(),
                found: state.cluster,
                expected: cluster.to_string(),
            });
        }
        Ok(state)
    }

    async fn versioning(&self) -> Result<bool, StateError> {
        if let Some(v) = self.versioning.get() {
            return Ok(*v);
        }
        let v = self
            .store
            .versioning_enabled()
            .await
            .map_err(|e| self.err("", e))?;
        Ok(*self.versioning.get_or_init(|| v))
    }

    /// Writes `state` with its serial incremented, refusing to overwrite another lineage
    /// or a higher serial. The previous version stays readable: as an older object
    /// version when the bucket has versioning on, else as `KEY.backup`. On error
    /// `state.serial` is unchanged.
    pub async fn save(&self, state: &mut State) -> Result<(), StateError> {
        // A state object we cannot parse is not ours to check (load would have refused
        // it); it is kept like any previous version and then replaced.
        let previous = match self.store.get(&self.key).await {
            Ok(p) => p,
            Err(e) => return Err(self.err("", e)),
        };
        let condition = match &previous {
            None => Precondition::Absent,
            Some(object) => {
                let text = String::from_utf8_lossy(&object.body);
                if let Ok(on_store) = State::from_toml(&text, &self.url) {
                    state::check_overwrite(
                        &self.path(),
                        &on_store.lineage,
                        on_store.serial,
                        state,
                    )?;
                }
                if !self.versioning().await? {
                    let put = self
                        .store
                        .put(
                            &self.backup_key(),
                            object.body.clone(),
                            "application/toml",
                            Precondition::None,
                        )
                        .await
                        .map_err(|e| self.err(".backup", e))?;
                    if !matches!(put, Put::Written(_)) {
                        return Err(self.err(
                            ".backup",
                            StoreError {
                                operation: "PutObject".into(),
                                message: format!("unconditional write refused: {put:?}"),
                            },
                        ));
                    }
                }
                // A store that reports no ETag gets the serial/lineage check only; S3
                // and moto always report one.
                match &object.etag {
                    Some(etag) => Precondition::Matches(etag.clone()),
                    None => Precondition::None,
                }
            }
        };
        state.serial += 1;
        let body = state.to_toml().into_bytes();
        let put = self
            .store
            .put(&self.key, body.clone(), "application/toml", condition)
            .await;
        match put {
            Ok(Put::Written(_)) => Ok(()),
            Ok(Put::PreconditionFailed | Put::Busy) => {
                // A 412 on our own bytes: the SDK retried a write whose answer was lost
                // after S3 had stored it, and the retry's condition no longer held
                // because of that very write. The state is saved. (The lock does the
                // same with its owner token; here the bytes themselves are the token.)
                if let Ok(Some(object)) = self.store.get(&self.key).await
                    && object.body == body
                {
                    return Ok(());
                }
                state.serial -= 1;
                // Someone wrote between our check and our write: report what is there now.
                match self.current().await {
                    Ok(Some((on_store, _))) => {
                        state::check_overwrite(&self.path(), &on_store.lineage, on_store.serial, state)?;
                        Err(self.err(
                            "",
                            StoreError {
                                operation: "PutObject".into(),
                                message: "the state object changed while it was being saved; nothing was overwritten, run the command again".into(),
                            },
                        ))
                    }
                    _ => Err(self.err(
                        "",
                        StoreError {
                            operation: "PutObject".into(),
                            message: "the state object changed while it was being saved; nothing was overwritten".into(),
                        },
                    )),
                }
            }
            Err(e) => {
                state.serial -= 1;
                Err(self.err("", e))
            }
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
    S3(Box<Remote<crate::provider::aws::state_store::S3Objects>>),
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

    async fn remote(
        &self,
    ) -> Result<Remote<crate::provider::aws::state_store::S3Objects>, StateError> {
        let Location::S3 { bucket, key } = &self.location else {
            unreachable!("remote() is only called for S3 locations");
        };
        let store =
            crate::provider::aws::state_store::S3Objects::connect(bucket, self.region.as_deref())
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
                let mut wait = LOCAL_BACKOFF_START;
                loop {
                    match StateFile::lock_as(path, info.clone(), Duration::ZERO) {
                        Err(StateError::Locked { .. }) if Instant::now() < deadline => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            tokio::time::sleep(wait.min(left)).await;
                            wait = (wait * 2).min(LOCAL_BACKOFF_MAX);
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
            Location::Local(path) => state::clear_own_lock_info(path, id),
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
            Location::Local(path) => state::force_unlock(path, id),
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

/// Parses a lock timeout: `0`, `500ms`, `30s`, `5m`, `1h`, or combinations (`1m30s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("`{text}` is not a duration (examples: 0, 500ms, 30s, 5m, 1m30s)");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    type Hook = Box<dyn FnOnce(&Memory) + Send>;

    /// An in-memory object store with S3's conditional-write semantics, and faults.
    #[derive(Default)]
    struct Memory {
        objects: Mutex<BTreeMap<String, (Vec<u8>, u64)>>,
        next_etag: Mutex<u64>,
        versioning: bool,
        /// Answer 409 ConditionalRequestConflict to this many conditional puts first.
        busy: Mutex<usize>,
        /// Make the next put succeed and then report 412, as a retried write would.
        succeed_then_412: Mutex<bool>,
        /// Runs after the next read of the state key (a writer slipping in).
        after_get: Mutex<Option<Hook>>,
    }

    impl Memory {
        fn raw_put(&self, key: &str, body: Vec<u8>) -> String {
            let mut n = self.next_etag.lock().unwrap();
            *n += 1;
            self.objects
                .lock()
                .unwrap()
                .insert(key.to_string(), (body, *n));
            format!("\"{n}\"")
        }
        fn body(&self, key: &str) -> Option<String> {
            let objects = self.objects.lock().unwrap();
            objects
                .get(key)
                .map(|(b, _)| String::from_utf8(b.clone()).unwrap())
        }
    }

    impl ObjectStore for &Memory {
        async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
            let found = self.objects.lock().unwrap().get(key).map(|(b, e)| Object {
                body: b.clone(),
                etag: Some(format!("\"{e}\"")),
            });
            if !key.ends_with(".lock")
                && let Some(f) = self.after_get.lock().unwrap().take()
            {
                f(self);
            }
            Ok(found)
        }
        async fn put(
            &self,
            key: &str,
            body: Vec<u8>,
            _: &str,
            condition: Precondition,
        ) -> Result<Put, StoreError> {
            if condition != Precondition::None {
                let mut busy = self.busy.lock().unwrap();
                if *busy > 0 {
                    *busy -= 1;
                    return Ok(Put::Busy);
                }
            }
            let current = self
                .objects
                .lock()
                .unwrap()
                .get(key)
                .map(|(_, e)| format!("\"{e}\""));
            let ok = match &condition {
                Precondition::None => true,
                Precondition::Absent => current.is_none(),
                Precondition::Matches(etag) => current.as_ref() == Some(etag),
            };
            if !ok {
                return Ok(Put::PreconditionFailed);
            }
            let etag = self.raw_put(key, body);
            if std::mem::take(&mut *self.succeed_then_412.lock().unwrap()) {
                return Ok(Put::PreconditionFailed);
            }
            Ok(Put::Written(Some(etag)))
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.objects.lock().unwrap().remove(key);
            Ok(())
        }
        async fn versioning_enabled(&self) -> Result<bool, StoreError> {
            Ok(self.versioning)
        }
    }

    fn remote(m: &Memory) -> Remote<&Memory> {
        Remote::new(m, "clusters/x.toml", "s3://b/clusters/x.toml")
    }

    #[tokio::test]
    async fn lock_excludes_and_names_the_holder_then_frees() {
        let m = Memory::default();
        let mut first = remote(&m)
            .lock(LockInfo::current("apply"), Duration::ZERO)
            .await
            .unwrap();
        let err = remote(&m)
            .lock(LockInfo::current("plan"), Duration::from_millis(300))
            .await
            .err()
            .unwrap();
        let StateError::Locked {
            holder: Some(h), ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(h.operation, "apply");
        assert!(
            err.to_string()
                .starts_with("s3://b/clusters/x.toml is locked by")
        );
        first.unlock().await.unwrap();
        assert_eq!(m.body("clusters/x.toml.lock"), None);
        remote(&m)
            .lock(LockInfo::current("plan"), Duration::ZERO)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_retried_lock_write_that_already_succeeded_is_ours() {
        let m = Memory::default();
        *m.succeed_then_412.lock().unwrap() = true;
        let info = LockInfo::current("apply");
        let held = remote(&m).lock(info.clone(), Duration::ZERO).await.unwrap();
        assert_eq!(held.held(), Some(&info));
    }

    #[tokio::test]
    async fn a_busy_conditional_write_is_retried_within_the_timeout() {
        let m = Memory::default();
        *m.busy.lock().unwrap() = 2;
        remote(&m)
            .lock(LockInfo::current("apply"), Duration::from_secs(5))
            .await
            .unwrap();
        let m = Memory::default();
        *m.busy.lock().unwrap() = 1;
        let err = remote(&m)
            .lock(LockInfo::current("apply"), Duration::ZERO)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, StateError::Locked { holder: None, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn save_keeps_a_backup_without_versioning_and_refuses_older_serials() {
        let m = Memory::default();
        let r = remote(&m);
        let mut state = State::new("x");
        r.save(&mut state).await.unwrap();
        assert_eq!(m.body("clusters/x.toml.backup"), None);
        r.save(&mut state).await.unwrap();
        assert_eq!(state.serial, 2);
        assert!(
            m.body("clusters/x.toml.backup")
                .unwrap()
                .contains("serial = 1")
        );
        // Someone saved serial 3 out of band: our serial-2 state must not overwrite it.
        let mut newer = state.clone();
        newer.serial = 3;
        m.raw_put("clusters/x.toml", newer.to_toml().into_bytes());
        let err = r.save(&mut state).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(state.serial, 2);
        // Another lineage is refused too.
        let mut other = State::new("x");
        other.serial = 1;
        let err = r.save(&mut other).await.unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    }

    #[tokio::test]
    async fn a_retried_save_that_already_landed_is_a_success() {
        let m = Memory {
            versioning: true,
            ..Memory::default()
        };
        let r = remote(&m);
        let mut state = State::new("x");
        // The first save (If-None-Match) and a later one (If-Match): each write lands,
        // then answers 412, as the SDK's retry of a write whose answer was lost does.
        for serial in [1, 2] {
            *m.succeed_then_412.lock().unwrap() = true;
            r.save(&mut state).await.unwrap();
            assert_eq!(state.serial, serial);
            let stored = m.body("clusters/x.toml").unwrap();
            assert!(stored.contains(&format!("serial = {serial}")), "{stored}");
        }
        // A 412 on someone else's bytes is still a conflict.
        *m.after_get.lock().unwrap() = Some(Box::new(|m: &Memory| {
            let mut other = State::new("x");
            other.serial = 9;
            m.raw_put("clusters/x.toml", other.to_toml().into_bytes());
        }));
        assert!(r.save(&mut state).await.is_err());
        assert_eq!(state.serial, 2);
    }

    #[tokio::test]
    async fn a_writer_between_check_and_write_makes_the_save_fail() {
        let mut m = Memory {
            versioning: true,
            ..Memory::default()
        };
        let mut state = State::new("x");
        remote(&m).save(&mut state).await.unwrap();
        let sneaky = {
            let mut s = state.clone();
            s.serial = 5;
            s.to_toml().into_bytes()
        };
        *m.after_get.get_mut().unwrap() = Some(Box::new(move |m: &Memory| {
            m.raw_put("clusters/x.toml", sneaky);
        }));
        let err = remote(&m).save(&mut state).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(state.serial, 1);
        assert!(m.body("clusters/x.toml").unwrap().contains("serial = 5"));
        // Versioning on: no backup object.
        assert_eq!(m.body("clusters/x.toml.backup"), None);
    }

    #[tokio::test]
    async fn force_unlock_checks_the_id() {
        let m = Memory::default();
        let info = LockInfo::current("apply");
        m.raw_put("clusters/x.toml.lock", serde_json::to_vec(&info).unwrap());
        let err = remote(&m).force_unlock("wrong").await.unwrap_err();
        assert!(matches!(err, StateError::LockId { .. }), "{err}");
        remote(&m).force_unlock(&info.id).await.unwrap();
        let err = remote(&m).force_unlock(&info.id).await.unwrap_err();
        assert!(matches!(err, StateError::NotLocked { .. }), "{err}");
    }

    #[test]
    fn locations_and_durations_parse() {
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
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }
}
