//! sdk: the one AWS SDK configuration every client is built from, the provider's and a
//! remote state's alike, and the SDK error helpers they share.
//!
//! Owns the endpoint and emulator rule (an endpoint override in
//! `AWS_ENDPOINT_URL[_S3|_IAM|_CLOUDFRONT]` means an emulator: S3 path-style addressing,
//! no thumbprint lookup, documents read through the emulator), retries ([`MAX_ATTEMPTS`] unless `AWS_MAX_ATTEMPTS` says
//! otherwise), per-attempt timeouts, and the one-line notice when an endpoint cannot be
//! reached (an SDK interceptor). Clients made for a [`Pacer`] also report how each attempt
//! went (throttled or not, as the SDK's own retry classifiers judge it) to it, so the
//! provider can slow down a service that throttles. With `provider::aws` and `state::s3`,
//! the only code that imports `aws_sdk_*`/`aws_config`; no SDK type leaves these three.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryReason,
};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use aws_smithy_types::retry::ErrorKind;

use crate::pacing::{Attempt, Pacer, Service};

/// SDK attempts per call. IAM is a low-TPS global service that throttles bursts; the
/// SDK's default of 3 gives up too early for an apply of dozens of roles. The standard
/// retry mode backs off (exponentially, with jitter) between them; a throttled call gives
/// its place in its `pacing` window up while it does, and takes it back for the retry, so
/// the pacer's windows and the SDK's backoff slow down different things (how many calls
/// run, when one call tries again) and never count one throttle twice.
pub const MAX_ATTEMPTS: u32 = 8;

/// Longest one HTTP attempt may take before the SDK abandons it and retries. The SDK's
/// defaults set only a 3.1 s connect timeout, so an answer that never comes (a response
/// lost on the way, a stuck middlebox) would hang apply forever with the state lock
/// held. IAM, STS and S3 answer every call stsform makes in well under a second; 30 s
/// leaves room for a slow link. `STSFORM_ATTEMPT_TIMEOUT_SECS` overrides it (the fault
/// tests use 2 s to stay fast).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The SDK's own default connect timeout, kept when setting the attempt timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// `ATTEMPT_TIMEOUT`, or the override in seconds from the environment.
fn attempt_timeout() -> anyhow::Result<Duration> {
    match std::env::var("STSFORM_ATTEMPT_TIMEOUT_SECS") {
        Err(_) => Ok(ATTEMPT_TIMEOUT),
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "STSFORM_ATTEMPT_TIMEOUT_SECS: `{v}` is not a positive number of seconds"
                )
            }),
    }
}

/// Variables that point the SDK at another endpoint than AWS's: an emulator (moto, MinIO).
pub const ENDPOINT_VARS: [&str; 4] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CLOUDFRONT",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_S3",
];

/// The emulator rule, from the environment (`env` reads a variable): the first non-empty
/// endpoint override among [`ENDPOINT_VARS`], unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
/// is `true` (the SDK then ignores them and talks to AWS). Empty values count as unset,
/// as in the SDK.
pub fn endpoint_override(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let ignored =
        env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if ignored {
        return None;
    }
    ENDPOINT_VARS
        .iter()
        .rev()
        .find_map(|name| env(name).filter(|v| !v.is_empty()))
}

/// The loaded SDK configuration and what it says about the endpoint; every client
/// stsform makes comes from here, so all of them retry and time out the same way.
pub struct Sdk {
    config: aws_config::SdkConfig,
    /// The S3 endpoint override in effect (`AWS_ENDPOINT_URL_S3`, else the general one).
    s3_endpoint: Option<String>,
    /// Any endpoint override for S3, IAM or CloudFront: the run talks to an emulator.
    emulator: Option<String>,
}

