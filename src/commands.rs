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
            thumbprint: None,
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

async fn plan(args: &PlanArgs) -> Result<u8> {
    if args.out.is_some() && !args.refresh {
        bail!(
            "--out needs a refreshed plan: a saved plan is applied without planning again, so it must know what AWS holds (drop --refresh=false)"
        );
    }
    let mode = if args.destroy {
        Mode::Destroy
    } else {
        Mode::Apply
    };
    let need = if args.destroy {
        Need::StateOnly
    } else {
        Need::Cluster
    };
    let (mut inputs, _) = inputs(&args.cluster, need, false)?;
    let state_lock = open_store(&inputs.settings)?
        .lock("plan", args.lock_timeout)
        .await?;
    let state = state_lock.load(&inputs.settings.name).await?;
    let text = args.format == Format::Text;
    let mut stdout = std::io::stdout().lock();
    let (planned, reads) = if args.refresh {
        let provider = connect(&inputs.settings, None).await?;
        thumbprint(&mut inputs, &provider).await;
        let n = state.resources.len();
        if text {
            write!(
                stdout,
                "Refreshing {n} resource{} ... ",
                if n == 1 { "" } else { "s" }
            )?;
            stdout.flush()?;
        }
        let planned = workflow::plan(
            &inputs,
            &provider,
            state,
            mode,
            true,
            args.parallelism.into(),
        )
        .await?;
        let reads = provider.api_calls().reads;
        if text {
            writeln!(
                stdout,
                "done ({reads} AWS reads, {:.2}s)\n",
                planned.refresh_time.as_secs_f64()
            )?;
        }
        (planned, reads)
    } else {
        if text {
            writeln!(
                stdout,
                "Planning without refresh: comparing with {} (serial {}), no AWS calls.\n",
                inputs.settings.state.display(),
                state.serial
            )?;
        }
        // No AWS provider is built: nothing here can reach AWS.
        let offline = Arc::new(crate::provider::Offline);
        (
            workflow::plan(&inputs, &offline, state, mode, false, 1).await?,
            0,
        )
    };
    let meta = render::Meta {
        cluster: inputs.settings.name.clone(),
        region: inputs.settings.region.name.clone(),
        serial: planned.state.serial,
        lineage: planned.state.lineage.clone(),
        reads,
        version: env!("CARGO_PKG_VERSION"),
    };
    render_plan(args.format, &planned.plan, &meta, &mut stdout)?;
    if let Some(out) = &args.out {
        let hash = saved_plan::inputs_hash(
            &inputs.settings,
            inputs.signing_key.as_ref().map(|k| k.kid.as_str()),
        )?;
        saved_plan::write(out, &planned, mode, &hash)?;
        if text {
            writeln!(
                stdout,
                "\nSaved the plan to {0}. To perform exactly these actions, run: stsform apply {0} (with the same settings)",
                out.display()
            )?;
        }
    }
    Ok(if args.detailed_exitcode && planned.plan.has_changes() {
        2
    } else {
        0
    })
}

