//! The real provider: AWS S3, IAM, STS and CloudFront through the AWS SDK for Rust.
//!
//! Its clients come from the one SDK configuration in `sdk` (with `state::s3`, the only
//! other code that imports `aws_sdk_*`); no SDK type leaves this module. One file per
//! kind, plus `listing` (names, every page; and what this run listed of each role's
//! policies, so a delete empties a role without listing it again) and `tags` (tag
//! conversion). This file owns the door every call goes through (counted, and paced per
//! service by a `pacing::Pacer` that the clients report each attempt to), the pagination
//! loop, error mapping (the answers that mean "not there" included) and the
//! eventual-consistency retry helper. Whether a resource found in AWS is the cluster's is
//! `ownership`'s rule.

mod cloudfront_distribution;
mod cloudfront_oac;
mod iam_oidc_provider;
mod iam_role;
mod iam_role_policy;
mod listing;
mod s3_bucket;
mod s3_bucket_policy;
mod s3_object;
mod tags;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::local::LocalFiles;
use super::{Listing, Provider, ProviderError, ProviderResult, Sts};
use crate::keypair::PrivateKey;
use crate::ownership::is_owned;
use crate::pacing::{Pacer, Pacing, Service};
use crate::resource::{Resource, ResourceId, ResourceKind, Spec, Tags};
use crate::sdk::{Sdk, describe, is, status};

/// How many SDK calls the provider has made (a retried call counts once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiCalls {
    /// Get/List/Head calls (and STS AssumeRole*, which change nothing).
    pub reads: usize,
    /// Every other call (create, put, update, tag, delete).
    pub writes: usize,
}

