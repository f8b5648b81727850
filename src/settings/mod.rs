//! Settings: what the user asked for, from flags and `stsform.toml`, checked.
//!
//! Owns the merge rule (flags win over the file, the file over defaults), the settings
//! base (the file's directory, which file paths and recorded local paths are relative to;
//! see `paths`), the region → partition/DNS-suffix table and validation of every setting
//! that names something in AWS. Must not read requests or state, or talk to AWS. The region table and its
//! messages are in `region`.

mod region;

pub use region::Region;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{InputError, InputErrors};
use crate::ownership::TAG_PREFIX as OWNERSHIP_TAG_PREFIX;
use crate::resource::Tags;

/// Everything a command needs to know, merged and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Cluster name (`--name`): prefix of the bucket and every role.
    pub name: String,
    /// Region of the bucket, and the partition of every ARN.
    pub region: Region,
    /// Directory of CredentialsRequest manifests.
    pub credentials_requests_dir: PathBuf,
    /// Where key pair, `manifests/` and `tls/` go, as reached from the working directory
    /// [default: the settings base].
    pub output_dir: PathBuf,
    /// The settings base, as reached from the working directory: the settings file's
    /// directory when one is used, else `.`. Paths in the file are relative to it, and so
    /// are the local paths the state records (`crate::paths`).
    pub base: PathBuf,
    /// The output directory as the state records it: relative to `base` (normalized), or
    /// absolute when given as an absolute path. Derive joins file names to it.
    pub recorded_output_dir: PathBuf,
    /// State file path.
    pub state: PathBuf,
    /// Permissions boundary for every role.
    pub permissions_boundary_arn: Option<String>,
    /// Include requests gated behind tech-preview feature sets or gates.
    pub enable_tech_preview: bool,
    /// The public keys keys.json serves, in this order (`--public-key-file`, repeatable,
    /// else `public_key_files` in stsform.toml); empty: the output dir's key pair, generated
    /// by the first apply. Several keys serve a rotation (see `rotation`).
    pub public_key_files: Vec<PathBuf>,
    /// Manage only roles against this existing OIDC provider (day-2 roles).
    pub identity_provider_arn: Option<String>,
    /// Day-2 only: the name of this set of requests (`--request-set`, else the requests
    /// directory's name). It names the default state and is recorded in it, so that two
    /// sets of day-2 roles for one cluster keep apart (see `scope`).
    pub request_set: Option<String>,
    /// User tags for the bucket, the OIDC provider and the roles (`[tags]` merged with
    /// `--user-tags`, the flag winning per key). Not on objects: S3 allows 10 tags per
    /// object, and the objects carry ccoctl's ownership tags only.
    pub tags: Tags,
    /// OIDC provider thumbprint to set instead of computing one (uppercase hex SHA-1).
    pub thumbprint: Option<String>,
    /// A private issuer (`--create-private-s3-bucket`, ccoctl's flag): the bucket blocks
    /// all public access and a CloudFront distribution serves the documents; the issuer
    /// is `https://<distribution domain>` (see `private_issuer`).
    pub create_private_s3_bucket: bool,
    /// The account's raised quotas and the acknowledged findings (`[quotas]`,
    /// `[[acknowledge]]`): what the review of a plan needs from the settings file.
    pub review: crate::review::ReviewSettings,
}

impl Settings {
    /// Tags the bucket, OIDC provider and roles carry: ccoctl's two, then the user's.
    pub fn resource_tags(&self) -> Tags {
        let mut tags = self.tags.clone();
        tags.extend(self.ownership_tags());
        tags
    }

    /// ccoctl's two ownership tags, `openshift.io/cloud-credential-operator/<name>=owned`
    /// and `Name=<name>`: all the bucket's objects carry (S3 allows 10 tags per object).
    pub fn ownership_tags(&self) -> Tags {
        crate::ownership::tags(&self.name)
    }

    /// `openshift.io/cloud-credential-operator/<name>`, the key ccoctl looks for
    /// ([`crate::ownership`]).
    pub fn ownership_tag_key(&self) -> String {
        crate::ownership::tag_key(&self.name)
    }

