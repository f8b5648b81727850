//! `plan`, `apply` and `destroy`: plan, show, confirm, execute, report.

use super::*;

pub(super) async fn plan(args: &PlanArgs) -> Result<u8> {
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
    let allow = allow_of(&args.allow);
    let (mut inputs, _) = inputs(&args.cluster, need, false, Some(allow))?;
    inputs.include_unmanaged = args.include_unmanaged;
    let interrupts = Interrupts::install()?;
    let store = open_store(&inputs.settings)?;
    // A refreshed plan locks the state like Terraform's, so it never compares AWS with a
    // state an apply is halfway through saving. `--lock=false` (read-only CI roles) and
    // an offline plan read it without a lock: a save replaces the whole file or object
    // at once, so an unlocked read sees one version or the other, and nothing is written
    // (no `.lock` file or object is created).
    let state_lock = if args.lock && args.refresh {
        Some(take_lock(&store, "plan", args.lock_timeout, &interrupts).await?)
    } else {
        None
    };
    let mut state = interruptible(&interrupts, "while reading the state", async {
        Ok(match &state_lock {
            Some(lock) => lock.load(&inputs.settings.name).await?,
            None => store.read(&inputs.settings.name).await?,
        })
    })
    .await?;
    crate::scope::claim(&mut state, &inputs.settings)?;
    let text = args.format == Format::Text;
    let mut stdout = Stdout;
    let phase = if args.refresh {
        "while refreshing"
    } else {
        "while planning"
    };
    let (planned, reads) = interruptible(&interrupts, phase, async {
        plan_with_refresh(args, &mut inputs, state, mode, text, &mut stdout).await
    })
    .await?;
    let meta = render::Meta {
        cluster: inputs.settings.name.clone(),
        region: inputs.settings.region.name.clone(),
        serial: planned.state.serial,
        lineage: planned.state.lineage.clone(),
        reads,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let shown = shown_plan(&planned.plan, &inputs.settings);
    render_plan(args.format, &shown, &meta, &mut stdout)?;
    // Shown in full first (the reviewer sees what would happen), then refused.
    safety::check(
        &planned.plan,
        &planned.observed,
        mode == Mode::Destroy,
        allow,
    )?;
    if args.strict {
        strict(&planned.plan, &inputs.settings.review.file)?;
    }
    if let Some(out) = &args.out {
        let fingerprint = saved_plan::fingerprint(
            &inputs.settings,
            inputs
                .signing_key
                .as_ref()
                .map(desired::SigningKey::fingerprint)
                .as_deref(),
            mode == Mode::Apply,
        )?;
        let context = saved_plan::SaveContext {
            mode,
            settings: &inputs.settings,
            include_unmanaged: inputs.include_unmanaged,
            fingerprint,
            allow,
            reads,
        };
        saved_plan::write(out, &planned, context)?;
        if text {
            writeln!(
                stdout,
                "\nSaved the plan to {0}. To perform exactly these actions, run: stsform {1} {0} (it carries its settings: no other flag is needed, from any directory)",
                out.display(),
                if mode == Mode::Apply {
                    "apply"
                } else {
                    "destroy"
                }
            )?;
        }
    }
    if let Some(lock) = state_lock {
        unlock(lock, &interrupts).await?;
    }
    Ok(if args.detailed_exitcode && planned.plan.has_changes() {
        2
    } else {
        0
    })
}

/// Refreshes (unless `--refresh=false`) and plans, saying so on a text plan.
async fn plan_with_refresh(
    args: &PlanArgs,
    inputs: &mut Inputs,
    state: crate::state::State,
    mode: Mode,
    text: bool,
    stdout: &mut Stdout,
) -> Result<(workflow::Planned, usize)> {
    let inputs = &mut *inputs;
    Ok(if args.refresh {
        let provider = connect_paced(&inputs.settings, None, args.parallelism.into()).await?;
        thumbprint(inputs, &provider).await;
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
            inputs,
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
                "done ({}, {:.2}s)\n",
                counted(reads, "AWS read", "AWS reads"),
                planned.refresh_time.as_secs_f64()
            )?;
        }
        throttle_note(&provider);
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
            workflow::plan(inputs, &offline, state, mode, false, 1).await?,
            0,
        )
    })
}