impl Sdk {
    /// The standard credential and endpoint chain (env, profile, SSO, IMDS…),
    /// [`MAX_ATTEMPTS`] attempts (`AWS_MAX_ATTEMPTS` when set), and [`ATTEMPT_TIMEOUT`]
    /// per attempt (a state save that
    /// hangs would hold the lock as surely as a provider call). `region` `None` takes the
    /// SDK's default region. Makes no API call.
    pub async fn load(region: Option<&str>) -> anyhow::Result<Sdk> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt_timeout()?)
                .build(),
        );
        // A retry setting on the loader would override the user's `AWS_MAX_ATTEMPTS`
        // (`AWS_MAX_ATTEMPTS=1` to fail fast in a script): the default chain reads it.
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none_or(|v| v.is_empty()) {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        }
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let config = loader.load().await;
        let env = |name: &str| std::env::var(name).ok();
        // aws-config resolves the per-service variable inside the S3 config builder but
        // offers no getter for it, so it is read here the same way.
        let ignored = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let s3_endpoint = env("AWS_ENDPOINT_URL_S3")
            .filter(|v| !v.is_empty() && !ignored)
            .or_else(|| config.endpoint_url().map(str::to_string));
        let emulator = endpoint_override(env).or_else(|| s3_endpoint.clone());
        Ok(Sdk {
            config,
            s3_endpoint,
            emulator,
        })
    }

    /// The region the configuration resolved, if any.
    pub fn region(&self) -> Option<String> {
        self.config.region().map(ToString::to_string)
    }

    /// The S3 endpoint override in effect (`AWS_ENDPOINT_URL[_S3]`), if any.
    pub fn s3_endpoint(&self) -> Option<&str> {
        self.s3_endpoint.as_deref()
    }

    /// Whether the run talks to an emulator instead of AWS (an endpoint override for S3,
    /// IAM or CloudFront): its issuer host is not served anywhere and its STS checks
    /// nothing.
    pub fn emulated(&self) -> bool {
        self.emulator.is_some()
    }

    /// An S3 client for buckets in `region`. Emulators (moto, MinIO) answer on one host:
    /// virtual-host style would ask DNS for `<bucket>.localhost`, so an endpoint override
    /// means path style. Real S3 keeps the default (virtual-host) addressing.
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.s3_config(region).build())
    }

    /// [`Sdk::s3`], reporting every attempt to `pacer`.
    pub fn s3_paced(&self, region: &str, pacer: &Arc<Pacer>) -> aws_sdk_s3::Client {
        let config = self
            .s3_config(region)
            .interceptor(PaceAttempts::new(pacer, Service::S3))
            .sleep_impl(PacedSleep::new(pacer));
        aws_sdk_s3::Client::from_conf(config.build())
    }

    fn s3_config(&self, region: &str) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::from(&self.config)
            .region(aws_sdk_s3::config::Region::new(region.to_string()))
            .force_path_style(self.s3_endpoint.is_some())
            .interceptor(UnreachableNotice::default())
    }

    /// The IAM client, reporting every attempt to `pacer`.
    pub fn iam_paced(&self, pacer: &Arc<Pacer>) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.config)
                .interceptor(UnreachableNotice::default())
                .interceptor(PaceAttempts::new(pacer, Service::Iam))
                .sleep_impl(PacedSleep::new(pacer))
                .build(),
        )
    }

    /// The CloudFront client (a private issuer's OAC and distribution), reporting every
    /// attempt to `pacer`. CloudFront is global: the SDK signs for its home region
    /// whatever region the configuration names.
    pub fn cloudfront_paced(&self, pacer: &Arc<Pacer>) -> aws_sdk_cloudfront::Client {
        aws_sdk_cloudfront::Client::from_conf(
            aws_sdk_cloudfront::config::Builder::from(&self.config)
                .interceptor(UnreachableNotice::default())
                .interceptor(PaceAttempts::new(pacer, Service::CloudFront))
                .sleep_impl(PacedSleep::new(pacer))
                .build(),
        )
    }

    /// The STS client (it honours `AWS_ENDPOINT_URL[_STS]` like the IAM client does),
    /// reporting every attempt to `pacer`.
    pub fn sts_paced(&self, pacer: &Arc<Pacer>) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.config)
                .interceptor(UnreachableNotice::default())
                .interceptor(PaceAttempts::new(pacer, Service::Sts))
                .sleep_impl(PacedSleep::new(pacer))
                .build(),
        )
    }
}

