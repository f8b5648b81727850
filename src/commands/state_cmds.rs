//! `state list|show|rm`, `force-unlock` and `import`: working on the state itself.

use super::*;

/// The state store named by `state`/`name`/`config` alone (`state` subcommands and
/// `force-unlock`), and the cluster name the state must belong to (`None` when only the
/// location was given). An S3 state's bucket is read in `--region`, else the config
/// file's region, else the AWS default region.
fn state_store_of(args: &StateArgs) -> Result<(StateStore, Option<String>)> {
    let (store, name, _) = state_settings_of(args)?;
    Ok((store, name))
}

/// [`state_store_of`], with the settings it was found with.
fn state_settings_of(args: &StateArgs) -> Result<(StateStore, Option<String>, Settings)> {
    let input = args.settings_input();
    let settings = settings::resolve(&input, Need::NameOnly)?;
    let region = args.region.clone().or_else(|| {
        settings::resolve(&input, Need::StateOnly)
            .ok()
            .map(|s| s.region.name)
    });
    let named = input.name.is_some() || args.config.is_some() || args.state.is_none();
    let store = StateStore::open(&settings.state, region.as_deref())?;
    Ok((store, named.then_some(settings.name.clone()), settings))
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

/// A state never saved (serial 0: every save increments it) is not there at all: a
/// mistyped `--name` or `--state` must not look like an empty state.
fn existing(store: &StateStore, state: crate::state::State) -> Result<crate::state::State> {
    if state.serial == 0 {
        bail!(
            "{}: no state there (nothing was ever saved to it); check --name, --state or --config",
            store.location()
        );
    }
    Ok(state)
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

pub(super) async fn state_command(command: &StateCommand) -> Result<u8> {
    match command {
        StateCommand::List(args) => {
            let (store, name) = state_store_of(args)?;
            let state = existing(&store, read_state(&store, name.as_deref()).await?)?;
            let mut ids: Vec<String> = state.resources.keys().map(ToString::to_string).collect();
            ids.sort();
            let mut out = Stdout;
            for id in ids {
                writeln!(out, "{id}")?;
            }
            Ok(0)
        }
        StateCommand::Show { id, state: args } => {
            let (store, name) = state_store_of(args)?;
            let state = existing(&store, read_state(&store, name.as_deref()).await?)?;
            let parsed: crate::resource::ResourceId = id
                .parse()
                .map_err(|e| anyhow::anyhow!("`{id}` is not a resource address: {e}"))?;
            let Some(resource) = state.resources.get(&parsed) else {
                bail!(
                    "{}: no resource `{id}` in the state (see `stsform state list`)",
                    store.location()
                );
            };
            let mut out = Stdout;
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
            let (store, name, settings) = state_settings_of(args)?;
            // Checked before locking, so a mistyped name leaves no lock file behind.
            let cluster = existing(&store, read_state(&store, name.as_deref()).await?)?.cluster;
            let interrupts = Interrupts::install()?;
            let lock = take_lock(&store, "state rm", *lock_timeout, &interrupts).await?;
            let mut state = lock.load(&cluster).await?;
            // Saved as the current format: an older state's local paths are anchored first.
            workflow::anchor_local_paths(&mut state, &settings)?;
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
            unlock(lock, &interrupts).await?;
            let mut out = Stdout;
            for id in &targets {
                writeln!(out, "Removed {id}")?;
            }
            writeln!(
                out,
                "Successfully removed {} resource{} from the state (serial {}). They still exist; stsform no longer manages them.",
                targets.len(),
                if targets.len() == 1 { "" } else { "s" },
                state.serial
            )?;
            Ok(0)
        }
    }
}

pub(super) async fn force_unlock(args: &ForceUnlockArgs) -> Result<u8> {
    let (store, _) = state_store_of(&args.state)?;
    store.force_unlock(&args.id).await?;
    writeln!(
        Stdout,
        "{} has been unlocked (lock id {}). Make sure no stsform is still working on it.",
        store.location(),
        args.id
    )?;
    Ok(0)
}

pub(super) async fn import(args: &ImportArgs) -> Result<u8> {
    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false, None)?;
    let settings = &inputs.settings;
    let store = open_store(settings)?;
    let interrupts = Interrupts::install()?;
    let lock = take_lock(&store, "import", args.lock_timeout, &interrupts).await?;
    let mut state = interruptible(&interrupts, "while reading the state", async {
        Ok(lock.load(&settings.name).await?)
    })
    .await?;
    crate::scope::claim(&mut state, settings)?;
    workflow::anchor_local_paths(&mut state, settings)?;
    crate::import::require_empty(&state, &store.location().to_string())?;
    let provider = connect(settings, None).await?;
    let report = interruptible(&interrupts, "while reading AWS", async {
        workflow::import(&inputs, &provider, &mut state, 10).await
    })
    .await?;
    lock.save(&mut state).await?;
    unlock(lock, &interrupts).await?;

    let mut out = Stdout;
    writeln!(
        out,
        "Importing cluster {} into {}:\n",
        settings.name,
        store.location()
    )?;
    for id in &report.imported {
        writeln!(out, "  imported   {id}")?;
    }
    for id in &report.untracked {
        writeln!(
            out,
            "  imported   {id} (tagged for {}, derived from no current request)",
            settings.name
        )?;
    }
    for id in report.not_found() {
        writeln!(out, "  not found  {id}")?;
    }
    for (id, why) in report.not_owned() {
        writeln!(out, "  not owned  {id}: {why}")?;
    }
    let not_found = report.not_found().count();
    let not_owned = report.not_owned().count();
    let imported = report.imported.len() + report.untracked.len();
    writeln!(
        out,
        "\nImported {imported} resource{}, {not_found} not found (the next apply creates them), {not_owned} not owned (left alone). State saved (serial {}).",
        if imported == 1 { "" } else { "s" },
        state.serial
    )?;
    if !report.untracked.is_empty() {
        writeln!(
            out,
            "\nnote: {} of them no current request derives (a request removed from the directory, or an old provider): the next plan deletes them; `stsform destroy` removes them with the rest.",
            report.untracked.len()
        )?;
    }

    // The signing key decides the JWKS; say plainly what can and cannot be rebuilt.
    let private = settings.output_dir.join("serviceaccount-signer.private");
    match crate::import::key_advice(settings, &report, private.exists()) {
        None => {}
        Some(crate::import::KeyAdvice::PublicKeyOnly(public)) => writeln!(
            out,
            "\nnote: keys.json (the JWKS) serves the public key{} in {}: it is compared with {} and still matches the cluster, but without the private key stsform cannot write {} (the installer's copy of the private key); keep ccoctl's copy.",
            if public.len() == 1 { "" } else { "s" },
            public
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if public.len() == 1 { "it" } else { "them" },
            desired::INSTALLER_KEY
        )?,
        Some(crate::import::KeyAdvice::WouldGenerate) => writeln!(
            out,
            "\nwarning: no key pair in {}: the next apply would generate a NEW signing key and replace keys.json, which breaks every token the cluster issues. Copy serviceaccount-signer.private and serviceaccount-signer.public from ccoctl's output dir first, or pass --public-key-file (then only {} cannot be regenerated).",
            settings.output_dir.display(),
            desired::INSTALLER_KEY
        )?,
    }
    writeln!(
        out,
        "\nRun `stsform plan` with the same settings to see the remaining differences."
    )?;
    Ok(0)
}
