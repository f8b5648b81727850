//! The state model: what stsform believes it created for one cluster, and what the state
//! manages (its [`Scope`]). Plain data: no I/O, no format (`format` reads and writes it).

use std::collections::BTreeMap;

use crate::resource::{ResourceId, ResourceKind, Spec};

/// The newest state format this build reads and the one it writes.
///
/// Version 2 added `mode`, `identity_provider_arn` and `request_set` (what the state
/// manages). Version 3 records local files' paths relative to the settings base instead
/// of the working directory ([`LocalPaths`], `crate::paths`). Older files still load
/// (a version 1 state's mode is inferred from its resources, older paths are anchored by
/// `paths::anchor`); each bump makes an older stsform say "written by a newer stsform"
/// instead of misreading the file.
pub const STATE_VERSION: u32 = 3;

/// Everything stsform recorded about one cluster's resources.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// Format version the state was read in; every save writes [`STATE_VERSION`].
    pub version: u32,
    /// Incremented by every [`super::StateFile::save`]; 0 for a state never saved.
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
    /// What the local files' recorded paths are relative to.
    pub local_paths: LocalPaths,
}

/// What the recorded paths of local files (key pair, manifests) are relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalPaths {
    /// The settings base (version 3 on): the same from any working directory.
    SettingsBase,
    /// The working directory of the run that wrote the state, which it did not record
    /// (versions 1 and 2); `paths::anchor` turns them into [`LocalPaths::SettingsBase`].
    WorkingDir,
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
            local_paths: LocalPaths::SettingsBase,
        }
    }
}

/// What a state without `mode` (version 1) manages, judged by what it holds: any part of
/// the issuer (key pair, bucket, documents, provider) makes it the whole cluster's; roles
/// alone make it a day-2 state trusting the provider their trust policies name. Nothing
/// to judge by (an empty state) leaves it open: the next run claims it.
pub(super) fn inferred_scope(resources: &BTreeMap<ResourceId, StateResource>) -> Option<Scope> {
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