/// The plan with its local paths as the user finds them from the working directory
/// (the plan itself records them from the settings base, `crate::paths`).
pub(super) fn shown_plan<'a>(
    plan: &'a crate::plan::Plan,
    settings: &Settings,
) -> crate::plan::Shown<'a> {
    plan.shown(|p| crate::paths::shown(&settings.base, p))
}

pub(super) fn render_plan(
    format: Format,
    plan: &crate::plan::Shown,
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

/// Asks for `yes` on a terminal; refuses without one unless `--auto-approve`, and
/// refuses when stdout is closed (the plan the answer approves was not seen). A signal
/// while waiting ends the command.
async fn confirm(mode: Mode, auto_approve: bool, interrupts: &Interrupts) -> Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    let verb = match mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {verb} without --auto-approve: stdin is not a terminal to ask for confirmation"
        );
    }
    let question = match mode {
        Mode::Apply => "Do you want to perform these actions?",
        Mode::Destroy => "Do you really want to destroy all resources in this state?",
    };
    let mut stdout = Stdout;
    write!(
        stdout,
        "\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    )?;
    stdout.flush()?;
    if crate::output::stdout_closed() {
        bail!(
            "refusing to {verb} without --auto-approve: stdout is closed, so the plan to approve could not be shown"
        );
    }
    // A blocking read on its own thread, so that a signal can end the wait (the thread is
    // left blocked on stdin; the process exits without waiting for it).
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer)
    });
    let answer = interruptible(interrupts, "at the confirmation prompt", async {
        Ok(read.await??)
    })
    .await?;
    Ok(answer.trim() == "yes")
}

