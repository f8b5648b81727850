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

use crate::cli::{ApplyArgs, ClusterArgs, Command, PlanArgs};
use crate::credentials_request::{self, LoadOptions};
use crate::desired::{self, Facts};
use crate::execute::{Controls, Observer, Outcome};
use crate::plan::Action;
use crate::progress::{Bars, Lines};
use crate::provider::aws::AwsProvider;
use crate::render;
use crate::settings::{self, Need, Settings};
use crate::state::StateFile;
use crate::workflow::{self, Inputs, Mode};

/// How long a command waits for another stsform holding the state lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(0);

/// Runs one command; returns the process exit code. Errors are printed by `main`.
pub async fn run(command: Command) -> Result<u8> {
    match command {
        Command::Validate(args) => validate(&args).map(|()| 0),
        Command::Plan(args) => plan(&args).await.map(|()| 0),
        Command::Apply(args) => apply(&args, Mode::Apply).await,
        Command::Destroy(args) => apply(&args, Mode::Destroy).await,
        Command::Graph(args) => graph(&args).map(|()| 0),
        Command::Verify(args) => verify(&args).await,
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
        for skipped in &loaded.skipped {
            writeln!(stderr, "note: {}", skipped.note())?;
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
    for skipped in &loaded.skipped {
        eprintln!("note: {}", skipped.note());
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

async fn connect(
    settings: &Settings,
    key: Option<crate::keypair::PrivateKey>,
) -> Result<Arc<AwsProvider>> {
    let provider = AwsProvider::connect(&settings.region.name, key)
        .await
        .context("cannot set up the AWS clients")?;
    Ok(Arc::new(provider))
}

async fn plan(args: &PlanArgs) -> Result<()> {
    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false)?;
    let state_file = StateFile::lock(&inputs.settings.state, "plan", LOCK_TIMEOUT)?;
    let state = state_file.load(&inputs.settings.name)?;
    let mut stdout = std::io::stdout().lock();
    let planned = if args.refresh {
        let provider = connect(&inputs.settings, None).await?;
        let n = state.resources.len();
        write!(
            stdout,
            "Refreshing {n} resource{} ... ",
            if n == 1 { "" } else { "s" }
        )?;
        stdout.flush()?;
        let planned = workflow::plan(
            &inputs,
            &provider,
            state,
            Mode::Apply,
            true,
            args.parallelism.into(),
        )
        .await?;
        let calls = provider.api_calls();
        writeln!(
            stdout,
            "done ({} AWS reads, {:.2}s)\n",
            calls.reads,
            planned.refresh_time.as_secs_f64()
        )?;
        planned
    } else {
        writeln!(
            stdout,
            "Planning without refresh: comparing with {} (serial {}), no AWS calls.\n",
            inputs.settings.state.display(),
            state.serial
        )?;
        // No provider is built: nothing here can reach AWS.
        let offline = Arc::new(crate::provider::Offline);
        workflow::plan(&inputs, &offline, state, Mode::Apply, false, 1).await?
    };
    render::text::render(&planned.plan, &mut stdout)?;
    Ok(())
}

/// Asks for `yes` on a terminal; refuses without one unless `--auto-approve`.
fn confirm(mode: Mode, auto_approve: bool) -> Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {} without --auto-approve: stdin is not a terminal to ask for confirmation",
            match mode {
                Mode::Apply => "apply",
                Mode::Destroy => "destroy",
            }
        );
    }
    let question = match mode {
        Mode::Apply => "Do you want to perform these actions?",
        Mode::Destroy => "Do you really want to destroy all resources in this state?",
    };
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

async fn apply(args: &ApplyArgs, mode: Mode) -> Result<u8> {
    let need = match mode {
        Mode::Apply => Need::Cluster,
        Mode::Destroy => Need::StateOnly,
    };
    let (inputs, key) = inputs(&args.cluster, need, mode == Mode::Apply)?;
    let operation = match mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    let state_file = StateFile::lock(&inputs.settings.state, operation, LOCK_TIMEOUT)?;
    let state = state_file.load(&inputs.settings.name)?;
    let provider = connect(&inputs.settings, key).await?;
    let parallelism = usize::from(args.parallelism);
    let started = Instant::now();
    let planned = workflow::plan(&inputs, &provider, state, mode, true, parallelism).await?;
    {
        let mut stdout = std::io::stdout().lock();
        render::text::render(&planned.plan, &mut stdout)?;
    }
    if planned.plan.has_changes() && !confirm(mode, args.auto_approve)? {
        println!(
            "\n{} cancelled.",
            if mode == Mode::Apply {
                "Apply"
            } else {
                "Destroy"
            }
        );
        return Ok(1);
    }

    // Ctrl-C: stop starting new changes, let running calls finish, save, exit non-zero.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                eprintln!("\nInterrupt received: finishing running changes, then saving state.");
            }
        })
    };
    let total = planned.plan.changes.len();
    let terminal = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
    let bars = terminal.then(|| Bars::new(total, parallelism));
    let lines = Lines::new(std::io::stdout());
    let observer: &dyn Observer = match &bars {
        Some(bars) => bars,
        None => &lines,
    };
    let controls = Controls {
        observer,
        parallelism,
        stop: &stop,
    };
    let (outcome, state) = workflow::apply(&planned, &provider, &state_file, controls).await?;
    watcher.abort();
    if let Some(bars) = &bars {
        bars.finish();
    }
    let calls = provider.api_calls();
    let summary = format!(
        "{} AWS calls ({} reads, {} writes) in {:.2}s",
        calls.reads + calls.writes,
        calls.reads,
        calls.writes,
        started.elapsed().as_secs_f64()
    );
    report(
        &outcome,
        mode,
        state.serial,
        &summary,
        stop.load(Ordering::SeqCst),
    )
}

