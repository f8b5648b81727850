//! The local backend: the state file at a path, its `.backup`, and the OS lock on
//! `<path>.lock` with the lock info inside it. Saves are atomic (temporary file, fsync,
//! rename): after a crash the path holds the old or the new state, never a mix.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Detached, LockInfo, SaveState, State, StateError, TomlCache, check_overwrite};

/// First wait between lock attempts; doubled after each failed attempt.
pub(super) const LOCK_BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest wait between lock attempts, so a freed lock is noticed within 2 s.
pub(super) const LOCK_BACKOFF_MAX: Duration = Duration::from_secs(2);

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<path><suffix>`: appended, not an extension swap, so `prod.toml` gives `prod.toml.lock`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

pub(super) fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

fn backup_path(path: &Path) -> PathBuf {
    sibling(path, ".backup")
}

/// Reads the lock info body; `None` if it is missing, empty or half-written.
fn read_lock_info(file: &mut File) -> Option<LockInfo> {
    let mut body = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut body).ok()?;
    serde_json::from_str(&body).ok()
}

/// The state file at a path, locked for as long as this value lives.
///
/// The lock is `flock(2)` (via `File::try_lock`) on the separate file `<path>.lock`:
/// the state itself is replaced by rename on every save, and a lock on the old inode
/// would not exclude anyone who opens the new one. The kernel releases the lock when the
/// process exits, however it exits.
///
/// Dropping it empties the lock info body and releases the lock. The empty `.lock` file
/// is left in place on purpose: deleting it would let a process that opened the old file
/// and a process that creates a new one both "hold" the lock.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    lock: File,
    /// What this lock holder knows of the file between saves. Shared with the savers
    /// [`SaveState::detached`] hands out.
    memory: Arc<Mutex<Memory>>,
}

impl StateFile {
    /// Takes the OS lock on `<path>.lock` (creating parent directories) and writes a
    /// [`LockInfo`] body naming this process and `operation`.
    ///
    /// While another process holds the lock, retries with backoff (100 ms, doubling, at
    /// most 2 s between tries) until `timeout` has passed, then fails with
    /// [`StateError::Locked`] naming the holder. A zero timeout tries once.
    pub fn lock(path: &Path, operation: &str, timeout: Duration) -> Result<StateFile, StateError> {
        StateFile::lock_as(path, LockInfo::current(operation), timeout)
    }

    /// [`StateFile::lock`] writing the given lock info (its id is then known beforehand,
    /// so a signal handler can release exactly this lock).
    pub fn lock_as(
        path: &Path,
        info: LockInfo,
        timeout: Duration,
    ) -> Result<StateFile, StateError> {
        let lock_path = lock_path(path);
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        // No truncate on open: until we hold the lock, the body is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;

        let deadline = Instant::now() + timeout;
        let mut wait = LOCK_BACKOFF_START;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(StateError::Locked {
                            path: path.to_path_buf(),
                            holder: read_lock_info(&mut file),
                        });
                    }
                    std::thread::sleep(wait.min(deadline - now));
                    wait = (wait * 2).min(LOCK_BACKOFF_MAX);
                }
                Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
            }
        }

        let body = serde_json::to_string_pretty(&info).expect("lock info serializes") + "\n";
        // From here on `file` is dropped (and the lock released) on any error.
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(body.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(io_err(&lock_path))?;

        Ok(StateFile {
            path: path.to_path_buf(),
            lock: file,
            memory: Arc::default(),
        })
    }

    /// The state file's path, as given to [`StateFile::lock`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state for `cluster`; a missing file gives `State::new(cluster)`.
    ///
    /// Fails if the file belongs to another cluster or was written by a newer stsform.
    pub fn load(&self, cluster: &str) -> Result<State, StateError> {
        let Some((text, stamp)) = read_stamped(&self.path)? else {
            return Ok(State::new(cluster));
        };
        let state = State::from_toml(&text, &self.path.to_string_lossy())?;
        self.memory
            .lock()
            .expect("state memory lock poisoned")
            .known = Some(Known {
            lineage: state.lineage.clone(),
            serial: state.serial,
            text,
            stamp,
        });
        if state.cluster != cluster {
            return Err(StateError::WrongCluster {
                path: self.path.clone(),
                found: state.cluster,
                expected: cluster.to_string(),
            });
        }
        Ok(state)
    }

    /// Writes `state` with its serial incremented. The first save through this lock
    /// copies the file as it was, if any, to `<path>.backup` (later saves leave that
    /// alone, unless someone else wrote the file since: then it is kept the same way).
    ///
    /// Both files are written atomically (temporary file in the same directory, fsync,
    /// rename, fsync of the directory), mode 0600: after a crash the path holds the old
    /// or the new state, never a mix. Refuses to overwrite a file with another lineage
    /// or a higher serial ([`StateError::Conflict`]). On error `state.serial` is unchanged.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        save_at(&self.path, &self.memory, state)
    }
}

/// [`StateFile::save`] of the file at `path`, with what this lock holder knows of it.
fn save_at(path: &Path, memory: &Mutex<Memory>, state: &mut State) -> Result<(), StateError> {
    let mut memory = memory.lock().expect("state memory lock poisoned");
    let memory = &mut *memory;
    let now = match std::fs::metadata(path) {
        Ok(meta) => Some(Stamp::of(&meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path)(e)),
    };
    // The file as we last read or wrote it, unchanged since (same inode, length and
    // modification time), is not read again: at scale a read and a compare of the
    // whole file per save were most of what a save still cost.
    let unchanged = now.is_some() && memory.known.as_ref().is_some_and(|k| k.stamp == now);
    let read;
    let (previous, ours) = if unchanged {
        let known = memory.known.as_ref().expect("checked above");
        (Some(known.text.as_str()), Some(known))
    } else {
        read = read_stamped(path)?.map(|(text, _)| text);
        let ours = memory
            .known
            .as_ref()
            .filter(|k| read.as_deref() == Some(k.text.as_str()));
        (read.as_deref(), ours)
    };
    if let Some(text) = previous {
        // A file we cannot parse is not checked: `load` would have refused it, so it
        // was put there behind our back; the backup keeps it either way. The file we
        // loaded or last wrote, byte for byte unchanged, is not parsed again.
        let on_disk = match ours {
            Some(k) => Some((k.lineage.clone(), k.serial)),
            None => State::from_toml(text, &path.to_string_lossy())
                .ok()
                .map(|s| (s.lineage, s.serial)),
        };
        if let Some((lineage, serial)) = on_disk {
            check_overwrite(path, &lineage, serial, state)?;
        }
        // The backup holds the state as it was before this run (Terraform keeps
        // `terraform.tfstate.backup` the same way): written before our first write
        // only, so that apply writes one file per save, not two. A file someone else
        // wrote since our last save is not ours to lose: it is kept the same way.
        if !memory.written || ours.is_none() {
            write_atomic(&backup_path(path), text.as_bytes())?;
        }
    }

    state.serial += 1;
    let text = state.to_toml_cached(&mut memory.cache);
    match write_atomic(path, text.as_bytes()) {
        Ok(written) => {
            memory.written = true;
            memory.known = Some(Known {
                lineage: state.lineage.clone(),
                serial: state.serial,
                text,
                stamp: Some(Stamp::of(&written)),
            });
            Ok(())
        }
        Err(e) => {
            state.serial -= 1;
            Err(e)
        }
    }
}

/// The file's text and its [`Stamp`] from before the read (a change during the read
/// shows as a later stamp); `None` if there is no file.
fn read_stamped(path: &Path) -> Result<Option<(String, Option<Stamp>)>, StateError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let stamp = file.metadata().ok().map(|m| Stamp::of(&m));
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_err(path))?;
    Ok(Some((text, stamp)))
}

/// One version of a file as the OS sees it. Every save replaces the state file by
/// rename (a new inode) and an edit in place changes its modification time, so an equal
/// stamp means the file is still the version it was taken of. (Not the change time: the
/// rename that puts a save in place changes it.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt as _;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// What a lock holder knows of its state file between saves.
#[derive(Debug, Default)]
struct Memory {
    /// The file's text as this process last read or wrote it, with that text's lineage
    /// and serial. While the file on disk still has exactly these bytes, `save` checks
    /// against them instead of parsing the file again (a full parse per save made apply
    /// O(n²) in the number of resources).
    known: Option<Known>,
    /// Whether this lock holder has written the file: the backup is made before the
    /// first write.
    written: bool,
    /// The resources as last serialized, reused while they are unchanged.
    cache: TomlCache,
}

/// A state file's text with its lineage and serial, as last read or written, and the
/// file's stamp then.
#[derive(Debug)]
struct Known {
    text: String,
    lineage: String,
    serial: u64,
    stamp: Option<Stamp>,
}

impl Drop for StateFile {
    fn drop(&mut self) {
        // Best effort: an empty body means "not held" to `force_unlock` and to people
        // looking at the file. Closing the descriptor releases the flock regardless.
        let _ = self.lock.set_len(0);
        let _ = self.lock.unlock();
    }
}

impl SaveState for StateFile {
    fn save_state(&self, state: &mut State) -> Result<(), StateError> {
        self.save(state)
    }

    fn detached(&self) -> Option<Detached> {
        // The lock stays with this value; a saver only writes while apply holds it.
        let (path, memory) = (self.path.clone(), Arc::clone(&self.memory));
        Some(Arc::new(move |state: &mut State| {
            save_at(&path, &memory, state)
        }))
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content; 0600,
/// since the state names every role and bucket of the cluster. Returns the new file's
/// metadata.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<std::fs::Metadata, StateError> {
    crate::atomic_write::write_stat(path, bytes, 0o600).map_err(|e| StateError::Io {
        path: e.path,
        source: e.source,
    })
}

/// Empties the lock info of `path` if it is `id`'s: what a process exiting on a second
/// signal does to its own lock (the kernel releases the `flock` when it exits). Best
/// effort, for that one purpose: errors are ignored.
pub fn clear_own_lock_info(path: &Path, id: &str) {
    let lock_path = lock_path(path);
    let Ok(mut file) = OpenOptions::new().read(true).write(true).open(&lock_path) else {
        return;
    };
    if read_lock_info(&mut file).is_some_and(|info| info.id == id) {
        let _ = file.set_len(0);
    }
}

/// Removes a stale lock on `path` whose id is `id` (`stsform force-unlock ID`).
///
/// Fails with [`StateError::LockId`] if the lock has another id, with
/// [`StateError::LockHeld`] if a live process holds it, and with
/// [`StateError::NotLocked`] if there is no lock info.
pub fn force_unlock(path: &Path, id: &str) -> Result<(), StateError> {
    let lock_path = lock_path(path);
    let mut file = match OpenOptions::new().read(true).write(true).open(&lock_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StateError::NotLocked {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io_err(&lock_path)(e)),
    };
    // Take the lock ourselves before touching the body, so no one can acquire it
    // between our check and our truncate.
    let held_by_other = match file.try_lock() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
    };
    let Some(info) = read_lock_info(&mut file) else {
        return Err(StateError::NotLocked {
            path: path.to_path_buf(),
        });
    };
    if info.id != id {
        return Err(StateError::LockId {
            path: path.to_path_buf(),
            given: id.to_string(),
            found: info.id,
        });
    }
    if held_by_other {
        return Err(StateError::LockHeld {
            path: path.to_path_buf(),
            holder: info,
        });
    }
    file.set_len(0).map_err(io_err(&lock_path))?;
    let _ = file.unlock();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::STATE_VERSION;
    use super::super::fixtures::{CLUSTER, full_state};
    use super::*;
    use crate::state::Scope;
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    #[test]
    fn save_increments_serial_backs_up_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("prod-east.toml");
        let file = StateFile::lock(&path, "apply", Duration::ZERO).unwrap();
        assert_eq!(file.path(), path);

        // A first run: nothing was there before it, so there is nothing to back up.
        let mut state = file.load(CLUSTER).unwrap();
        assert_eq!(state.serial, 0);
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 1);
        state.scope = Some(Scope::Cluster);
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 2);
        assert!(
            !backup_path(&path).exists(),
            "no state before the first run"
        );
        let before_second_run = std::fs::read_to_string(&path).unwrap();
        drop(file);

        // The next run (a new lock holder): its first save backs up the state as it was
        // before the run, and its later saves leave that backup alone.
        let file = StateFile::lock(&path, "apply", Duration::ZERO).unwrap();
        let mut state = file.load(CLUSTER).unwrap();
        state.resources = full_state().resources;
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 3);
        assert_eq!(
            std::fs::read_to_string(backup_path(&path)).unwrap(),
            before_second_run
        );
        state.resources.pop_first();
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 4);
        assert_eq!(file.load(CLUSTER).unwrap(), state);
        assert_eq!(
            std::fs::read_to_string(backup_path(&path)).unwrap(),
            before_second_run,
            "the backup is the state before the run, not one save ago"
        );

        // Someone else wrote the file meanwhile (an older serial of the same history, put
        // back by hand): overwriting it keeps what they wrote as the backup.
        let mut put_back = state.clone();
        put_back.serial = 3;
        put_back.resources.clear();
        let theirs = put_back.to_toml();
        std::fs::write(&path, &theirs).unwrap();
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 5);
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), theirs);

        // An edit in place that keeps the length (a higher serial, by hand) is seen too:
        // the file is not taken for the one we wrote, and the save refuses it.
        let ours = std::fs::read_to_string(&path).unwrap();
        let edited = ours.replacen("serial = 5", "serial = 9", 1);
        assert_eq!(edited.len(), ours.len());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(edited.as_bytes())
            .unwrap();
        let err = file.save(&mut state).unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(state.serial, 5);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [path.clone(), backup_path(&path)] {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }

        let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "prod-east.toml",
                "prod-east.toml.backup",
                "prod-east.toml.lock"
            ]
        );
    }

    #[test]
    fn save_refuses_to_overwrite_another_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod-east.toml");
        let file = StateFile::lock(&path, "apply", Duration::ZERO).unwrap();
        let mut ours = file.load(CLUSTER).unwrap();
        file.save(&mut ours).unwrap();

        let mut other = State::new(CLUSTER);
        let err = file.save(&mut other).unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(other.serial, 0, "serial unchanged on error");

        let mut stale = ours.clone();
        file.save(&mut ours).unwrap();
        let err = file.save(&mut stale).unwrap_err();
        assert!(err.to_string().contains("serial 2"), "{err}");
    }

    #[test]
    fn load_missing_file_gives_a_new_state() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::lock(&dir.path().join("x.toml"), "plan", Duration::ZERO).unwrap();
        let state = file.load(CLUSTER).unwrap();
        assert_eq!(state.serial, 0);
        assert_eq!(state.cluster, CLUSTER);
        assert_eq!(state.version, STATE_VERSION);
        assert!(state.resources.is_empty());
        assert!(uuid::Uuid::parse_str(&state.lineage).is_ok());
        assert_ne!(state.lineage, State::new(CLUSTER).lineage);
    }

    #[test]
    fn load_rejects_another_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        std::fs::write(&path, State::new("staging").to_toml()).unwrap();
        let file = StateFile::lock(&path, "plan", Duration::ZERO).unwrap();
        let err = file.load(CLUSTER).unwrap_err();
        assert!(matches!(err, StateError::WrongCluster { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("prod.toml") && msg.contains("`staging`"),
            "{msg}"
        );
    }

    #[test]
    fn lock_contention_names_the_holder_and_clears_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        let first = StateFile::lock(&path, "apply", Duration::ZERO).unwrap();

        let started = Instant::now();
        let err = StateFile::lock(&path, "plan", Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let StateError::Locked {
            holder: Some(holder),
            ..
        } = &err
        else {
            panic!("expected Locked with holder, got {err:?}");
        };
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.operation, "apply");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{} is locked by ", path.display())),
            "{msg}"
        );
        assert!(
            msg.contains(&format!(
                "(pid {}, operation apply, since ",
                std::process::id()
            )),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!("run `stsform force-unlock {}`", holder.id)),
            "{msg}"
        );
        assert!(holder.created.ends_with('Z'), "{}", holder.created);

        drop(first);
        assert_eq!(std::fs::read_to_string(lock_path(&path)).unwrap(), "");
        let second = StateFile::lock(&path, "plan", Duration::ZERO).unwrap();
        drop(second);
    }

    /// Not a test on its own: the child process of `lock_contention_across_processes`.
    /// It holds the lock named by the environment until its stdin closes.
    #[test]
    fn hold_lock_helper() {
        let Some(path) = std::env::var_os("STSFORM_TEST_HOLD_LOCK") else {
            return;
        };
        let _held = StateFile::lock(Path::new(&path), "destroy", Duration::ZERO).unwrap();
        let mut out = io::stdout();
        writeln!(out, "LOCKED").unwrap();
        out.flush().unwrap();
        let _ = io::stdin().read_to_end(&mut Vec::new());
    }

    /// Reads the child's stdout until `marker`, so the test starts only once the lock is held.
    fn wait_for_line(child: &mut std::process::Child, marker: &str) {
        let stdout = child.stdout.take().unwrap();
        let found = io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim() == marker);
        assert!(found, "child exited without printing {marker}");
    }

    #[test]
    fn lock_contention_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "state::file::tests::hold_lock_helper",
                "--exact",
                "--nocapture",
            ])
            .env("STSFORM_TEST_HOLD_LOCK", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Read in a thread: the child's later output must not block on a full pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "LOCKED" {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("child never took the lock");

        let err = StateFile::lock(&path, "plan", Duration::from_millis(300)).unwrap_err();
        let StateError::Locked {
            holder: Some(holder),
            ..
        } = &err
        else {
            panic!("expected Locked with holder, got {err:?}");
        };
        assert_eq!(holder.pid, child.id());
        assert_eq!(holder.operation, "destroy");
        assert!(err.to_string().contains(&format!("pid {}", child.id())));

        // Forcing a lock that a live process holds is refused.
        let err = force_unlock(&path, &holder.id).unwrap_err();
        assert!(matches!(err, StateError::LockHeld { .. }), "{err}");

        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        reader.join().unwrap();
        StateFile::lock(&path, "plan", Duration::ZERO).unwrap();
    }

    #[test]
    fn lock_excludes_flock_utility() {
        let Ok(flock) = which("flock") else {
            eprintln!("flock(1) not installed; skipping");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        let mut child = Command::new(flock)
            .arg("--exclusive")
            .arg(lock_path(&path))
            .args(["sh", "-c", "echo LOCKED; cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(&mut child, "LOCKED");

        let err = StateFile::lock(&path, "plan", Duration::from_millis(300)).unwrap_err();
        assert!(
            matches!(err, StateError::Locked { holder: None, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );

        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        StateFile::lock(&path, "plan", Duration::ZERO).unwrap();
    }

    fn which(program: &str) -> Result<PathBuf, ()> {
        let paths = std::env::var_os("PATH").ok_or(())?;
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .ok_or(())
    }

    #[test]
    fn force_unlock_checks_the_id_and_clears_a_stale_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        let err = force_unlock(&path, "x").unwrap_err();
        assert!(matches!(err, StateError::NotLocked { .. }), "{err}");

        // A stale lock: a body left behind, no process holding the flock.
        let info = LockInfo {
            id: "6f1c0000-0000-4000-8000-000000000000".into(),
            operation: "apply".into(),
            who: "root".into(),
            host: "gone".into(),
            pid: 4242,
            created: "2026-11-29T10:00:00Z".into(),
        };
        std::fs::write(lock_path(&path), serde_json::to_string(&info).unwrap()).unwrap();

        let err = force_unlock(&path, "wrong-id").unwrap_err();
        assert!(matches!(err, StateError::LockId { .. }), "{err}");
        assert!(err.to_string().contains(&info.id), "{err}");
        assert_eq!(
            std::fs::read_to_string(lock_path(&path)).unwrap(),
            serde_json::to_string(&info).unwrap(),
            "a failed force-unlock changes nothing"
        );

        force_unlock(&path, &info.id).unwrap();
        assert_eq!(std::fs::read_to_string(lock_path(&path)).unwrap(), "");
        let err = force_unlock(&path, &info.id).unwrap_err();
        assert!(matches!(err, StateError::NotLocked { .. }), "{err}");
        StateFile::lock(&path, "apply", Duration::ZERO).unwrap();
    }
}
