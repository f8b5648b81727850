//! The provider seam: the only door to the outside world, shaped like the lifecycle.
//!
//! `read`, `create`, `update`, `delete` per resource, plus `list` (names only) for the
//! discovery of what exists but is not in the state, and `pacing` (how a provider slows
//! down for a throttling service) for progress. Everything behind it does I/O;
//! everything in front of it is pure. Implementations: `aws` (the real one, also used
//! against the emulator) and `fake` (in memory, with fault injection; a test double behind
//! the `test-support` feature). Local files are
//! handled by `local` for both, so the fake only fakes AWS, and a CloudFront distribution
//! is deleted by `distribution_delete` for both. Must not know plans or graphs.

use std::future::Future;

use crate::resource::{Resource, ResourceId, Spec, Tags};

pub mod aws;
pub mod distribution_delete;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod local;

/// Why a provider call failed. The executor branches on it.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The resource exists but is not ours (no ownership tag, not in state).
    #[error("{id}: {message}")]
    NotOwned {
        /// The resource.
        id: ResourceId,
        /// What we found.
        message: String,
    },
    /// The call failed; `message` carries the service's error code and text.
    #[error("{id}: {operation}: {message}")]
    Api {
        /// The resource.
        id: ResourceId,
        /// The API operation (`CreateRole`).
        operation: String,
        /// Error code and message from the service.
        message: String,
    },
    /// A local file operation failed.
    #[error("{id}: {path}: {source}")]
    Io {
        /// The resource.
        id: ResourceId,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The credentials' account could not be found (STS GetCallerIdentity failed): no
    /// resource is involved, so the message names the call instead.
    #[error(
        "cannot tell which AWS account the credentials belong to (STS GetCallerIdentity): {message}"
    )]
    Account {
        /// Why, from the SDK.
        message: String,
    },
    /// IAM's account summary could not be read (GetAccountSummary failed).
    #[error("cannot read the account's IAM summary (GetAccountSummary): {message}")]
    Summary {
        /// Why, from the SDK.
        message: String,
    },
    /// The input cannot be applied (a value still unknown, a missing key).
    #[error("{id}: {message}")]
    Invalid {
        /// The resource.
        id: ResourceId,
        /// What is wrong.
        message: String,
    },
}

impl ProviderError {
    /// Creating `id` found it taken by a resource that is not the cluster's
    /// ([`crate::ownership`]): neither adopted nor overwritten. `what` names its kind
    /// (`bucket`, `role`); `wanted` are the tags stsform wants on it.
    pub fn not_owned(id: &ResourceId, what: &str, wanted: &Tags) -> ProviderError {
        ProviderError::NotOwned {
            id: id.clone(),
            message: format!(
                "the {what} exists but carries no ownership tag for {} and is not in the state",
                crate::ownership::owner_name(wanted)
            ),
        }
    }

    /// Refusal to delete a resource that lacks the cluster's ownership tag (it may be
    /// shared, or someone else's).
    pub fn delete_refused(id: &ResourceId, what: &str, wanted: &Tags) -> ProviderError {
        ProviderError::NotOwned {
            id: id.clone(),
            message: format!(
                "the {what} carries no ownership tag for {}; refusing to delete it",
                crate::ownership::owner_name(wanted)
            ),
        }
    }
}

/// Result of a provider call.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// What [`Provider::list`] lists: names only; `read` gives the attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// IAM roles whose names start with `prefix` (ListRoles, every page; the prefix is
    /// applied to each page, as IAM cannot filter by name).
    Roles {
        /// Name prefix (`<cluster>-`).
        prefix: String,
    },
    /// ARNs of every IAM OIDC provider in the account (ListOpenIDConnectProviders, one
    /// call: the API is not paginated).
    OidcProviders,
    /// Keys of every object in a bucket (ListObjectsV2, every page); none if it is gone.
    Objects {
        /// Bucket name.
        bucket: String,
        /// Its region.
        region: String,
    },
    /// Names of a role's inline policies (ListRolePolicies); none if the role is gone.
    InlinePolicies {
        /// Role name.
        role: String,
    },
    /// ARNs of the managed policies attached to a role (ListAttachedRolePolicies); none
    /// if the role is gone.
    AttachedPolicies {
        /// Role name.
        role: String,
    },
    /// Ids of the CloudFront distributions with an origin at `origin_domain`
    /// (ListDistributions, every page: the summaries name the origins, so no distribution
    /// of the account needs a call of its own).
    Distributions {
        /// The bucket's regional endpoint (`<bucket>.s3.<region>.<dns suffix>`).
        origin_domain: String,
    },
    /// Ids of the CloudFront Origin Access Controls named `name` (ListOriginAccessControls,
    /// every page; names are unique in an account).
    OriginAccessControls {
        /// OAC name.
        name: String,
    },
}

