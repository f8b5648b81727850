//! Commands: run the pipeline stages in order, print, prompt, pick the exit code.
//!
//! No decisions live here: `workflow` runs the stages (and `import`, `safety`, `thumbprint`,
//! `verify` decide what they own), `render` formats. Input problems
//! are found before anything is written: settings, requests and derive all run before
//! the state lock is taken or AWS is called, so bad input changes nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::{
    AllowArgs, ApplyArgs, ClusterArgs, Command, ForceUnlockArgs, Format, GraphArgs, GraphFormat,
    ImportArgs, PlanArgs, ShowArgs, StateArgs, StateCommand,
};
use crate::credentials_request::{self, LoadOptions};
use crate::desired::{self, Facts};
use crate::execute::{Controls, Observer, Outcome};
use crate::interrupt::{Interrupts, Release};
use crate::output::{Stdout, error_line};
use crate::plan::Action;
use crate::progress::{Bars, Lines};
use crate::provider::aws::AwsProvider;
use crate::render;
use crate::safety::{self, Allow};
use crate::saved_plan;
use crate::settings::{self, Need, Settings};
use crate::state::LockInfo;
use crate::state::{Lock, StateStore};
use crate::workflow::{self, Inputs, Mode};

mod plan_apply;
mod rotate_key;
mod show;
mod state_cmds;
mod verify_cmd;

use plan_apply::{apply, plan};
use rotate_key::rotate_key;
use show::show;
use state_cmds::{force_unlock, import, state_command};
use verify_cmd::verify;

/// Runs one command; returns the process exit code. Errors are printed by `main`.
pub async fn run(command: Command) -> Result<u8> {
    match command {
        Command::Validate(args) => validate(&args).map(|()| 0),
        Command::Plan(args) => plan(&args).await,
        Command::Apply(args) => apply(&args, Mode::Apply).await,
        Command::Destroy(args) => apply(&args, Mode::Destroy).await,
        Command::Graph(args) => graph(&args).map(|()| 0),
        Command::Show(args) => show(&args).map(|()| 0),
        Command::Verify(args) => verify(&args).await,
        Command::RotateKey(args) => rotate_key(&args).await,
        Command::Import(args) => import(&args).await,
        Command::State(command) => state_command(&command).await,
        Command::ForceUnlock(args) => force_unlock(&args).await,
        Command::Completions { shell } => {
            // Generated into memory: clap_complete panics when its writer fails, and a
            // closed pipe (`completions bash | head -1`) is no reason to.
            let mut cmd = crate::cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "stsform", &mut script);
            Stdout.write_all(&script)?;
            Stdout.flush()?;
            Ok(0)
        }
    }
}

/// Settings and requests (none for destroy), with skip notes on stderr, reviewed
/// (`review::requests`: IAM's rules and limits, colliding role names) so that input IAM
/// would refuse stops us before the state or AWS is touched.
/// No AWS CredentialsRequest at all is an input error (see `safety`), unless `allow`
/// (plan and apply only; `None` for commands without the flag) accepts it.
fn inputs(
    args: &ClusterArgs,
    need: Need,
    generate_key: bool,
    allow: Option<Allow>,
) -> Result<(Inputs, Option<crate::keypair::PrivateKey>)> {
    let settings = settings::resolve(&args.settings_input(), need)?;
    // The requests, and the review's checks of them and of the roles and policies they
    // make: IAM's rules and limits, before any AWS call.
    let requests = if need == Need::StateOnly {
        (Vec::new(), Vec::new())
    } else {
        let loaded = credentials_request::load(
            &settings.credentials_requests_dir,
            &LoadOptions {
                enable_tech_preview: settings.enable_tech_preview,
            },
        )?;
        for note in loaded.notes(args.verbose) {
            error_line(&format!("note: {note}"));
        }
        let who = allow.map_or(safety::RequestsFor::Other, safety::RequestsFor::Plan);
        safety::require_requests(
            &settings.credentials_requests_dir,
            loaded.requests.len(),
            loaded.skipped.len(),
            who,
        )
        .map_err(crate::error::InputErrors::from)?;
        let findings = crate::review::requests(&loaded.requests, &settings, true)?;
        (loaded.requests, findings)
    };
    let (requests, findings) = requests;
    let key = workflow::signing_key(&settings, generate_key)?;
    Ok((
        Inputs {
            settings,
            requests,
            signing_key: key.public,
            thumbprint: None,
            include_unmanaged: false,
            findings,
        },
        key.private,
    ))
}

