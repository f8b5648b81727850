//! The plan and apply workflows, generic over the provider.
//!
//! Wires refresh (with the account summary beside it) → derive → discover → plan::compute
//! → the review's findings, and graph::build → execute::apply
//! (and import: derive → discover → import::record), so the CLI (with the AWS provider)
//! and the scenario tests (with the fake, and with AWS against the emulator) run the same
//! code. Also where a run's signing key comes from, a saved plan's included. Must not
//! print or prompt: `commands` does that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tokio::sync::Semaphore;

use crate::credentials_request::CredentialsRequest;
use crate::desired::{self, Desired, Facts, SigningKey};
use crate::discover;
use crate::execute::{self, Controls, Outcome, Save};
use crate::graph;
use crate::plan::{self, Observed, Plan};
use crate::private_issuer;
use crate::provider::Provider;
use crate::refresh;
use crate::resource::{Spec, contains_unknown};
use crate::settings::Settings;
use crate::state::{SaveState, State};

/// What the configuration asks for.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Merged, validated settings.
    pub settings: Settings,
    /// Loaded requests.
    pub requests: Vec<CredentialsRequest>,
    /// The signing key's public facts (`None` before the key exists, and in day-2 mode).
    pub signing_key: Option<SigningKey>,
    /// Thumbprint computed from the issuer's certificate chain, when it was reachable.
    pub thumbprint: Option<String>,
    /// Destroy also deletes the cluster's tagged resources that the state does not hold
    /// (`--include-unmanaged`); otherwise the plan only lists them.
    pub include_unmanaged: bool,
    /// The review's warnings about the requests (`review::requests`), found before any
    /// AWS call; an apply plan carries them.
    pub findings: Vec<crate::review::Finding>,
}

/// Apply the configuration, or tear everything down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Make AWS and the output dir match the configuration.
    Apply,
    /// Delete everything the state holds.
    Destroy,
}

/// A computed plan with what it was computed from.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// State as read before planning.
    pub state: State,
    /// What the refresh found.
    pub observed: Observed,
    /// Reads made by the refresh.
    pub reads: usize,
    /// How long the refresh took.
    pub refresh_time: Duration,
}

