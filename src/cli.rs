//! Command-line arguments (clap derive). Argument types only: no file reads, no AWS.
//!
//! Flag names follow `ccoctl aws` where they overlap, verbs follow Terraform. [`command`]
//! is the command line as parsed and completed: each command's `--help` lists only the
//! flags it uses, with examples.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::settings::SettingsInput;

/// Terraform-style plan/apply/destroy for the AWS resources behind OpenShift STS credentials.
#[derive(Debug, Parser)]
#[command(name = "stsform", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The settings flags (of [`ClusterArgs`]).
const SETTINGS: &[&str] = &[
    "name",
    "region",
    "credentials_requests_dir",
    "output_dir",
    "state",
    "permissions_boundary_arn",
    "enable_tech_preview",
    "public_key_file",
    "identity_provider_arn",
    "request_set",
    "thumbprint",
    "create_private_s3_bucket",
    "config",
    "user_tags",
    "verbose",
];

/// Flags that some commands taking them do not use: the settings, the refusals a run
/// lifts, `--include-unmanaged` and `--strict`.
const SHARED: &[&str] = &[
    "allow_issuer_change",
    "allow_deleting_all_roles",
    "include_unmanaged",
    "strict",
];

/// The shared flags (see [`SHARED`]) each command uses, by argument id (`*settings`: every
/// settings flag; `*allow`: both `--allow-*`). Its `--help` lists these; the others stay
/// defined but hidden, and [`parse`] refuses them as a usage error naming the flag and
/// the command: a flag that does nothing must not look as if it did. (Flags given beside
/// a saved plan are still compared with it: `apply` uses every settings flag, and
/// `destroy` those that find the state.)
const USES: &[(&str, &[&str])] = &[
    (
        "validate",
        &[
            "name",
            "region",
            "credentials_requests_dir",
            "enable_tech_preview",
            "config",
            "verbose",
        ],
    ),
    (
        "plan",
        &["*settings", "*allow", "include_unmanaged", "strict"],
    ),
    // `--include-unmanaged` is for destroy: apply refuses it, saying so.
    ("apply", &["*settings", "*allow", "strict"]),
    (
        // The state is found by name (and, day 2, provider and request set, the set named
        // by --request-set or the requests directory's name) or --state; the state says
        // where the local files are. A destroy may do what the refusals guard, so it takes
        // no --allow-*.
        "destroy",
        &[
            "name",
            "region",
            "state",
            "identity_provider_arn",
            "request_set",
            "credentials_requests_dir",
            "config",
            "include_unmanaged",
        ],
    ),
    (
        "graph",
        &[
            "name",
            "region",
            "credentials_requests_dir",
            "output_dir",
            "enable_tech_preview",
            "public_key_file",
            "identity_provider_arn",
            "create_private_s3_bucket",
            "config",
            "verbose",
        ],
    ),
    (
        "verify",
        &[
            "name",
            "region",
            "credentials_requests_dir",
            "output_dir",
            "enable_tech_preview",
            "public_key_file",
            "identity_provider_arn",
            "create_private_s3_bucket",
            "config",
            "verbose",
        ],
    ),
    // The stsform commands it prints carry the settings as given.
    ("rotate-key", &["*settings"]),
    (
        "import",
        &[
            "name",
            "region",
            "credentials_requests_dir",
            "output_dir",
            "state",
            "enable_tech_preview",
            "public_key_file",
            "identity_provider_arn",
            "create_private_s3_bucket",
            "request_set",
            "config",
            "verbose",
        ],
    ),
];

/// The command line: [`Cli`]'s, with each command's help listing only the flags it uses
/// (`USES`). Parse with [`parse`]; completions are generated from it.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for (name, _) in USES {
        let used = |id: &str| uses(name, id);
        cmd = cmd.mut_subcommand(name, |sub| {
            sub.mut_args(|arg| {
                let id = arg.get_id().as_str();
                let hide = (SETTINGS.contains(&id) || SHARED.contains(&id)) && !used(id);
                if hide { arg.hide(true) } else { arg }
            })
        });
    }
    cmd
}