    /// Bucket serving the OIDC documents.
    pub fn bucket_name(&self) -> String {
        format!("{}-oidc", self.name)
    }
}

/// Settings as given on the command line; `None` means "not given".
#[derive(Clone, Debug, Default)]
pub struct SettingsInput {
    /// `--name`.
    pub name: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--credentials-requests-dir`.
    pub credentials_requests_dir: Option<PathBuf>,
    /// `--output-dir`.
    pub output_dir: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--permissions-boundary-arn`.
    pub permissions_boundary_arn: Option<String>,
    /// `--enable-tech-preview` (only `true` overrides the file).
    pub enable_tech_preview: bool,
    /// `--public-key-file`, in the order given (any given replaces the file's list).
    pub public_key_files: Vec<PathBuf>,
    /// `--identity-provider-arn`.
    pub identity_provider_arn: Option<String>,
    /// `--request-set`.
    pub request_set: Option<String>,
    /// `--thumbprint`.
    pub thumbprint: Option<String>,
    /// `--create-private-s3-bucket` (only `true` overrides the file).
    pub create_private_s3_bucket: bool,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--user-tags`, one `key=value` per item.
    pub user_tags: Vec<String>,
}

/// The optional `stsform.toml`. Paths in it are relative to the file's directory.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    name: Option<String>,
    region: Option<String>,
    credentials_requests_dir: Option<PathBuf>,
    output_dir: Option<PathBuf>,
    state: Option<PathBuf>,
    permissions_boundary_arn: Option<String>,
    enable_tech_preview: Option<bool>,
    /// One key (what earlier versions read); `public_key_files` lists several.
    public_key_file: Option<PathBuf>,
    public_key_files: Option<Vec<PathBuf>>,
    identity_provider_arn: Option<String>,
    request_set: Option<String>,
    thumbprint: Option<String>,
    create_private_s3_bucket: Option<bool>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// The account's quotas, where raised in Service Quotas.
    #[serde(default)]
    quotas: QuotasFile,
    /// Reviewed findings that plans stop repeating.
    #[serde(default)]
    acknowledge: Vec<crate::review::Acknowledgement>,
}

/// `[quotas]` of the settings file: only what was raised needs saying.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotasFile {
    role_trust_policy_length: Option<usize>,
    openid_connect_providers: Option<usize>,
}

/// Default config file looked for in the working directory.
pub const DEFAULT_CONFIG: &str = "stsform.toml";

fn read_config(input: &SettingsInput) -> Result<(ConfigFile, PathBuf, String), InputErrors> {
    let (path, required) = match &input.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok((ConfigFile::default(), PathBuf::from("."), shown));
        }
        Err(e) => return Err(InputError::new(&shown, format!("cannot read: {e}")).into()),
    };
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        let mut err = InputError::new(&shown, e.message().to_string());
        if let Some(span) = e.span() {
            let line = text[..span.start].matches('\n').count() + 1;
            let column = span.start - text[..span.start].rfind('\n').map_or(0, |i| i + 1) + 1;
            err = err.at(format!("line {line}, column {column}"));
        }
        InputErrors::from(err)
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((config, base, shown))
}

/// Which settings a command needs; `validate` needs only the requests directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Name, region and requests directory.
    Cluster,
    /// Only the requests directory (name and region are checked if given).
    RequestsOnly,
    /// Name and region; the requests are not read (destroy works from the state alone).
    StateOnly,
    /// Only what finds the state: the name (unless the state location is given); the
    /// region is optional (`state` subcommands, `force-unlock`).
    NameOnly,
}

/// Merges flags over the config file over defaults, and validates the result.
///
/// Every problem is reported at once; nothing is read besides the config file.
pub fn resolve(input: &SettingsInput, need: Need) -> Result<Settings, InputErrors> {
    let (file, base, config_name) = read_config(input)?;
    // Relative to the file; written as given when the file is in the working directory
    // (`creds`, not `./creds`, in messages and plans).
    let rel = |p: PathBuf| {
        if p.is_absolute() || base == Path::new(".") {
            p
        } else {
            base.join(p)
        }
    };
    let mut errors = Vec::new();

    let name = input.name.clone().or(file.name.clone());
    let region = input.region.clone().or(file.region.clone());
    let dir = input
        .credentials_requests_dir
        .clone()
        .or(file.credentials_requests_dir.clone().map(rel));
    let missing = |flag: &str| {
        InputError::new(
            flag,
            format!("required (give the flag or set it in {config_name})"),
        )
    };
    if dir.is_none() && !matches!(need, Need::StateOnly | Need::NameOnly) {
        errors.push(missing("--credentials-requests-dir"));
    }
    let cluster = need != Need::RequestsOnly;
    let state_given = input.state.is_some() || file.state.is_some();
    if cluster && name.is_none() && !(need == Need::NameOnly && state_given) {
        errors.push(missing("--name"));
    }
    if cluster && need != Need::NameOnly && region.is_none() {
        errors.push(missing("--region"));
    }
    let name = name.unwrap_or_else(|| "cluster".to_string());
    errors.extend(check_name(&name));
    let region = match Region::parse(region.as_deref().unwrap_or("us-east-1")) {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(InputError::new("--region", e));
            None
        }
    };

    let boundary = input
        .permissions_boundary_arn
        .clone()
        .or(file.permissions_boundary_arn.clone());
    let idp = input
        .identity_provider_arn
        .clone()
        .or(file.identity_provider_arn.clone());
    if let Some(region) = &region {
        if let Some(arn) = &boundary
            && let Err(e) = check_arn(arn, region.partition, "policy/")
        {
            errors.push(InputError::new("--permissions-boundary-arn", e));
        }
        if let Some(arn) = &idp
            && let Err(e) = check_arn(arn, region.partition, "oidc-provider/")
        {
            errors.push(InputError::new("--identity-provider-arn", e));
        }
    }
    let thumbprint = input.thumbprint.clone().or(file.thumbprint.clone());
    if let Some(t) = &thumbprint
        && (t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        errors.push(InputError::new(
            "--thumbprint",
            format!("`{t}` is not a SHA-1 thumbprint (40 hexadecimal characters)"),
        ));
    }
    // A day-2 run names its request set: the default state is per set, and the state
    // records it, so two teams' sets of roles for one cluster never plan each other away.
    let request_set = match input.request_set.clone().or(file.request_set.clone()) {
        Some(set) => {
            if idp.is_none() {
                errors.push(InputError::new(
                    "--request-set",
                    "only day-2 runs (--identity-provider-arn) have request sets",
                ));
            } else if let Err(e) = check_request_set(&set) {
                errors.push(InputError::new("--request-set", e));
            }
            Some(set)
        }
        None if idp.is_some() => dir.as_deref().and_then(request_set_of_dir),
        None => None,
    };
    if idp.is_some() && request_set.is_none() && !state_given {
        errors.push(InputError::new(
            "--identity-provider-arn",
            "a day-2 run keeps its own state, named after its request set: give \
             --credentials-requests-dir (or --request-set NAME), or --state",
        ));
    }
    let tags = user_tags(input, &file, &name, &config_name, &mut errors);
    let private = input.create_private_s3_bucket || file.create_private_s3_bucket.unwrap_or(false);
    if private {
        if idp.is_some() {
            errors.push(InputError::new(
                "--create-private-s3-bucket",
                "a day-2 run (--identity-provider-arn) manages roles only, against a provider it \
                 does not own; the private bucket and its distribution belong to the cluster's \
                 own run",
            ));
        }
        if let Some(region) = &region
            && let Err(e) = crate::private_issuer::check_partition(region)
        {
            errors.push(InputError::new("--create-private-s3-bucket", e));
        }
    }
    let file_keys = match (&file.public_key_file, &file.public_key_files) {
        (Some(_), Some(_)) => {
            errors.push(
                InputError::new(
                    &config_name,
                    "set `public_key_files` only (it lists every key, `public_key_file` names one)",
                )
                .at("public_key_file"),
            );
            Vec::new()
        }
        (Some(one), None) => vec![one.clone()],
        (None, Some(many)) => many.clone(),
        (None, None) => Vec::new(),
    };
    let review = review_settings(&file, &config_name, &mut errors);

    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let region = region.expect("checked above");
    // The output directory in both forms: from the working directory (for reading the
    // key) and from the settings base (what the state records), so that the same settings
    // record the same paths from any working directory. By default it is the base: with
    // `--config` the files go next to the settings file, as the default state does.
    let (output_dir, recorded_output_dir) = match (&input.output_dir, &file.output_dir) {
        (Some(flag), _) => {
            let recorded = if flag.is_absolute() || base == Path::new(".") {
                crate::paths::normalize(flag)
            } else {
                let cwd = std::env::current_dir().map_err(|e| {
                    InputError::new(
                        "--output-dir",
                        format!("cannot tell the working directory: {e}"),
                    )
                })?;
                crate::paths::recorded_from_cwd(flag, &base, &cwd)
            };
            (flag.clone(), recorded)
        }
        (None, Some(in_file)) => (rel(in_file.clone()), crate::paths::normalize(in_file)),
        (None, None) => (base.clone(), PathBuf::from(".")),
    };
    let state = input
        .state
        .clone()
        // `s3://BUCKET/KEY` is a location, not a path relative to the config file.
        .or(file.state.clone().map(|p| {
            if p.to_string_lossy().starts_with("s3://") {
                p
            } else {
                rel(p)
            }
        }))
        .unwrap_or_else(|| {
            // Day-2 roles never share the cluster's state: `state/<name>-roles-<set>.toml`.
            let file = match &request_set {
                Some(set) if idp.is_some() => format!("{name}-roles-{set}.toml"),
                _ => format!("{name}.toml"),
            };
            // Next to the settings file it comes with, so that a run from another
            // directory with `--config` finds the same state (not a new, empty one).
            if base == Path::new(".") {
                PathBuf::from("state").join(file)
            } else {
                base.join("state").join(file)
            }
        });
    Ok(Settings {
        name,
        region,
        credentials_requests_dir: dir.unwrap_or_else(|| PathBuf::from(".")),
        output_dir,
        base: base.clone(),
        recorded_output_dir,
        state,
        permissions_boundary_arn: boundary,
        enable_tech_preview: input.enable_tech_preview || file.enable_tech_preview.unwrap_or(false),
        public_key_files: if input.public_key_files.is_empty() {
            file_keys.into_iter().map(rel).collect()
        } else {
            input.public_key_files.clone()
        },
        identity_provider_arn: idp,
        request_set,
        tags,
        thumbprint: thumbprint.map(|t| t.to_ascii_uppercase()),
        create_private_s3_bucket: private,
        review,
    })
}

