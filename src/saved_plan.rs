//! Saved plans: `plan --out FILE` writes one, `apply FILE` runs exactly it.
//!
//! Owns the file format (JSON, versioned) and the staleness checks: a saved plan is
//! refused when the state's serial or lineage moved, or when the inputs (requests,
//! settings, signing key) no longer hash the same. Holds no secrets: specs only.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{
    Action, AttributeChange, Change, Drift, Observed, ObservedResource, Plan, Reason, Summary,
};
use crate::resource::{ResourceId, Spec};
use crate::settings::Settings;
use crate::workflow::{Mode, Planned};

/// Identifies the file type, so `apply` of a random file fails clearly.
const MAGIC: &str = "stsform-saved-plan";
/// Version of the file layout.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    stsform_version: String,
    mode: String,
    cluster: String,
    state_serial: u64,
    state_lineage: String,
    inputs_hash: String,
    changes: Vec<SavedChange>,
    drift: Vec<SavedDrift>,
    observed: Vec<SavedObserved>,
    summary: Summary,
    /// `--allow-issuer-change` was given when the plan was made: the reviewed plan carries
    /// that decision to apply (absent in older files: not allowed).
    #[serde(default)]
    allow_issuer_change: bool,
    /// `--allow-deleting-all-roles` was given when the plan was made.
    #[serde(default)]
    allow_deleting_all_roles: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedChange {
    id: ResourceId,
    action: Action,
    reason: Reason,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    replace_because: Vec<String>,
    depends_on: Vec<ResourceId>,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedDrift {
    id: ResourceId,
    recorded: serde_json::Value,
    live: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedObserved {
    id: ResourceId,
    recorded: serde_json::Value,
    live: Option<serde_json::Value>,
    depends_on: Vec<ResourceId>,
}

/// A fingerprint of everything the plan was computed from besides state and AWS: the
/// settings, every request file's name and bytes, and the signing key's kid.
pub fn inputs_hash(settings: &Settings, kid: Option<&str>) -> Result<String> {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &str| {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(value.len().to_le_bytes());
        h.update(value.as_bytes());
    };
    // Debug of Settings covers every field; its order is the struct's, so it is stable.
    field("settings", &format!("{settings:?}"));
    field("kid", kid.unwrap_or(""));
    let dir = &settings.credentials_requests_dir;
    let mut files = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry
                .with_context(|| format!("{}: cannot list", dir.display()))?
                .path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let wanted = [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e));
            if wanted && path.is_file() {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("{}: cannot read", path.display()))?;
                files.insert(name, bytes);
            }
        }
    }
    for (name, bytes) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(bytes.len().to_le_bytes());
        h.update(&bytes);
    }
    Ok(base16(&h.finalize()))
}