impl Listing {
    /// The resource (or pattern) a listing error is reported against.
    pub fn id(&self) -> ResourceId {
        use crate::resource::ResourceKind;
        match self {
            Listing::Roles { prefix } => {
                ResourceId::new(ResourceKind::IamRole, format!("{prefix}*"))
            }
            Listing::OidcProviders => ResourceId::new(ResourceKind::IamOidcProvider, "*"),
            Listing::Objects { bucket, .. } => {
                ResourceId::new(ResourceKind::S3Object, format!("{bucket}/*"))
            }
            Listing::InlinePolicies { role } | Listing::AttachedPolicies { role } => {
                ResourceId::new(ResourceKind::IamRole, role)
            }
            Listing::Distributions { .. } => {
                ResourceId::new(ResourceKind::CloudFrontDistribution, "*")
            }
            Listing::OriginAccessControls { name } => {
                ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, name)
            }
        }
    }
}

/// The lifecycle of one resource. Implementations are shared as `Arc<P>` across tasks.
pub trait Provider: Send + Sync + 'static {
    /// The AWS account the credentials act in (ARNs are built from it).
    fn account_id(&self) -> impl Future<Output = ProviderResult<String>> + Send;

    /// IAM's account summary (GetAccountSummary, one call): the roles and identity
    /// providers the account holds and its quotas, which the review compares with what a
    /// plan creates.
    fn account_summary(
        &self,
    ) -> impl Future<Output = ProviderResult<crate::review::AccountSummary>> + Send;

    /// Live attributes of `id`, or `None` if it does not exist. `recorded` is what the
    /// state holds (it says where to look: bucket region, file path).
    fn read(
        &self,
        id: &ResourceId,
        recorded: &Spec,
    ) -> impl Future<Output = ProviderResult<Option<Spec>>> + Send;

    /// Makes the resource; returns its live attributes.
    fn create(&self, resource: &Resource) -> impl Future<Output = ProviderResult<Spec>> + Send;

    /// Changes the resource in place from `before` to `resource.spec`.
    fn update(
        &self,
        resource: &Resource,
        before: &Spec,
    ) -> impl Future<Output = ProviderResult<Spec>> + Send;

    /// Deletes the resource; deleting what is already gone succeeds. A role is emptied
    /// first: its managed policies detached and every inline policy deleted.
    fn delete(
        &self,
        id: &ResourceId,
        before: &Spec,
    ) -> impl Future<Output = ProviderResult<()>> + Send;

    /// Names of what exists (roles, providers, objects, a role's policies), sorted.
    fn list(&self, listing: &Listing) -> impl Future<Output = ProviderResult<Vec<String>>> + Send;

    /// How the provider paces its calls as the service throttles them (`pacing`), for
    /// progress; `None` when it does not pace.
    fn pacing(&self) -> Option<tokio::sync::watch::Receiver<crate::pacing::Pacing>> {
        None
    }
}

/// STS's web-identity exchange, for `verify`: the last step of a pod's path to AWS.
pub trait Sts: Send + Sync {
    /// Exchanges `token` for the role's credentials and returns the assumed-role ARN;
    /// the credentials are dropped. `session` names the session (CloudTrail shows it).
    fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        token: &str,
        session: &str,
    ) -> impl Future<Output = ProviderResult<String>> + Send;
}

/// A provider for `plan --refresh=false`: any call is a bug, and says so instead of
/// reaching for the network.
pub struct Offline;

impl Offline {
    fn refuse<T>(id: &ResourceId) -> ProviderResult<T> {
        Err(ProviderError::Invalid {
            id: id.clone(),
            message: "offline plan: no provider calls are allowed".into(),
        })
    }
}

impl Provider for Offline {
    async fn account_id(&self) -> ProviderResult<String> {
        Err(ProviderError::Account {
            message: "offline plan: no provider calls are allowed".into(),
        })
    }
    async fn account_summary(&self) -> ProviderResult<crate::review::AccountSummary> {
        Err(ProviderError::Summary {
            message: "offline plan: no provider calls are allowed".into(),
        })
    }
    async fn read(&self, id: &ResourceId, _: &Spec) -> ProviderResult<Option<Spec>> {
        Offline::refuse(id)
    }
    async fn create(&self, r: &Resource) -> ProviderResult<Spec> {
        Offline::refuse(&r.id)
    }
    async fn update(&self, r: &Resource, _: &Spec) -> ProviderResult<Spec> {
        Offline::refuse(&r.id)
    }
    async fn delete(&self, id: &ResourceId, _: &Spec) -> ProviderResult<()> {
        Offline::refuse(id)
    }
    async fn list(&self, listing: &Listing) -> ProviderResult<Vec<String>> {
        Offline::refuse(&listing.id())
    }
}