fn validate(args: &ClusterArgs) -> Result<()> {
    let need = if args.name.is_some() {
        Need::Cluster
    } else {
        Need::RequestsOnly
    };
    let settings = settings::resolve(&args.settings_input(), need)?;
    let loaded = credentials_request::load(
        &settings.credentials_requests_dir,
        &LoadOptions {
            enable_tech_preview: settings.enable_tech_preview,
        },
    )?;
    for note in loaded.notes(args.verbose) {
        error_line(&format!("note: {note}"));
    }
    safety::require_requests(
        &settings.credentials_requests_dir,
        loaded.requests.len(),
        loaded.skipped.len(),
        safety::RequestsFor::Validate,
    )
    .map_err(crate::error::InputErrors::from)?;
    for note in loaded.requests.iter().filter_map(|r| r.feature_gate_note()) {
        eprintln!("note: {note}");
    }
    // Role names and trust policies depend on the cluster name: checked when one is given.
    let mut findings = crate::review::requests(&loaded.requests, &settings, args.name.is_some())?;
    let review = &settings.review;
    let stale =
        crate::review::findings::acknowledge(&mut findings, &review.acknowledgements, &review.file);
    for note in stale {
        error_line(&format!("note: {note}"));
    }
    for finding in findings.iter().filter(|f| !f.acknowledged) {
        error_line(&format!("warning: {}", finding.line()));
    }
    let n = loaded.requests.len();
    writeln!(
        Stdout,
        "{} valid: {n} CredentialsRequest{} for AWS.",
        settings.credentials_requests_dir.display(),
        if n == 1 { "" } else { "s" }
    )?;
    Ok(())
}

/// `1 read`, `2 reads`: a count with the noun that agrees with it.
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The issuer's thumbprint as ccoctl computes it, when the run wants one (`thumbprint`
/// decides).
async fn thumbprint(inputs: &mut Inputs, provider: &AwsProvider) {
    inputs.thumbprint =
        crate::thumbprint::for_settings(&inputs.settings, provider.emulated()).await;
}

/// The state store of a cluster: its `--state` (file or `s3://`), with an S3 state's
/// bucket read in the cluster's region.
fn open_store(settings: &Settings) -> Result<StateStore> {
    Ok(StateStore::open(
        &settings.state,
        Some(&settings.region.name),
    )?)
}

async fn connect(
    settings: &Settings,
    key: Option<crate::keypair::PrivateKey>,
) -> Result<Arc<AwsProvider>> {
    connect_paced(settings, key, crate::provider::aws::DEFAULT_PARALLELISM).await
}

/// [`connect`], with at most `parallelism` AWS calls at once (`--parallelism`).
async fn connect_paced(
    settings: &Settings,
    key: Option<crate::keypair::PrivateKey>,
    parallelism: usize,
) -> Result<Arc<AwsProvider>> {
    let provider = AwsProvider::connect_paced(&settings.region.name, key, parallelism)
        .await
        .context("cannot set up the AWS clients")?;
    Ok(Arc::new(provider.with_local_base(&settings.base)))
}

/// The refusals the flags lift.
fn allow_of(args: &AllowArgs) -> Allow {
    Allow {
        issuer_change: args.allow_issuer_change,
        deleting_all_roles: args.allow_deleting_all_roles,
    }
}