/// Parses `args` (the program name first) with [`command`]. A shared flag the command
/// does not use (`validate --thumbprint`) is a usage error, as clap's own for a flag that
/// does not exist.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    if let Some((name, sub)) = matches.subcommand()
        && let Some(sub_cmd) = cmd.find_subcommand_mut(name)
        && let Some(flag) = unused_flag(name, sub_cmd, sub)
    {
        return Err(unused_flag_error(name, sub_cmd, &flag));
    }
    Cli::from_arg_matches(&matches)
}

/// The first flag on the command line (by position) that `name` defines but does not
/// use (`USES`), as typed: `--thumbprint`.
fn unused_flag(name: &str, cmd: &clap::Command, matches: &clap::ArgMatches) -> Option<String> {
    USES.iter().find(|(n, _)| *n == name)?;
    let used = |id: &str| uses(name, id);
    cmd.get_arguments()
        .filter(|arg| {
            let id = arg.get_id().as_str();
            (SETTINGS.contains(&id) || SHARED.contains(&id))
                && !used(id)
                && matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        })
        .min_by_key(|arg| matches.index_of(arg.get_id().as_str()))
        .and_then(|arg| arg.get_long().map(|long| format!("--{long}")))
}

/// clap's "unexpected argument" error for `flag`, with the command's usage and a tip
/// saying why the command does not take it.
fn unused_flag_error(name: &str, cmd: &mut clap::Command, flag: &str) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let tip = match (name, flag) {
        ("apply", "--include-unmanaged") => {
            "--include-unmanaged is for destroy: apply never deletes what the state does not hold"
                .to_string()
        }
        ("destroy", "--create-private-s3-bucket") => {
            "destroy deletes what the state holds, a private issuer's distribution and Origin Access Control included; it needs no --create-private-s3-bucket"
                .to_string()
        }
        ("destroy", f) if f.starts_with("--allow-") => format!(
            "destroy deletes the issuer and the roles by definition; it takes no {f} (see `stsform destroy --help`)"
        ),
        _ => format!("`stsform {name}` does not use {flag} (see `stsform {name} --help`)"),
    };
    let usage = cmd.render_usage();
    let mut err = clap::Error::new(ErrorKind::UnknownArgument).with_cmd(cmd);
    err.insert(
        ContextKind::InvalidArg,
        ContextValue::String(flag.to_string()),
    );
    err.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![tip.into()]),
    );
    err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
    err
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a directory of CredentialsRequests without touching AWS or any file.
    #[command(
        after_help = "Examples:\n  stsform validate --credentials-requests-dir credreqs\n  stsform validate --credentials-requests-dir credreqs \\\n      --name prod-east --region us-east-2   # role names checked too"
    )]
    Validate(ClusterArgs),
    /// Show what apply would change.
    #[command(
        after_help = "Examples:\n  stsform plan --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --output-dir install\n  stsform plan ... --format markdown --out prod-east.plan \\\n      --detailed-exitcode --lock=false     # in a pull request, read-only\n  stsform plan ... --refresh=false         # offline, no AWS calls"
    )]
    Plan(PlanArgs),
    /// Create or update what the plan shows, after confirmation.
    #[command(
        after_help = "Examples:\n  stsform apply --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --output-dir install --auto-approve\n  stsform apply prod-east.plan   # exactly the saved plan, with its settings"
    )]
    Apply(ApplyArgs),
    /// Delete everything the state holds, in dependency order, after confirmation.
    #[command(
        after_help = "Examples:\n  stsform destroy --name prod-east --region us-east-2 --auto-approve\n  stsform destroy --name prod-east --region us-east-2 \\\n      --include-unmanaged   # also what is tagged for it, not in the state\n  stsform destroy prod-east.plan   # saved with `plan --destroy --out`"
    )]
    Destroy(ApplyArgs),
    /// Print the dependency graph of the desired resources in Graphviz DOT or Mermaid.
    #[command(
        after_help = "Examples:\n  stsform graph --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs | dot -Tsvg > graph.svg\n  stsform graph --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --format mermaid"
    )]
    Graph(GraphArgs),
    /// Print a plan saved with `plan --out`, without planning again.
    #[command(
        after_help = "Examples:\n  stsform show prod-east.plan\n  stsform show prod-east.plan --format markdown >> \"$GITHUB_STEP_SUMMARY\""
    )]
    Show(ShowArgs),
    /// Check that every service account can assume its role: issuer documents, token,
    /// OIDC provider, trust policies and STS. Exit code 1 on any failure.
    #[command(
        after_help = "Example:\n  stsform verify --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --output-dir install --format json"
    )]
    Verify(VerifyArgs),
    /// Show where a signing-key rotation stands (which kids keys.json serves, which is the
    /// newest) and print the exact next commands, `oc` steps included. Changes nothing.
    #[command(
        name = "rotate-key",
        after_help = "Examples:\n  stsform rotate-key --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --output-dir install\n  stsform rotate-key ... \\\n      --public-key-file install/serviceaccount-signer.public \\\n      --public-key-file install/serviceaccount-signer-2.public"
    )]
    RotateKey(RotateKeyArgs),
    /// Adopt a cluster made by `ccoctl aws create-all` (or an stsform whose state was
    /// lost): record what exists and is the cluster's in a new, empty state.
    #[command(
        after_help = "Example:\n  stsform import --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --output-dir install\n  stsform plan --name prod-east --region us-east-2 \\\n      --credentials-requests-dir credreqs --output-dir install"
    )]
    Import(ImportArgs),
    /// Inspect or edit the state: list, show, rm.
    #[command(
        subcommand,
        after_help = "Examples:\n  stsform state list --name prod-east\n  stsform state show --name prod-east \\\n      iam_role.prod-east-openshift-ingress-operator-cloud-credentials\n  stsform state rm --name prod-east \\\n      file.manifests/cluster-authentication-02-config.yaml"
    )]
    State(StateCommand),
    /// Remove a stale state lock left by a process that is gone (local or S3).
    #[command(
        after_help = "Examples:\n  stsform force-unlock 6f1c5b0e-8d2a-4c1e-9f3b-7a6d5e4c3b2a --name prod-east\n  stsform force-unlock 6f1c5b0e-8d2a-4c1e-9f3b-7a6d5e4c3b2a \\\n      --state s3://my-states/prod-east.toml --region us-east-2"
    )]
    ForceUnlock(ForceUnlockArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  stsform completions bash > /etc/bash_completion.d/stsform\n  stsform completions zsh > \"${fpath[1]}/_stsform\""
    )]
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
}