/// Prints how apply ended and picks the exit code.
fn report(
    outcome: &Outcome,
    mode: Mode,
    serial: u64,
    summary: &str,
    interrupted: bool,
) -> Result<u8> {
    let count = |a: Action| outcome.succeeded.iter().filter(|(_, x)| *x == a).count();
    let replaced = count(Action::Replace);
    if outcome.is_complete() {
        match mode {
            Mode::Apply => println!(
                "\nApply complete! Resources: {} added, {} changed, {} destroyed. ({summary})",
                count(Action::Create) + replaced,
                count(Action::Update),
                count(Action::Delete) + replaced
            ),
            Mode::Destroy => println!(
                "\nDestroy complete! Resources: {} destroyed. ({summary})",
                count(Action::Delete)
            ),
        }
        return Ok(0);
    }
    eprintln!();
    for f in &outcome.failed {
        eprintln!("error: {}", f.error);
    }
    if let Some(e) = &outcome.save_error {
        eprintln!("error: saving the state failed: {e}");
    }
    println!(
        "\n{} incomplete: {} succeeded, {} failed, {} skipped, {} not started{}. State saved (serial {serial}); re-run `stsform {}` to finish. ({summary})",
        if mode == Mode::Apply {
            "Apply"
        } else {
            "Destroy"
        },
        outcome.succeeded.len(),
        outcome.failed.len(),
        outcome.skipped.len(),
        outcome.not_started.len(),
        if interrupted { " (interrupted)" } else { "" },
        if mode == Mode::Apply {
            "apply"
        } else {
            "destroy"
        },
    );
    Ok(1)
}

fn graph(args: &ClusterArgs) -> Result<()> {
    let (inputs, _) = inputs(args, Need::Cluster, false)?;
    let facts = Facts {
        account_id: None,
        signing_key: inputs.signing_key.clone(),
    };
    let desired = desired::derive(&inputs.requests, &inputs.settings, &facts)?;
    print!("{}", crate::graph::desired_dot(&desired));
    Ok(())
}

/// `verify`: exit 0 when every service account can assume its role, 1 otherwise.
async fn verify(args: &crate::cli::VerifyArgs) -> Result<u8> {
    use crate::verify::{self, Documents, Https, Options, Target};
    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false)?;
    let key = verify::private_key(&inputs.settings)?;
    let provider = connect(&inputs.settings, None).await?;
    // With an emulator the documents are read through it (S3 GetObject); against AWS
    // they are fetched over HTTPS from the issuer URL, as STS fetches them.
    let emulated = provider.endpoint_url().is_some();
    let documents = if emulated {
        Documents::Provider
    } else {
        Documents::Https(Https::new(Duration::from_secs(10))?)
    };
    let target = Target {
        settings: &inputs.settings,
        requests: &inputs.requests,
        key: &key,
        now: verify::now(),
    };
    let options = Options {
        documents,
        emulated_sts: emulated,
    };
    let report = verify::run(provider.as_ref(), &target, &options).await?;
    verify::render::write(&report, args.format, &mut std::io::stdout().lock())?;
    Ok(if report.passed() { 0 } else { 1 })
}
