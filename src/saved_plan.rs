//! Saved plans: `plan --out FILE` writes one, `apply FILE` runs exactly it, `show FILE`
//! prints it as `plan` did.
//!
//! Owns the file format (JSON, versioned) and the checks around it. A saved plan is
//! self-contained: it carries the settings it was made with and the directory it was made
//! in (relative paths in it mean what they meant there), so `apply FILE` needs no other
//! flag. It is refused when the state's serial or lineage moved, when a request file's
//! content changed (each file is fingerprinted by its SHA-256) or when the signing key
//! changed, naming which; and when a flag given beside it disagrees with it. Holds no
//! secrets: specs, settings and hashes only.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{
    Action, AttributeChange, Change, Drift, Observed, ObservedResource, Plan, Reason, Summary,
    Unmanaged,
};
use crate::resource::{ResourceId, Spec, Tags};
use crate::settings::{Region, Settings};
use crate::workflow::{Mode, Planned};

/// Identifies the file type, so `apply` of a random file fails clearly.
const MAGIC: &str = "stsform-saved-plan";
/// Version of the file layout (2: settings, working directory, per-file request hashes;
/// 3: the settings base, and local paths relative to it as in a version 3 state; 4: the
/// review's findings, account summary and settings, and the refresh's AWS reads, so that
/// `show` renders the plan as `plan` did).
const VERSION: u32 = 4;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    stsform_version: String,
    mode: String,
    cluster: String,
    working_dir: String,
    settings: SavedSettings,
    include_unmanaged: bool,
    state_serial: u64,
    state_lineage: String,
    fingerprint: Fingerprint,
    changes: Vec<SavedChange>,
    drift: Vec<SavedDrift>,
    observed: Vec<SavedObserved>,
    summary: Summary,
    owner: String,
    unmanaged: Vec<SavedUnmanaged>,
    notes: Vec<String>,
    /// `--allow-issuer-change` was given when the plan was made: the reviewed plan carries
    /// that decision to apply.
    allow_issuer_change: bool,
    /// `--allow-deleting-all-roles` was given when the plan was made.
    allow_deleting_all_roles: bool,
    /// AWS reads the refresh made (the Markdown footer and the JSON say it).
    aws_reads: usize,
    /// The review's warnings, acknowledged ones marked.
    findings: Vec<crate::review::Finding>,
    /// IAM's account summary as the plan read it.
    account: Option<crate::review::AccountSummary>,
}

/// The settings a plan was made with, paths as resolved then (relative to `working_dir`
/// unless absolute). Nothing secret: names, ARNs, paths, tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSettings {
    name: String,
    region: String,
    credentials_requests_dir: PathBuf,
    output_dir: PathBuf,
    /// The settings base (relative to `working_dir` unless absolute): the plan's local
    /// paths are relative to it, as the state's are.
    base: PathBuf,
    recorded_output_dir: PathBuf,
    state: PathBuf,
    permissions_boundary_arn: Option<String>,
    enable_tech_preview: bool,
    /// The served keys, in order (empty: the output dir's key pair).
    public_key_files: Vec<PathBuf>,
    identity_provider_arn: Option<String>,
    request_set: Option<String>,
    tags: Tags,
    thumbprint: Option<String>,
    #[serde(default)]
    create_private_s3_bucket: bool,
    review: crate::review::ReviewSettings,
}

impl SavedSettings {
    fn of(s: &Settings) -> SavedSettings {
        SavedSettings {
            name: s.name.clone(),
            region: s.region.name.clone(),
            credentials_requests_dir: s.credentials_requests_dir.clone(),
            output_dir: s.output_dir.clone(),
            base: s.base.clone(),
            recorded_output_dir: s.recorded_output_dir.clone(),
            state: s.state.clone(),
            permissions_boundary_arn: s.permissions_boundary_arn.clone(),
            enable_tech_preview: s.enable_tech_preview,
            public_key_files: s.public_key_files.clone(),
            identity_provider_arn: s.identity_provider_arn.clone(),
            request_set: s.request_set.clone(),
            tags: s.tags.clone(),
            thumbprint: s.thumbprint.clone(),
            create_private_s3_bucket: s.create_private_s3_bucket,
            review: s.review.clone(),
        }
    }