/// Settings shared by every command that works on a cluster.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// Cluster name: the bucket is `<name>-oidc`, roles are `<name>-<namespace>-<secret>`.
    #[arg(long)]
    pub name: Option<String>,
    /// AWS region of the bucket (also decides the partition of every ARN).
    #[arg(long)]
    pub region: Option<String>,
    /// Directory of CredentialsRequest manifests (.yaml and .yml, as ccoctl reads).
    #[arg(long, value_name = "DIR")]
    pub credentials_requests_dir: Option<PathBuf>,
    /// Where the key pair, `manifests/` and `tls/` are written [default: .].
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// State file, or `s3://BUCKET/KEY` for a state in S3 [default: state/<name>.toml].
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Permissions boundary policy ARN for every role.
    #[arg(long, value_name = "ARN")]
    pub permissions_boundary_arn: Option<String>,
    /// Include requests annotated `release.openshift.io/feature-set: TechPreviewNoUpgrade`
    /// (as ccoctl; feature-gated requests are always included, with a note).
    #[arg(long)]
    pub enable_tech_preview: bool,
    /// Serve this public key (SPKI PEM) in keys.json instead of the output dir's key pair;
    /// repeat it to serve several, in the order given, during a signing-key rotation
    /// (`stsform rotate-key` says which).
    #[arg(long, value_name = "PATH", action = clap::ArgAction::Append)]
    pub public_key_file: Vec<PathBuf>,
    /// Manage only roles, policies and Secrets against this existing OIDC provider
    /// (day-2 roles, in a state of their own: state/<name>-roles-<request set>.toml).
    #[arg(long, value_name = "ARN")]
    pub identity_provider_arn: Option<String>,
    /// Day-2 only: the name of this set of requests, recorded in its state
    /// [default: the requests directory's name].
    #[arg(long, value_name = "NAME")]
    pub request_set: Option<String>,
    /// OIDC provider thumbprint (SHA-1, hex) instead of computing it from the issuer's
    /// certificate chain; without either, none is set and AWS uses its CA library.
    #[arg(long, value_name = "HEX")]
    pub thumbprint: Option<String>,
    /// Private issuer (ccoctl's flag): the bucket blocks all public access and a
    /// CloudFront distribution serves the OIDC documents through an Origin Access
    /// Control; the issuer URL is https://<distribution domain>. Not in GovCloud or China.
    #[arg(long)]
    pub create_private_s3_bucket: bool,
    /// Settings file; flags win over it [default: ./stsform.toml if present].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Tags for the bucket, OIDC provider and roles, on top of the ownership tags
    /// (`key=value,key2=value2`; repeatable; a key here wins over `[tags]` in stsform.toml).
    #[arg(long, value_name = "KEY=VALUE,...", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub user_tags: Vec<String>,
    /// List every skipped non-AWS document, not just how many there are.
    #[arg(long, short)]
    pub verbose: bool,
}

