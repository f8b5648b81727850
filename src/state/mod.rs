//! The state: what stsform believes it created, where that record lives, and who may
//! change it right now.
//!
//! - `model`: [`State`], its resources and its [`Scope`] (plain data);
//! - `format`: the on-disk TOML (`state/README.md` documents it), read strictly;
//! - `file`: the local backend ([`StateFile`]: atomic save with a `.backup`, the OS lock
//!   on `<state>.lock`);
//! - `remote` and `s3`: the S3 backend (its locking and overwrite rules over a tiny
//!   object-store trait, and that trait over the SDK);
//! - `store`: [`StateStore`] and [`Lock`], which pick the backend from `--state`;
//! - `lock_info` and `error`: who holds a lock, and every failure, naming the file.
//!
//! Must not decide actions: `refresh` and `plan` read a `State`, `execute` saves one
//! (through [`SaveState`]), commands load and lock it through a [`StateStore`].

// `StateError::Locked` carries the holder's `LockInfo` by value, the shape callers match on.
// These errors happen at most once per run, so their size costs nothing worth a Box.
#![allow(clippy::result_large_err)]

mod error;
mod file;
#[cfg(test)]
mod fixtures;
mod format;
mod lock_info;
mod model;
mod remote;
mod s3;
mod store;

pub use error::{StateError, check_overwrite};
pub use file::{StateFile, clear_own_lock_info, force_unlock};
pub use format::TomlCache;
pub use lock_info::LockInfo;
pub use model::{LocalPaths, STATE_VERSION, Scope, State, StateResource};
pub use remote::{Object, ObjectStore, Precondition, Put, Remote, StoreError};
pub use s3::S3Objects;
pub use store::{Location, Lock, StateStore};

/// Something that can persist a state during apply: the executor's save callback calls
/// it after every finished change. Implemented by [`StateFile`] and by [`Lock`] (local
/// or S3).
pub trait SaveState {
    /// Writes `state` with its serial incremented (unchanged on error).
    fn save_state(&self, state: &mut State) -> Result<(), StateError>;

    /// The same save (same place, same checks), owning what it needs, so that apply can
    /// save on another thread while it goes on; `None` when there is none.
    fn detached(&self) -> Option<Detached> {
        None
    }
}

/// A [`SaveState::save_state`] that can be moved to another thread.
pub type Detached = std::sync::Arc<dyn Fn(&mut State) -> Result<(), StateError> + Send + Sync>;
