//! The remote backend's rules, over a tiny [`ObjectStore`] (get / conditional put /
//! delete) so that they are tested without AWS; `s3` implements it with the SDK.
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

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{LockInfo, State, StateError, check_overwrite};

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
                    check_overwrite(&self.path(), &on_store.lineage, on_store.serial, state)?;
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
                        check_overwrite(&self.path(), &on_store.lineage, on_store.serial, state)?;
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
}
