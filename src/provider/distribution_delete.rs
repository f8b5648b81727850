//! How a CloudFront distribution is deleted: CloudFront deletes only a distribution that
//! is disabled *and* whose disabling it has deployed, which takes minutes. So: disable it,
//! wait until it is deployed — bounded, saying how it is getting on, and stopping when
//! the run is asked to stop — then delete it.
//!
//! Resumable by construction: every step starts from what CloudFront says now, so a
//! destroy run again after an interrupt or a timeout (the distribution still in the
//! state) finds it disabled, waits for what is left, and deletes it. The AWS provider and
//! the fake both run this one algorithm, each with its own calls ([`Calls`]). Must not
//! print: progress goes through `activity`.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{ProviderError, ProviderResult};
use crate::activity;
use crate::resource::ResourceId;

/// What CloudFront says about the distribution now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Whether it is enabled (serving).
    pub enabled: bool,
    /// CloudFront's status: `Deployed` once its last change is everywhere, else
    /// `InProgress`.
    pub status: String,
}

impl Seen {
    /// Whether CloudFront has deployed its last change.
    pub fn deployed(&self) -> bool {
        self.status == "Deployed"
    }
}

/// The three calls the algorithm needs, made by a provider for one distribution.
pub trait Calls: Sync {
    /// What CloudFront says now, or `None` if the distribution is gone.
    fn look(&self) -> impl Future<Output = ProviderResult<Option<Seen>>> + Send;
    /// Disables it (UpdateDistribution with `Enabled=false`).
    fn disable(&self) -> impl Future<Output = ProviderResult<()>> + Send;
    /// Deletes it; one already gone is deleted.
    fn delete(&self) -> impl Future<Output = ProviderResult<()>> + Send;
}

/// How long to wait in all, and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Longest wait for CloudFront to deploy the disabling, per run.
    pub budget: Duration,
    /// Time between two looks.
    pub interval: Duration,
}

/// Default budget: CloudFront usually deploys a change in a few minutes, rarely in more
/// than fifteen.
pub const BUDGET: Duration = Duration::from_secs(30 * 60);
/// Default time between two looks (GetDistribution is cheap, but there is no hurry).
pub const INTERVAL: Duration = Duration::from_secs(15);

impl Pace {
    /// [`BUDGET`] and [`INTERVAL`], the budget overridden by
    /// `STSFORM_CLOUDFRONT_WAIT_SECS` (a positive number of seconds).
    pub fn from_env() -> Result<Pace, String> {
        let budget = match std::env::var("STSFORM_CLOUDFRONT_WAIT_SECS") {
            Err(_) => BUDGET,
            Ok(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!(
                        "STSFORM_CLOUDFRONT_WAIT_SECS: `{v}` is not a positive number of seconds"
                    )
                })?,
        };
        Ok(Pace {
            budget,
            interval: INTERVAL,
        })
    }
}

/// `4m05s`, `45s`.
fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn waiting(id: &ResourceId, message: String) -> ProviderError {
    ProviderError::Api {
        id: id.clone(),
        operation: "GetDistribution".into(),
        message,
    }
}

