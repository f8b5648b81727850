//! The state file: what stsform believes it created, and who may change it right now.
//!
//! Owns the on-disk TOML format (`state/README.md` documents it), atomic save with a
//! `.backup` of the previous version, and the OS lock on `<state>.lock`.
//! Must not call AWS or decide actions: `refresh` and `plan` read a `State`, `execute` saves one.

// `StateError::Locked` carries the holder's `LockInfo` by value, the shape callers match on.
// These errors happen at most once per run, so their size costs nothing worth a Box.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::resource::{ResourceId, ResourceKind, Spec};

/// The newest state format this build reads and the one it writes.
///
/// Version 2 added `mode`, `identity_provider_arn` and `request_set` (what the state
/// manages). Version 1 files still load (their mode is inferred from their resources);
/// the bump makes an older stsform say "written by a newer stsform" instead of tripping
/// over the new keys.
pub const STATE_VERSION: u32 = 2;

/// First wait between lock attempts; doubled after each failed attempt.
const LOCK_BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest wait between lock attempts, so a freed lock is noticed within 2 s.
const LOCK_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Everything stsform recorded about one cluster's resources.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// Format version the state was read in; every save writes [`STATE_VERSION`].
    pub version: u32,
    /// Incremented by every [`StateFile::save`]; 0 for a state never saved.
    pub serial: u64,
    /// UUID fixed when the state is created; a different lineage is a different history.
    pub lineage: String,
    /// The cluster (`--name`) this state belongs to.
    pub cluster: String,
    /// What the state manages; `None` until a run claims it (a new state, or an old one
    /// holding nothing to infer it from). `scope` checks runs against it.
    pub scope: Option<Scope>,
    /// Every resource stsform created and has not destroyed, by id.
    pub resources: BTreeMap<ResourceId, StateResource>,
}

/// What a state manages: the whole cluster, or day-2 roles against a provider it does not
/// own. Recorded so that a run with other settings is refused before it plans anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Signing key, OIDC bucket and documents, OIDC provider, roles and manifests.
    Cluster,
    /// Roles, their policies and Secret manifests only, trusting an existing provider.
    Roles {
        /// The provider the roles trust (`--identity-provider-arn`).
        identity_provider_arn: String,
        /// The set of requests the state manages (`--request-set`, else the requests
        /// directory's name); `None` in a version 1 state, until a run records it.
        request_set: Option<String>,
    },
}

impl Scope {
    /// `cluster` or `roles`, as written in the file.
    pub fn mode(&self) -> &'static str {
        match self {
            Scope::Cluster => "cluster",
            Scope::Roles { .. } => "roles",
        }
    }
}

/// One resource as recorded after stsform created or updated it.
#[derive(Clone, Debug, PartialEq)]
pub struct StateResource {
    /// Its attributes as last applied (or refreshed).
    pub spec: Spec,
    /// What it needed first; kept so that destroy order is known after the input is gone.
    pub depends_on: Vec<ResourceId>,
}

impl State {
    /// An empty state for `cluster`: serial 0, a fresh lineage, no resources.
    pub fn new(cluster: &str) -> State {
        State {
            version: STATE_VERSION,
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            cluster: cluster.to_string(),
            scope: None,
            resources: BTreeMap::new(),
        }
    }

    /// The state as TOML. Equal states give identical text (resources in id order),
    /// so the file diffs cleanly under version control.
    pub fn to_toml(&self) -> String {
        let (idp, set) = match &self.scope {
            Some(Scope::Roles {
                identity_provider_arn,
                request_set,
            }) => (Some(identity_provider_arn.as_str()), request_set.as_deref()),
            _ => (None, None),
        };
        let doc = StateDocOut {
            version: STATE_VERSION,
            serial: self.serial,
            lineage: &self.lineage,
            cluster: &self.cluster,
            mode: self.scope.as_ref().map(Scope::mode),
            identity_provider_arn: idp,
            request_set: set,
            resources: self
                .resources
                .iter()
                .map(|(id, r)| ResourceDocOut {
                    id: id.to_string(),
                    kind: id.kind.as_str(),
                    depends_on: r.depends_on.iter().map(ToString::to_string).collect(),
                    attributes: r.spec.attributes(),
                })
                .collect(),
        };
        // Attributes hold no nulls (optional fields are skipped) and the serial stays far
        // below i64::MAX, so this cannot fail for a state built from `Spec` values.
        toml::to_string(&doc).expect("state always serializes to TOML")
    }