    fn settings(&self, origin: &str) -> Result<Settings> {
        let region = Region::parse(&self.region).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        Ok(Settings {
            name: self.name.clone(),
            region,
            credentials_requests_dir: self.credentials_requests_dir.clone(),
            output_dir: self.output_dir.clone(),
            base: self.base.clone(),
            recorded_output_dir: self.recorded_output_dir.clone(),
            state: self.state.clone(),
            permissions_boundary_arn: self.permissions_boundary_arn.clone(),
            enable_tech_preview: self.enable_tech_preview,
            public_key_files: self.public_key_files.clone(),
            identity_provider_arn: self.identity_provider_arn.clone(),
            request_set: self.request_set.clone(),
            tags: self.tags.clone(),
            thumbprint: self.thumbprint.clone(),
            create_private_s3_bucket: self.create_private_s3_bucket,
            review: self.review.clone(),
        })
    }
}

/// What a plan was computed from besides the state and AWS, fingerprinted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    /// Request file name → SHA-256 (hex) of its bytes, for every `.yaml`/`.yml` file the
    /// requests directory held; `None` when no requests were read (a destroy plan).
    pub requests: Option<BTreeMap<String, String>>,
    /// The served keys' kids (`a, b`), `None` when there was none (day 2, or not
    /// generated yet).
    pub kid: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedUnmanaged {
    id: ResourceId,
    attributes: serde_json::Value,
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

/// Fingerprints the request files in `settings.credentials_requests_dir` (when
/// `with_requests`; the same `.yaml`/`.yml` files `credentials_request::load` reads) and
/// the served keys' kids (`SigningKey::fingerprint`). A missing requests directory is an
/// error naming it.
pub fn fingerprint(
    settings: &Settings,
    kid: Option<&str>,
    with_requests: bool,
) -> Result<Fingerprint> {
    let requests = if with_requests {
        let dir = &settings.credentials_requests_dir;
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!(
                "the requests directory `{}` (in {}) cannot be read",
                dir.display(),
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "the working directory".into())
            )
        })?;
        let mut files = BTreeMap::new();
        for entry in entries {
            let path = entry
                .with_context(|| format!("{}: cannot list", dir.display()))?
                .path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let wanted = [".yaml", ".yml"].iter().any(|e| name.ends_with(e));
            if wanted && path.is_file() {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("{}: cannot read", path.display()))?;
                files.insert(name, base16(&Sha256::digest(&bytes)));
            }
        }
        Some(files)
    } else {
        None
    };
    Ok(Fingerprint {
        requests,
        kid: kid.map(str::to_string),
    })
}

fn base16(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a plan is saved with besides the plan itself.
pub struct SaveContext<'a> {
    /// Apply or destroy.
    pub mode: Mode,
    /// The settings the plan was made with.
    pub settings: &'a Settings,
    /// Whether untracked resources of the cluster are deleted (`--include-unmanaged`).
    pub include_unmanaged: bool,
    /// The request files and the signing key, as the plan saw them.
    pub fingerprint: Fingerprint,
    /// The refusals lifted when the plan was made; apply of the file honours them.
    pub allow: crate::safety::Allow,
    /// AWS reads the plan's refresh made.
    pub reads: usize,
}

/// Writes a saved plan (JSON, 0600: it names every resource of the cluster), recording
/// the working directory so that `apply` can resolve relative paths from anywhere.
pub fn write(path: &Path, planned: &Planned, context: SaveContext<'_>) -> Result<()> {
    let working_dir = std::env::current_dir().context("cannot tell the working directory")?;
    let mode = context.mode;
    let file = File {
        format: MAGIC.into(),
        version: VERSION,
        stsform_version: env!("CARGO_PKG_VERSION").into(),
        mode: match mode {
            Mode::Apply => "apply".into(),
            Mode::Destroy => "destroy".into(),
        },
        cluster: planned.state.cluster.clone(),
        working_dir: working_dir.display().to_string(),
        settings: SavedSettings::of(context.settings),
        include_unmanaged: context.include_unmanaged,
        state_serial: planned.state.serial,
        state_lineage: planned.state.lineage.clone(),
        fingerprint: context.fingerprint,
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
        owner: planned.plan.owner.clone(),
        unmanaged: planned
            .plan
            .unmanaged
            .iter()
            .map(|u| SavedUnmanaged {
                id: u.id.clone(),
                attributes: u.spec.attributes(),
            })
            .collect(),
        notes: planned.plan.notes.clone(),
        allow_issuer_change: context.allow.issuer_change,
        allow_deleting_all_roles: context.allow.deleting_all_roles,
        aws_reads: context.reads,
        findings: planned.plan.findings.clone(),
        account: planned.plan.account,
    };
    let mut text = serde_json::to_string_pretty(&file).expect("saved plans serialize");
    text.push('\n');
    crate::atomic_write::write(path, text.as_bytes(), 0o600)?;
    Ok(())
}