impl ApiCalls {
    /// The calls made since `earlier` was taken.
    pub fn since(self, earlier: ApiCalls) -> ApiCalls {
        ApiCalls {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

/// The provider that talks to AWS (or to an emulator named by `AWS_ENDPOINT_URL`).
pub struct AwsProvider {
    region: String,
    partition: &'static str,
    sdk: Sdk,
    s3: aws_sdk_s3::Client,
    /// S3 clients for buckets recorded in another region (a region change replaces the
    /// bucket, and the old one must be read and deleted where it lives).
    s3_other: Mutex<BTreeMap<String, aws_sdk_s3::Client>>,
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    cloudfront: aws_sdk_cloudfront::Client,
    local: LocalFiles,
    reads: AtomicUsize,
    writes: AtomicUsize,
    /// How many calls run at once, per service.
    pacer: Arc<Pacer>,
    /// What this run knows of each role's policies (see `listing`).
    role_policies: Mutex<BTreeMap<String, listing::RolePolicies>>,
    /// The tags of the roles, OIDC providers and buckets this run read, as read: what a
    /// delete judges ownership on, so that it does not read them again. Forgotten when
    /// the run changes the resource.
    seen: Mutex<BTreeMap<ResourceId, Tags>>,
}

/// Calls at once when no `--parallelism` is given (the CLI's default).
pub const DEFAULT_PARALLELISM: usize = 10;

/// `STSFORM_PACING=fixed` keeps every service at `--parallelism` whatever AWS answers:
/// for the benchmark's comparison of fixed and adaptive concurrency, not for users.
fn adaptive_pacing() -> bool {
    std::env::var("STSFORM_PACING").map_or(true, |v| v != "fixed")
}

impl AwsProvider {
    /// Loads credentials and endpoints the standard way (env, profile, SSO, IMDS…) for
    /// `region`; `key` is the signing key local writes may use. Makes no API call. At most
    /// [`DEFAULT_PARALLELISM`] calls at once.
    pub async fn connect(region: &str, key: Option<PrivateKey>) -> anyhow::Result<AwsProvider> {
        AwsProvider::connect_paced(region, key, DEFAULT_PARALLELISM).await
    }

    /// [`AwsProvider::connect`] with at most `parallelism` calls at once (all services
    /// together, and each service while AWS does not throttle it; see `pacing`).
    pub async fn connect_paced(
        region: &str,
        key: Option<PrivateKey>,
        parallelism: usize,
    ) -> anyhow::Result<AwsProvider> {
        anyhow::ensure!(!region.is_empty(), "no AWS region given");
        let sdk = Sdk::load(Some(region)).await?;
        let partition = crate::settings::Region::parse(region).map_or("aws", |r| r.partition);
        let pacer = Arc::new(Pacer::new(parallelism, adaptive_pacing()));
        Ok(AwsProvider {
            region: region.to_string(),
            partition,
            s3: sdk.s3_paced(region, &pacer),
            s3_other: Mutex::default(),
            iam: sdk.iam_paced(&pacer),
            sts: sdk.sts_paced(&pacer),
            cloudfront: sdk.cloudfront_paced(&pacer),
            sdk,
            local: LocalFiles::new(key),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            pacer,
            role_policies: Mutex::default(),
            seen: Mutex::default(),
        })
    }

    /// How calls are paced now, and how many attempts AWS throttled.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// The same provider, reading and writing local files at paths relative to the
    /// settings `base` (as specs record them, `crate::paths`).
    pub fn with_local_base(self, base: &std::path::Path) -> AwsProvider {
        AwsProvider {
            local: self.local.with_base(base),
            ..self
        }
    }

    /// The endpoint override in effect (`AWS_ENDPOINT_URL[_S3]`), if any.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.sdk.s3_endpoint()
    }

    /// Whether the run talks to an emulator instead of AWS (see `sdk`).
    pub fn emulated(&self) -> bool {
        self.sdk.emulated()
    }

    /// SDK calls made so far.
    pub fn api_calls(&self) -> ApiCalls {
        ApiCalls {
            reads: self.reads.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
        }
    }

    /// Counts `operation` and runs it once `service`'s window has room (the SDK's
    /// retries of it included). Every SDK call goes through here.
    async fn call<T, E>(
        &self,
        service: Service,
        operation: &str,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let is_read = ["Get", "List", "Head", "AssumeRole"]
            .iter()
            .any(|p| operation.starts_with(p));
        let counter = if is_read { &self.reads } else { &self.writes };
        let permit = self.pacer.acquire(service).await;
        counter.fetch_add(1, Ordering::SeqCst);
        permit.around(request).await
    }

    /// [`AwsProvider::call`] to IAM.
    async fn iam_call<T, E>(
        &self,
        operation: &str,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.call(Service::Iam, operation, request).await
    }

    /// [`AwsProvider::call`] to CloudFront.
    async fn cloudfront_call<T, E>(
        &self,
        operation: &str,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.call(Service::CloudFront, operation, request).await
    }

    /// [`AwsProvider::call`] to S3.
    async fn s3_call<T, E>(
        &self,
        operation: &str,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.call(Service::S3, operation, request).await
    }

    /// Every page of a listing: `fetch(token)` asks for one page (the first with `None`)
    /// and returns its items and the next page's token, `None` after the last page (the
    /// caller reads IAM's `IsTruncated`/`Marker` or S3's continuation token). Each page
    /// is one counted call.
    async fn every_page<T, E, F, Fut>(
        &self,
        service: Service,
        operation: &str,
        mut fetch: F,
    ) -> Result<Vec<T>, E>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>), E>>,
    {
        let mut items = Vec::new();
        let mut token = None;
        loop {
            let (page, next) = self.call(service, operation, fetch(token.take())).await?;
            items.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Remembers the tags of `id` as just read (`None`: not there).
    fn saw(&self, id: &ResourceId, tags: Option<&Tags>) {
        let mut seen = self.seen.lock().expect("seen lock");
        match tags {
            Some(tags) => seen.insert(id.clone(), tags.clone()),
            None => seen.remove(id),
        };
    }

    /// The tags of `id` as this run last read them, unless it changed `id` since.
    fn seen(&self, id: &ResourceId) -> Option<Tags> {
        self.seen.lock().expect("seen lock").get(id).cloned()
    }

    /// The S3 client for a bucket in `region`.
    fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        if region == self.region || region.is_empty() {
            return self.s3.clone();
        }
        let mut others = self.s3_other.lock().expect("s3 client cache poisoned");
        others
            .entry(region.to_string())
            .or_insert_with(|| self.sdk.s3_paced(region, &self.pacer))
            .clone()
    }
}

/// IAM's answer for a role, policy or provider that does not exist.
const NO_SUCH_ENTITY: &[&str] = &["NoSuchEntity"];
/// S3's answers for a bucket that does not exist (`404`: a bodiless HEAD-style answer).
const NO_SUCH_BUCKET: &[&str] = &["NoSuchBucket", "404"];

/// A call's result, with the answers that mean "it is not there" (`gone`: error codes,
/// `"404"` for a bare HTTP 404) as `None` and any other error mapped for `id`: how a read
/// finds nothing, and how a delete of what is already gone succeeds.
fn unless_gone<T, E>(
    id: &ResourceId,
    operation: &str,
    result: Result<T, SdkError<E>>,
    gone: &[&str],
) -> ProviderResult<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if is(&e, gone) || (gone.contains(&"404") && status(&e) == Some(404)) => Ok(None),
        Err(e) => Err(api_error(id, operation, &e)),
    }
}