    /// Parses a state file's text; `origin` (its path) is named in every error.
    ///
    /// Strict on purpose: unknown keys, a `kind` that disagrees with the id, duplicate ids
    /// and attributes the kind does not have are errors, because a state we misread
    /// turns into wrong creates and destroys.
    pub fn from_toml(text: &str, origin: &str) -> Result<State, StateError> {
        let parse_err = |message: String| StateError::Parse {
            path: PathBuf::from(origin),
            message,
        };
        let located = |e: toml::de::Error| {
            let at = e
                .span()
                .map(|span| line_column(text, span.start))
                .map(|(line, col)| format!("line {line}, column {col}: "))
                .unwrap_or_default();
            parse_err(format!("{at}{}", e.message().trim_end()))
        };

        // Check the version before the strict parse, so a file from a newer stsform
        // (which may have fields we do not know) says "newer", not "unknown field".
        let table: toml::Table = toml::from_str(text).map_err(located)?;
        match table.get("version") {
            Some(toml::Value::Integer(v)) if *v > i64::from(STATE_VERSION) => {
                return Err(StateError::NewerVersion {
                    path: PathBuf::from(origin),
                    found: *v as u64,
                    supported: STATE_VERSION,
                });
            }
            Some(toml::Value::Integer(v)) if *v < 1 => {
                return Err(parse_err(format!("version: unsupported version {v}")));
            }
            Some(toml::Value::Integer(_)) => {}
            Some(other) => {
                return Err(parse_err(format!(
                    "version: expected an integer, found {}",
                    other.type_str()
                )));
            }
            None => return Err(parse_err("missing field `version`".into())),
        }

        let doc: StateDocIn = toml::from_str(text).map_err(located)?;
        if doc.lineage.is_empty() {
            return Err(parse_err("lineage: must not be empty".into()));
        }
        if doc.cluster.is_empty() {
            return Err(parse_err("cluster: must not be empty".into()));
        }

        let mut resources = BTreeMap::new();
        for (i, r) in doc.resources.into_iter().enumerate() {
            let id: ResourceId =
                r.id.parse()
                    .map_err(|e| parse_err(format!("resources[{i}]: id: {e}")))?;
            let at = |field: &str, problem: String| {
                parse_err(format!("resources[{i}] ({id}): {field}: {problem}"))
            };
            let kind: ResourceKind = r.kind.parse().map_err(|e| at("kind", e))?;
            if kind != id.kind {
                return Err(at(
                    "kind",
                    format!("`{kind}` does not match the id's kind `{}`", id.kind),
                ));
            }
            let depends_on = r
                .depends_on
                .iter()
                .enumerate()
                .map(|(j, d)| d.parse().map_err(|e| at(&format!("depends_on[{j}]"), e)))
                .collect::<Result<Vec<ResourceId>, _>>()?;
            let input =
                serde_json::to_value(&r.attributes).map_err(|e| at("attributes", e.to_string()))?;
            let spec = Spec::from_attributes(kind, input.clone()).map_err(|e| {
                // `.` is the attributes table itself (a missing attribute).
                match e.path().to_string().as_str() {
                    "." => at("attributes", e.inner().to_string()),
                    path => at(&format!("attributes.{path}"), e.inner().to_string()),
                }
            })?;
            // The spec structs accept and drop unknown keys; refuse them here so a typo
            // in a hand-edited state is not silently forgotten on the next save.
            if let Some(path) = first_unknown_key(&input, &spec.attributes(), "attributes") {
                return Err(at(&path, "unknown field".into()));
            }
            let previous = resources.insert(id.clone(), StateResource { spec, depends_on });
            if previous.is_some() {
                return Err(at("id", "appears more than once".into()));
            }
        }

        let scope = match (doc.mode.as_deref(), doc.identity_provider_arn) {
            (Some("cluster"), None) if doc.request_set.is_none() => Some(Scope::Cluster),
            (Some("cluster"), _) => {
                return Err(parse_err(
                    "mode: a `cluster` state has no identity_provider_arn or request_set".into(),
                ));
            }
            (Some("roles"), Some(arn)) => Some(Scope::Roles {
                identity_provider_arn: arn,
                request_set: doc.request_set,
            }),
            (Some("roles"), None) => {
                return Err(parse_err(
                    "identity_provider_arn: missing (a `roles` state names the provider its roles trust)"
                        .into(),
                ));
            }
            (Some(other), _) => {
                return Err(parse_err(format!(
                    "mode: `{other}` is neither `cluster` nor `roles`"
                )));
            }
            (None, None) if doc.request_set.is_none() => inferred_scope(&resources),
            (None, _) => {
                return Err(parse_err(
                    "mode: missing (identity_provider_arn and request_set belong to a `roles` state)"
                        .into(),
                ));
            }
        };

        Ok(State {
            // Range-checked above: 1..=STATE_VERSION.
            version: doc.version as u32,
            serial: doc.serial,
            lineage: doc.lineage,
            cluster: doc.cluster,
            scope,
            resources,
        })
    }
}

