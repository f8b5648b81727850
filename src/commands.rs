//! Commands: run the pipeline stages in order and print. No decisions live here.
//!
//! Each command is a short wiring of load → derive → plan → render. Input problems are
//! found before anything is written: settings, requests and derive all run before the
//! state lock is taken, so bad input changes nothing.

use std::io::Write;

use anyhow::{Context, Result, bail};

use crate::cli::{ClusterArgs, Command, PlanArgs};
use crate::credentials_request::{self, CredentialsRequest, LoadOptions};
use crate::desired::{self, Desired, Facts, SigningKey};
use crate::keypair::{self, PublicKey};
use crate::plan::{self, Observed, ObservedResource};
use crate::render;
use crate::resource::Spec;
use crate::settings::{self, Need, Settings};
use crate::state::{State, StateFile};

/// How long a command waits for another stsform holding the state lock.
const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(0);

/// Runs one command; the error chain is printed by `main`.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Validate(args) => validate(&args),
        Command::Plan(args) => plan(&args),
        Command::Graph(args) => graph(&args),
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "stsform", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Settings and requests, with skip notes printed to stderr.
fn inputs(args: &ClusterArgs, need: Need) -> Result<(Settings, Vec<CredentialsRequest>)> {
    let settings = settings::resolve(&args.settings_input(), need)?;
    let loaded = credentials_request::load(
        &settings.credentials_requests_dir,
        &LoadOptions {
            enable_tech_preview: settings.enable_tech_preview,
        },
    )?;
    let mut stderr = std::io::stderr().lock();
    for skipped in &loaded.skipped {
        writeln!(stderr, "note: {}", skipped.note())?;
    }
    Ok((settings, loaded.requests))
}

/// The signing key's public facts, read (never generated) from disk.
fn signing_key(settings: &Settings) -> Result<Option<SigningKey>> {
    if settings.identity_provider_arn.is_some() {
        return Ok(None);
    }
    let public = match &settings.public_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the public key", path.display()))?;
            PublicKey::from_pem(&text, &path.display().to_string())?
        }
        None => match keypair::load_from_dir(&settings.output_dir)? {
            Some((_, public)) => public,
            None => return Ok(None),
        },
    };
    Ok(Some(SigningKey {
        kid: public.kid(),
        jwks: public.jwks(),
    }))
}

/// The AWS account the state was applied in, read from a recorded ARN.
fn recorded_account(state: &State) -> Option<String> {
    state.resources.values().find_map(|r| {
        let arn = match &r.spec {
            Spec::IamRole(role) => &role.arn,
            Spec::IamOidcProvider(p) => &p.arn,
            _ => return None,
        };
        let account = arn.split(':').nth(4)?;
        (account.len() == 12).then(|| account.to_string())
    })
}

fn validate(args: &ClusterArgs) -> Result<()> {
    let need = if args.name.is_some() {
        Need::Cluster
    } else {
        Need::RequestsOnly
    };
    let (settings, requests) = inputs(args, need)?;
    // Role-name collisions depend on the cluster name, so derive runs when one is given.
    if args.name.is_some() {
        desired::derive(&requests, &settings, &Facts::default())?;
    }
    println!(
        "{} valid: {} CredentialsRequest{} for AWS.",
        settings.credentials_requests_dir.display(),
        requests.len(),
        if requests.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

fn plan(args: &PlanArgs) -> Result<()> {
    if args.refresh {
        bail!(
            "refreshing from AWS is not available in this version; run `stsform plan --refresh=false` to plan against the state file alone"
        );
    }
    let (settings, requests) = inputs(&args.cluster, Need::Cluster)?;
    // Derive once with what we know offline, before touching the state: input errors
    // (colliding role names) must stop us before any lock file is written.
    let key = signing_key(&settings)?;
    desired::derive(&requests, &settings, &Facts::default())?;

    let state_file = StateFile::lock(&settings.state, "plan", LOCK_TIMEOUT)?;
    let state = state_file.load(&settings.name)?;
    let facts = Facts {
        account_id: recorded_account(&state),
        signing_key: key,
    };
    let desired: Desired = desired::derive(&requests, &settings, &facts)?;
    let observed = Observed {
        resources: state
            .resources
            .iter()
            .map(|(id, r)| {
                let observed = ObservedResource {
                    recorded: r.spec.clone(),
                    live: Some(r.spec.clone()),
                    depends_on: r.depends_on.clone(),
                };
                (id.clone(), observed)
            })
            .collect(),
        refreshed: false,
    };
    let plan = plan::compute(&desired, &observed);
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "Planning without refresh: comparing with {} (serial {}), no AWS calls.\n",
        settings.state.display(),
        state.serial
    )?;
    render::text::render(&plan, &mut stdout)?;
    Ok(())
}

fn graph(args: &ClusterArgs) -> Result<()> {
    let (settings, requests) = inputs(args, Need::Cluster)?;
    let facts = Facts {
        account_id: None,
        signing_key: signing_key(&settings)?,
    };
    let desired = desired::derive(&requests, &settings, &facts)?;
    print!("{}", crate::graph::desired_dot(&desired));
    Ok(())
}