/// When the current attempt of a request was sent, and its level (kept in the request's config bag).
#[derive(Clone, Copy, Debug)]
struct AttemptSent(crate::pacing::Sent);

impl Storable for AttemptSent {
    type Storer = StoreReplace<Self>;
}

/// Tells a [`Pacer`] how each attempt of a service's calls went. Throttling is what the
/// SDK's retry classifiers say it is (the AWS error-code classifier's list: `Throttling`,
/// `SlowDown`, `RequestLimitExceeded`, `TooManyRequestsException`, …), run on the attempt
/// exactly as the retry strategy runs them, so pacing and retries agree on every answer.
#[derive(Debug)]
struct PaceAttempts {
    pacer: Arc<Pacer>,
    service: Service,
}

impl PaceAttempts {
    fn new(pacer: &Arc<Pacer>, service: Service) -> PaceAttempts {
        PaceAttempts {
            pacer: Arc::clone(pacer),
            service,
        }
    }
}

impl aws_sdk_s3::config::Intercept for PaceAttempts {
    fn name(&self) -> &'static str {
        "stsform::PaceAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        // A retry after a throttle takes its place back (see `pacing`) before its level
        // is taken: it is in flight again.
        if let Some(slot) = crate::pacing::current_slot() {
            self.pacer.step_in(&slot);
        }
        cfg.interceptor_state()
            .store_put(AttemptSent(self.pacer.sent(self.service)));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_sdk_s3::config::interceptors::FinalizerInterceptorContextRef<'_>,
        components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let Some(&AttemptSent(sent)) = cfg.load::<AttemptSent>() else {
            return Ok(());
        };
        let ctx = context.inner();
        let attempt = match ctx.output_or_error() {
            None => return Ok(()),
            Some(Ok(_)) => Attempt::Answered,
            Some(Err(_)) if ctx.response().is_none() => Attempt::Unanswered,
            Some(Err(_)) => {
                // As the retry strategy does: each classifier may refine the verdict of
                // those before it; a forbidden retry ends the classification.
                let mut action = RetryAction::NoActionIndicated;
                for classifier in components.retry_classifiers() {
                    let next = classifier.classify_retry_v2(ctx, &action);
                    if next == RetryAction::NoActionIndicated {
                        continue;
                    }
                    action = next;
                    if action == RetryAction::RetryForbidden {
                        break;
                    }
                }
                match action {
                    RetryAction::RetryIndicated(RetryReason::RetryableError {
                        kind: ErrorKind::ThrottlingError,
                        ..
                    }) => Attempt::Throttled,
                    _ => Attempt::Answered,
                }
            }
        };
        self.pacer.attempt(self.service, sent, attempt);
        // While the SDK backs off, the place goes to a waiting call.
        if attempt == Attempt::Throttled
            && let Some(slot) = crate::pacing::current_slot()
        {
            self.pacer.step_out(&slot);
        }
        Ok(())
    }
}

/// The SDK's sleep, for a paced client: a call that stepped out of its window when it was
/// throttled (see `pacing`) waits, after its backoff, for a place again before the SDK
/// sends its retry. Every other sleep (an attempt's timeout, a call holding its place) is
/// tokio's plain sleep, as the SDK's default one is.
#[derive(Debug)]
struct PacedSleep {
    pacer: Arc<Pacer>,
}

impl PacedSleep {
    fn new(pacer: &Arc<Pacer>) -> PacedSleep {
        PacedSleep {
            pacer: Arc::clone(pacer),
        }
    }
}

