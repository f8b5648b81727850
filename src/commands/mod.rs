//! Commands: run the pipeline stages in order, print, prompt, pick the exit code.
//!
//! No decisions live here: `workflow` runs the stages, `render` formats. Input problems
//! are found before anything is written: settings, requests and derive all run before
//! the state lock is taken or AWS is called, so bad input changes nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::{
    ApplyArgs, ClusterArgs, Command, ForceUnlockArgs, Format, ImportArgs, PlanArgs, StateArgs,
    StateCommand,
};
use crate::credentials_request::{self, LoadOptions};
use crate::desired::{self, Facts};
use crate::execute::{Controls, Observer, Outcome};
use crate::plan::Action;
use crate::progress::{Bars, Lines};
use crate::provider::aws::AwsProvider;
use crate::render;
use crate::saved_plan;
use crate::settings::{self, Need, Settings};
use crate::state_store::StateStore;
use crate::workflow::{self, Inputs, Mode};

mod plan_apply;
mod state_cmds;
mod verify_cmd;

use plan_apply::{apply, plan};
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
        Command::Verify(args) => verify(&args).await,
        Command::Import(args) => import(&args).await,
        Command::State(command) => state_command(&command).await,
        Command::ForceUnlock(args) => force_unlock(&args).await,
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "stsform", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// Settings and requests (none for destroy), with skip notes on stderr, checked by a
/// derive so that colliding role names stop us before the state or AWS is touched.
fn inputs(
    args: &ClusterArgs,
    need: Need,
    generate_key: bool,
) -> Result<(Inputs, Option<crate::keypair::PrivateKey>)> {
    let settings = settings::resolve(&args.settings_input(), need)?;
    let requests = if need == Need::StateOnly {
        Vec::new()
    } else {
        let loaded = credentials_request::load(
            &settings.credentials_requests_dir,
            &LoadOptions {
                enable_tech_preview: settings.enable_tech_preview,
            },
        )?;
        let mut stderr = std::io::stderr().lock();
        for note in loaded.notes(args.verbose) {
            writeln!(stderr, "note: {note}")?;
        }
        desired::derive(&loaded.requests, &settings, &Facts::default())?;
        loaded.requests
    };
    let key = workflow::signing_key(&settings, generate_key)?;
    Ok((
        Inputs {
            settings,
            requests,
            signing_key: key.public,
            thumbprint: None,
            include_unmanaged: false,
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
        eprintln!("note: {note}");
    }
    for note in loaded.requests.iter().filter_map(|r| r.feature_gate_note()) {
        eprintln!("note: {note}");
    }
    // Role-name collisions depend on the cluster name, so derive runs when one is given.
    if args.name.is_some() {
        desired::derive(&loaded.requests, &settings, &Facts::default())?;
    }
    let n = loaded.requests.len();
    println!(
        "{} valid: {n} CredentialsRequest{} for AWS.",
        settings.credentials_requests_dir.display(),
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `1 read`, `2 reads`: a count with the noun that agrees with it.
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Computes the issuer's thumbprint as ccoctl does, when it makes sense: not when one is
/// given, not in day-2 mode, and never against an emulator (its issuer host is not
/// served, and the lookup would leave loopback). Bounded by a short timeout.
async fn thumbprint(inputs: &mut Inputs, provider: &AwsProvider) {
    let s = &inputs.settings;
    if s.thumbprint.is_some()
        || s.identity_provider_arn.is_some()
        || provider.endpoint_url().is_some()
    {
        return;
    }
    inputs.thumbprint = crate::thumbprint::for_issuer(&desired::issuer_url(s)).await;
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
    let provider = AwsProvider::connect(&settings.region.name, key)
        .await
        .context("cannot set up the AWS clients")?;
    Ok(Arc::new(provider))
}

fn graph(args: &ClusterArgs) -> Result<()> {
    let (inputs, _) = inputs(args, Need::Cluster, false)?;
    let facts = Facts {
        account_id: None,
        signing_key: inputs.signing_key.clone(),
        thumbprints: inputs.settings.thumbprint.iter().cloned().collect(),
    };
    let desired = desired::derive(&inputs.requests, &inputs.settings, &facts)?;
    print!("{}", crate::graph::desired_dot(&desired));
    Ok(())
}