/// Maps an SDK error to the provider's error for `id`.
fn api_error<E>(id: &ResourceId, operation: &str, err: &SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ProviderError::Api {
        id: id.clone(),
        operation: operation.to_string(),
        message: describe(err),
    }
}

fn not_owned(id: &ResourceId, what: &str, wanted: &Tags) -> ProviderError {
    ProviderError::not_owned(id, what, wanted)
}

fn refuse_delete(id: &ResourceId, what: &str, wanted: &Tags) -> ProviderError {
    ProviderError::delete_refused(id, what, wanted)
}

/// First wait of `retry_while`; it doubles up to `MAX_DELAY`.
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(8);
/// Budget for IAM to learn about a principal created seconds ago (Terraform waits 2 min;
/// in practice propagation takes seconds).
const PROPAGATION: Duration = Duration::from_secs(60);
/// Budget for a just-created parent (role, bucket) to become visible to its children.
const NEW_PARENT: Duration = Duration::from_secs(15);

/// Runs `attempt` until it succeeds, fails with an error `retryable` rejects, or
/// `budget` is spent. For IAM/S3 eventual consistency, which the SDK never retries.
async fn retry_while<T, E, F, Fut>(
    budget: Duration,
    retryable: impl Fn(&E) -> bool,
    attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_from(FIRST_DELAY, budget, retryable, attempt).await
}

/// `retry_while` with the first wait as a parameter (tests use milliseconds).
async fn retry_from<T, E, F, Fut>(
    first_delay: Duration,
    budget: Duration,
    retryable: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // tokio's clock, not std's: the same in a run, and a test can pause it so the
    // budget arithmetic does not depend on how loaded the machine is.
    let start = tokio::time::Instant::now();
    let mut delay = first_delay;
    loop {
        match attempt().await {
            Err(e) if retryable(&e) && start.elapsed() + delay <= budget => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
            other => return other,
        }
    }
}

impl Provider for AwsProvider {
    async fn account_id(&self) -> ProviderResult<String> {
        let error = |message: String| ProviderError::Account { message };
        let out = self
            .call(
                Service::Sts,
                "GetCallerIdentity",
                self.sts.get_caller_identity().send(),
            )
            .await
            .map_err(|e| error(describe(&e)))?;
        out.account()
            .map(str::to_string)
            .ok_or_else(|| error("the response names no account".into()))
    }

    async fn account_summary(&self) -> ProviderResult<crate::review::AccountSummary> {
        use aws_sdk_iam::types::SummaryKeyType as Key;
        let out = self
            .iam_call("GetAccountSummary", self.iam.get_account_summary().send())
            .await
            .map_err(|e| ProviderError::Summary {
                message: describe(&e),
            })?;
        let map = out.summary_map();
        // Negative figures do not occur; one would mean "unknown", as a missing key does.
        let get = |key: Key| {
            map.and_then(|m| m.get(&key))
                .and_then(|v| u64::try_from(*v).ok())
        };
        Ok(crate::review::AccountSummary {
            roles: get(Key::Roles),
            roles_quota: get(Key::RolesQuota),
            providers: get(Key::Providers),
            assume_role_policy_size_quota: get(Key::AssumeRolePolicySizeQuota),
        })
    }