/// `[quotas]` (never below IAM's defaults) and `[[acknowledge]]` (well-formed, of checks
/// that can be acknowledged) of the settings file `config_name`.
fn review_settings(
    file: &ConfigFile,
    config_name: &str,
    errors: &mut Vec<InputError>,
) -> crate::review::ReviewSettings {
    let defaults = crate::review::Quotas::default();
    let quotas = crate::review::Quotas {
        role_trust_policy_length: file
            .quotas
            .role_trust_policy_length
            .unwrap_or(defaults.role_trust_policy_length),
        openid_connect_providers: file
            .quotas
            .openid_connect_providers
            .unwrap_or(defaults.openid_connect_providers),
    };
    for (field, problem) in crate::review::limits::check_quotas(&quotas) {
        errors.push(InputError::new(config_name, problem).at(format!("quotas.{field}")));
    }
    errors.extend(crate::review::findings::validate(
        &file.acknowledge,
        config_name,
    ));
    crate::review::ReviewSettings {
        quotas,
        acknowledgements: file.acknowledge.clone(),
        file: config_name.to_string(),
    }
}

/// Checks that `<name>-oidc` is a valid S3 bucket name and `<name>-…` a valid role prefix.
fn check_name(name: &str) -> Vec<InputError> {
    let mut errors = Vec::new();
    let err = |p: String| InputError::new("--name", p);
    if name.is_empty() {
        return vec![err("must not be empty".into())];
    }
    let bucket = format!("{name}-oidc");
    if bucket.len() > 63 {
        errors.push(err(format!(
            "`{name}` is {} characters; the bucket `{bucket}` would exceed S3's 63 (use at most 58)",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        errors.push(err(format!(
            "`{name}` contains `{c}`; the bucket `{bucket}` may hold only lowercase letters, digits, `-` and `.`"
        )));
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        errors.push(err(format!(
            "`{name}` must start with a lowercase letter or digit (S3 bucket naming)"
        )));
    } else if name.contains("..") || name.contains(".-") || name.contains("-.") {
        errors.push(err(format!(
            "`{name}` has `..`, `.-` or `-.`, which S3 bucket names forbid"
        )));
    } else if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.starts_with("amzn-s3-demo-")
    {
        errors.push(err(format!("`{name}` starts with a prefix S3 reserves")));
    }
    // Role names are `<name>-<ns>-<secret>`; IAM allows [\w+=,.@-] and at most 64
    // characters, so the name must leave room for at least one character of the rest.
    if name.len() > 62 {
        errors.push(err(format!(
            "`{name}` leaves no room in a 64-character IAM role name"
        )));
    }
    errors
}

/// A request set's name becomes part of a file name: letters, digits, `.`, `_`, `-`.
fn check_request_set(set: &str) -> Result<(), String> {
    if set.is_empty() || set.len() > 100 {
        return Err("must be 1 to 100 characters".into());
    }
    if let Some(c) = set
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{set}` contains `{c}`; use letters, digits, `.`, `_` and `-` (it names the state file)"
        ));
    }
    if set.starts_with('.') {
        return Err(format!("`{set}` must not start with `.`"));
    }
    Ok(())
}

/// The request set a directory stands for: its own name (`teams/payments/` → `payments`),
/// with characters a file name should not hold replaced by `-`.
fn request_set_of_dir(dir: &Path) -> Option<String> {
    let absolute = std::path::absolute(dir).ok()?;
    let name = absolute.file_name()?.to_string_lossy();
    let set: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let set = set.trim_start_matches('.').to_string();
    (!set.is_empty()).then_some(set)
}

/// Checks an ARN's shape: `arn:<partition>:iam::<12 digits>:<resource_prefix>…`.
fn check_arn(arn: &str, partition: &str, resource_prefix: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shape = format!("arn:{partition}:iam::<account>:{resource_prefix}…");
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || !parts[3].is_empty() {
        return Err(format!("`{arn}` is not an IAM ARN (expected `{shape}`)"));
    }
    if parts[1] != partition {
        return Err(format!(
            "`{arn}` is in partition `{}`, but the region is in `{partition}`",
            parts[1]
        ));
    }
    if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{arn}` has no 12-digit account id"));
    }
    if !parts[5].starts_with(resource_prefix) || parts[5].len() == resource_prefix.len() {
        return Err(format!("`{arn}` is not of the form `{shape}`"));
    }
    Ok(())
}

/// IAM allows 50 tags per role and provider, S3 50 per bucket; stsform's two ownership
/// tags count against that.
pub const MAX_USER_TAGS: usize = 48;

/// `[tags]` from the file merged with `--user-tags` (the flag wins per key), every key and
/// value checked against AWS's rules before any call, and the total against the limit.
fn user_tags(
    input: &SettingsInput,
    file: &ConfigFile,
    name: &str,
    config_name: &str,
    errors: &mut Vec<InputError>,
) -> Tags {
    let mut tags = Tags::new();
    for (key, value) in &file.tags {
        match check_tag(key, value, name) {
            Ok(()) => {
                tags.insert(key.clone(), value.clone());
            }
            Err(e) => errors.push(InputError::new(config_name, e).at(format!("tags.{key}"))),
        }
    }
    let mut given = std::collections::BTreeSet::new();
    for item in &input.user_tags {
        let flag = |problem: String| InputError::new("--user-tags", problem);
        let Some((key, value)) = item.split_once('=') else {
            errors.push(flag(format!(
                "`{item}` is not `key=value` (separate several with commas)"
            )));
            continue;
        };
        if !given.insert(key.to_string()) {
            errors.push(flag(format!("`{key}` is given twice")));
            continue;
        }
        match check_tag(key, value, name) {
            Ok(()) => {
                tags.insert(key.to_string(), value.to_string());
            }
            Err(e) => errors.push(flag(format!("`{key}`: {e}"))),
        }
    }
    if tags.len() > MAX_USER_TAGS {
        let place = if input.user_tags.is_empty() {
            InputError::new(config_name, "").at("tags")
        } else {
            InputError::new("--user-tags", "")
        };
        errors.push(InputError {
            problem: format!(
                "{} user tags (`[tags]` and `--user-tags` together); at most {MAX_USER_TAGS}: AWS allows 50 per resource and stsform adds 2 ownership tags",
                tags.len()
            ),
            ..place
        });
    }
    tags
}

fn check_tag(key: &str, value: &str, name: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err("tag keys must be 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Err("tag values must be at most 256 characters".into());
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err("tag keys starting with `aws:` are reserved by AWS".into());
    }
    if key == "Name" || key == crate::ownership::tag_key(name) {
        return Err(format!(
            "`{key}` is an ownership tag stsform sets itself (ccoctl compatibility)"
        ));
    }
    // Another cluster's ownership key would make `ccoctl aws delete` of that cluster (and
    // stsform's scan for it) take these resources for its own.
    if key.starts_with(&format!("{OWNERSHIP_TAG_PREFIX}/")) {
        return Err(format!(
            "`{key}` would mark the resources as another cluster's (keys under `{OWNERSHIP_TAG_PREFIX}/` are ownership tags)"
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || " _.:/=+-@".contains(c);
    if let Some(c) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!("`{c}` is not allowed in AWS tags"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_break_bucket_or_role_naming_are_refused() {
        assert!(check_name("prod-east").is_empty());
        assert!(check_name(&"a".repeat(58)).is_empty());
        let e = check_name(&"a".repeat(59));
        assert!(
            e[0].to_string().contains("exceed S3's 63 (use at most 58)"),
            "{}",
            e[0]
        );
        assert!(check_name("Prod")[0].to_string().contains("contains `P`"));
        assert!(check_name("-x")[0].to_string().contains("must start with"));
        assert!(check_name("a..b")[0].to_string().contains("`..`"));
        assert!(check_name("")[0].to_string().contains("must not be empty"));
    }

    #[test]
    fn arns_must_match_partition_and_shape() {
        assert!(check_arn("arn:aws:iam::123456789012:policy/b", "aws", "policy/").is_ok());
        assert!(
            check_arn("arn:aws-cn:iam::123456789012:policy/b", "aws", "policy/")
                .unwrap_err()
                .contains("partition `aws-cn`")
        );
        assert!(check_arn("arn:aws:iam::1234:policy/b", "aws", "policy/").is_err());
        assert!(check_arn("policy/b", "aws", "policy/").is_err());
        assert!(check_arn("arn:aws:iam::123456789012:role/b", "aws", "policy/").is_err());
    }

    fn input(dir: &str) -> SettingsInput {
        SettingsInput {
            name: Some("c".into()),
            region: Some("us-east-2".into()),
            credentials_requests_dir: Some(dir.into()),
            ..SettingsInput::default()
        }
    }

    const IDP: &str = "arn:aws:iam::123456789012:oidc-provider/c-oidc.s3.us-east-2.amazonaws.com";

    #[test]
    fn day2_runs_get_a_state_of_their_own_per_request_set() {
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("stsform.toml");
        std::fs::write(&file, "").unwrap();
        let mut i = input("teams/payments/");
        i.config = Some(file.clone());
        // With --config, the default state sits next to the settings file.
        let s = resolve(&i, Need::Cluster).unwrap();
        assert_eq!(s.state, config.path().join("state/c.toml"));
        assert_eq!(s.request_set, None);
        i.identity_provider_arn = Some(IDP.into());
        let s = resolve(&i, Need::Cluster).unwrap();
        assert_eq!(s.request_set.as_deref(), Some("payments"));
        assert_eq!(s.state, config.path().join("state/c-roles-payments.toml"));
        i.request_set = Some("apps".into());
        let s = resolve(&i, Need::Cluster).unwrap();
        assert_eq!(s.state, config.path().join("state/c-roles-apps.toml"));
        // A name that cannot be part of a file name, and a set without day-2, are refused.
        i.request_set = Some("a/b".into());
        let e = resolve(&i, Need::Cluster).unwrap_err().to_string();
        assert!(e.contains("--request-set: `a/b` contains `/`"), "{e}");
        i.identity_provider_arn = None;
        i.request_set = Some("apps".into());
        let e = resolve(&i, Need::Cluster).unwrap_err().to_string();
        assert!(e.contains("only day-2 runs"), "{e}");
        // Destroy needs no requests directory, but a day-2 one must name its set or state.
        let mut d = SettingsInput {
            credentials_requests_dir: None,
            identity_provider_arn: Some(IDP.into()),
            config: Some(file),
            ..input("x")
        };
        let e = resolve(&d, Need::StateOnly).unwrap_err().to_string();
        assert!(e.contains("a day-2 run keeps its own state"), "{e}");
        d.state = Some("s.toml".into());
        assert_eq!(resolve(&d, Need::StateOnly).unwrap().request_set, None);
    }

    #[test]
    fn a_private_issuer_comes_from_the_flag_or_the_file_in_the_commercial_partition_only() {
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("stsform.toml");
        std::fs::write(&file, "create_private_s3_bucket = true\n").unwrap();
        let mut i = input("requests");
        assert!(!resolve(&i, Need::Cluster).unwrap().create_private_s3_bucket);
        i.create_private_s3_bucket = true;
        assert!(resolve(&i, Need::Cluster).unwrap().create_private_s3_bucket);
        let from_file = SettingsInput {
            config: Some(file),
            ..input("requests")
        };
        assert!(
            resolve(&from_file, Need::Cluster)
                .unwrap()
                .create_private_s3_bucket
        );
        for region in ["us-gov-east-1", "cn-northwest-1"] {
            let e = resolve(
                &SettingsInput {
                    region: Some(region.into()),
                    ..i.clone()
                },
                Need::Cluster,
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("--create-private-s3-bucket") && e.contains(region),
                "{e}"
            );
        }
        let day2 = SettingsInput {
            identity_provider_arn: Some(IDP.into()),
            ..i.clone()
        };
        let e = resolve(&day2, Need::Cluster).unwrap_err().to_string();
        assert!(e.contains("manages roles only"), "{e}");
    }

    #[test]
    fn request_sets_come_from_directory_names() {
        assert_eq!(
            request_set_of_dir(Path::new("a/team b")).as_deref(),
            Some("team-b")
        );
        assert_eq!(request_set_of_dir(Path::new("/")), None);
        assert!(request_set_of_dir(Path::new(".")).is_some());
    }

    #[test]
    fn tags_are_checked() {
        assert!(check_tag("team", "platform", "c").is_ok());
        assert!(
            check_tag("aws:x", "v", "c")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            check_tag("Name", "v", "c")
                .unwrap_err()
                .contains("ownership")
        );
        assert!(check_tag("k", "a;b", "c").unwrap_err().contains("`;`"));
        assert!(
            check_tag("openshift.io/cloud-credential-operator/other", "owned", "c")
                .unwrap_err()
                .contains("another cluster's")
        );
        assert!(check_tag(&"k".repeat(129), "v", "c").is_err());
        assert!(check_tag("k", &"v".repeat(257), "c").is_err());
        assert!(check_tag("k", "", "c").is_ok());
        // IAM's limits, each with the message it gives: keys 1 to 128 characters, values
        // up to 256, the characters AWS tags allow.
        assert!(check_tag(&"k".repeat(128), &"v".repeat(256), "c").is_ok());
        assert_eq!(
            check_tag(&"k".repeat(129), "v", "c").unwrap_err(),
            "tag keys must be 1 to 128 characters"
        );
        assert_eq!(
            check_tag("", "v", "c").unwrap_err(),
            "tag keys must be 1 to 128 characters"
        );
        assert_eq!(
            check_tag("k", &"v".repeat(257), "c").unwrap_err(),
            "tag values must be at most 256 characters"
        );
        assert_eq!(
            check_tag("k", "a;b", "c").unwrap_err(),
            "`;` is not allowed in AWS tags"
        );
        assert_eq!(
            check_tag("aws:x", "v", "c").unwrap_err(),
            "tag keys starting with `aws:` are reserved by AWS"
        );
    }

    fn resolve_with(toml: &str, user_tags: &[&str]) -> Result<Settings, InputErrors> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("stsform.toml");
        std::fs::write(&config, toml).unwrap();
        let input = SettingsInput {
            name: Some("c1".into()),
            region: Some("us-east-2".into()),
            credentials_requests_dir: Some("creds".into()),
            config: Some(config),
            user_tags: user_tags.iter().map(|t| t.to_string()).collect(),
            ..SettingsInput::default()
        };
        resolve(&input, Need::Cluster)
    }

    #[test]
    fn user_tags_merge_with_the_file_the_flag_winning_per_key() {
        let s = resolve_with(
            "[tags]\nteam = \"platform\"\ncost = \"1\"\n",
            &["cost=42", "env=prod=blue", "empty="],
        )
        .unwrap();
        let tags: Vec<(&str, &str)> = s
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                ("cost", "42"),
                ("empty", ""),
                ("env", "prod=blue"),
                ("team", "platform")
            ]
        );
        // The ownership tags come on top and cannot be overridden.
        let all = s.resource_tags();
        assert_eq!(all["openshift.io/cloud-credential-operator/c1"], "owned");
        assert_eq!(all["Name"], "c1");
        assert_eq!(s.ownership_tags().len(), 2);
    }

    #[test]
    fn bad_user_tags_are_refused_before_anything_runs() {
        let err = resolve_with("", &["novalue", "a=1", "a=2", "Name=x", "aws:x=1", "k=a;b"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid input (5 problems)\n  \
             --user-tags: `novalue` is not `key=value` (separate several with commas)\n  \
             --user-tags: `a` is given twice\n  \
             --user-tags: `Name`: `Name` is an ownership tag stsform sets itself (ccoctl compatibility)\n  \
             --user-tags: `aws:x`: tag keys starting with `aws:` are reserved by AWS\n  \
             --user-tags: `k`: `;` is not allowed in AWS tags"
        );
        // 40 in the file and 9 more on the command line: 49 user tags are one too many.
        let file: String = (0..40).map(|i| format!("f{i} = \"v\"\n")).collect();
        let flags: Vec<String> = (0..9).map(|i| format!("g{i}=v")).collect();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let err = resolve_with(&format!("[tags]\n{file}"), &flags)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "--user-tags: 49 user tags (`[tags]` and `--user-tags` together); at most 48"
            ),
            "{err}"
        );
        assert!(resolve_with(&format!("[tags]\n{file}"), &flags[..8]).is_ok());
    }

    #[test]
    fn served_keys_come_from_the_flags_else_the_file_in_order() {
        let s = resolve_with("public_key_files = [\"old.pub\", \"new.pub\"]\n", &[]).unwrap();
        let names: Vec<String> = s
            .public_key_files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["old.pub", "new.pub"]);
        // Relative to the settings file, like every path in it.
        assert!(s.public_key_files.iter().all(|p| p.is_absolute()), "{s:?}");
        let s = resolve_with("public_key_file = \"one.pub\"\n", &[]).unwrap();
        assert_eq!(s.public_key_files.len(), 1);
        assert!(s.public_key_files[0].ends_with("one.pub"));
        let err = resolve_with("public_key_file = \"a\"\npublic_key_files = [\"b\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stsform.toml: public_key_file: set `public_key_files` only"),
            "{err}"
        );
        // Flags replace the file's list as a whole: a rotation's step is one list.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("stsform.toml");
        std::fs::write(&config, "public_key_files = [\"old.pub\", \"new.pub\"]\n").unwrap();
        let input = SettingsInput {
            config: Some(config),
            public_key_files: vec!["new.pub".into()],
            ..input("creds")
        };
        assert_eq!(
            resolve(&input, Need::Cluster).unwrap().public_key_files,
            [PathBuf::from("new.pub")]
        );
    }
}