/// The AWS account the state was applied in, read from a recorded ARN.
pub fn recorded_account(state: &State) -> Option<String> {
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

/// The provider's thumbprints: `--thumbprint`, else the one computed from the issuer, else
/// whatever the live provider has. The last rule keeps an unreachable issuer (offline
/// runs, emulators) from planning the removal of a thumbprint on every run.
fn thumbprints(inputs: &Inputs, observed: &Observed) -> Vec<String> {
    if let Some(t) = inputs
        .settings
        .thumbprint
        .as_ref()
        .or(inputs.thumbprint.as_ref())
    {
        return vec![t.clone()];
    }
    let recorded = observed.resources.values().find_map(|o| match &o.live {
        Some(Spec::IamOidcProvider(p)) => Some(p.thumbprints.clone()),
        _ => None,
    });
    // A provider about to be adopted (found tagged, not in the state) keeps its own too.
    let issuer = desired::issuer(&inputs.settings, &private_known(observed));
    let adopted = || {
        observed
            .discovery
            .tagged
            .values()
            .find_map(|f| match &f.spec {
                Spec::IamOidcProvider(p) if p.url == issuer => Some(p.thumbprints.clone()),
                _ => None,
            })
    };
    recorded.or_else(adopted).unwrap_or_default()
}

/// What AWS assigned a private issuer's OAC and distribution, as far as the state (live
/// after a refresh, as recorded without one) or the discovery scan knows it. Derive fills
/// these in instead of late tokens; what is gone is unknown again (a new distribution
/// gets a new domain).
pub fn private_known(observed: &Observed) -> private_issuer::Known {
    let live = observed.resources.values().filter_map(|o| o.live.as_ref());
    let found = observed.discovery.tagged.values().map(|f| &f.spec);
    let mut known = private_issuer::Known::default();
    for spec in live.chain(found) {
        match spec {
            Spec::CloudFrontOriginAccessControl(o)
                if known.oac_id.is_none() && !contains_unknown(&o.id) =>
            {
                known.oac_id = Some(o.id.clone());
            }
            Spec::CloudFrontDistribution(d)
                if known.distribution.is_none()
                    && !contains_unknown(&d.id)
                    && !contains_unknown(&d.domain_name) =>
            {
                known.distribution = Some((d.id.clone(), d.domain_name.clone()));
            }
            _ => {}
        }
    }
    known
}

/// The kids the state recorded for the cluster's keys.json (what stsform last wrote), in
/// document order; none when it holds none. Derive keeps their order and serves other keys
/// after them (`SigningKey::jwks_keeping`). Not the live document's order: a key merged in
/// outside stsform is newer than the recorded ones wherever the merge put it.
fn recorded_kids(inputs: &Inputs, observed: &Observed) -> Vec<String> {
    let bucket = inputs.settings.bucket_name();
    observed
        .resources
        .values()
        .find_map(|o| match &o.recorded {
            Spec::S3Object(o) if o.bucket == bucket && o.key == desired::JWKS_KEY => {
                Some(crate::jwks::kids(&o.content))
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Refreshes (unless `refresh` is false) and computes the plan.
///
/// First (before any provider call) the state must match what the settings manage
/// (`scope::claim`, which also records it). Then every read the plan needs runs at once,
/// in one pool of `parallelism` reads: the account's id (GetCallerIdentity), a day-2
/// run's provider its roles will trust (`refresh::identity_provider`), the refresh of
/// the state and the discovery scan. None of them needs another's answer: discovery
/// needs only which resources are desired, which derive tells without the account (the
/// account is only in ARNs). An apply also reads IAM's account summary, beside them.
/// Derive then runs again with the account and the thumbprints the reads found.
pub async fn plan<P: Provider>(
    inputs: &Inputs,
    provider: &Arc<P>,
    state: State,
    mode: Mode,
    refresh: bool,
    parallelism: usize,
) -> Result<Planned> {
    let mut state = state;
    crate::scope::claim(&mut state, &inputs.settings)?;
    anchor_local_paths(&mut state, &inputs.settings)?;
    let started = Instant::now();
    let facts = |account: Option<String>, observed: &Observed| Facts {
        account_id: account,
        signing_key: inputs.signing_key.clone(),
        thumbprints: thumbprints(inputs, observed),
        private: private_known(observed),
        recorded_kids: recorded_kids(inputs, observed),
    };
    let derive = |facts: &Facts| -> Result<Desired> {
        Ok(match mode {
            Mode::Destroy => Desired::empty(),
            Mode::Apply => desired::derive(&inputs.requests, &inputs.settings, facts)?,
        })
    };
    if !refresh {
        let observed = refresh::unrefreshed(&state);
        let desired = derive(&facts(recorded_account(&state), &observed))?;
        let plan = compute(inputs, &desired, &observed, mode, None);
        return Ok(Planned {
            plan,
            state,
            observed,
            reads: 0,
            refresh_time: started.elapsed(),
        });
    }
    let wanted = derive(&facts(None, &refresh::unrefreshed(&state)))?;
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    let scope = scope(&inputs.settings, &state);
    let permit = || async {
        Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("never closed")
    };
    // Boxed: SDK calls' state machines side by side are large for a stack.
    let (account, trusted, summary, observed, found) = tokio::join!(
        Box::pin(async {
            let _permit = permit().await;
            provider.account_id().await
        }),
        Box::pin(async {
            match (&inputs.settings.identity_provider_arn, mode) {
                (Some(arn), Mode::Apply) => {
                    let _permit = permit().await;
                    refresh::identity_provider(provider.as_ref(), arn).await
                }
                _ => Ok(()),
            }
        }),
        // An apply plan reads IAM's account summary once: the review compares it with
        // what the plan creates.
        Box::pin(async {
            if mode == Mode::Apply {
                let _permit = permit().await;
                Some(provider.account_summary().await)
            } else {
                None
            }
        }),
        Box::pin(refresh::refresh_with(
            Arc::clone(provider),
            &state,
            &permits
        )),
        Box::pin(discover::discover_with(
            provider, &scope, &state, &wanted, &permits
        )),
    );
    // Reported in the order the stages used to run: the account, the trusted provider,
    // the refresh, the scan.
    let account = account?;
    trusted?;
    let mut observed = observed.map_err(|errors| failed("refresh failed for", &errors))?;
    let scan_failed = |errors: Vec<crate::provider::ProviderError>| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!(
            "looking for the cluster's resources outside the state failed:\n{}",
            lines.join("\n")
        )
    };
    observed.discovery = found.map_err(scan_failed)?;
    let mut desired = derive(&facts(Some(account.clone()), &observed))?;
    // The ids derive wants depend on the account nowhere, but on a private issuer's
    // distribution (its provider is named by the distribution's domain): one found by
    // the scan alone (made by an interrupted apply whose state was lost) names new ids.
    // Scan again with them, so that what is adopted is read against what is wanted.
    if !desired.resources.keys().eq(wanted.resources.keys()) {
        observed.discovery = discover::discover_with(provider, &scope, &state, &desired, &permits)
            .await
            .map_err(scan_failed)?;
        desired = derive(&facts(Some(account), &observed))?;
    }
    refuse_untagged(&observed.discovery, &scope)?;
    let refresh_time = started.elapsed();
    let plan = compute(inputs, &desired, &observed, mode, summary);
    Ok(Planned {
        plan,
        reads: state.resources.len(),
        state,
        observed,
        refresh_time,
    })
}

/// `refresh failed for 2 resources:` and one indented line per error.
fn failed(what: &str, errors: &[crate::provider::ProviderError]) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    anyhow::anyhow!(
        "{what} {} resource{}:\n{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

/// The plan of `mode`: against an empty configuration for a destroy, where every
/// deletion reads "destroy requested" instead of "no longer in the configuration"; for an
/// apply, with the review's findings (against the account `summary`, when read).
fn compute(
    inputs: &Inputs,
    desired: &Desired,
    observed: &Observed,
    mode: Mode,
    summary: Option<crate::provider::ProviderResult<crate::review::AccountSummary>>,
) -> Plan {
    let mut plan = plan::compute_with(desired, observed, inputs.include_unmanaged);
    if mode == Mode::Destroy {
        for change in &mut plan.changes {
            if change.reason == plan::Reason::NoLongerWanted {
                change.reason = plan::Reason::DestroyRequested;
            }
        }
    } else {
        // A summary that cannot be read (a CI role without iam:GetAccountSummary) leaves
        // the quotas unchecked, and the plan says so rather than failing.
        let summary = match summary {
            Some(Ok(summary)) => Some(summary),
            Some(Err(e)) => {
                plan.notes
                    .push(format!("the account's IAM quotas were not checked: {e}"));
                None
            }
            None => None,
        };
        let (findings, notes) = crate::review::plan_findings(
            &inputs.findings,
            summary.as_ref(),
            &plan,
            &inputs.settings.review,
        );
        plan.findings = findings;
        plan.notes.extend(notes);
        plan.account = summary;
    }
    plan
}

/// Records an older state's local paths relative to the settings base (`paths::anchor`:
/// they are read from the working directory, as the stsform that wrote them read them).
/// Before any read, so that refresh looks where the files are.
pub fn anchor_local_paths(state: &mut State, settings: &Settings) -> Result<()> {
    if state.local_paths == crate::state::LocalPaths::WorkingDir {
        let cwd = std::env::current_dir()
            .map_err(|e| anyhow::anyhow!("cannot tell the working directory: {e}"))?;
        crate::paths::anchor(state, settings, &cwd);
    }
    Ok(())
}

/// Where the discovery scan looks for a cluster's resources.
pub fn scope(settings: &Settings, state: &State) -> discover::Scope {
    discover::Scope {
        cluster: settings.name.clone(),
        ownership_key: settings.ownership_tag_key(),
        region: settings.region.name.clone(),
        roles_only: settings.identity_provider_arn.is_some()
            || discover::state_is_roles_only(state),
    }
}

/// Refuses a plan that would create a resource that exists without the cluster's
/// ownership tag: neither adopting nor overwriting it is ours to do, and apply would fail
/// on it half-way.
fn refuse_untagged(found: &discover::Discovery, scope: &discover::Scope) -> Result<()> {
    if found.untagged.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = found
        .untagged
        .iter()
        .map(|(id, why)| format!("  {id}: {why}"))
        .collect();
    bail!(
        "the plan would create resources that already exist in AWS without the cluster's ownership tag; stsform neither adopts nor overwrites them:\n{}\nDelete or rename them, tag them `{}` if they are this cluster's (they are then adopted), or choose another --name. Nothing was changed.",
        lines.join("\n"),
        scope.ownership_key,
    );
}

/// Executes a plan, saving the state after every change. Returns what happened.
///
/// Takes the refresh's findings (`planned.observed`) and the loaded state's resources
/// (`planned.state.resources`) out of `planned` once the state to start from is built
/// from them: execution needs only the plan and that state, and at scale those two
/// copies of every resource were a third of apply's memory. `planned.plan`, the state's
/// serial and lineage and the refresh figures stay.
pub async fn apply<P: Provider>(
    planned: &mut Planned,
    provider: &Arc<P>,
    state_file: &impl SaveState,
    controls: Controls<'_>,
) -> Result<(Outcome, State)> {
    let unresolvable = planned.plan.unresolvable();
    if !unresolvable.is_empty() {
        bail!(
            "the plan still has values only known after apply that this apply cannot learn ({}); it cannot be applied as is",
            unresolvable
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Start from what AWS holds now, so no save ever claims what is gone. The live specs
    // move from the refresh's findings into that state: no copy.
    let observed = std::mem::take(&mut planned.observed);
    let mut state = refresh::refreshed_state(&planned.state, observed);
    let loaded = std::mem::take(&mut planned.state.resources);
    if !planned.plan.has_changes() {
        // An older format is written again even without changes, so that its local paths
        // are recorded from the settings base from now on (`paths::anchor`).
        if state.resources != loaded || planned.state.version < crate::state::STATE_VERSION {
            state_file.save_state(&mut state)?;
        }
        return Ok((Outcome::default(), state));
    }
    drop(loaded);
    let graph = graph::build(&planned.plan)?;
    // Saved beside the work when the store can be, else on the executor's task.
    let mut inline = |s: &mut State| -> Result<()> { Ok(state_file.save_state(s)?) };
    let save = match state_file.detached() {
        Some(detached) => {
            let save = move |s: &mut State| -> Result<()> { Ok(detached(s)?) };
            Save::Background(Arc::new(save))
        }
        None => Save::Inline(&mut inline),
    };
    let outcome = execute::apply(
        &planned.plan,
        &graph,
        Arc::clone(provider),
        &mut state,
        save,
        controls,
    )
    .await;
    Ok((outcome, state))
}

/// `import`: fills the empty `state` with what exists and is the cluster's. Derives what
/// the inputs ask for (with the account's id), reads the desired local resources where
/// derive puts them, scans AWS for everything that carries the cluster's ownership tag
/// (as `plan` scans it, at most `parallelism` reads at once), and records it
/// (`import::record`).
pub async fn import<P: Provider>(
    inputs: &Inputs,
    provider: &Arc<P>,
    state: &mut State,
    parallelism: usize,
) -> Result<crate::import::Report> {
    let settings = &inputs.settings;
    let account = provider.account_id().await?;
    let mut facts = Facts {
        account_id: Some(account),
        signing_key: inputs.signing_key.clone(),
        thumbprints: Vec::new(),
        private: private_issuer::Known::default(),
        recorded_kids: Vec::new(),
    };
    let mut desired = desired::derive(&inputs.requests, settings, &facts)?;
    let mut local = std::collections::BTreeMap::new();
    for (id, resource) in &desired.resources {
        if !id.kind.is_remote() {
            local.insert(id.clone(), provider.read(id, &resource.spec).await?);
        }
    }
    let empty: &State = state;
    let scan = |desired: Desired| async move {
        discover::discover(
            provider,
            &scope(settings, empty),
            empty,
            &desired,
            parallelism,
        )
        .await
        .map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            anyhow::anyhow!("reading the cluster from AWS failed:\n{}", lines.join("\n"))
        })
    };
    let mut found = scan(desired.clone()).await?;
    // A private issuer's ids (the OIDC provider's is its distribution's domain) are known
    // once the scan has found its distribution: derive again with them, and read what
    // was found against it.
    let observed = Observed {
        discovery: found.clone(),
        ..Observed::default()
    };
    facts.private = private_known(&observed);
    if facts.private != private_issuer::Known::default() {
        desired = desired::derive(&inputs.requests, settings, &facts)?;
        found = scan(desired.clone()).await?;
    }
    Ok(crate::import::record(&desired, &local, &found, state))
}

/// The signing key for a run: the private half to write (if any) and the public facts.
pub struct KeyMaterial {
    /// Handed to the provider, which writes it where the plan says.
    pub private: Option<crate::keypair::PrivateKey>,
    /// What derive needs.
    pub public: Option<SigningKey>,
}

/// Finds the keys keys.json serves. Without `--public-key-file`: the output dir's key pair,
/// else (when `generate`, i.e. for apply) a new RSA 4096 key held in memory until apply
/// writes it; `plan` never generates, it shows the kid as unknown instead. With
/// `--public-key-file`s: those keys, in the order given, and the output dir's key pair
/// (managed, its private half written) only when one of them is its public key. Day-2 mode
/// has no key.
pub fn signing_key(settings: &Settings, generate: bool) -> Result<KeyMaterial> {
    use crate::keypair::{self, KeyError, PrivateKey, PublicKey};
    let none = || KeyMaterial {
        private: None,
        public: None,
    };
    if settings.identity_provider_arn.is_some() {
        return Ok(none());
    }
    if !settings.public_key_files.is_empty() {
        let mut keys: Vec<(PublicKey, &std::path::Path)> = Vec::new();
        for path in &settings.public_key_files {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{shown}: cannot read the public key: {e}"))?;
            let key = PublicKey::from_pem(&text, &shown)?;
            if let Some((_, first)) = keys.iter().find(|(k, _)| *k == key) {
                bail!(
                    "{shown}: holds the same public key (kid {}) as {}; give each key once",
                    key.kid(),
                    first.display()
                );
            }
            keys.push((key, path));
        }
        // A ccoctl output dir with only the public key (bring your own key) is no pair.
        let own = match keypair::load_from_dir(&settings.output_dir) {
            Ok(own) => own,
            Err(KeyError::MissingPrivate { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let own = own.filter(|(_, public)| keys.iter().any(|(k, _)| k == public));
        let keys: Vec<PublicKey> = keys.into_iter().map(|(k, _)| k).collect();
        let key_pair = own.as_ref().map(|(_, public)| public.kid());
        return Ok(KeyMaterial {
            private: own.map(|(private, _)| private),
            public: Some(SigningKey::served(&keys, key_pair)),
        });
    }
    if let Some((private, public)) = keypair::load_from_dir(&settings.output_dir)? {
        return Ok(KeyMaterial {
            private: Some(private),
            public: Some(SigningKey::key_pair(&public)),
        });
    }
    if !generate {
        return Ok(none());
    }
    let private = PrivateKey::generate()?;
    let public = SigningKey::key_pair(&private.public_key());
    Ok(KeyMaterial {
        private: Some(private),
        public: Some(public),
    })
}

/// The private key a saved plan is applied with: the one on disk (`key`), unless the plan
/// still says "(known after apply)" for it. Then the plan was made before the key existed
/// (only the signing key can still be unknown in a refreshed plan): its first apply
/// generates the key, as a plain apply would, and fills it in where the plan needs it.
pub fn key_for_saved_plan(
    plan: &mut Plan,
    settings: &Settings,
    key: KeyMaterial,
) -> Result<Option<crate::keypair::PrivateKey>> {
    // Late values (a private issuer's distribution) are apply's to fill in, not the key's.
    if !plan.has_plain_unknowns() {
        return Ok(key.private);
    }
    let generated = signing_key(settings, true)?;
    if let Some(public) = &generated.public {
        fill_signing_key(plan, public);
    }
    Ok(generated.private)
}

/// Fills in the signing key where a saved plan said "(known after apply)": the first apply
/// of a saved plan generates the key, and only these attributes can depend on it.
fn fill_signing_key(plan: &mut Plan, key: &SigningKey) {
    use crate::resource::{FileContent, UNKNOWN};
    // Only a generated key pair is unknown in a saved plan, and it is served alone.
    let Some(kid) = key.key_pair.clone() else {
        return;
    };
    for change in &mut plan.changes {
        match change.after.as_mut() {
            Some(Spec::KeyPair(k)) if k.kid == UNKNOWN => k.kid = kid.clone(),
            Some(Spec::S3Object(o)) if o.content == UNKNOWN && o.key == desired::JWKS_KEY => {
                o.content = key.jwks.clone();
            }
            Some(Spec::File(f)) => {
                if let FileContent::PrivateKeyCopy { kid: copy } = &mut f.content
                    && copy == UNKNOWN
                {
                    *copy = kid.clone();
                }
            }
            _ => {}
        }
    }
}

/// Where a signing-key rotation stands: reads what keys.json serves live (one read) and
/// what the state recorded for it, and hands them with the keys `keys` says the settings
/// serve to `rotation::status`. `flags` are the settings flags as given, which the printed
/// commands repeat (for plan and apply, and those `verify` takes). The new key is to be
/// saved as the first `serviceaccount-signer-N.public` (N ≥ 2) of the output dir that
/// neither exists nor is a served key's, so the step that saves it never overwrites one.
pub async fn rotation<P: Provider>(
    provider: &P,
    settings: &Settings,
    state: &State,
    keys: Option<&SigningKey>,
    flags: (Vec<String>, Vec<String>),
) -> Result<crate::rotation::Status> {
    use crate::resource::{ObjectSpec, ResourceId, ResourceKind};
    use crate::rotation::{Configured, Served, Situation};
    if settings.identity_provider_arn.is_some() {
        bail!(
            "rotate-key works on a cluster's own issuer; a day-2 state (--identity-provider-arn) \
             serves no keys"
        );
    }
    let bucket = settings.bucket_name();
    let id = ResourceId::new(
        ResourceKind::S3Object,
        format!("{bucket}/{}", desired::JWKS_KEY),
    );
    let recorded = state.resources.get(&id).map(|r| r.spec.clone());
    let recorded_kids = match &recorded {
        Some(Spec::S3Object(o)) => Some(crate::jwks::kids(&o.content)),
        _ => None,
    };
    // Read like a refresh reads it; without a record, from what derive would write.
    let probe = recorded.unwrap_or_else(|| {
        Spec::S3Object(ObjectSpec {
            bucket: bucket.clone(),
            key: desired::JWKS_KEY.to_string(),
            content_type: "application/json".to_string(),
            tags: settings.ownership_tags(),
            content: String::new(),
        })
    });
    let served = match provider.read(&id, &probe).await? {
        Some(Spec::S3Object(o)) => match crate::jwks::keys(&o.content) {
            crate::jwks::Keys::Invalid(why) => Served::Invalid(why),
            crate::jwks::Keys::Unknown => Served::Invalid("a placeholder".into()),
            crate::jwks::Keys::Keys(_) => Served::Kids(crate::jwks::kids(&o.content)),
        },
        _ => Served::Missing,
    };
    let own_public = settings.output_dir.join(crate::keypair::PUBLIC_KEY_FILE);
    let configured: Vec<Configured> = if settings.public_key_files.is_empty() {
        vec![Configured {
            kid: keys.and_then(|k| k.key_pair.clone()),
            path: own_public.clone(),
        }]
    } else {
        // `signing_key` refuses a key given twice, so files and kids pair up in order.
        let kids = keys.map(|k| k.kids.clone()).unwrap_or_default();
        settings
            .public_key_files
            .iter()
            .zip(kids)
            .map(|(path, kid)| Configured {
                kid: Some(kid),
                path: path.clone(),
            })
            .collect()
    };
    // Public key files found in the output dir name served keys in printed commands: the
    // key pair's, and those saved where earlier rotate-key runs said
    // (`serviceaccount-signer-N.public`). Hints only: a file that does not parse is passed over.
    let mut candidates = vec![(1, own_public.clone())];
    if let Ok(entries) = std::fs::read_dir(&settings.output_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix("serviceaccount-signer-")
                .and_then(|rest| rest.strip_suffix(".public"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                candidates.push((n, settings.output_dir.join(&name)));
            }
        }
    }
    candidates.sort();
    let mut known = Vec::new();
    for (_, path) in candidates {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(key) = crate::keypair::PublicKey::from_pem(&text, &path.display().to_string())
        {
            known.push((key.kid(), path));
        }
    }
    let taken = |p: &std::path::Path| p.exists() || configured.iter().any(|c| c.path == p);
    let new_key_file = (2..)
        .map(|n| {
            settings
                .output_dir
                .join(format!("serviceaccount-signer-{n}.public"))
        })
        .find(|p| !taken(p))
        .expect("some number is free");
    let key_pair = state.resources.values().find_map(|r| match &r.spec {
        Spec::KeyPair(k) => Some(k.kid.clone()),
        _ => None,
    });
    let situation = Situation {
        served,
        recorded: recorded_kids,
        configured,
        known,
        key_pair,
        key_pair_file: settings.output_dir.join(crate::keypair::PRIVATE_KEY_FILE),
    };
    Ok(crate::rotation::status(
        &situation,
        &crate::rotation::CommandContext {
            settings: flags.0,
            verify_settings: flags.1,
            new_key_file,
        },
    ))
}