impl ClusterArgs {
    /// The flags as settings input.
    pub fn settings_input(&self) -> SettingsInput {
        SettingsInput {
            name: self.name.clone(),
            region: self.region.clone(),
            credentials_requests_dir: self.credentials_requests_dir.clone(),
            output_dir: self.output_dir.clone(),
            state: self.state.clone(),
            permissions_boundary_arn: self.permissions_boundary_arn.clone(),
            enable_tech_preview: self.enable_tech_preview,
            public_key_files: self.public_key_file.clone(),
            identity_provider_arn: self.identity_provider_arn.clone(),
            request_set: self.request_set.clone(),
            thumbprint: self.thumbprint.clone(),
            create_private_s3_bucket: self.create_private_s3_bucket,
            config: self.config.clone(),
            user_tags: self.user_tags.clone(),
        }
    }

    /// The settings flags as given, to repeat in a printed `stsform COMMAND`: those the
    /// command uses (`USES`), but `--public-key-file` (the printed command names its own
    /// keys) and `--verbose`.
    pub fn settings_flags(&self, command: &str) -> Vec<String> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let given: Vec<(&str, &str, Vec<String>)> = vec![
            ("name", "--name", self.name.iter().cloned().collect()),
            ("region", "--region", self.region.iter().cloned().collect()),
            (
                "credentials_requests_dir",
                "--credentials-requests-dir",
                path(&self.credentials_requests_dir).into_iter().collect(),
            ),
            (
                "output_dir",
                "--output-dir",
                path(&self.output_dir).into_iter().collect(),
            ),
            ("state", "--state", path(&self.state).into_iter().collect()),
            (
                "permissions_boundary_arn",
                "--permissions-boundary-arn",
                self.permissions_boundary_arn.iter().cloned().collect(),
            ),
            (
                "identity_provider_arn",
                "--identity-provider-arn",
                self.identity_provider_arn.iter().cloned().collect(),
            ),
            (
                "request_set",
                "--request-set",
                self.request_set.iter().cloned().collect(),
            ),
            (
                "thumbprint",
                "--thumbprint",
                self.thumbprint.iter().cloned().collect(),
            ),
            (
                "config",
                "--config",
                path(&self.config).into_iter().collect(),
            ),
            ("user_tags", "--user-tags", self.user_tags.clone()),
        ];
        let mut flags = Vec::new();
        for (id, flag, values) in given {
            if uses(command, id) {
                for value in values {
                    flags.push(flag.to_string());
                    flags.push(value);
                }
            }
        }
        if self.enable_tech_preview && uses(command, "enable_tech_preview") {
            flags.push("--enable-tech-preview".into());
        }
        // Left out, the printed plan would move a private issuer back to a public bucket
        // (a change of issuer URL, refused without --allow-issuer-change).
        if self.create_private_s3_bucket && uses(command, "create_private_s3_bucket") {
            flags.push("--create-private-s3-bucket".into());
        }
        flags
    }
}