/// What a state without `mode` (version 1) manages, judged by what it holds: any part of
/// the issuer (key pair, bucket, documents, provider) makes it the whole cluster's; roles
/// alone make it a day-2 state trusting the provider their trust policies name. Nothing
/// to judge by (an empty state) leaves it open: the next run claims it.
fn inferred_scope(resources: &BTreeMap<ResourceId, StateResource>) -> Option<Scope> {
    let issuer = resources.keys().any(|id| {
        matches!(
            id.kind,
            ResourceKind::KeyPair
                | ResourceKind::S3Bucket
                | ResourceKind::S3Object
                | ResourceKind::IamOidcProvider
        )
    });
    if issuer {
        return Some(Scope::Cluster);
    }
    let arn = resources.values().find_map(|r| match &r.spec {
        Spec::IamRole(role) => federated_principal(&role.trust_policy),
        _ => None,
    })?;
    Some(Scope::Roles {
        identity_provider_arn: arn,
        request_set: None,
    })
}

/// The first `Principal.Federated` of a trust policy: the provider a role trusts.
fn federated_principal(policy: &serde_json::Value) -> Option<String> {
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        single @ serde_json::Value::Object(_) => vec![single.clone()],
        _ => return None,
    };
    statements
        .iter()
        .find_map(|s| match &s["Principal"]["Federated"] {
            serde_json::Value::String(arn) => Some(arn.clone()),
            serde_json::Value::Array(list) => list.first()?.as_str().map(str::to_string),
            _ => None,
        })
}

/// The state file as written: attributes keep the spec's field order (name first),
/// which reads better than the alphabetical order of a `toml::Table`.
#[derive(Serialize)]
struct StateDocOut<'a> {
    version: u32,
    serial: u64,
    lineage: &'a str,
    cluster: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_set: Option<&'a str>,
    resources: Vec<ResourceDocOut>,
}

#[derive(Serialize)]
struct ResourceDocOut {
    id: String,
    kind: &'static str,
    depends_on: Vec<String>,
    attributes: serde_json::Value,
}

/// The state file as read. Ids and kinds stay strings here so that errors can name the
/// resource index and field instead of serde's generic message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDocIn {
    version: i64,
    serial: u64,
    lineage: String,
    cluster: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    identity_provider_arn: Option<String>,
    #[serde(default)]
    request_set: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceDocIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceDocIn {
    id: String,
    kind: String,
    #[serde(default)]
    depends_on: Vec<String>,
    attributes: toml::Table,
}

/// The first key path in `input` that `parsed` (the spec serialized again) does not have.
fn first_unknown_key(
    input: &serde_json::Value,
    parsed: &serde_json::Value,
    path: &str,
) -> Option<String> {
    let (serde_json::Value::Object(input), serde_json::Value::Object(parsed)) = (input, parsed)
    else {
        return None;
    };
    input.iter().find_map(|(key, value)| {
        let here = format!("{path}.{key}");
        match parsed.get(key) {
            None => Some(here),
            Some(p) => first_unknown_key(value, p, &here),
        }
    })
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Who holds a state lock; the JSON body of `<state>.lock` while it is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random id, the argument `stsform force-unlock` asks for.
    pub id: String,
    /// The command holding the lock (`apply`, `destroy`, ...).
    pub operation: String,
    /// User name of the holder (`$USER`, `$LOGNAME`, the uid's name, or `uid N`).
    pub who: String,
    /// Host the holder runs on.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// When the lock was taken, RFC 3339 UTC.
    pub created: String,
}