pub(super) async fn apply(args: &ApplyArgs, mode: Mode) -> Result<u8> {
    if mode == Mode::Apply && args.include_unmanaged {
        bail!(
            "--include-unmanaged is for destroy: apply never deletes what the state does not hold"
        );
    }
    let flags = allow_of(&args.allow);
    let interrupts = Interrupts::install()?;
    let (state_lock, mut planned, provider, mode, allow, settings) = match &args.plan_file {
        Some(path) => saved(args, mode, path, flags, &interrupts).await?,
        None => {
            let need = match mode {
                Mode::Apply => Need::Cluster,
                Mode::Destroy => Need::StateOnly,
            };
            let (mut inputs, key) = inputs(&args.cluster, need, mode == Mode::Apply, Some(flags))?;
            inputs.include_unmanaged = args.include_unmanaged;
            let store = open_store(&inputs.settings)?;
            let state_lock =
                take_lock(&store, operation(mode), args.lock_timeout, &interrupts).await?;
            let mut state = interruptible(&interrupts, "while reading the state", async {
                Ok(state_lock.load(&inputs.settings.name).await?)
            })
            .await?;
            crate::scope::claim(&mut state, &inputs.settings)?;
            let provider =
                connect_paced(&inputs.settings, key, usize::from(args.parallelism)).await?;
            let planned = interruptible(&interrupts, "while refreshing", async {
                thumbprint(&mut inputs, &provider).await;
                workflow::plan(
                    &inputs,
                    &provider,
                    state,
                    mode,
                    true,
                    usize::from(args.parallelism),
                )
                .await
            })
            .await?;
            (state_lock, planned, provider, mode, flags, inputs.settings)
        }
    };
    let parallelism = usize::from(args.parallelism);
    match &args.plan_file {
        // The saved plan was reviewed when it was made: say what it does, not all of it
        // again (as `terraform apply tfplan`).
        Some(path) => render::text::saved_plan_header(
            &planned.plan,
            &path.display().to_string(),
            mode == Mode::Destroy,
            &mut Stdout,
            color(),
        )?,
        None => render::text::render_colored(
            &shown_plan(&planned.plan, &settings),
            &mut Stdout,
            color(),
        )?,
    }
    safety::check(
        &planned.plan,
        &planned.observed,
        mode == Mode::Destroy,
        allow,
    )?;
    if args.strict && mode == Mode::Apply {
        strict(&planned.plan, &settings.review.file)?;
    }
    // A saved plan was reviewed when it was made; applying it needs no second yes.
    let approved = args.auto_approve || args.plan_file.is_some();
    if planned.plan.has_changes() && !confirm(mode, approved, &interrupts).await? {
        writeln!(
            Stdout,
            "\n{} cancelled.",
            if mode == Mode::Apply {
                "Apply"
            } else {
                "Destroy"
            }
        )?;
        return Ok(1);
    }

    let started = Instant::now();
    // From here a signal stops new changes; running ones finish and the state is saved.
    interrupts.applying();
    let stop = interrupts.stop_flag();
    let total = planned.plan.changes.len();
    let terminal = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
    let bars = terminal.then(|| Bars::new(total, parallelism));
    let lines = Lines::new(Stdout);
    let observer: &dyn Observer = match &bars {
        Some(bars) => bars,
        None => &lines,
    };
    let controls = Controls {
        observer,
        parallelism,
        stop,
    };
    let (outcome, state) = workflow::apply(&mut planned, &provider, &state_lock, controls).await?;
    unlock(state_lock, &interrupts).await?;
    if let Some(bars) = &bars {
        bars.finish();
    }
    let calls = provider.api_calls();
    let throttled = provider.pacer().now().throttled;
    let summary = format!(
        "{} in all ({}, {}{}); changes took {:.2}s",
        counted(calls.reads + calls.writes, "AWS call", "AWS calls"),
        counted(calls.reads, "read", "reads"),
        counted(calls.writes, "write", "writes"),
        if throttled > 0 {
            format!(
                "; {} throttled by AWS and retried",
                counted(throttled, "attempt", "attempts")
            )
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    timings(&planned, &outcome, started.elapsed());
    // Adopted resources are counted as such; those that needed no update changed nothing.
    let adopted: Vec<&crate::plan::Change> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.reason == crate::plan::Reason::Adopted)
        .filter(|c| outcome.succeeded.iter().any(|(id, _)| *id == c.id))
        .collect();
    let adoptions = Adoptions {
        adopted: adopted.len(),
        unchanged: adopted.iter().filter(|c| c.attributes.is_empty()).count(),
    };
    report(
        &outcome,
        mode,
        state.serial,
        &summary,
        stop.load(std::sync::atomic::Ordering::SeqCst),
        adoptions,
    )
}

/// `note: AWS throttled 12 call attempts (IAM 12); …` on stderr, when it did.
fn throttle_note(provider: &AwsProvider) {
    use crate::pacing::Service;
    let pacer = provider.pacer();
    let by: Vec<String> = Service::ALL
        .into_iter()
        .filter(|s| pacer.throttled(*s) > 0)
        .map(|s| format!("{s} {}", pacer.throttled(s)))
        .collect();
    if by.is_empty() {
        return;
    }
    error_line(&format!(
        "note: AWS throttled {} ({}); stsform ran fewer calls at once and retried them",
        counted(pacer.now().throttled, "call attempt", "call attempts"),
        by.join(", ")
    ));
}

/// With `STSFORM_TIMINGS=1`, one line on stderr saying where an apply's time went, for
/// the benchmark (`examples/bench`): not for users, and not a stable format.
fn timings(planned: &workflow::Planned, outcome: &Outcome, changes: Duration) {
    if std::env::var_os("STSFORM_TIMINGS").is_none_or(|v| v != "1") {
        return;
    }
    let saves = outcome.saves;
    error_line(&format!(
        "timings: refresh {:.3}s; changes {:.3}s; state saves {} taking {:.3}s, {:.3}s of it holding up changes",
        planned.refresh_time.as_secs_f64(),
        changes.as_secs_f64(),
        saves.count,
        saves.saving.as_secs_f64(),
        saves.blocked.as_secs_f64(),
    ));
}

/// Resources apply adopted, and how many of them needed no update.
struct Adoptions {
    adopted: usize,
    unchanged: usize,
}

fn operation(mode: Mode) -> &'static str {
    match mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    }
}

/// Everything `apply PLANFILE` / `destroy PLANFILE` runs with, from the plan file alone.
type SavedRun = (
    crate::state::Lock,
    workflow::Planned,
    Arc<AwsProvider>,
    Mode,
    Allow,
    Settings,
);