/// Disables `id`'s distribution, waits until CloudFront has deployed that, and deletes
/// it. A distribution already gone is deleted; one already disabled is not disabled
/// again (a destroy run again resumes here).
pub async fn disable_wait_delete(
    id: &ResourceId,
    calls: &impl Calls,
    pace: Pace,
) -> ProviderResult<()> {
    let started = Instant::now();
    loop {
        let Some(seen) = calls.look().await? else {
            return Ok(());
        };
        if seen.enabled {
            activity::note("disabling it (CloudFront deletes only a disabled distribution)");
            calls.disable().await?;
            continue;
        }
        if seen.deployed() {
            activity::note("disabled and deployed; deleting it");
            return calls.delete().await;
        }
        let waited = started.elapsed();
        if waited >= pace.budget {
            return Err(waiting(
                id,
                format!(
                    "disabled, but CloudFront is still deploying that ({}) after {}; run \
                     destroy again to continue: it picks up where this run stopped \
                     (STSFORM_CLOUDFRONT_WAIT_SECS sets how long one run waits)",
                    seen.status,
                    minutes(waited)
                ),
            ));
        }
        activity::note(format!(
            "disabled; waiting for CloudFront to deploy that ({}, {} of at most {})",
            seen.status,
            minutes(waited),
            minutes(pace.budget)
        ));
        let nap = pace.interval.min(pace.budget - waited);
        if activity::sleep_unless_stopped(nap).await {
            return Err(waiting(
                id,
                format!(
                    "interrupted while CloudFront deploys the disabled distribution ({}); \
                     run destroy again to continue: it picks up where this run stopped",
                    seen.status
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A distribution that reports `InProgress` for `polls` looks after each disable.
    struct Script {
        enabled: Mutex<bool>,
        pending: Mutex<usize>,
        polls: usize,
        gone: Mutex<bool>,
        log: Mutex<Vec<&'static str>>,
    }

    impl Script {
        fn new(enabled: bool, pending: usize, polls: usize) -> Script {
            Script {
                enabled: Mutex::new(enabled),
                pending: Mutex::new(pending),
                polls,
                gone: Mutex::new(false),
                log: Mutex::default(),
            }
        }
    }

    impl Calls for Script {
        async fn look(&self) -> ProviderResult<Option<Seen>> {
            self.log.lock().unwrap().push("look");
            if *self.gone.lock().unwrap() {
                return Ok(None);
            }
            let mut pending = self.pending.lock().unwrap();
            let status = if *pending > 0 {
                *pending -= 1;
                "InProgress"
            } else {
                "Deployed"
            };
            Ok(Some(Seen {
                enabled: *self.enabled.lock().unwrap(),
                status: status.into(),
            }))
        }
        async fn disable(&self) -> ProviderResult<()> {
            self.log.lock().unwrap().push("disable");
            *self.enabled.lock().unwrap() = false;
            *self.pending.lock().unwrap() = self.polls;
            Ok(())
        }
        async fn delete(&self) -> ProviderResult<()> {
            self.log.lock().unwrap().push("delete");
            assert!(!*self.enabled.lock().unwrap() && *self.pending.lock().unwrap() == 0);
            *self.gone.lock().unwrap() = true;
            Ok(())
        }
    }

    fn id() -> ResourceId {
        ResourceId::new(
            crate::resource::ResourceKind::CloudFrontDistribution,
            "c1-oidc",
        )
    }

    const FAST: Pace = Pace {
        budget: Duration::from_secs(5),
        interval: Duration::from_millis(1),
    };

    #[tokio::test]
    async fn an_enabled_distribution_is_disabled_waited_for_and_deleted() {
        let calls = Script::new(true, 0, 3);
        disable_wait_delete(&id(), &calls, FAST).await.unwrap();
        let log = calls.log.lock().unwrap().clone();
        assert_eq!(
            log,
            ["look", "disable", "look", "look", "look", "look", "delete"]
        );
    }

    #[tokio::test]
    async fn the_wait_is_bounded_and_a_second_run_resumes_without_disabling_again() {
        let calls = Script::new(true, 0, 1_000_000);
        let short = Pace {
            budget: Duration::from_millis(30),
            interval: Duration::from_millis(1),
        };
        let err = disable_wait_delete(&id(), &calls, short)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cloudfront_distribution.c1-oidc: GetDistribution: disabled, but CloudFront is still deploying that (InProgress)")
                && err.contains("run destroy again to continue"),
            "{err}"
        );
        assert!(!*calls.gone.lock().unwrap());
        // CloudFront finishes in the meantime; the next destroy only deletes.
        *calls.pending.lock().unwrap() = 2;
        calls.log.lock().unwrap().clear();
        disable_wait_delete(&id(), &calls, FAST).await.unwrap();
        assert_eq!(
            calls.log.lock().unwrap().clone(),
            ["look", "look", "look", "delete"]
        );
        // And once it is gone, a third run has nothing to do.
        disable_wait_delete(&id(), &calls, FAST).await.unwrap();
    }

    #[test]
    fn the_budget_comes_from_the_environment_or_the_default() {
        assert_eq!(minutes(Duration::from_secs(245)), "4m05s");
        assert_eq!(minutes(Duration::from_secs(45)), "45s");
        // The variable is not set in unit tests.
        if std::env::var_os("STSFORM_CLOUDFRONT_WAIT_SECS").is_none() {
            assert_eq!(Pace::from_env().unwrap().budget, BUDGET);
        }
    }
}