/// Whether `command` uses the shared flag `id` (`USES`; commands not listed use all).
fn uses(command: &str, id: &str) -> bool {
    USES.iter()
        .find(|(name, _)| *name == command)
        .is_none_or(|(_, uses)| {
            uses.contains(&id)
                || (uses.contains(&"*settings") && SETTINGS.contains(&id))
                || (uses.contains(&"*allow") && id.starts_with("allow_"))
        })
}

/// `stsform plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Cluster settings.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Read every resource from AWS before planning; `--refresh=false` plans against the
    /// state file alone and makes no AWS call.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub refresh: bool,
    /// At most this many refresh reads at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub parallelism: u16,
    /// Output format: `text` for people, `markdown` for pull-request comments, `json` for machines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Save the plan to FILE; `stsform apply FILE` then applies exactly it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan the destruction of everything the state holds.
    #[arg(long)]
    pub destroy: bool,
    /// With --destroy: also delete the roles, OIDC providers and bucket tagged for the
    /// cluster that the state does not hold (the plan lists them either way).
    #[arg(long, requires = "destroy")]
    pub include_unmanaged: bool,
    /// How long to wait for a state lock held by someone else (`0`, `30s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Lock the state while planning; `--lock=false` takes no lock and writes nothing
    /// next to the state (for read-only CI roles). Safe only for read-only previews.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub lock: bool,
    /// Fail (exit 1) when the plan has warnings not acknowledged in stsform.toml: risky
    /// statements of the requests, or creates past the account's IAM quotas.
    #[arg(long)]
    pub strict: bool,
    /// Refusals this run lifts.
    #[command(flatten)]
    pub allow: AllowArgs,
}

/// Flags that lift a safety refusal for one run (never settable in stsform.toml).
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct AllowArgs {
    /// Allow changes that break token validation for the running cluster: deleting or
    /// replacing the signing key, the OIDC bucket, its documents or the OIDC provider,
    /// dropping a served key from keys.json, changing the issuer URL.
    #[arg(long)]
    pub allow_issuer_change: bool,
    /// Allow a plan that deletes every role the state holds and creates none (also
    /// accepts a requests directory with no AWS CredentialsRequest).
    #[arg(long)]
    pub allow_deleting_all_roles: bool,
}

/// Plan output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Terraform-style text.
    Text,
    /// Markdown for PR comments and job summaries (under 65,000 characters).
    Markdown,
    /// The versioned JSON contract (docs/plan-json.md).
    Json,
}

/// `stsform apply` and `stsform destroy`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `stsform plan --out`: applied exactly, without planning again,
    /// with the settings it carries (other settings flags must agree with it).
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    /// Cluster settings.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Skip the interactive `yes` (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// At most this many changes (and refresh reads) at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub parallelism: u16,
    /// How long to wait for a state lock held by someone else (`0`, `30s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Destroy only: also delete the roles, OIDC providers and bucket tagged for the
    /// cluster that the state does not hold (the plan shown first lists them).
    #[arg(long)]
    pub include_unmanaged: bool,
    /// Apply only: refuse a plan with warnings not acknowledged in stsform.toml (as
    /// `plan --strict` does).
    #[arg(long)]
    pub strict: bool,
    /// Refusals this run lifts (apply only: destroy is allowed to do all of this).
    #[command(flatten)]
    pub allow: AllowArgs,
}

/// `stsform graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Cluster settings.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// `dot` (Graphviz) or `mermaid` (what GitHub renders in Markdown, grouped by kind
    /// past 40 resources, as Markdown plans draw their order).
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Graph output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// `stsform show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `stsform plan --out`.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: PathBuf,
    /// Output format, as for `plan`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `stsform import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Cluster settings (the same as for plan).
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// How long to wait for a state lock held by someone else (`0`, `30s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

