//! Why a state could not be read, written, locked or unlocked; every message names the
//! file (or the `s3://` location). Also the one overwrite rule every backend applies.

use std::io;
use std::path::{Path, PathBuf};

use super::file::lock_path;
use super::{LockInfo, State};

/// Why the state could not be read, written, locked or unlocked. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process holds the lock (or did not let go within the timeout).
    #[error("{}", locked_message(path, holder.as_ref()))]
    Locked {
        /// The state file (not the `.lock` file): what the user passed.
        path: PathBuf,
        /// The holder's lock info, if its body could be read.
        holder: Option<LockInfo>,
    },
    /// Reading, writing or syncing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The state file is not valid TOML or not a valid state.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The state file.
        path: PathBuf,
        /// Where (line, or `resources[i] (id): field`) and what is wrong.
        message: String,
    },
    /// The state was written by a newer stsform whose format this build does not know.
    #[error(
        "{}: state version {found} was written by a newer stsform; this build reads up to version {supported}",
        path.display()
    )]
    NewerVersion {
        /// The state file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// [`super::STATE_VERSION`].
        supported: u32,
    },
    /// The state belongs to another cluster (wrong `--state` or `--name`).
    #[error(
        "{}: this state belongs to cluster `{found}`, not `{expected}`; check --state and --name",
        path.display()
    )]
    WrongCluster {
        /// The state file.
        path: PathBuf,
        /// The cluster named in the file.
        found: String,
        /// The cluster asked for.
        expected: String,
    },
    /// The file on disk is not the state being saved: someone replaced or rewrote it.
    #[error(
        "{}: refusing to overwrite: the file on disk has lineage {on_disk_lineage} serial {on_disk_serial}, \
         but the state being saved has lineage {lineage} serial {serial}; it was replaced or changed since it was loaded",
        path.display()
    )]
    Conflict {
        /// The state file.
        path: PathBuf,
        /// Lineage of the file on disk.
        on_disk_lineage: String,
        /// Serial of the file on disk.
        on_disk_serial: u64,
        /// Lineage of the state being saved.
        lineage: String,
        /// Serial of the state being saved (before the increment).
        serial: u64,
    },
    /// `force-unlock` was given an id that is not the current lock's.
    #[error(
        "{}: lock id `{given}` does not match the current lock id `{found}`; nothing was unlocked",
        path.display()
    )]
    LockId {
        /// The state file.
        path: PathBuf,
        /// The id passed to `force-unlock`.
        given: String,
        /// The id in the lock file.
        found: String,
    },
    /// `force-unlock` on a lock that a running process holds.
    #[error(
        "{} is locked by {holder}, which is still running; a lock held by a live process cannot be forced: \
         wait for it to finish or stop that process",
        path.display()
    )]
    LockHeld {
        /// The state file.
        path: PathBuf,
        /// Who holds it.
        holder: LockInfo,
    },
    /// `force-unlock` found no lock to remove.
    #[error("{} is not locked; nothing to unlock", path.display())]
    NotLocked {
        /// The state file.
        path: PathBuf,
    },
    /// A remote state store (S3) call failed.
    #[error("{}: {operation}: {message}", path.display())]
    Remote {
        /// The state location (`s3://bucket/key`, or its `.lock`/`.backup` sibling).
        path: PathBuf,
        /// The API operation (`PutObject`).
        operation: String,
        /// Error code and message from the service.
        message: String,
    },
}

/// Refuses to overwrite `on_disk` with `state` when it is another history (lineage) or
/// newer (higher serial) than the state being saved: the one rule every store applies
/// before it writes.
pub fn check_overwrite(
    path: &Path,
    on_disk_lineage: &str,
    on_disk_serial: u64,
    state: &State,
) -> Result<(), StateError> {
    if on_disk_lineage != state.lineage || on_disk_serial > state.serial {
        return Err(StateError::Conflict {
            path: path.to_path_buf(),
            on_disk_lineage: on_disk_lineage.to_string(),
            on_disk_serial,
            lineage: state.lineage.clone(),
            serial: state.serial,
        });
    }
    Ok(())
}

fn locked_message(path: &Path, holder: Option<&LockInfo>) -> String {
    match holder {
        Some(h) => format!(
            "{} is locked by {h}; if that process is gone, run `stsform force-unlock {}`",
            path.display(),
            h.id
        ),
        // No (complete) body: a holder that has not written it yet, or not stsform (flock(1)).
        None => format!(
            "{} is locked by another process (no lock info in {})",
            path.display(),
            lock_path(path).display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_message_matches_the_documented_wording() {
        let err = StateError::Locked {
            path: PathBuf::from("state/prod.toml"),
            holder: Some(LockInfo {
                id: "6f1c".into(),
                operation: "apply".into(),
                who: "root".into(),
                host: "host".into(),
                pid: 4242,
                created: "2026-11-29T10:00:00Z".into(),
            }),
        };
        assert_eq!(
            err.to_string(),
            "state/prod.toml is locked by root@host (pid 4242, operation apply, \
             since 2026-11-29T10:00:00Z, lock id 6f1c); if that process is gone, \
             run `stsform force-unlock 6f1c`"
        );
    }
}