fn render_plan(
    format: Format,
    plan: &crate::plan::Plan,
    meta: &render::Meta,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Text => render::text::render_colored(plan, out, color())?,
        Format::Markdown => render::markdown::render(plan, meta, out)?,
        Format::Json => render::json::render(plan, meta, out)?,
    }
    Ok(())
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (no-color.org).
fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
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
    let saved = match &args.plan_file {
        Some(path) => Some(saved_plan::read(path)?),
        None => None,
    };
    let mode = saved.as_ref().map_or(mode, |s| s.mode);
    // A saved plan's inputs are fingerprinted with the key as it was on disk then.
    let (mut inputs, key) = inputs(&args.cluster, need, mode == Mode::Apply && saved.is_none())?;
    let operation = match mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    let state_lock = open_store(&inputs.settings)?
        .lock(operation, args.lock_timeout)
        .await?;
    let state = state_lock.load(&inputs.settings.name).await?;
    let (planned, provider) = match saved {
        Some(saved) => {
            let origin = args
                .plan_file
                .as_ref()
                .expect("saved implies a file")
                .display()
                .to_string();
            let kid = inputs.signing_key.as_ref().map(|k| k.kid.as_str());
            saved_plan::check(
                &saved,
                &state,
                &saved_plan::inputs_hash(&inputs.settings, kid)?,
                &origin,
            )?;
            let mut plan = saved.plan;
            let mut key = key;
            if plan.has_unknowns() {
                // Only the signing key can still be unknown in a refreshed plan.
                let generated = workflow::signing_key(&inputs.settings, true)?;
                if let Some(public) = &generated.public {
                    workflow::fill_signing_key(&mut plan, public);
                }
                key = generated.private;
            }
            let provider = connect(&inputs.settings, key).await?;
            let planned = workflow::Planned {
                plan,
                state,
                observed: saved.observed,
                reads: 0,
                refresh_time: Duration::ZERO,
            };
            (planned, provider)
        }
        None => {
            let provider = connect(&inputs.settings, key).await?;
            thumbprint(&mut inputs, &provider).await;
            let planned = workflow::plan(
                &inputs,
                &provider,
                state,
                mode,
                true,
                usize::from(args.parallelism),
            )
            .await?;
            (planned, provider)
        }
    };
    let parallelism = usize::from(args.parallelism);
    {
        let mut stdout = std::io::stdout().lock();
        render::text::render_colored(&planned.plan, &mut stdout, color())?;
    }
    // A saved plan was reviewed when it was made; applying it needs no second yes.
    let approved = args.auto_approve || args.plan_file.is_some();
    if planned.plan.has_changes() && !confirm(mode, approved)? {
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

    let started = Instant::now();
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
    let (outcome, state) = workflow::apply(&planned, &provider, &state_lock, controls).await?;
    state_lock.unlock().await?;
    watcher.abort();
    if let Some(bars) = &bars {
        bars.finish();
    }
    let calls = provider.api_calls();
    let summary = format!(
        "{} AWS calls in all ({} reads, {} writes); changes took {:.2}s",
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
        thumbprints: inputs.settings.thumbprint.iter().cloned().collect(),
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

/// The state store named by `state`/`name`/`config` alone (`state` subcommands and
/// `force-unlock`), and the cluster name the state must belong to (`None` when only the
/// location was given). An S3 state's bucket is read in `--region`, else the config
/// file's region, else the AWS default region.
fn state_store_of(args: &StateArgs) -> Result<(StateStore, Option<String>)> {
    let input = args.settings_input();
    let settings = settings::resolve(&input, Need::NameOnly)?;
    let region = args.region.clone().or_else(|| {
        settings::resolve(&input, Need::StateOnly)
            .ok()
            .map(|s| s.region.name)
    });
    let named = input.name.is_some() || args.config.is_some() || args.state.is_none();
    let store = StateStore::open(&settings.state, region.as_deref())?;
    Ok((store, named.then_some(settings.name)))
}

/// Reads a state without locking; without a cluster name, whatever cluster it is.
async fn read_state(store: &StateStore, name: Option<&str>) -> Result<crate::state::State> {
    match name {
        Some(name) => Ok(store.read(name).await?),
        None => {
            // No name to check against: read it as its own cluster's.
            let probe = store.read("-").await;
            match probe {
                Err(crate::state::StateError::WrongCluster { found, .. }) => {
                    Ok(store.read(&found).await?)
                }
                other => Ok(other?),
            }
        }
    }
}

/// Attribute keys whose values `state show` never prints. The state holds no secrets
/// today (the key pair is recorded by kid); a future sensitive attribute goes here.
const SENSITIVE_ATTRIBUTES: &[&str] = &[];

/// An attribute value for `state show`: redacted if sensitive, else pretty JSON.
fn shown_value(key: &str, value: &serde_json::Value) -> String {
    if SENSITIVE_ATTRIBUTES.contains(&key) {
        return "(sensitive value)".to_string();
    }
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

async fn state_command(command: &StateCommand) -> Result<u8> {
    match command {
        StateCommand::List(args) => {
            let (store, name) = state_store_of(args)?;
            let state = read_state(&store, name.as_deref()).await?;
            let mut ids: Vec<String> = state.resources.keys().map(ToString::to_string).collect();
            ids.sort();
            let mut out = std::io::stdout().lock();
            for id in ids {
                writeln!(out, "{id}")?;
            }
            Ok(0)
        }
        StateCommand::Show { id, state: args } => {
            let (store, name) = state_store_of(args)?;
            let state = read_state(&store, name.as_deref()).await?;
            let parsed: crate::resource::ResourceId = id
                .parse()
                .map_err(|e| anyhow::anyhow!("`{id}` is not a resource address: {e}"))?;
            let Some(resource) = state.resources.get(&parsed) else {
                bail!(
                    "{}: no resource `{id}` in the state (see `stsform state list`)",
                    store.location()
                );
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "# {id}")?;
            let deps: Vec<String> = resource.depends_on.iter().map(|d| d.to_string()).collect();
            writeln!(out, "depends_on = {}", serde_json::to_string(&deps)?)?;
            if let serde_json::Value::Object(map) = resource.spec.display_attributes() {
                for (key, value) in &map {
                    writeln!(out, "{key} = {}", shown_value(key, value))?;
                }
            }
            Ok(0)
        }
        StateCommand::Rm {
            ids,
            state: args,
            lock_timeout,
        } => {
            let (store, name) = state_store_of(args)?;
            let lock = store.lock("state rm", *lock_timeout).await?;
            let cluster = match name {
                Some(n) => n,
                None => read_state(&store, None).await?.cluster,
            };
            let mut state = lock.load(&cluster).await?;
            let mut targets = Vec::new();
            for id in ids {
                let parsed: crate::resource::ResourceId = id
                    .parse()
                    .map_err(|e| anyhow::anyhow!("`{id}` is not a resource address: {e}"))?;
                if !state.resources.contains_key(&parsed) {
                    bail!(
                        "{}: no resource `{id}` in the state (see `stsform state list`); nothing was removed",
                        store.location()
                    );
                }
                targets.push(parsed);
            }
            for id in &targets {
                state.resources.remove(id);
            }
            lock.save(&mut state).await?;
            lock.unlock().await?;
            for id in &targets {
                println!("Removed {id}");
            }
            println!(
                "Successfully removed {} resource{} from the state (serial {}). They still exist; stsform no longer manages them.",
                targets.len(),
                if targets.len() == 1 { "" } else { "s" },
                state.serial
            );
            Ok(0)
        }
    }
}

async fn force_unlock(args: &ForceUnlockArgs) -> Result<u8> {
    let (store, _) = state_store_of(&args.state)?;
    store.force_unlock(&args.id).await?;
    println!(
        "{} has been unlocked (lock id {}). Make sure no stsform is still working on it.",
        store.location(),
        args.id
    );
    Ok(0)
}

async fn import(args: &ImportArgs) -> Result<u8> {
    use crate::provider::Provider;
    use crate::resource::{ResourceKind, Spec};

    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false)?;
    let settings = &inputs.settings;
    let store = open_store(settings)?;
    let lock = store.lock("import", args.lock_timeout).await?;
    let mut state = lock.load(&settings.name).await?;
    if !state.resources.is_empty() {
        bail!(
            "{}: the state already holds {} resources (serial {}); import only fills an empty state. Run `stsform plan`, or `stsform state rm` what should be imported again",
            store.location(),
            state.resources.len(),
            state.serial
        );
    }
    let provider = connect(settings, None).await?;
    let account = provider.account_id().await?;
    let ownership_key = settings.ownership_tag_key();
    // ccoctl finds its provider by tag key, not by URL; prefer what it would find.
    let tagged_provider = if settings.identity_provider_arn.is_none() {
        provider.find_oidc_provider(&ownership_key).await?
    } else {
        None
    };
    let desired = desired::derive(
        &inputs.requests,
        settings,
        &Facts {
            account_id: Some(account),
            signing_key: inputs.signing_key.clone(),
            thumbprints: Vec::new(),
        },
    )?;
    let mut live = std::collections::BTreeMap::new();
    for (id, resource) in &desired.resources {
        let mut recorded = resource.spec.clone();
        if let (Spec::IamOidcProvider(p), Some(arn)) = (&mut recorded, &tagged_provider) {
            p.arn = arn.clone();
        }
        live.insert(id.clone(), provider.read(id, &recorded).await?);
    }
    let report = crate::import::record(&desired, &live, &ownership_key, &mut state);
    lock.save(&mut state).await?;
    lock.unlock().await?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Importing cluster {} into {}:\n",
        settings.name,
        store.location()
    )?;
    for id in &report.imported {
        writeln!(out, "  imported   {id}")?;
    }
    for id in report.not_found() {
        writeln!(out, "  not found  {id}")?;
    }
    for (id, why) in report.not_owned() {
        writeln!(out, "  not owned  {id}: {why}")?;
    }
    let not_found = report.not_found().count();
    let not_owned = report.not_owned().count();
    writeln!(
        out,
        "\nImported {} resource{}, {not_found} not found (the next apply creates them), {not_owned} not owned (left alone). State saved (serial {}).",
        report.imported.len(),
        if report.imported.len() == 1 { "" } else { "s" },
        state.serial
    )?;

    // The signing key decides the JWKS; say plainly what can and cannot be rebuilt.
    let key_pair_imported = report
        .imported
        .iter()
        .any(|id| id.kind == ResourceKind::KeyPair);
    let private = settings.output_dir.join("serviceaccount-signer.private");
    if settings.identity_provider_arn.is_some() {
        // Day-2 mode: no key pair, bucket or provider is managed.
    } else if let Some(public) = &settings.public_key_file {
        writeln!(
            out,
            "\nnote: the signing key is the public key in {}: keys.json (the JWKS) is compared with it and still matches the cluster, but without the private key stsform cannot write {} (the installer's copy of the private key); keep ccoctl's copy.",
            public.display(),
            desired::INSTALLER_KEY
        )?;
    } else if !key_pair_imported || !private.exists() {
        writeln!(
            out,
            "\nwarning: no key pair in {}: the next apply would generate a NEW signing key and replace keys.json, which breaks every token the cluster issues. Copy serviceaccount-signer.private and serviceaccount-signer.public from ccoctl's output dir first, or pass --public-key-file (then only {} cannot be regenerated).",
            settings.output_dir.display(),
            desired::INSTALLER_KEY
        )?;
    }
    writeln!(
        out,
        "\nRun `stsform plan` with the same settings to see the remaining differences."
    )?;
    Ok(0)
}