/// A saved plan read back, not yet checked against the state.
pub struct Saved {
    /// Apply or destroy.
    pub mode: Mode,
    /// Cluster name it was made for.
    pub cluster: String,
    /// The directory the plan was made in.
    pub working_dir: PathBuf,
    /// The settings it was made with (paths relative to `working_dir` unless absolute).
    pub settings: Settings,
    /// Whether it deletes untracked resources of the cluster.
    pub include_unmanaged: bool,
    /// State serial it was made against.
    pub state_serial: u64,
    /// State lineage it was made against.
    pub state_lineage: String,
    /// Request files and signing key at plan time.
    pub fingerprint: Fingerprint,
    /// The plan.
    pub plan: Plan,
    /// What the refresh found at plan time.
    pub observed: Observed,
    /// The refusals lifted when the plan was made.
    pub allow: crate::safety::Allow,
    /// AWS reads the plan's refresh made.
    pub reads: usize,
    /// The stsform that made it.
    pub stsform_version: String,
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
    if (1..u64::from(VERSION)).contains(&version) {
        bail!(
            "{origin}: this plan was saved by an older stsform (saved-plan version {version}, \
             this stsform reads {VERSION}); plan again"
        );
    }
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
            state_rule: crate::plan::StateRule::of(c.id.kind, c.action),
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
    let mut unmanaged = Vec::new();
    for u in file.unmanaged {
        let spec = spec(&u.id, u.attributes, &origin)?;
        unmanaged.push(Unmanaged { id: u.id, spec });
    }
    Ok(Saved {
        mode,
        cluster: file.cluster,
        working_dir: PathBuf::from(file.working_dir),
        settings: file.settings.settings(&origin)?,
        include_unmanaged: file.include_unmanaged,
        state_serial: file.state_serial,
        state_lineage: file.state_lineage,
        fingerprint: file.fingerprint,
        plan: {
            let mut plan = Plan {
                issuer_changes: crate::safety::issuer_changes(&changes),
                changes,
                drift,
                summary: file.summary,
                owner: file.owner,
                unmanaged,
                notes: file.notes,
                permissions: Vec::new(),
                findings: file.findings,
                account: file.account,
            };
            // Derived from the changes, as `plan::compute` derives it.
            plan.permissions = crate::review::permissions::changes(&plan);
            plan
        },
        observed,
        allow: crate::safety::Allow {
            issuer_change: file.allow_issuer_change,
            deleting_all_roles: file.allow_deleting_all_roles,
        },
        reads: file.aws_reads,
        stsform_version: file.stsform_version,
    })
}

/// Refuses a saved plan that no longer matches the state, the request files or the
/// signing key, naming everything that changed.
pub fn check(
    saved: &Saved,
    state: &crate::state::State,
    now: &Fingerprint,
    origin: &str,
) -> Result<()> {
    if saved.cluster != state.cluster {
        bail!(
            "{origin}: the plan is for cluster `{}`, the state for `{}`",
            saved.cluster,
            state.cluster
        );
    }
    let mut changed = Vec::new();
    // Serial 0 is a state never written: its lineage was made up for that run only, so
    // only the serial can tell whether the state moved on.
    if saved.state_serial != 0 && saved.state_lineage != state.lineage {
        changed.push(format!(
            "the state was replaced (lineage {} → {})",
            short(&saved.state_lineage),
            short(&state.lineage)
        ));
    } else if saved.state_serial != state.serial {
        changed.push(format!(
            "the state changed (serial {} → {})",
            saved.state_serial, state.serial
        ));
    }
    if let (Some(then), Some(now)) = (&saved.fingerprint.requests, &now.requests) {
        let dir = saved.settings.credentials_requests_dir.display();
        let mut files = Vec::new();
        for (name, hash) in then {
            match now.get(name) {
                None => files.push(format!("{dir}/{name} (removed)")),
                Some(h) if h != hash => files.push(format!("{dir}/{name} (modified)")),
                Some(_) => {}
            }
        }
        for name in now.keys().filter(|n| !then.contains_key(*n)) {
            files.push(format!("{dir}/{name} (added)"));
        }
        if !files.is_empty() {
            changed.push(format!("the requests changed: {}", files.join(", ")));
        }
    }
    if saved.fingerprint.kid != now.kid {
        let shown = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
        changed.push(format!(
            "the signing key changed (kid {} → {})",
            shown(&saved.fingerprint.kid),
            shown(&now.kid)
        ));
    }
    if !changed.is_empty() {
        bail!(
            "{origin}: what this plan was made from has changed since; plan again:\n  - {}",
            changed.join("\n  - ")
        );
    }
    Ok(())
}