/// Where the state is: enough settings to find it.
#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    /// Cluster name (the default state is `state/<name>.toml`).
    #[arg(long)]
    pub name: Option<String>,
    /// State file, or `s3://BUCKET/KEY` [default: state/<name>.toml].
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Region of an S3 state's bucket [default: --region of stsform.toml, else the AWS default].
    #[arg(long)]
    pub region: Option<String>,
    /// Settings file [default: ./stsform.toml if present].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl StateArgs {
    /// The flags as settings input.
    pub fn settings_input(&self) -> SettingsInput {
        SettingsInput {
            name: self.name.clone(),
            region: self.region.clone(),
            state: self.state.clone(),
            config: self.config.clone(),
            ..SettingsInput::default()
        }
    }
}

/// `stsform state …`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the resources in the state, one address per line, sorted.
    #[command(
        after_help = "Examples:\n  stsform state list --name prod-east\n  stsform state list --state s3://my-states/prod-east.toml --region us-east-2"
    )]
    List(StateArgs),
    /// Show one resource's recorded attributes (policies as JSON).
    #[command(
        after_help = "Example:\n  stsform state show --name prod-east \\\n      iam_role.prod-east-openshift-ingress-operator-cloud-credentials"
    )]
    Show {
        /// The resource address, as `state list` prints it.
        id: String,
        /// Where the state is.
        #[command(flatten)]
        state: StateArgs,
    },
    /// Forget resources without deleting them (they stay in AWS / on disk).
    #[command(
        after_help = "Examples:\n  stsform state rm --name prod-east \\\n      file.manifests/cluster-authentication-02-config.yaml\n  stsform state rm --name prod-east --lock-timeout 30s \\\n      iam_role.prod-east-openshift-ingress-operator-cloud-credentials"
    )]
    Rm {
        /// Resource addresses, as `state list` prints them.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Where the state is.
        #[command(flatten)]
        state: StateArgs,
        /// How long to wait for a state lock held by someone else (`0`, `30s`, `5m`).
        #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
        lock_timeout: Duration,
    },
}

/// `stsform force-unlock`.
#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id, as the "is locked by" error prints it.
    pub id: String,
    /// Where the state is.
    #[command(flatten)]
    pub state: StateArgs,
}

/// `stsform rotate-key`.
#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Cluster settings (the same as for plan; the commands printed carry them).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `stsform verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Cluster settings. Tokens are signed with the output dir's private key when keys.json
    /// serves it; served keys without a private key here are listed as not tested.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// A private key (PEM) whose public half was retired from keys.json: verify checks that
    /// a token signed with it is rejected. Repeatable.
    #[arg(long, value_name = "PATH", action = clap::ArgAction::Append)]
    pub retired_key_file: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::verify::render::Format,
}