impl aws_sdk_s3::config::AsyncSleep for PacedSleep {
    fn sleep(&self, duration: Duration) -> aws_sdk_s3::config::Sleep {
        // Made inside the call's future, where its place is known.
        let slot = crate::pacing::current_slot();
        let pacer = Arc::clone(&self.pacer);
        aws_sdk_s3::config::Sleep::new(async move {
            tokio::time::sleep(duration).await;
            if let Some(slot) = slot {
                pacer.step_back_in(&slot).await;
            }
        })
    }
}

/// Set once the unreachable-endpoint notice has been printed: once per process is enough.
static UNREACHABLE_NOTICED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Says on stderr, at the first failed connection, that AWS (or the emulator) cannot be
/// reached and the SDK is retrying. The SDK backs off between its attempts, so without
/// it an unreachable endpoint means half a minute of silence before the error.
#[derive(Debug, Default)]
struct UnreachableNotice {
    /// Origin of the last request sent: a request that failed to connect is gone by the
    /// time the attempt's result is read.
    endpoint: Mutex<Option<String>>,
}

impl aws_sdk_s3::config::Intercept for UnreachableNotice {
    fn name(&self) -> &'static str {
        "stsform::UnreachableNotice"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        if let Ok(url) = url::Url::parse(context.request().uri()) {
            *self.endpoint.lock().expect("endpoint lock") =
                Some(url.origin().ascii_serialization());
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_sdk_s3::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let Some(Err(err)) = context.output_or_error() else {
            return Ok(());
        };
        let Some(connector) = err.as_connector_error() else {
            return Ok(());
        };
        let attempts = cfg
            .load::<RetryConfig>()
            .map_or(1, RetryConfig::max_attempts);
        if !(connector.is_io() || connector.is_timeout())
            || attempts < 2
            || UNREACHABLE_NOTICED.swap(true, Ordering::SeqCst)
        {
            return Ok(());
        }
        let endpoint = self
            .endpoint
            .lock()
            .expect("endpoint lock")
            .clone()
            .unwrap_or_else(|| "AWS".into());
        crate::output::error_line(&unreachable_line(&endpoint, connector, attempts));
        Ok(())
    }
}

/// `note: cannot reach http://127.0.0.1:9 (Connection refused (os error 111)); retrying …`:
/// the root cause only, which is what names the problem.
fn unreachable_line(
    endpoint: &str,
    error: &(dyn std::error::Error + 'static),
    attempts: u32,
) -> String {
    let mut root = error;
    while let Some(next) = root.source() {
        root = next;
    }
    format!(
        "note: cannot reach {endpoint} ({root}); retrying, up to {attempts} attempts per call ..."
    )
}

/// The service's error code (`NoSuchEntity`), if the error carries one.
pub fn code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    err.code()
}

/// HTTP status of a service error (S3's HEAD errors have no body, hence no code).
pub fn status<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Whether the error is one of `codes`.
pub fn is<E: ProvideErrorMetadata>(err: &SdkError<E>, codes: &[&str]) -> bool {
    code(err).is_some_and(|c| codes.contains(&c))
}

/// `<Code>: <message>`, or the error chain on one line when the service sent no code
/// (timeouts, connection errors, an emulator's HTML 500).
pub fn describe<E>(err: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(code) = code(err) {
        return match err.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        };
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(status) = status(err) {
        text.push_str(&format!(" (HTTP {status})"));
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn an_endpoint_override_means_an_emulator_unless_ignored() {
        assert_eq!(endpoint_override(env(&[])), None);
        for var in ENDPOINT_VARS {
            let url = "http://127.0.0.1:5000";
            assert_eq!(endpoint_override(env(&[(var, url)])).as_deref(), Some(url));
            assert_eq!(endpoint_override(env(&[(var, "")])), None, "{var}");
            let ignored = [(var, url), ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")];
            assert_eq!(endpoint_override(env(&ignored)), None, "{var}");
        }
        // The S3 override names the emulator that S3 calls (and so the bucket) reach.
        let both = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2"),
        ];
        assert_eq!(
            endpoint_override(env(&both)).as_deref(),
            Some("http://127.0.0.1:2")
        );
    }
}