/// Takes the state lock for `operation`; a signal while waiting ends the command (and
/// removes a remote lock that the abandoned write may still have made). From here on a
/// second signal releases this lock before it exits.
async fn take_lock(
    store: &StateStore,
    operation: &str,
    timeout: Duration,
    interrupts: &Interrupts,
) -> Result<Lock> {
    let info = LockInfo::current(operation);
    // Registered before the lock is taken: a write abandoned by a second signal may still
    // land, and releasing "the lock with our id" is harmless when there is none.
    interrupts.set_release(Some(Release {
        store: store.clone(),
        id: info.id.clone(),
    }));
    let attempt = async {
        // One try first: when someone holds the lock and we may wait, say so (a silent
        // wait looks like a hang), then wait.
        match store.lock_as(info.clone(), Duration::ZERO).await {
            Err(crate::state::StateError::Locked { holder, .. }) if !timeout.is_zero() => {
                let who = holder.map_or_else(|| "another process".to_string(), |h| h.to_string());
                error_line(&format!(
                    "Waiting up to {} for the state lock held by {who} ...",
                    humantime(timeout)
                ));
                store.lock_as(info.clone(), timeout).await
            }
            other => other,
        }
    };
    match interrupts.until(attempt).await {
        Ok(lock) => Ok(lock?),
        Err(interrupted) => {
            let _ = tokio::time::timeout(
                crate::interrupt::RELEASE_TIMEOUT,
                store.release_if_held_by(&info.id),
            )
            .await;
            bail!("{interrupted} while waiting for the state lock; nothing was changed")
        }
    }
}

/// `90s` → `1m30s`: a lock timeout as people write it.
fn humantime(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 60, secs % 60, d.subsec_millis()) {
        (0, 0, ms) => format!("{ms}ms"),
        (0, s, _) => format!("{s}s"),
        (m, 0, _) => format!("{m}m"),
        (m, s, _) => format!("{m}m{s}s"),
    }
}

/// Runs `work` of a command that holds the lock and has changed nothing yet; a signal
/// stops it and fails with a one-line message naming `phase`. The caller's lock is then
/// dropped on the way out, which releases it (local or S3; a failure to release is a
/// warning of its own, so the message does not claim it).
async fn interruptible<T>(
    interrupts: &Interrupts,
    phase: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match interrupts.until(work).await {
        Ok(done) => done,
        Err(interrupted) => Err(anyhow::anyhow!(
            "{interrupted} {phase}; nothing was changed"
        )),
    }
}

/// Releases the lock now, reporting errors; a second signal no longer needs to.
async fn unlock(lock: Lock, interrupts: &Interrupts) -> Result<()> {
    lock.unlock().await?;
    interrupts.set_release(None);
    Ok(())
}

fn graph(args: &GraphArgs) -> Result<()> {
    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false, None)?;
    let facts = Facts {
        account_id: None,
        signing_key: inputs.signing_key.clone(),
        thumbprints: inputs.settings.thumbprint.iter().cloned().collect(),
        private: Default::default(),
        recorded_kids: Vec::new(),
    };
    let desired = desired::derive(&inputs.requests, &inputs.settings, &facts)?;
    let text = match args.format {
        GraphFormat::Dot => crate::graph::desired_dot(&desired),
        GraphFormat::Mermaid => crate::review::mermaid::desired_diagram(&desired),
    };
    Stdout.write_all(text.as_bytes())?;
    Ok(())
}

/// Refuses a plan with warnings not acknowledged in the settings file (`--strict`).
/// Called after the plan is shown, as `safety::check` is: the reviewer sees the warnings.
fn strict(plan: &crate::plan::Plan, settings_file: &str) -> Result<()> {
    let warnings: Vec<String> = plan.warnings().map(|f| format!("  {}", f.line())).collect();
    if warnings.is_empty() {
        return Ok(());
    }
    bail!(
        "--strict: the plan has {} not acknowledged in {}:\n{}\nFix the request, raise the quota, or acknowledge a reviewed request's finding ([[acknowledge]], see the README).",
        counted(warnings.len(), "warning", "warnings"),
        settings_file,
        warnings.join("\n")
    )
}