/// Parses a lock timeout: `0`, `500ms`, `30s`, `5m`, `1h`, or combinations (`1m30s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("`{text}` is not a duration (examples: 0, 500ms, 30s, 5m, 1m30s)");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and subcommand, by its path (`state rm`).
    fn all(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let here = format!("{path} {}", sub.get_name()).trim().to_string();
            out.push((here.clone(), sub.clone()));
            all(sub, &here, out);
        }
    }

    #[test]
    fn every_command_and_subcommand_has_examples_that_fit_80_columns() {
        let mut commands = Vec::new();
        all(&command(), "", &mut commands);
        let names: Vec<&str> = commands.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "validate",
            "state list",
            "state show",
            "state rm",
            "force-unlock",
            "rotate-key",
        ] {
            assert!(names.contains(&expected), "{names:?}");
        }
        for (name, cmd) in commands.iter().filter(|(n, _)| n != "help") {
            let examples = cmd
                .get_after_help()
                .unwrap_or_else(|| panic!("`{name}` has no example"))
                .to_string();
            assert!(examples.starts_with("Example"), "{name}: {examples}");
            let lines: Vec<&str> = examples.lines().skip(1).collect();
            assert!(!lines.is_empty(), "{name}");
            for (i, line) in lines.iter().enumerate() {
                let continues = i > 0 && lines[i - 1].ends_with('\\');
                assert!(
                    line.starts_with("  stsform ") || (continues && line.starts_with("      ")),
                    "{name}: not a command: {line:?}"
                );
                assert!(line.chars().count() <= 79, "{name}: {line:?} is too wide");
            }
            // Rendered for an 80-column terminal, the examples come out as written.
            let help = cmd.clone().term_width(80).render_long_help().to_string();
            assert!(
                help.contains(&examples),
                "{name} --help wraps an example:\n{help}"
            );
        }
    }

    /// rotate-key prints apply and verify commands from the settings as given: a private
    /// issuer's flag must be in them, or the printed plan would move the issuer.
    #[test]
    fn printed_commands_keep_the_private_issuer_and_tech_preview_flags() {
        let cli = parse([
            "stsform",
            "rotate-key",
            "--name",
            "c",
            "--create-private-s3-bucket",
            "--enable-tech-preview",
        ])
        .unwrap();
        let Command::RotateKey(args) = cli.command else {
            panic!("parsed as another command");
        };
        for command in ["apply", "verify"] {
            let flags = args.cluster.settings_flags(command);
            assert!(
                flags.contains(&"--create-private-s3-bucket".to_string())
                    && flags.contains(&"--enable-tech-preview".to_string()),
                "{command}: {flags:?}"
            );
        }
        let without = parse(["stsform", "rotate-key", "--name", "c"]).unwrap();
        let Command::RotateKey(args) = without.command else {
            panic!("parsed as another command");
        };
        assert!(
            !args
                .cluster
                .settings_flags("apply")
                .contains(&"--create-private-s3-bucket".to_string())
        );
    }

    #[test]
    fn each_command_lists_only_the_settings_flags_it_uses() {
        // The table knows every settings flag.
        let ids: Vec<String> = ClusterArgs::augment_args(clap::Command::new("x"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        assert_eq!(ids, SETTINGS);
        // (command, flags its help shows, every shared flag it hides and refuses), written
        // out for each.
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "validate",
                &[
                    "--credentials-requests-dir",
                    "--enable-tech-preview",
                    "--verbose",
                    "--name",
                    "--region",
                    "--config",
                ],
                &[
                    "--output-dir",
                    "--state",
                    "--permissions-boundary-arn",
                    "--public-key-file",
                    "--identity-provider-arn",
                    "--request-set",
                    "--thumbprint",
                    "--create-private-s3-bucket",
                    "--user-tags",
                ],
            ),
            (
                "destroy",
                &[
                    "--name",
                    "--region",
                    "--state",
                    "--identity-provider-arn",
                    "--request-set",
                    "--credentials-requests-dir",
                    "--config",
                    "--auto-approve",
                    "--include-unmanaged",
                ],
                &[
                    "--output-dir",
                    "--permissions-boundary-arn",
                    "--enable-tech-preview",
                    "--public-key-file",
                    "--thumbprint",
                    "--create-private-s3-bucket",
                    "--user-tags",
                    "--verbose",
                    "--allow-issuer-change",
                    "--allow-deleting-all-roles",
                    // A destroy creates nothing, so has no warnings to be strict about.
                    "--strict",
                ],
            ),
            (
                "graph",
                &[
                    "--credentials-requests-dir",
                    "--output-dir",
                    "--identity-provider-arn",
                    "--public-key-file",
                ],
                &[
                    "--state",
                    "--permissions-boundary-arn",
                    "--request-set",
                    "--thumbprint",
                    "--user-tags",
                ],
            ),
            (
                "verify",
                &[
                    "--output-dir",
                    "--format",
                    "--identity-provider-arn",
                    "--public-key-file",
                    "--retired-key-file",
                ],
                &[
                    "--state",
                    "--permissions-boundary-arn",
                    "--request-set",
                    "--thumbprint",
                    "--user-tags",
                ],
            ),
            (
                "rotate-key",
                &[
                    "--public-key-file",
                    "--state",
                    "--output-dir",
                    "--user-tags",
                ],
                &[],
            ),
            (
                "import",
                &[
                    "--state",
                    "--output-dir",
                    "--lock-timeout",
                    "--public-key-file",
                    "--request-set",
                ],
                &["--permissions-boundary-arn", "--thumbprint", "--user-tags"],
            ),
            (
                "plan",
                &[
                    "--thumbprint",
                    "--user-tags",
                    "--public-key-file",
                    "--verbose",
                    "--out",
                    "--include-unmanaged",
                    "--allow-issuer-change",
                ],
                &[],
            ),
            (
                "apply",
                &[
                    "--thumbprint",
                    "--user-tags",
                    "--auto-approve",
                    "--parallelism",
                    "--allow-issuer-change",
                ],
                &["--include-unmanaged"],
            ),
        ];
        let root = command();
        for (name, shown, hidden) in cases {
            let help = root
                .find_subcommand(name)
                .unwrap()
                .clone()
                .render_long_help()
                .to_string();
            for flag in *shown {
                assert!(
                    help.contains(&format!(" {flag}")),
                    "{name} lacks {flag}:\n{help}"
                );
            }
            for flag in *hidden {
                assert!(!help.contains(flag), "{name} lists {flag}:\n{help}");
            }
            // The lists are complete: every hidden shared flag is written out above.
            let hidden_here: Vec<String> = root
                .find_subcommand(name)
                .unwrap()
                .get_arguments()
                .filter(|a| a.is_hide_set())
                .map(|a| format!("--{}", a.get_long().unwrap()))
                .collect();
            let mut listed: Vec<String> = hidden.iter().map(|f| f.to_string()).collect();
            listed.sort();
            let mut hidden_here = hidden_here;
            hidden_here.sort();
            assert_eq!(hidden_here, listed, "{name}");
        }
        // What a command hides, it refuses: a usage error naming the flag and the command.
        // (`stsform` and a value for every flag that takes one; the command's own
        // required inputs are not needed for the refusal.)
        let args = |name: &str, flag: &str| {
            let mut a = vec!["stsform".to_string(), name.to_string(), flag.to_string()];
            let takes_value = root
                .find_subcommand(name)
                .unwrap()
                .get_arguments()
                .find(|arg| arg.get_long() == flag.strip_prefix("--"))
                .unwrap()
                .get_action()
                .takes_values();
            if takes_value {
                a.push("x=1".into());
            }
            a
        };
        for (name, _, hidden) in cases {
            for flag in *hidden {
                let err = parse(args(name, flag)).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
                assert!(
                    err.use_stderr(),
                    "{name} {flag}: exit 1 (main maps usage errors)"
                );
                let text = err.render().to_string();
                assert!(
                    text.starts_with(&format!("error: unexpected argument '{flag}' found")),
                    "{name} {flag}: {text}"
                );
                assert!(
                    text.contains(&format!("Usage: stsform {name} ")),
                    "{name} {flag}: {text}"
                );
            }
        }
        // The tips say why.
        let tip = |a: &[&str]| parse(a).unwrap_err().render().to_string();
        assert!(
            tip(&["stsform", "validate", "--thumbprint", "AB"])
                .contains("tip: `stsform validate` does not use --thumbprint"),
        );
        assert!(
            tip(&["stsform", "apply", "--include-unmanaged"])
                .contains("tip: --include-unmanaged is for destroy"),
        );
        assert!(
            tip(&["stsform", "destroy", "--allow-issuer-change"])
                .contains("it takes no --allow-issuer-change"),
        );
        assert!(
            tip(&["stsform", "destroy", "--create-private-s3-bucket"])
                .contains("it needs no --create-private-s3-bucket"),
        );
        // Of several, the first on the command line is named; used flags still parse.
        assert!(
            tip(&[
                "stsform",
                "destroy",
                "--name",
                "c",
                "-v",
                "--thumbprint",
                "AB"
            ])
            .starts_with("error: unexpected argument '--verbose' found")
        );
        let cli = parse([
            "stsform",
            "validate",
            "--credentials-requests-dir",
            "d",
            "--name",
            "c",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Validate(ref a) if a.name.as_deref() == Some("c")));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }
}