/// Refuses settings given next to a plan file that disagree with the plan's. `given`
/// holds the flags as typed (`None`/empty = not given); their relative paths are relative
/// to `invoked_in`, the plan's to its working directory. A settings file is never read
/// next to a plan (the plan carries every setting), so `--config` is refused.
pub fn check_flags(
    saved: &Saved,
    given: &crate::settings::SettingsInput,
    include_unmanaged: bool,
    invoked_in: &Path,
    origin: &str,
) -> Result<()> {
    let plan = &saved.settings;
    let base = &saved.working_dir;
    let mut wrong = Vec::new();
    let mut differ = |flag: &str, given: String, planned: String| {
        if given != planned {
            wrong.push(format!("{flag} {given} (the plan has {planned})"));
        }
    };
    let none = || "none".to_string();
    if let Some(config) = &given.config {
        bail!(
            "{origin}: a saved plan carries its settings; --config {} is not read with it (drop it, or plan again)",
            config.display()
        );
    }
    if let Some(v) = &given.name {
        differ("--name", v.clone(), plan.name.clone());
    }
    if let Some(v) = &given.region {
        differ("--region", v.clone(), plan.region.name.clone());
    }
    let paths = [
        (
            "--credentials-requests-dir",
            &given.credentials_requests_dir,
            Some(&plan.credentials_requests_dir),
        ),
        ("--output-dir", &given.output_dir, Some(&plan.output_dir)),
        ("--state", &given.state, Some(&plan.state)),
    ];
    for (flag, given, planned) in paths {
        if let Some(g) = given {
            let planned = planned.map_or_else(none, |p| location(base, p));
            differ(flag, location(invoked_in, g), planned);
        }
    }
    // The served keys are one list: given beside the plan, all of it must agree.
    if !given.public_key_files.is_empty() {
        let list = |paths: &[PathBuf], dir: &Path| {
            let shown: Vec<String> = paths.iter().map(|p| location(dir, p)).collect();
            if shown.is_empty() {
                none()
            } else {
                shown.join(", ")
            }
        };
        differ(
            "--public-key-file",
            list(&given.public_key_files, invoked_in),
            list(&plan.public_key_files, base),
        );
    }
    let strings = [
        ("--request-set", &given.request_set, &plan.request_set),
        (
            "--permissions-boundary-arn",
            &given.permissions_boundary_arn,
            &plan.permissions_boundary_arn,
        ),
        (
            "--identity-provider-arn",
            &given.identity_provider_arn,
            &plan.identity_provider_arn,
        ),
    ];
    for (flag, given, planned) in strings {
        if let Some(g) = given {
            differ(flag, g.clone(), planned.clone().unwrap_or_else(none));
        }
    }
    if let Some(t) = &given.thumbprint {
        let planned = plan.thumbprint.clone().unwrap_or_else(none);
        differ("--thumbprint", t.to_ascii_uppercase(), planned);
    }
    if given.enable_tech_preview && !plan.enable_tech_preview {
        wrong.push("--enable-tech-preview (the plan was made without it)".into());
    }
    if given.create_private_s3_bucket && !plan.create_private_s3_bucket {
        wrong.push("--create-private-s3-bucket (the plan was made without it)".into());
    }
    if include_unmanaged && !saved.include_unmanaged {
        wrong.push("--include-unmanaged (the plan was made without it)".into());
    }
    for item in &given.user_tags {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        match plan.tags.get(key) {
            Some(v) if v == value => {}
            Some(v) => wrong.push(format!(
                "--user-tags {key}={value} (the plan has {key}={v})"
            )),
            None => wrong.push(format!(
                "--user-tags {key}={value} (the plan has no tag `{key}`)"
            )),
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{origin}: a saved plan carries its settings; these flags disagree with it:\n  {}\nDrop them (`stsform apply {origin}` needs no other flag), or plan again with them",
            wrong.join("\n  ")
        );
    }
    Ok(())
}

/// A path as a comparable location: `s3://` as is, else absolute against `base` with `.`
/// and `..` resolved lexically (the path need not exist).
fn location(base: &Path, path: &Path) -> String {
    let text = path.to_string_lossy();
    if text.starts_with("s3://") {
        return text.into_owned();
    }
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.display().to_string()
}