    async fn read(&self, id: &ResourceId, recorded: &Spec) -> ProviderResult<Option<Spec>> {
        let live = match recorded {
            Spec::KeyPair(_) | Spec::File(_) => return self.local.read(id, recorded),
            Spec::S3Bucket(b) => Box::pin(self.read_bucket(id, b)).await?.map(Spec::S3Bucket),
            Spec::S3BucketPolicy(p) => Box::pin(self.read_bucket_policy(id, p))
                .await?
                .map(Spec::S3BucketPolicy),
            Spec::S3Object(o) => Box::pin(self.read_object(id, o)).await?.map(Spec::S3Object),
            Spec::CloudFrontOriginAccessControl(o) => Box::pin(self.read_oac(id, o))
                .await?
                .map(Spec::CloudFrontOriginAccessControl),
            Spec::CloudFrontDistribution(d) => Box::pin(self.read_distribution(id, d))
                .await?
                .map(Spec::CloudFrontDistribution),
            Spec::IamOidcProvider(p) => Box::pin(self.read_oidc_provider(id, p))
                .await?
                .map(Spec::IamOidcProvider),
            Spec::IamRole(r) => Box::pin(self.read_role(id, r)).await?.map(Spec::IamRole),
            Spec::IamRolePolicy(p) => Box::pin(self.read_role_policy(id, p))
                .await?
                .map(Spec::IamRolePolicy),
        };
        match &live {
            Some(Spec::S3Bucket(b)) => self.saw(id, Some(&b.tags)),
            Some(Spec::IamOidcProvider(p)) => self.saw(id, Some(&p.tags)),
            Some(Spec::IamRole(r)) => self.saw(id, Some(&r.tags)),
            None => self.saw(id, None),
            Some(_) => {}
        }
        Ok(live)
    }

    async fn create(&self, resource: &Resource) -> ProviderResult<Spec> {
        let id = &resource.id;
        known(resource)?;
        self.saw(id, None);
        Ok(match &resource.spec {
            Spec::KeyPair(_) | Spec::File(_) => return self.local.write(resource),
            Spec::S3Bucket(b) => Spec::S3Bucket(Box::pin(self.create_bucket(id, b)).await?),
            Spec::S3BucketPolicy(p) => Spec::S3BucketPolicy(self.put_bucket_policy(id, p).await?),
            Spec::S3Object(o) => Spec::S3Object(self.put_object(id, o).await?),
            Spec::CloudFrontOriginAccessControl(o) => {
                Spec::CloudFrontOriginAccessControl(Box::pin(self.create_oac(id, o)).await?)
            }
            Spec::CloudFrontDistribution(d) => {
                Spec::CloudFrontDistribution(Box::pin(self.create_distribution(id, d)).await?)
            }
            Spec::IamOidcProvider(p) => {
                Spec::IamOidcProvider(Box::pin(self.create_oidc_provider(id, p)).await?)
            }
            Spec::IamRole(r) => Spec::IamRole(Box::pin(self.create_role(id, r)).await?),
            Spec::IamRolePolicy(p) => Spec::IamRolePolicy(self.put_role_policy(id, p).await?),
        })
    }

    async fn update(&self, resource: &Resource, before: &Spec) -> ProviderResult<Spec> {
        let id = &resource.id;
        known(resource)?;
        self.saw(id, None);
        Ok(match (&resource.spec, before) {
            (Spec::KeyPair(_) | Spec::File(_), _) => return self.local.update(resource, before),
            (Spec::S3Bucket(b), Spec::S3Bucket(old)) => {
                Spec::S3Bucket(Box::pin(self.update_bucket(id, b, old)).await?)
            }
            (Spec::S3BucketPolicy(p), _) => {
                Spec::S3BucketPolicy(self.put_bucket_policy(id, p).await?)
            }
            (Spec::S3Object(o), _) => Spec::S3Object(self.put_object(id, o).await?),
            (Spec::CloudFrontOriginAccessControl(o), Spec::CloudFrontOriginAccessControl(old)) => {
                Spec::CloudFrontOriginAccessControl(Box::pin(self.update_oac(id, o, old)).await?)
            }
            (Spec::CloudFrontDistribution(d), Spec::CloudFrontDistribution(old)) => {
                Spec::CloudFrontDistribution(Box::pin(self.update_distribution(id, d, old)).await?)
            }
            (Spec::IamOidcProvider(p), Spec::IamOidcProvider(old)) => {
                Spec::IamOidcProvider(Box::pin(self.update_oidc_provider(id, p, old)).await?)
            }
            (Spec::IamRole(r), Spec::IamRole(old)) => {
                Spec::IamRole(Box::pin(self.update_role(id, r, old)).await?)
            }
            (Spec::IamRolePolicy(p), _) => Spec::IamRolePolicy(self.put_role_policy(id, p).await?),
            (spec, before) => {
                return Err(ProviderError::Invalid {
                    id: id.clone(),
                    message: format!(
                        "cannot update a {} from a recorded {}",
                        spec.kind(),
                        before.kind()
                    ),
                });
            }
        })
    }