/// Reads a saved plan and checks it still holds: flags beside it agree, the state, the
/// request files and the signing key are as they were. Runs in the directory the plan was
/// made in when it exists here, so relative paths mean what they meant then. The refusals
/// lifted when the plan was made stay lifted (the plan was reviewed with them).
async fn saved(
    args: &ApplyArgs,
    mode: Mode,
    path: &std::path::Path,
    flags: Allow,
    interrupts: &Interrupts,
) -> Result<SavedRun> {
    let origin = path.display().to_string();
    let saved = saved_plan::read(path)?;
    if mode == Mode::Destroy && saved.mode == Mode::Apply {
        bail!("{origin} is an apply plan; run `stsform apply {origin}`");
    }
    let invoked_in = std::env::current_dir().context("cannot tell the working directory")?;
    saved_plan::check_flags(
        &saved,
        &args.cluster.settings_input(),
        args.include_unmanaged,
        &invoked_in,
        &origin,
    )?;
    if saved.working_dir != invoked_in {
        if saved.working_dir.is_dir() {
            std::env::set_current_dir(&saved.working_dir).with_context(|| {
                format!(
                    "cannot change to {}, where the plan was made",
                    saved.working_dir.display()
                )
            })?;
        } else {
            error_line(&format!(
                "note: {} (where {origin} was made) does not exist here; its relative paths are read from {}",
                saved.working_dir.display(),
                invoked_in.display()
            ));
        }
    }
    let settings = saved.settings.clone();
    let allow = saved.allow.and(flags);
    let key = workflow::signing_key(&settings, false)?;
    let kids = key.public.as_ref().map(desired::SigningKey::fingerprint);
    let now = saved_plan::fingerprint(
        &settings,
        kids.as_deref(),
        saved.fingerprint.requests.is_some(),
    )
    .with_context(|| format!("{origin}: the plan cannot be checked against its inputs"))?;
    let store = open_store(&settings)?;
    let state_lock =
        take_lock(&store, operation(saved.mode), args.lock_timeout, interrupts).await?;
    let mut state = interruptible(interrupts, "while reading the state", async {
        Ok(state_lock.load(&settings.name).await?)
    })
    .await?;
    crate::scope::claim(&mut state, &settings)?;
    // As when the plan was made (from the same directory): its paths are anchored so.
    workflow::anchor_local_paths(&mut state, &settings)?;
    saved_plan::check(&saved, &state, &now, &origin)?;
    let mut plan = saved.plan;
    let private = workflow::key_for_saved_plan(&mut plan, &settings, key)?;
    let provider = connect_paced(&settings, private, usize::from(args.parallelism)).await?;
    let planned = workflow::Planned {
        plan,
        state,
        observed: saved.observed,
        reads: 0,
        refresh_time: Duration::ZERO,
    };
    Ok((state_lock, planned, provider, saved.mode, allow, settings))
}

/// Prints how apply ended and picks the exit code.
fn report(
    outcome: &Outcome,
    mode: Mode,
    serial: u64,
    summary: &str,
    interrupted: bool,
    adoptions: Adoptions,
) -> Result<u8> {
    let count = |a: Action| outcome.succeeded.iter().filter(|(_, x)| *x == a).count();
    let replaced = count(Action::Replace);
    let adopted = if adoptions.adopted > 0 {
        format!("{} adopted, ", adoptions.adopted)
    } else {
        String::new()
    };
    let mut stdout = Stdout;
    if outcome.is_complete() {
        match mode {
            Mode::Apply => writeln!(
                stdout,
                "\nApply complete! Resources: {adopted}{} added, {} changed, {} destroyed. ({summary})",
                count(Action::Create) + replaced,
                count(Action::Update) - adoptions.unchanged,
                count(Action::Delete) + replaced
            )?,
            Mode::Destroy => writeln!(
                stdout,
                "\nDestroy complete! Resources: {} destroyed. ({summary})",
                count(Action::Delete)
            )?,
        }
        return Ok(0);
    }
    error_line("");
    for f in &outcome.failed {
        error_line(&format!("error: {}", f.error));
    }
    if let Some(e) = &outcome.save_error {
        error_line(&format!("error: saving the state failed: {e}"));
    }
    writeln!(
        stdout,
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
    )?;
    Ok(1)
}