fn short(s: &str) -> &str {
    s.get(..8).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_compare_paths_from_their_own_bases() {
        let a = Path::new("/work/a");
        assert_eq!(location(a, Path::new("creds")), "/work/a/creds");
        assert_eq!(location(a, Path::new("./x/../creds")), "/work/a/creds");
        assert_eq!(
            location(Path::new("/work/a/sub"), Path::new("../creds")),
            "/work/a/creds"
        );
        assert_eq!(location(a, Path::new("/abs/creds")), "/abs/creds");
        assert_eq!(location(a, Path::new("s3://b/k.toml")), "s3://b/k.toml");
    }

    #[test]
    fn plans_saved_by_an_older_stsform_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for version in [1, 2, 3, 7] {
            let path = dir.path().join(format!("v{version}.plan"));
            let text = format!("{{\"format\": \"{MAGIC}\", \"version\": {version}}}");
            std::fs::write(&path, text).unwrap();
            let err = read(&path).err().unwrap().to_string();
            assert!(err.ends_with("plan again"), "{err}");
            assert!(
                err.contains(&format!("saved-plan version {version}")),
                "{err}"
            );
        }
    }

    fn saved(requests: &[(&str, &str)], kid: Option<&str>) -> Saved {
        let settings = crate::settings::resolve(
            &crate::settings::SettingsInput {
                name: Some("c1".into()),
                region: Some("us-east-2".into()),
                credentials_requests_dir: Some("creds".into()),
                config: Some(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/empty-stsform.toml"),
                ),
                ..Default::default()
            },
            crate::settings::Need::Cluster,
        )
        .unwrap();
        Saved {
            mode: Mode::Apply,
            cluster: "c1".into(),
            working_dir: "/work".into(),
            settings,
            include_unmanaged: false,
            state_serial: 3,
            state_lineage: "lineage-1".into(),
            fingerprint: fingerprint_of(requests, kid),
            plan: Plan::default(),
            observed: Observed::default(),
            allow: crate::safety::Allow::default(),
            reads: 0,
            stsform_version: "test".into(),
        }
    }

    fn fingerprint_of(requests: &[(&str, &str)], kid: Option<&str>) -> Fingerprint {
        Fingerprint {
            requests: Some(
                requests
                    .iter()
                    .map(|(n, h)| (n.to_string(), h.to_string()))
                    .collect(),
            ),
            kid: kid.map(str::to_string),
        }
    }

    #[test]
    fn served_keys_are_saved_as_a_list_in_order() {
        let mut settings = saved(&[], None).settings;
        settings.public_key_files = vec!["old.pub".into(), "new.pub".into()];
        let text = serde_json::to_string(&SavedSettings::of(&settings)).unwrap();
        assert!(
            text.contains(r#""public_key_files":["old.pub","new.pub"]"#),
            "{text}"
        );
        let back: SavedSettings = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.settings("p").unwrap().public_key_files,
            settings.public_key_files
        );
    }

    #[test]
    fn the_served_keys_beside_a_plan_must_be_its_list() {
        let mut plan = saved(&[], None);
        plan.settings.public_key_files = vec!["old.pub".into(), "new.pub".into()];
        let given = |files: &[&str]| crate::settings::SettingsInput {
            public_key_files: files.iter().map(PathBuf::from).collect(),
            ..Default::default()
        };
        let here = Path::new("/work");
        check_flags(&plan, &given(&["old.pub", "new.pub"]), false, here, "p").unwrap();
        let err = check_flags(&plan, &given(&["new.pub"]), false, here, "p")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "--public-key-file /work/new.pub (the plan has /work/old.pub, /work/new.pub)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_stale_plan_names_everything_that_changed() {
        let plan = saved(&[("a.yaml", "1"), ("b.yaml", "2")], Some("k1"));
        let mut state = crate::state::State::new("c1");
        state.serial = 3;
        state.lineage = "lineage-1".into();
        let same = fingerprint_of(&[("a.yaml", "1"), ("b.yaml", "2")], Some("k1"));
        check(&plan, &state, &same, "p").unwrap();

        state.serial = 4;
        let now = fingerprint_of(&[("a.yaml", "9"), ("c.yaml", "3")], None);
        let err = check(&plan, &state, &now, "p").unwrap_err().to_string();
        assert_eq!(
            err,
            "p: what this plan was made from has changed since; plan again:\n  \
             - the state changed (serial 3 → 4)\n  \
             - the requests changed: creds/a.yaml (modified), creds/b.yaml (removed), creds/c.yaml (added)\n  \
             - the signing key changed (kid k1 → none)"
        );
    }
}