impl LockInfo {
    /// A description of the current process taking the lock for `operation`, with a
    /// fresh random id (the owner token of a remote lock).
    pub fn current(operation: &str) -> LockInfo {
        let who = user_name(
            |k| std::env::var(k).ok(),
            &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            rustix::process::getuid().as_raw(),
        );
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        // Whole seconds: the time is for people, and `…:00Z` reads better than nanoseconds.
        let now = time::OffsetDateTime::now_utc();
        let created = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "unknown".into());
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            who,
            host,
            pid: std::process::id(),
            created,
        }
    }
}

/// Who runs this process: `$USER` or `$LOGNAME` (what people call themselves), else the
/// name `/etc/passwd` gives the uid (containers and CI jobs often set neither variable),
/// else `uid N`.
fn user_name(env: impl Fn(&str) -> Option<String>, passwd: &str, uid: u32) -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()))
    {
        return name;
    }
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?;
            (id.parse() == Ok(uid) && !name.is_empty()).then(|| name.to_string())
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (pid {}, operation {}, since {}, lock id {})",
            self.who, self.host, self.pid, self.operation, self.created, self.id
        )
    }
}

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
        /// [`STATE_VERSION`].
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

/// Something that can persist a state during apply: the executor's save callback calls
/// it after every finished change. Implemented by [`StateFile`] and by
/// [`crate::state_store::Lock`] (local or S3).
pub trait SaveState {
    /// Writes `state` with its serial incremented (unchanged on error).
    fn save_state(&self, state: &mut State) -> Result<(), StateError>;
}

impl SaveState for StateFile {
    fn save_state(&self, state: &mut State) -> Result<(), StateError> {
        self.save(state)
    }
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

fn lock_path(path: &Path) -> PathBuf {
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
    /// The file's text as this process last read or wrote it, with that text's lineage
    /// and serial. While the file on disk still has exactly these bytes, `save` checks
    /// against them instead of re-parsing the file (a full parse per save made apply
    /// O(n²) in the number of resources).
    known: std::sync::Mutex<Option<Known>>,
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
            known: std::sync::Mutex::new(None),
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
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::new(cluster)),
            Err(e) => return Err(io_err(&self.path)(e)),
        };
        let state = State::from_toml(&text, &self.path.to_string_lossy())?;
        *self.known.lock().expect("state text lock poisoned") = Some(Known {
            lineage: state.lineage.clone(),
            serial: state.serial,
            text,
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

    /// Writes `state` with its serial incremented; the previous file, if any, becomes
    /// `<path>.backup`.
    ///
    /// Both files are written atomically (temporary file in the same directory, fsync,
    /// rename, fsync of the directory), mode 0600: after a crash the path holds the old
    /// or the new state, never a mix. Refuses to overwrite a file with another lineage
    /// or a higher serial ([`StateError::Conflict`]). On error `state.serial` is unchanged.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        let previous = match std::fs::read_to_string(&self.path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&self.path)(e)),
        };
        let mut known = self.known.lock().expect("state text lock poisoned");
        if let Some(text) = &previous {
            // A file we cannot parse is not checked: `load` would have refused it, so it
            // was put there behind our back; the backup keeps it either way. The file we
            // loaded or last wrote, byte for byte unchanged, is not parsed again.
            let on_disk = match known.as_ref().filter(|k| k.text == *text) {
                Some(k) => Some((k.lineage.clone(), k.serial)),
                None => State::from_toml(text, &self.path.to_string_lossy())
                    .ok()
                    .map(|s| (s.lineage, s.serial)),
            };
            if let Some((lineage, serial)) = on_disk {
                check_overwrite(&self.path, &lineage, serial, state)?;
            }
            write_atomic(&backup_path(&self.path), text.as_bytes())?;
        }

        state.serial += 1;
        let text = state.to_toml();
        let result = write_atomic(&self.path, text.as_bytes());
        match result {
            Ok(()) => {
                *known = Some(Known {
                    lineage: state.lineage.clone(),
                    serial: state.serial,
                    text,
                });
            }
            Err(_) => state.serial -= 1,
        }
        result
    }
}

/// A state file's text with its lineage and serial, as last read or written.
#[derive(Debug)]
struct Known {
    text: String,
    lineage: String,
    serial: u64,
}

