//! The remote backend's rules, over a tiny [`ObjectStore`] (get / conditional put /
//! delete) so that they are tested without AWS; `s3` implements it with the SDK.
//!
//! Remote rules (`state/README.md` has the user-facing version):
//! - lock = `PutObject KEY.lock` with `If-None-Match: *` and a [`LockInfo`] body whose
//!   `id` is the owner token. A 412 whose body carries *our* id is our own write that the
//!   SDK retried after it had already succeeded: the lock is ours.
//! - save = one `PutObject KEY` with `If-Match: <ETag>` of the object as this process last
//!   read or wrote it (`If-None-Match: *` when there was none): the condition is the check
//!   that nobody wrote since. Only when it fails (412; 404 once deleted; 409 busy), or
//!   nothing is known (never loaded through this value, or no ETag), read the object: our
//!   own bytes there mean the SDK retried a write that had landed (saved); else refuse
//!   another lineage or a higher serial, and write conditionally on what was read, so a
//!   writer that slipped in between the check and the write makes the write fail instead
//!   of being overwritten.
//! - backup = once per lock holder, before its first write: the state as loaded, as
//!   `KEY.backup` unless the bucket keeps versions (then nothing).
//! - unlock = read the lock, delete it only if its id is ours (or the id given to
//!   `force-unlock`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{LockInfo, State, StateError, TomlCache, check_overwrite};

/// First wait between remote lock attempts; doubled after each failed attempt.
const BACKOFF_START: Duration = Duration::from_millis(200);
/// Longest wait between remote lock attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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

/// The state object as this process last read or wrote it.
#[derive(Debug, Default)]
enum Seen {
    /// Never read or written through this value.
    #[default]
    Unknown,
    /// There was none.
    Absent,
    /// There was one, with this ETag (`None`: the store reported none).
    Object(Option<String>),
}

/// What a [`Remote`] and its clones know of the state object: shared, because apply
/// saves through a clone on another thread.
#[derive(Debug, Default)]
struct Known {
    /// The object as this process last read or wrote it.
    last: Seen,
    /// The state's bytes as loaded, until the backup of them is kept: a save needs no
    /// more than the ETag of what it last wrote (copying each save's bytes into memory
    /// cost a state-sized copy per save).
    loaded: Option<Vec<u8>>,
    /// Whether the state as it was before this lock holder's first write is kept (or
    /// needed no keeping).
    backup_kept: bool,
    /// The resources as last serialized, reused while they are unchanged.
    cache: TomlCache,
}