    // Each kind's future is boxed: side by side in one match they would make every call's
    // future as large as the largest (CloudFront's delete polls), too large for a stack.
    async fn delete(&self, id: &ResourceId, before: &Spec) -> ProviderResult<()> {
        match before {
            Spec::KeyPair(_) | Spec::File(_) => self.local.delete(id, before),
            Spec::S3Bucket(b) => Box::pin(self.delete_bucket(id, b)).await,
            Spec::S3BucketPolicy(p) => Box::pin(self.delete_bucket_policy(id, p)).await,
            Spec::S3Object(o) => Box::pin(self.delete_object(id, o)).await,
            Spec::CloudFrontOriginAccessControl(o) => Box::pin(self.delete_oac(id, o)).await,
            Spec::CloudFrontDistribution(d) => Box::pin(self.delete_distribution(id, d)).await,
            Spec::IamOidcProvider(p) => Box::pin(self.delete_oidc_provider(id, p)).await,
            Spec::IamRole(r) => Box::pin(self.delete_role(id, r)).await,
            Spec::IamRolePolicy(p) => Box::pin(self.delete_role_policy(id, p)).await,
        }
    }

    async fn list(&self, listing: &Listing) -> ProviderResult<Vec<String>> {
        self.list_names(listing).await
    }

    fn pacing(&self) -> Option<tokio::sync::watch::Receiver<Pacing>> {
        Some(self.pacer.watch())
    }
}

impl Sts for AwsProvider {
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        token: &str,
        session: &str,
    ) -> ProviderResult<String> {
        let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let id = ResourceId::new(ResourceKind::IamRole, role);
        // The STS client honours `AWS_ENDPOINT_URL[_STS]` like the IAM client does.
        let out = self
            .call(
                Service::Sts,
                "AssumeRoleWithWebIdentity",
                self.sts
                    .assume_role_with_web_identity()
                    .role_arn(role_arn)
                    .web_identity_token(token)
                    .role_session_name(session)
                    .duration_seconds(900)
                    .send(),
            )
            .await
            .map_err(|e| api_error(&id, "AssumeRoleWithWebIdentity", &e))?;
        out.assumed_role_user()
            .map(|u| u.arn().to_string())
            .ok_or_else(|| ProviderError::Api {
                id,
                operation: "AssumeRoleWithWebIdentity".into(),
                message: "the response names no assumed role".into(),
            })
    }
}

/// Refuses a resource that still waits for a value only apply learns (a late token): apply
/// fills those in before it calls the provider, so one left is a bug, and AWS must never
/// see the token.
fn known(resource: &Resource) -> ProviderResult<()> {
    let late = resource.spec.waits_for();
    if late.is_empty() {
        return Ok(());
    }
    Err(ProviderError::Invalid {
        id: resource.id.clone(),
        message: format!(
            "still waits for {}: apply fills it in once the resource that makes it exists",
            late.iter()
                .map(|l| l.token())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// A request the SDK's builder rejected (a required field missing): a bug, not AWS.
fn build_error(id: &ResourceId, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid {
        id: id.clone(),
        message: format!("cannot build the request: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the sleeps advance the clock exactly, so a loaded machine cannot
    // push an attempt past the budget (it used to fail under a full parallel test run).
    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_budget_and_on_other_errors() {
        let ms = Duration::from_millis;
        let mut attempts = 0;
        let result: Result<(), &str> = retry_from(
            ms(10),
            ms(100),
            |e| *e == "again",
            || {
                attempts += 1;
                async { Err("again") }
            },
        )
        .await;
        assert_eq!(result, Err("again"));
        // 10 + 20 + 40 = 70 ms of waits fit in 100 ms; the next 80 ms wait does not.
        assert_eq!(attempts, 4);

        let mut attempts = 0;
        let result: Result<(), &str> = retry_from(
            ms(10),
            ms(100),
            |e| *e == "again",
            || {
                attempts += 1;
                async { Err("fatal") }
            },
        )
        .await;
        assert_eq!((result, attempts), (Err("fatal"), 1));
    }
}