impl Drop for StateFile {
    fn drop(&mut self) {
        // Best effort: an empty body means "not held" to `force_unlock` and to people
        // looking at the file. Closing the descriptor releases the flock regardless.
        let _ = self.lock.set_len(0);
        let _ = self.lock.unlock();
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // State names every role and bucket of the cluster: not for other local users.
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    // Same directory, so the rename never crosses a filesystem. On any error the
    // NamedTempFile is dropped, which deletes it: no temp files are left behind.
    let mut tmp = builder.tempfile_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err(tmp.path()))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    // The rename is durable only once the directory entry is on disk.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
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
    use super::*;
    use crate::resource::{
        BucketSpec, FileContent, FileSpec, KeyPairSpec, ObjectSpec, OidcProviderSpec,
        PublicAccessBlock, RolePolicySpec, RoleSpec, Tags, UNKNOWN,
    };
    use serde_json::json;
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    const CLUSTER: &str = "prod-east";

    fn tags() -> Tags {
        Tags::from([
            (
                "kubernetes.io/cluster/prod-east".to_string(),
                "owned".to_string(),
            ),
            ("team".to_string(), "platform".to_string()),
        ])
    }

    /// A state holding one resource of every kind, with every optional field set.
    fn full_state() -> State {
        let bucket = "prod-east-oidc";
        let oidc_host = "prod-east-oidc.s3.us-east-2.amazonaws.com";
        let role = "prod-east-openshift-ingress-operator-cloud-credentials";
        let key_id = ResourceId::new(ResourceKind::KeyPair, "serviceaccount-signer");
        let bucket_id = ResourceId::new(ResourceKind::S3Bucket, bucket);
        let oidc_id = ResourceId::new(ResourceKind::IamOidcProvider, oidc_host);
        let role_id = ResourceId::new(ResourceKind::IamRole, role);
        let specs = vec![
            (
                key_id.clone(),
                Spec::KeyPair(KeyPairSpec {
                    private_key_file: Some("out/serviceaccount-signer.private".into()),
                    public_key_file: "out/serviceaccount-signer.public".into(),
                    kid: "Zm9vYmFy".into(),
                }),
                vec![],
            ),
            (
                bucket_id.clone(),
                Spec::S3Bucket(BucketSpec {
                    name: bucket.into(),
                    region: "us-east-2".into(),
                    tags: tags(),
                    public_access_block: PublicAccessBlock {
                        block_public_acls: true,
                        ignore_public_acls: true,
                        block_public_policy: false,
                        restrict_public_buckets: false,
                    },
                    policy: json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                         "Resource": "arn:aws:s3:::prod-east-oidc/*"}]}),
                }),
                vec![],
            ),
            (
                ResourceId::new(ResourceKind::S3Object, format!("{bucket}/keys.json")),
                Spec::S3Object(ObjectSpec {
                    bucket: bucket.into(),
                    key: "keys.json".into(),
                    content_type: "application/json".into(),
                    tags: tags(),
                    content: "{\n  \"keys\": []\n}\n".into(),
                }),
                vec![bucket_id.clone(), key_id.clone()],
            ),
            (
                oidc_id.clone(),
                Spec::IamOidcProvider(OidcProviderSpec {
                    url: format!("https://{oidc_host}"),
                    arn: format!("arn:aws:iam::123456789012:oidc-provider/{oidc_host}"),
                    client_ids: vec!["openshift".into(), "sts.amazonaws.com".into()],
                    thumbprints: vec!["A9D53002E97E00E043244F3D170D6F4C414104FD".into()],
                    tags: tags(),
                }),
                vec![bucket_id.clone()],
            ),
            (
                role_id.clone(),
                Spec::IamRole(RoleSpec {
                    name: role.into(),
                    arn: UNKNOWN.into(),
                    description: "OpenShift role for openshift-ingress-operator/cloud-credentials"
                        .into(),
                    trust_policy: json!({"Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                        "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{oidc_host}")},
                        "Condition": {"StringEquals": {"x:sub": ["a", "b"]}}}]}),
                    permissions_boundary: Some("arn:aws:iam::123456789012:policy/b".into()),
                    tags: Tags::new(),
                }),
                vec![oidc_id.clone()],
            ),
            (
                ResourceId::new(ResourceKind::IamRolePolicy, role),
                Spec::IamRolePolicy(RolePolicySpec {
                    role: role.into(),
                    name: role.into(),
                    document: json!({"Version": "2012-10-17", "Statement": []}),
                }),
                vec![role_id.clone()],
            ),
            (
                ResourceId::new(ResourceKind::File, "out/manifests/ingress-credentials.yaml"),
                Spec::File(FileSpec {
                    path: "out/manifests/ingress-credentials.yaml".into(),
                    mode: 0o600,
                    content: FileContent::Text("apiVersion: v1\nkind: Secret\n".into()),
                }),
                vec![role_id.clone()],
            ),
            (
                ResourceId::new(
                    ResourceKind::File,
                    "out/tls/bound-service-account-signing-key.key",
                ),
                Spec::File(FileSpec {
                    path: "out/tls/bound-service-account-signing-key.key".into(),
                    mode: 0o600,
                    content: FileContent::PrivateKeyCopy {
                        kid: "Zm9vYmFy".into(),
                    },
                }),
                vec![key_id.clone()],
            ),
        ];
        let mut state = State::new(CLUSTER);
        state.serial = 3;
        state.scope = Some(Scope::Cluster);
        // Insert in reverse to show that output order does not depend on insertion order.
        for (id, spec, depends_on) in specs.into_iter().rev() {
            state
                .resources
                .insert(id, StateResource { spec, depends_on });
        }
        state
    }

    fn parse(text: &str) -> Result<State, StateError> {
        State::from_toml(text, "state/prod-east.toml")
    }

    fn parse_err(text: &str) -> String {
        parse(text).expect_err("should not parse").to_string()
    }

    /// A minimal valid state text with one role resource, for mutation in error tests.
    fn one_role_text() -> String {
        let mut state = State::new(CLUSTER);
        let spec = full_state()
            .resources
            .into_iter()
            .find(|(id, _)| id.kind == ResourceKind::IamRole)
            .unwrap();
        state.resources.insert(spec.0, spec.1);
        state.to_toml()
    }

    #[test]
    fn every_kind_round_trips_and_output_is_deterministic() {
        let state = full_state();
        let kinds: std::collections::BTreeSet<_> =
            state.resources.values().map(|r| r.spec.kind()).collect();
        assert_eq!(kinds.len(), ResourceKind::ALL.len(), "a kind is missing");

        let text = state.to_toml();
        assert_eq!(parse(&text).unwrap(), state);
        assert_eq!(state.to_toml(), text);
        assert_eq!(parse(&text).unwrap().to_toml(), text);

        // Resources appear in id order, whatever order they were inserted in.
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id = \""))
            .map(|l| l.trim_end_matches('"'))
            .collect();
        let expected: Vec<String> = state.resources.keys().map(ToString::to_string).collect();
        assert_eq!(ids, expected);
        assert!(
            text.starts_with("version = 2\nserial = 3\nlineage = "),
            "{text}"
        );
        assert!(text.contains("\nmode = \"cluster\"\n"), "{text}");
        assert!(text.contains("[[resources]]\n"), "{text}");
        assert!(text.contains("[resources.attributes]\n"), "{text}");
    }

    #[test]
    fn state_never_contains_private_key_material() {
        let text = full_state().to_toml();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        // The key copy is recorded by the kid of its public half, nothing more.
        assert!(text.contains("private_key_copy"), "{text}");
    }

    #[test]
    fn save_increments_serial_backs_up_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("prod-east.toml");
        let file = StateFile::lock(&path, "apply", Duration::ZERO).unwrap();
        assert_eq!(file.path(), path);

        let mut state = file.load(CLUSTER).unwrap();
        assert_eq!(state.serial, 0);
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 1);
        assert!(
            !backup_path(&path).exists(),
            "nothing to back up on first save"
        );
        let first = std::fs::read_to_string(&path).unwrap();

        state.resources = full_state().resources;
        state.scope = Some(Scope::Cluster);
        file.save(&mut state).unwrap();
        assert_eq!(state.serial, 2);
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), first);
        assert_eq!(file.load(CLUSTER).unwrap(), state);

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
    fn load_rejects_a_newer_version_even_with_unknown_fields() {
        let text = one_role_text().replace("version = 2", "version = 3\nfuture_field = true");
        let err = parse(&text).unwrap_err();
        assert!(
            matches!(err, StateError::NewerVersion { found: 3, .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("state/prod-east.toml: "), "{msg}");
        assert!(
            msg.contains("version 3") && msg.contains("up to version 2"),
            "{msg}"
        );
        assert!(msg.contains("written by a newer stsform"), "{msg}");
    }

    #[test]
    fn version_1_states_load_with_their_scope_inferred() {
        // A v1 whole-cluster state: it holds the issuer.
        let cluster = full_state()
            .to_toml()
            .replace("version = 2", "version = 1")
            .replace("mode = \"cluster\"\n", "");
        assert!(!cluster.contains("mode = \"cluster\""), "{cluster}");
        let state = parse(&cluster).unwrap();
        assert_eq!((state.version, state.scope), (1, Some(Scope::Cluster)));
        // A v1 day-2 state: roles only; the provider comes from their trust policies.
        let roles = one_role_text().replace("version = 2", "version = 1");
        let state = parse(&roles).unwrap();
        assert_eq!(
            state.scope,
            Some(Scope::Roles {
                identity_provider_arn:
                    "arn:aws:iam::123456789012:oidc-provider/prod-east-oidc.s3.us-east-2.amazonaws.com"
                        .into(),
                request_set: None,
            })
        );
        // Saved again, it is a version 2 file that says so.
        let text = state.to_toml();
        assert!(text.starts_with("version = 2\n"), "{text}");
        assert!(
            text.contains("mode = \"roles\"\nidentity_provider_arn = "),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap().scope, state.scope);
        // An empty v1 state: nothing to infer from.
        let empty = State::new(CLUSTER)
            .to_toml()
            .replace("version = 2", "version = 1");
        assert_eq!(parse(&empty).unwrap().scope, None);
    }

    #[test]
    fn a_roles_scope_round_trips_and_bad_modes_are_refused() {
        let mut state = State::new(CLUSTER);
        state.scope = Some(Scope::Roles {
            identity_provider_arn: "arn:aws:iam::123456789012:oidc-provider/x".into(),
            request_set: Some("team-a".into()),
        });
        let text = state.to_toml();
        assert!(text.contains("request_set = \"team-a\""), "{text}");
        assert_eq!(parse(&text).unwrap(), state);
        let msg = parse_err(&text.replace("mode = \"roles\"", "mode = \"some\""));
        assert!(msg.contains("mode: `some` is neither"), "{msg}");
        let msg = parse_err(&text.replace("mode = \"roles\"", "mode = \"cluster\""));
        assert!(msg.contains("a `cluster` state has no"), "{msg}");
        let msg = parse_err(&text.replace("mode = \"roles\"\n", ""));
        assert!(msg.contains("mode: missing"), "{msg}");
        let msg = parse_err(&text.replace("identity_provider_arn = ", "x = "));
        assert!(msg.contains("unknown field `x`"), "{msg}");
    }

    #[test]
    fn parse_rejects_malformed_toml_naming_file_and_line() {
        let text = "version = 1\nserial = 0\nlineage = \"x\"\ncluster = \"c\n";
        let msg = parse_err(text);
        assert!(
            msg.starts_with("state/prod-east.toml: line 4, column "),
            "{msg}"
        );
        let msg = parse_err("");
        assert!(msg.contains("missing field `version`"), "{msg}");
        let msg = parse_err("version = \"1\"");
        assert!(msg.contains("version: expected an integer"), "{msg}");
    }

    #[test]
    fn parse_rejects_unknown_fields() {
        let text = one_role_text().replace("serial = 0\n", "serial = 0\nserials = 1\n");
        let msg = parse_err(&text);
        assert!(
            msg.contains("line 3") && msg.contains("unknown field `serials`"),
            "{msg}"
        );

        let text = one_role_text().replace(
            "kind = \"iam_role\"\n",
            "kind = \"iam_role\"\nname = \"x\"\n",
        );
        let msg = parse_err(&text);
        assert!(msg.contains("unknown field `name`"), "{msg}");
    }

    #[test]
    fn parse_rejects_kind_that_disagrees_with_id() {
        let text = one_role_text().replace("kind = \"iam_role\"", "kind = \"s3_bucket\"");
        let msg = parse_err(&text);
        assert!(
            msg.contains("resources[0] (iam_role.prod-east-openshift-ingress-operator-cloud-credentials): kind: `s3_bucket` does not match"),
            "{msg}"
        );
        let text = one_role_text().replace("kind = \"iam_role\"", "kind = \"iam_thing\"");
        assert!(parse_err(&text).contains("kind: unknown resource kind `iam_thing`"));
    }

    #[test]
    fn parse_rejects_bad_attributes_for_the_kind() {
        // Missing field.
        let text = one_role_text().replace("arn = ", "not_arn = ");
        let msg = parse_err(&text);
        assert!(msg.contains("resources[0] (iam_role."), "{msg}");
        assert!(msg.contains("attributes: missing field `arn`"), "{msg}");
        // Unknown field the spec would silently drop.
        let text = one_role_text().replace("arn = ", "colour = \"blue\"\narn = ");
        assert!(parse_err(&text).contains("attributes.colour: unknown field"));
        // Wrong type, and a policy that is not JSON.
        let text = one_role_text().replace("name = \"prod", "name = 7\nx = \"prod");
        assert!(parse_err(&text).contains("attributes.name: invalid type: integer"));
        let text = one_role_text().replace("trust_policy = '{", "trust_policy = '{{");
        assert!(
            parse_err(&text).contains(
                "attributes.trust_policy: not a JSON policy document: key must be a string"
            )
        );
        // Attributes of another kind under this kind.
        let bucket = full_state()
            .resources
            .into_iter()
            .find(|(id, _)| id.kind == ResourceKind::S3Bucket)
            .unwrap();
        let mut state = State::new(CLUSTER);
        state.resources.insert(bucket.0, bucket.1);
        let text = state
            .to_toml()
            .replace("id = \"s3_bucket.", "id = \"iam_role.")
            .replace("kind = \"s3_bucket\"", "kind = \"iam_role\"");
        assert!(parse_err(&text).contains("attributes: missing field"));
    }

    #[test]
    fn parse_rejects_bad_ids_and_duplicates() {
        let text = one_role_text().replace("id = \"iam_role.", "id = \"iam_role");
        assert!(parse_err(&text).contains("resources[0]: id: "));
        let text = one_role_text().replace(
            "depends_on = [\"iam_oidc_provider.",
            "depends_on = [\"nonsense\", \"iam_oidc_provider.",
        );
        assert!(parse_err(&text).contains("depends_on[0]: `nonsense` is not a resource id"));
        let text = one_role_text();
        let resource = &text[text.find("[[resources]]").unwrap()..];
        let msg = parse_err(&format!("{text}\n{resource}"));
        assert!(msg.contains("resources[1] (iam_role.") && msg.contains("appears more than once"));
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
            .args(["state::tests::hold_lock_helper", "--exact", "--nocapture"])
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

    #[test]
    fn the_lock_holder_is_named_from_the_environment_or_the_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nci:x:1001:1001::/home/ci:/bin/sh\n";
        let env = |user: Option<&str>, logname: Option<&str>| {
            let (user, logname) = (user.map(String::from), logname.map(String::from));
            move |k: &str| match k {
                "USER" => user.clone(),
                "LOGNAME" => logname.clone(),
                _ => None,
            }
        };
        assert_eq!(
            user_name(env(Some("alice"), Some("bob")), passwd, 1001),
            "alice"
        );
        assert_eq!(user_name(env(Some(""), Some("bob")), passwd, 1001), "bob");
        assert_eq!(user_name(env(None, None), passwd, 1001), "ci");
        assert_eq!(user_name(env(None, None), passwd, 0), "root");
        assert_eq!(user_name(env(None, None), passwd, 4242), "uid 4242");
        // This process: never the old `unknown`.
        let me = LockInfo::current("plan");
        assert!(!me.who.is_empty() && me.who != "unknown", "{}", me.who);
    }

    #[test]
    fn a_bad_policy_in_the_state_names_its_attribute() {
        let text = one_role_text();
        let start = text.find("trust_policy = ").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        let bad = format!(
            "{}trust_policy = '{{not json'{}",
            &text[..start],
            &text[end..]
        );
        let msg = parse_err(&bad);
        assert!(
            msg.contains("attributes.trust_policy: not a JSON policy document: "),
            "{msg}"
        );
        // A missing attribute has no path of its own: the table is named.
        let start = text.find("description = ").unwrap();
        let end = start + text[start..].find('\n').unwrap() + 1;
        let msg = parse_err(&format!("{}{}", &text[..start], &text[end..]));
        assert!(
            msg.contains("attributes: missing field `description`"),
            "{msg}"
        );
    }
}