/// A state kept in an [`ObjectStore`] under `key`, with its lock at `key.lock`.
#[derive(Clone)]
pub struct Remote<S> {
    store: S,
    key: String,
    /// `s3://bucket/key`, for messages.
    url: String,
    /// The lock this value holds (`None` when built only to force-unlock or read).
    held: Option<LockInfo>,
    versioning: OnceLock<bool>,
    known: Arc<Mutex<Known>>,
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
            known: Arc::default(),
        }
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn backup_key(&self) -> String {
        format!("{}.backup", self.key)
    }

    pub(super) fn path(&self) -> PathBuf {
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

    /// The state object and its parse, or `None` if there is no state object.
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

    /// Reads the state for `cluster`; no object gives `State::new(cluster)`. What was read
    /// (or that there was nothing) is remembered for the saves that follow.
    pub async fn load(&self, cluster: &str) -> Result<State, StateError> {
        let Some((state, object)) = self.current().await? else {
            self.known().last = Seen::Absent;
            return Ok(State::new(cluster));
        };
        if state.cluster != cluster {
            return Err(StateError::WrongCluster {
                path: self.path(),
                found: state.cluster,
                expected: cluster.to_string(),
            });
        }
        let mut known = self.known();
        known.last = Seen::Object(object.etag);
        known.loaded = Some(object.body);
        drop(known);
        Ok(state)
    }

    /// What this value and its clones know (a poisoned lock only means a save panicked
    /// on another thread; what it holds is still a state object seen or written).
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
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
    /// or a higher serial. Before the first write of this lock holder, the state as it was
    /// before (as loaded) is kept: as an older object version when the bucket has
    /// versioning on, else as `KEY.backup`. On error `state.serial` is unchanged.
    pub async fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        let body = state.to_toml_cached(&mut self.known().cache).into_bytes();
        // The checks compare with the serial this state was loaded or last saved with.
        state.serial -= 1;
        self.write(state, body).await?;
        state.serial += 1;
        Ok(())
    }

    /// Saves `body` (the text of `state` at its next serial).
    async fn write(&self, state: &State, body: Vec<u8>) -> Result<(), StateError> {
        // The common case: the object is still what this process last read or wrote, and
        // a conditional write on that is the whole check, one PutObject.
        let condition = match &self.known().last {
            Seen::Absent => Some(Precondition::Absent),
            Seen::Object(Some(etag)) => Some(Precondition::Matches(etag.clone())),
            // Never read through this value, or a store that reports no ETag.
            Seen::Unknown | Seen::Object(None) => None,
        };
        if let Some(condition) = condition {
            self.backup_once(None).await?;
            if self.put_state(&body, condition).await? {
                return Ok(());
            }
        }
        // The object changed since (412), or is unknown: read it and check it.
        let previous = self
            .store
            .get(&self.key)
            .await
            .map_err(|e| self.err("", e))?;
        let condition = match previous {
            None => {
                // Nothing was there before this write: nothing to keep.
                self.known().backup_kept = true;
                Precondition::Absent
            }
            Some(object) => {
                // A 412 on our own bytes: the SDK retried a write whose answer was lost
                // after S3 had stored it, and the retry's condition no longer held
                // because of that very write. The state is saved. (The lock does the same
                // with its owner token; here the bytes themselves are the token.)
                if object.body == body {
                    self.known().last = Seen::Object(object.etag);
                    return Ok(());
                }
                // A state object we cannot parse is not ours to check (load would have
                // refused it); it is kept like any previous version and then replaced.
                let text = String::from_utf8_lossy(&object.body);
                if let Ok(on_store) = State::from_toml(&text, &self.url) {
                    check_overwrite(&self.path(), &on_store.lineage, on_store.serial, state)?;
                }
                self.backup_once(Some(&object.body)).await?;
                // A store that reports no ETag gets the serial/lineage check only; S3
                // and moto always report one.
                match object.etag {
                    Some(etag) => Precondition::Matches(etag),
                    None => Precondition::None,
                }
            }
        };
        if self.put_state(&body, condition).await? {
            return Ok(());
        }
        if let Ok(Some(object)) = self.store.get(&self.key).await
            && object.body == body
        {
            self.known().last = Seen::Object(object.etag);
            return Ok(());
        }
        // Someone wrote between our check and our write: report what is there now.
        let changed = "the state object changed while it was being saved; nothing was overwritten";
        let message = match self.current().await {
            Ok(Some((on_store, _))) => {
                check_overwrite(&self.path(), &on_store.lineage, on_store.serial, state)?;
                format!("{changed}, run the command again")
            }
            _ => changed.to_string(),
        };
        Err(self.err(
            "",
            StoreError {
                operation: "PutObject".into(),
                message,
            },
        ))
    }

    /// `PutObject KEY` if `condition` holds; remembers what it wrote. `false`: it did not
    /// hold (412), or another conditional write was in flight (409): nothing was written.
    async fn put_state(&self, body: &[u8], condition: Precondition) -> Result<bool, StateError> {
        let put = self
            .store
            .put(&self.key, body.to_vec(), "application/toml", condition)
            .await
            .map_err(|e| self.err("", e))?;
        match put {
            Put::Written(etag) => {
                self.known().last = Seen::Object(etag);
                Ok(true)
            }
            Put::PreconditionFailed | Put::Busy => Ok(false),
        }
    }

    /// Keeps the state as it was before this lock holder's first write, once: nothing to
    /// do with bucket versioning on or when there was no state; else `PutObject
    /// KEY.backup` with the bytes loaded (`read`, when nothing was loaded through this
    /// value, is the object just read instead).
    async fn backup_once(&self, read: Option<&[u8]>) -> Result<(), StateError> {
        if self.known().backup_kept {
            return Ok(());
        }
        let before = match read {
            Some(body) => Some(body.to_vec()),
            None => self.known().loaded.clone(),
        };
        if let Some(before) = before
            && !self.versioning().await?
        {
            let put = self
                .store
                .put(
                    &self.backup_key(),
                    before,
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
        let mut known = self.known();
        known.backup_kept = true;
        known.loaded = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
        /// Every get and put of the state and its backup, in order (`GET key`,
        /// `PUT key <condition>`).
        calls: Mutex<Vec<String>>,
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
        /// The calls recorded since the last `take_calls`.
        fn take_calls(&self) -> Vec<String> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
        fn count(calls: &[String], prefix: &str) -> usize {
            calls.iter().filter(|c| c.starts_with(prefix)).count()
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
            if !key.ends_with(".lock") {
                self.calls.lock().unwrap().push(format!("GET {key}"));
            }
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
            if !key.ends_with(".lock") {
                self.calls
                    .lock()
                    .unwrap()
                    .push(format!("PUT {key} {condition:?}"));
            }
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

    const KEY: &str = "clusters/x.toml";
    const BACKUP: &str = "clusters/x.toml.backup";

    /// The call a conditional write of the state on the object's `n`th ETag is.
    fn put_matching(n: u64) -> String {
        format!("PUT {KEY} {:?}", Precondition::Matches(format!("\"{n}\"")))
    }

    /// A state of cluster x at `serial`, stored as the state object.
    fn stored(m: &Memory, serial: u64) -> State {
        let mut state = State::new("x");
        state.serial = serial;
        m.raw_put(KEY, state.to_toml().into_bytes());
        state
    }

    /// N saves of a run: N conditional `PutObject KEY`, one `PutObject KEY.backup`
    /// holding the state as loaded, and no read of KEY but the load's; through clones
    /// (apply's background saver) as through the value itself.
    #[tokio::test]
    async fn a_run_puts_once_per_save_and_keeps_the_state_before_it_once() {
        let m = Memory::default();
        let before = stored(&m, 4);
        let before_bytes = m.body(KEY).unwrap();
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        assert_eq!(state, before);
        let background = r.clone();
        for n in 1..=5u64 {
            let saver = if n % 2 == 0 { &r } else { &background };
            saver.save(&mut state).await.unwrap();
            assert_eq!(state.serial, 4 + n);
            assert!(
                m.body(KEY)
                    .unwrap()
                    .contains(&format!("serial = {}", 4 + n))
            );
            // The backup is the state before the run, at every save.
            assert_eq!(m.body(BACKUP).unwrap(), before_bytes);
        }
        let calls = m.take_calls();
        assert_eq!(
            Memory::count(&calls, &format!("GET {KEY}")),
            1,
            "{calls:#?}"
        );
        assert_eq!(
            Memory::count(&calls, &format!("PUT {KEY} Matches")),
            5,
            "{calls:#?}"
        );
        assert_eq!(
            Memory::count(&calls, &format!("PUT {BACKUP}")),
            1,
            "{calls:#?}"
        );
        assert_eq!(calls.len(), 7, "{calls:#?}");
        // The backup is written before the first write of the state.
        assert!(
            calls[1].starts_with(&format!("PUT {BACKUP} None")),
            "{calls:#?}"
        );

        // With versioning on: no backup object, one PutObject per save.
        let m = Memory {
            versioning: true,
            ..Memory::default()
        };
        stored(&m, 4);
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        for _ in 0..3 {
            r.save(&mut state).await.unwrap();
        }
        assert_eq!(state.serial, 7);
        assert_eq!(m.body(BACKUP), None);
        let calls = m.take_calls();
        assert_eq!(calls.len(), 4, "{calls:#?}");
        assert_eq!(Memory::count(&calls, &format!("PUT {KEY} Matches")), 3);
    }

    /// No state at load: the first write keeps `If-None-Match: *`, and there is nothing
    /// to back up.
    #[tokio::test]
    async fn a_new_state_is_created_conditionally_without_a_backup() {
        let m = Memory::default();
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        r.save(&mut state).await.unwrap();
        r.save(&mut state).await.unwrap();
        assert_eq!(state.serial, 2);
        assert_eq!(
            m.take_calls(),
            vec![
                format!("GET {KEY}"),
                format!("PUT {KEY} Absent"),
                put_matching(1),
            ]
        );
        assert_eq!(m.body(BACKUP), None);

        // Someone created it between our load and our first write: refused.
        let m = Memory::default();
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        let theirs = stored(&m, 3);
        let err = r.save(&mut state).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(state.serial, 0);
        assert_eq!(m.body(KEY).unwrap(), theirs.to_toml());
        assert_eq!(m.body(BACKUP), None);
    }

    /// A state object written by someone else between two saves is never overwritten:
    /// the second save's `If-Match` fails, the object is read and checked, and the error
    /// names the serial now stored. The backup still holds the state before the run.
    #[tokio::test]
    async fn a_foreign_write_between_saves_is_never_overwritten() {
        let m = Memory::default();
        let before = stored(&m, 1).to_toml();
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        r.save(&mut state).await.unwrap();
        assert_eq!(state.serial, 2);
        // Someone saved serial 7 of our lineage out of band.
        let mut newer = state.clone();
        newer.serial = 7;
        m.raw_put(KEY, newer.to_toml().into_bytes());
        m.take_calls();
        let err = r.save(&mut state).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "s3://b/clusters/x.toml: refusing to overwrite: the file on disk has lineage {0} serial 7, \
                 but the state being saved has lineage {0} serial 2; it was replaced or changed since it was loaded",
                state.lineage
            )
        );
        assert_eq!(state.serial, 2);
        assert_eq!(m.body(KEY).unwrap(), newer.to_toml());
        assert_eq!(m.body(BACKUP).unwrap(), before);
        // One failed conditional write, one read, no other write.
        assert_eq!(
            Memory::count(&m.take_calls(), "PUT "),
            1,
            "nothing else was written"
        );
        // The next save is refused the same way (nothing learnt from a refusal).
        assert!(matches!(
            r.save(&mut state).await.unwrap_err(),
            StateError::Conflict { .. }
        ));
        assert_eq!(m.body(KEY).unwrap(), newer.to_toml());

        // Another lineage is refused too, written by someone in between or not.
        let m = Memory::default();
        stored(&m, 1);
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        let mut other = State::new("x");
        other.serial = 1;
        m.raw_put(KEY, other.to_toml().into_bytes());
        let err = r.save(&mut state).await.unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert_eq!(m.body(KEY).unwrap(), other.to_toml());
        let err = remote(&m).save(&mut state).await.unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    }

    /// A value that never loaded the state reads and checks it at its first save (and
    /// keeps what it read as the backup), then writes once per save.
    #[tokio::test]
    async fn without_a_load_the_first_save_reads_and_checks() {
        let m = Memory::default();
        let loaded = stored(&m, 2);
        let r = remote(&m);
        let mut state = loaded.clone();
        r.save(&mut state).await.unwrap();
        r.save(&mut state).await.unwrap();
        assert_eq!(state.serial, 4);
        assert_eq!(m.body(BACKUP).unwrap(), loaded.to_toml());
        assert_eq!(
            m.take_calls(),
            vec![
                format!("GET {KEY}"),
                format!("PUT {BACKUP} None"),
                put_matching(1),
                put_matching(3),
            ]
        );
        // An older serial is refused before anything is written.
        let mut older = loaded.clone();
        older.serial = 1;
        let err = remote(&m).save(&mut older).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(Memory::count(&m.take_calls(), "PUT "), 0);
    }

    #[tokio::test]
    async fn a_retried_save_that_already_landed_is_a_success() {
        let m = Memory {
            versioning: true,
            ..Memory::default()
        };
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        // The first save (If-None-Match) and a later one (If-Match): each write lands,
        // then answers 412, as the SDK's retry of a write whose answer was lost does.
        for serial in [1, 2] {
            *m.succeed_then_412.lock().unwrap() = true;
            r.save(&mut state).await.unwrap();
            assert_eq!(state.serial, serial);
            let stored = m.body(KEY).unwrap();
            assert!(stored.contains(&format!("serial = {serial}")), "{stored}");
        }
        // The ETag read back is the one the next save is conditional on: no read.
        m.take_calls();
        r.save(&mut state).await.unwrap();
        assert_eq!(m.take_calls(), vec![put_matching(2)]);
        // A 412 on someone else's bytes is still a conflict.
        let mut other = State::new("x");
        other.serial = 9;
        m.raw_put(KEY, other.to_toml().into_bytes());
        assert!(r.save(&mut state).await.is_err());
        assert_eq!(state.serial, 3);
        assert_eq!(m.body(KEY).unwrap(), other.to_toml());
    }

    #[tokio::test]
    async fn a_writer_between_check_and_write_makes_the_save_fail() {
        let m = Memory {
            versioning: true,
            ..Memory::default()
        };
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        r.save(&mut state).await.unwrap();
        // Someone rewrites serial 1 (the check that follows our failed If-Match passes),
        // and someone else writes serial 5 right after we read it.
        let same = state.to_toml() + "\n";
        m.raw_put(KEY, same.into_bytes());
        let sneaky = {
            let mut s = state.clone();
            s.serial = 5;
            s.to_toml().into_bytes()
        };
        *m.after_get.lock().unwrap() = Some(Box::new(move |m: &Memory| {
            m.raw_put(KEY, sneaky);
        }));
        let err = r.save(&mut state).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("serial 5"), "{err}");
        assert_eq!(state.serial, 1);
        assert!(m.body(KEY).unwrap().contains("serial = 5"));
        // Versioning on: no backup object.
        assert_eq!(m.body(BACKUP), None);
    }

    /// A state object deleted behind our back is written again, as when it was absent.
    #[tokio::test]
    async fn a_deleted_state_object_is_written_again() {
        let m = Memory::default();
        stored(&m, 1);
        let r = remote(&m);
        let mut state = r.load("x").await.unwrap();
        r.save(&mut state).await.unwrap();
        m.objects.lock().unwrap().remove(KEY);
        r.save(&mut state).await.unwrap();
        assert_eq!(state.serial, 3);
        assert!(m.body(KEY).unwrap().contains("serial = 3"));
        // The backup is still the state before the run.
        assert!(m.body(BACKUP).unwrap().contains("serial = 1"));
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
}