fn base16(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a saved plan (JSON, 0600: it names every resource of the cluster). `allow` is
/// what the plan was made with; apply of the file honours it.
pub fn write(
    path: &Path,
    planned: &Planned,
    mode: Mode,
    inputs_hash: &str,
    allow: crate::safety::Allow,
) -> Result<()> {
    let file = File {
        format: MAGIC.into(),
        version: VERSION,
        stsform_version: env!("CARGO_PKG_VERSION").into(),
        mode: match mode {
            Mode::Apply => "apply".into(),
            Mode::Destroy => "destroy".into(),
        },
        cluster: planned.state.cluster.clone(),
        state_serial: planned.state.serial,
        state_lineage: planned.state.lineage.clone(),
        inputs_hash: inputs_hash.into(),
        changes: planned
            .plan
            .changes
            .iter()
            .map(|c| SavedChange {
                id: c.id.clone(),
                action: c.action,
                reason: c.reason,
                before: c.before.as_ref().map(Spec::attributes),
                after: c.after.as_ref().map(Spec::attributes),
                replace_because: c.replace_because.clone(),
                depends_on: c.depends_on.clone(),
                source: c.source.clone(),
            })
            .collect(),
        drift: planned
            .plan
            .drift
            .iter()
            .map(|d| SavedDrift {
                id: d.id.clone(),
                recorded: d.recorded.attributes(),
                live: d.live.as_ref().map(Spec::attributes),
            })
            .collect(),
        observed: planned
            .observed
            .resources
            .iter()
            .map(|(id, o)| SavedObserved {
                id: id.clone(),
                recorded: o.recorded.attributes(),
                live: o.live.as_ref().map(Spec::attributes),
                depends_on: o.depends_on.clone(),
            })
            .collect(),
        summary: planned.plan.summary,
        allow_issuer_change: allow.issuer_change,
        allow_deleting_all_roles: allow.deleting_all_roles,
    };
    let mut text = serde_json::to_string_pretty(&file).expect("saved plans serialize");
    text.push('\n');
    crate::keypair::write_secret_file(path, text.as_bytes())?;
    Ok(())
}

/// A saved plan read back, not yet checked against the state.
pub struct Saved {
    /// Apply or destroy.
    pub mode: Mode,
    /// Cluster name it was made for.
    pub cluster: String,
    /// State serial it was made against.
    pub state_serial: u64,
    /// State lineage it was made against.
    pub state_lineage: String,
    /// Inputs fingerprint at plan time.
    pub inputs_hash: String,
    /// The plan.
    pub plan: Plan,
    /// What the refresh found at plan time.
    pub observed: Observed,
    /// The refusals lifted when the plan was made.
    pub allow: crate::safety::Allow,
}

fn spec(id: &ResourceId, v: serde_json::Value, origin: &str) -> Result<Spec> {
    Spec::from_attributes(id.kind, v).with_context(|| format!("{origin}: {id}: bad attributes"))
}

/// Reads a saved plan; a file that is not one, or of another version, is a clear error.
pub fn read(path: &Path) -> Result<Saved> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("{origin}: cannot read"))?;
    let probe: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{origin}: not a saved stsform plan (not JSON)"))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(MAGIC) {
        bail!("{origin}: not a saved stsform plan (write one with `stsform plan --out {origin}`)");
    }
    let version = probe.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != u64::from(VERSION) {
        bail!(
            "{origin}: saved-plan version {version} is not supported (this stsform reads {VERSION}); plan again"
        );
    }
    let file: File =
        serde_json::from_value(probe).with_context(|| format!("{origin}: malformed saved plan"))?;
    let mut changes = Vec::new();
    for c in file.changes {
        let before = c.before.map(|v| spec(&c.id, v, &origin)).transpose()?;
        let after = c.after.map(|v| spec(&c.id, v, &origin)).transpose()?;
        let attributes: Vec<AttributeChange> =
            crate::plan::diff_attributes(before.as_ref(), after.as_ref());
        changes.push(Change {
            id: c.id,
            action: c.action,
            reason: c.reason,
            before,
            after,
            attributes,
            replace_because: c.replace_because,
            depends_on: c.depends_on,
            source: c.source,
        });
    }
    let mut drift = Vec::new();
    for d in file.drift {
        let recorded = spec(&d.id, d.recorded, &origin)?;
        let live = d.live.map(|v| spec(&d.id, v, &origin)).transpose()?;
        let attributes = crate::plan::diff_attributes(Some(&recorded), live.as_ref());
        drift.push(Drift {
            id: d.id,
            recorded,
            live,
            attributes,
        });
    }
    let mut observed = Observed {
        refreshed: true,
        ..Observed::default()
    };
    for o in file.observed {
        let recorded = spec(&o.id, o.recorded, &origin)?;
        let live = o.live.map(|v| spec(&o.id, v, &origin)).transpose()?;
        observed.resources.insert(
            o.id,
            ObservedResource {
                recorded,
                live,
                depends_on: o.depends_on,
            },
        );
    }
    let mode = match file.mode.as_str() {
        "apply" => Mode::Apply,
        "destroy" => Mode::Destroy,
        other => bail!("{origin}: unknown mode `{other}`"),
    };
    Ok(Saved {
        mode,
        cluster: file.cluster,
        state_serial: file.state_serial,
        state_lineage: file.state_lineage,
        inputs_hash: file.inputs_hash,
        plan: Plan {
            issuer_changes: crate::safety::issuer_changes(&changes),
            changes,
            drift,
            summary: file.summary,
        },
        observed,
        allow: crate::safety::Allow {
            issuer_change: file.allow_issuer_change,
            deleting_all_roles: file.allow_deleting_all_roles,
        },
    })
}

/// Refuses a saved plan that no longer matches the state or the inputs.
pub fn check(
    saved: &Saved,
    state: &crate::state::State,
    inputs_hash: &str,
    origin: &str,
) -> Result<()> {
    if saved.cluster != state.cluster {
        bail!(
            "{origin}: the plan is for cluster `{}`, the state for `{}`",
            saved.cluster,
            state.cluster
        );
    }
    // Serial 0 is a state never written: its lineage was made up for that run only, so
    // only the serial can tell whether the state moved on.
    if saved.state_serial != 0 && saved.state_lineage != state.lineage {
        bail!(
            "{origin}: the state was replaced since this plan was made (lineage {} → {}); plan again",
            short(&saved.state_lineage),
            short(&state.lineage)
        );
    }
    if saved.state_serial != state.serial {
        bail!(
            "{origin}: the state changed since this plan was made (serial {} → {}); plan again",
            saved.state_serial,
            state.serial
        );
    }
    if saved.inputs_hash != inputs_hash {
        bail!(
            "{origin}: the inputs changed since this plan was made (requests directory, settings or signing key); plan again"
        );
    }
    Ok(())
}

fn short(s: &str) -> &str {
    s.get(..8).unwrap_or(s)
}
