//! `verify`: walks the path AWS STS walks for a pod's projected token and reports each step.
//!
//! A private issuer's distribution (`private`) → issuer documents (discovery, JWKS: the
//! keys the settings serve) → a token minted with each private key held and verified
//! against the served JWKS (served keys without a private key here are listed as not
//! tested; retired keys must be rejected) → the OIDC provider → each role's trust policy
//! for each service account → STS AssumeRoleWithWebIdentity. `issuer` (the JOSE side) and `trust` (the
//! trust-policy evaluator) are pure, `render` formats; this file only fetches (through
//! `fetch` and the provider), assembles the `Report`, and decides how a run reads the
//! documents (`Options::for_run`: through the emulator, or over HTTPS as STS does).

pub mod fetch;
pub mod issuer;
pub mod private;
pub mod render;
pub mod trust;

use serde::Serialize;

use crate::credentials_request::CredentialsRequest;
use crate::desired;
use crate::keypair::{self, PrivateKey};
use crate::provider::{Provider, Sts};
use crate::resource::{OidcProviderSpec, ResourceId, ResourceKind, RoleSpec, Spec};
use crate::settings::Settings;

pub use fetch::{Documents, Https};

/// Version of the JSON document `--format json` prints.
pub const FORMAT_VERSION: u32 = 1;
/// Session name of the STS calls (shows up in CloudTrail).
pub const SESSION_NAME: &str = "stsform-verify";

/// What the emulator note says: moto's STS accepts any token for any role.
pub const EMULATOR_NOTE: &str = "STS is an emulator here: it accepts any token for any role, so sts ✓ proves only that the call reaches it; the issuer and trust checks are the real proof.";

/// The reason of a row whose STS call was skipped because an issuer check failed.
pub const ISSUER_BLOCKED: &str =
    "sts not called: the issuer checks failed, so STS would reject the token";

/// The reason of a row whose STS call was skipped because no private key of a served kid
/// is held here to sign its token with (after a rotation, the cluster holds the new one).
pub const NO_KEY: &str = "sts not called: no private key of a served kid here to sign a token with";

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Not run: an earlier step failed, or there is nothing here to run it with (a
    /// served key whose private half is not held).
    Skip,
}

impl Status {
    fn of<T, E>(result: &Result<T, E>) -> Status {
        if result.is_ok() {
            Status::Pass
        } else {
            Status::Fail
        }
    }
}

/// One issuer-level check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id (`discovery_document`, `jwks`, `token`, `retired_key`, `oidc_provider`).
    pub id: &'static str,
    /// The key a `token` or `retired_key` check is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Title for people.
    pub title: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found, or why it failed.
    pub detail: String,
}

/// One role × service account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Role name.
    pub role: String,
    /// Role ARN (built from the account when the role is missing).
    pub role_arn: String,
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// Whether the role's trust policy admits the token.
    pub trust: Status,
    /// Whether STS exchanged the token for the role.
    pub sts: Status,
    /// The assumed-role ARN STS returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_role_arn: Option<String>,
    /// Why a step failed or was skipped.
    pub reasons: Vec<String>,
    /// Whether this service account can assume its role.
    pub passed: bool,
}

/// Counts for the last line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rows (service accounts across all roles).
    pub service_accounts: usize,
    /// Rows that passed every step.
    pub can_assume: usize,
    /// Failed checks (issuer checks and row steps marked ✗).
    pub failures: usize,
    /// Rows whose STS call was not made for want of a private key of a served kid.
    pub untested: usize,
}

/// Everything `verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Version of this document's shape.
    pub format_version: u32,
    /// Issuer URL.
    pub issuer: String,
    /// OIDC provider ARN.
    pub provider_arn: String,
    /// Audience of the minted tokens.
    pub audience: String,
    /// Issuer-level checks, in the order STS relies on them.
    pub checks: Vec<Check>,
    /// One row per service account of each role.
    pub rows: Vec<Row>,
    /// Set when STS is an emulator: what its ✓ does and does not prove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Whether nothing failed and every row passed, but for the rows that could not be
    /// tested for want of a private key (said in the summary line).
    pub fn passed(&self) -> bool {
        self.summary.failures == 0
            && self.summary.can_assume + self.summary.untested == self.summary.service_accounts
    }
}

/// What to verify.
pub struct Target<'a> {
    /// Cluster settings (name, region, day-2 provider ARN).
    pub settings: &'a Settings,
    /// The requests whose roles to check.
    pub requests: &'a [CredentialsRequest],
    /// The JWKS the settings serve (`SigningKey::jwks`); `None` in day-2 mode, where the
    /// issuer is not ours and only the held keys must be served.
    pub expected: Option<&'a str>,
    /// The private keys held here (the output dir's): a token is signed with each.
    pub keys: &'a [PrivateKey],
    /// Private keys retired from keys.json (`--retired-key-file`): a token signed with
    /// each must be rejected.
    pub retired: &'a [PrivateKey],
    /// Token time (Unix seconds): `iat`, and `exp` an hour later.
    pub now: u64,
}

/// How to reach the issuer and what to say about STS.
pub struct Options {
    /// Where the issuer's documents are read.
    pub documents: Documents,
    /// Whether STS is an emulator (adds the note to the report).
    pub emulated_sts: bool,
}

impl Options {
    /// The options of a run against AWS, or against an emulator (`emulated`): there the
    /// documents are read through it (S3 GetObject), since the issuer URL names a bucket
    /// host only the emulator knows; against AWS they are fetched over HTTPS from the
    /// issuer URL, as STS fetches them (10 s per request at most).
    pub fn for_run(emulated: bool) -> anyhow::Result<Options> {
        let documents = if emulated {
            Documents::Provider
        } else {
            Documents::Https(Https::new(std::time::Duration::from_secs(10))?)
        };
        Ok(Options {
            documents,
            emulated_sts: emulated,
        })
    }
}

/// The private keys verify signs tokens with: the output directory's, when it holds one
/// (in day-2 mode, a copy of the cluster's key put there). None is no error: the served
/// keys are then reported as not tested.
pub fn private_keys(settings: &Settings) -> anyhow::Result<Vec<PrivateKey>> {
    Ok(keypair::load_from_dir(&settings.output_dir)?
        .map(|(private, _)| private)
        .into_iter()
        .collect())
}

/// The private keys of `--retired-key-file`, each read as a PEM private key.
pub fn retired_keys(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<PrivateKey>> {
    paths
        .iter()
        .map(|path| {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{shown}: cannot read the retired key: {e}"))?;
            Ok(PrivateKey::from_pem(&text, &shown)?)
        })
        .collect()
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn check(id: &'static str, title: &'static str, result: Result<String, String>) -> Check {
    Check {
        id,
        kid: None,
        title,
        status: Status::of(&result),
        detail: result.unwrap_or_else(|e| e),
    }
}

/// Runs every check. Errors only when nothing can be checked (no account id).
pub async fn run<P: Provider + Sts>(
    provider: &P,
    target: &Target<'_>,
    options: &Options,
) -> anyhow::Result<Report> {
    let settings = target.settings;
    let partition = settings.region.partition;
    let account = provider.account_id().await?;

    let mut checks = Vec::new();
    // A private issuer is its distribution's domain: the distribution in front of the
    // bucket is found first, and checked as STS relies on it.
    let private = settings.identity_provider_arn.is_none() && settings.create_private_s3_bucket;
    let bucket = settings.bucket_name();
    let mut known = crate::private_issuer::Known::default();
    if private {
        let found = private::distribution(provider, settings).await;
        if let Ok(d) = &found {
            known.distribution = Some((d.id.clone(), d.domain_name.clone()));
        }
        checks.push(check(
            "distribution",
            "CloudFront distribution",
            match found {
                Ok(d) => private::check_distribution(provider, settings, &d).await,
                Err(e) => Err(e),
            },
        ));
    }
    // The issuer and its provider: derived, or (day 2) named by the provider ARN.
    let (issuer, provider_arn) = match &settings.identity_provider_arn {
        Some(arn) => {
            let host = arn.split_once(":oidc-provider/").map_or("", |(_, h)| h);
            (format!("https://{host}"), arn.clone())
        }
        None => {
            let issuer = desired::issuer(settings, &known);
            let host = issuer.trim_start_matches("https://").to_string();
            let arn = format!("arn:{partition}:iam::{account}:oidc-provider/{host}");
            (issuer, arn)
        }
    };
    let live_provider = read_oidc_provider(provider, &provider_arn, &issuer).await;
    // Day 2: the provider's own URL is the issuer the tokens must name.
    let issuer = match (&settings.identity_provider_arn, &live_provider) {
        (Some(_), Ok(Some(p))) => p.url.trim_end_matches('/').to_string(),
        _ => issuer,
    };
    let host = issuer.trim_start_matches("https://").to_string();

    // Through the emulator a private issuer's documents are read from its bucket: its
    // distribution has no endpoint to fetch them from. Said, not hidden.
    let emulated_private = private && matches!(options.documents, Documents::Provider);
    if emulated_private {
        checks.push(Check {
            id: "issuer_url",
            kid: None,
            title: "issuer URL",
            status: Status::Skip,
            detail: format!(
                "not checked: the emulator's distribution has no endpoint, so {issuer} was not \
                 fetched; the documents below were read from s3://{bucket} through the S3 API \
                 instead, which proves what they hold, not that CloudFront serves them"
            ),
        });
    }
    let from_bucket = emulated_private.then_some(bucket.as_str());
    let discovery = fetch::document(
        &options.documents,
        provider,
        &issuer,
        from_bucket,
        desired::DISCOVERY_KEY,
    )
    .await;
    checks.push(check(
        "discovery_document",
        "discovery document",
        discovery.and_then(|text| issuer::check_discovery(&text, &issuer)),
    ));
    let jwks = fetch::document(
        &options.documents,
        provider,
        &issuer,
        from_bucket,
        desired::JWKS_KEY,
    )
    .await
    .and_then(|text| issuer::parse_jwks(&text));
    let expected = target
        .expected
        .map(issuer::parse_jwks)
        .transpose()
        .map_err(|e| anyhow::anyhow!("the settings' own JWKS: {e}"))?;
    let jwks_check = match (&jwks, &expected) {
        (Err(e), _) => Err(e.clone()),
        (Ok(set), Some(expected)) => issuer::check_served(set, expected),
        // Day 2: the issuer is not ours; each key held here must be served.
        (Ok(set), None) => target
            .keys
            .iter()
            .map(|k| issuer::check_jwks(set, &k.public_key()))
            .collect::<Result<Vec<_>, _>>()
            .map(|details| {
                details.into_iter().next().unwrap_or_else(|| {
                    format!(
                        "{} served; no private key here to compare with",
                        counted(set.keys.len(), "key", "keys")
                    )
                })
            }),
    };
    checks.push(check("jwks", "JWKS", jwks_check));

    // Rows first, so the token checks can sign a real subject.
    let mut wanted = Vec::new();
    for request in target.requests {
        let role = desired::role_name(&settings.name, request);
        for sa in &request.service_account_names {
            wanted.push((
                role.clone(),
                request.secret_ref.namespace.clone(),
                sa.clone(),
            ));
        }
    }
    let probe_sub = wanted.first().map_or_else(
        || issuer::subject("stsform", "verify"),
        |(_, ns, sa)| issuer::subject(ns, sa),
    );
    let claims = issuer::Claims::new(&issuer, &probe_sub, target.now);
    let served_kids: Vec<String> = match &jwks {
        Ok(set) => set
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    let expected_kids: Vec<String> = expected
        .iter()
        .flat_map(|set| set.keys.iter().filter_map(|k| k.common.key_id.clone()))
        .collect();
    let verify_with = |key: &PrivateKey| -> Result<(), String> {
        let token = issuer::mint_token(key, &claims)?;
        match &jwks {
            Err(_) => Err("not verified: the JWKS could not be read".to_string()),
            Ok(set) => issuer::verify_token(&token, set, &issuer, issuer::AUDIENCE).map(|_| ()),
        }
    };
    let keyed = |id, title, kid: String, result: Result<String, String>| Check {
        kid: Some(kid),
        ..check(id, title, result)
    };
    // One token check per served key: signed with its private half when held here.
    let mut signer = None;
    for kid in &served_kids {
        let short = issuer::short_kid(kid);
        match target.keys.iter().find(|k| k.public_key().kid() == *kid) {
            Some(key) => {
                let result = verify_with(key).map(|()| {
                    format!("kid {short}: signed with the private key here, verifies against the served JWKS")
                });
                if result.is_ok() && signer.is_none() {
                    signer = Some(key);
                }
                checks.push(keyed("token", "token", kid.clone(), result));
            }
            None => checks.push(Check {
                status: Status::Skip,
                ..keyed(
                    "token",
                    "token",
                    kid.clone(),
                    Ok(format!(
                        "kid {short}: not tested, no private key of it here (the cluster holds it)"
                    )),
                )
            }),
        }
    }
    // A held key that is not served: a failure when the settings serve it (or, day 2,
    // always); otherwise a key the settings retired, whose tokens must be rejected.
    let mut retired: Vec<&PrivateKey> = Vec::new();
    for key in target.keys {
        let kid = key.public_key().kid();
        if served_kids.contains(&kid) {
            continue;
        }
        if expected.is_some() && !expected_kids.contains(&kid) {
            retired.push(key);
            continue;
        }
        let result =
            verify_with(key).map(|()| format!("kid {}: verifies", issuer::short_kid(&kid)));
        checks.push(keyed("token", "token", kid, result));
    }
    for key in retired.into_iter().chain(target.retired) {
        let kid = key.public_key().kid();
        let short = issuer::short_kid(&kid);
        let result = match verify_with(key) {
            Ok(()) => Err(format!(
                "kid {short}: a token signed with this retired key still verifies against the served JWKS"
            )),
            Err(why) if jwks.is_err() => Err(why),
            Err(why) => Ok(format!(
                "kid {short}: a token signed with it is rejected ({why})"
            )),
        };
        checks.push(keyed("retired_key", "retired key", kid, result));
    }
    let provider_check = match &live_provider {
        Ok(live) => {
            issuer::check_oidc_provider(live.as_ref(), &provider_arn, &issuer, issuer::AUDIENCE)
        }
        Err(e) => Err(e.clone()),
    };
    checks.push(check("oidc_provider", "OIDC provider", provider_check));
    // A check that could not be made (the emulator's) blocks nothing; a failed one does.
    let issuer_ok = checks.iter().all(|c| c.status != Status::Fail);

    let mut rows = Vec::new();
    let mut roles: Vec<(String, Result<Option<RoleSpec>, String>)> = Vec::new();
    for (role, namespace, service_account) in wanted {
        if roles.last().is_none_or(|(r, _)| *r != role) {
            let live = read_role(provider, &role).await;
            roles.push((role.clone(), live));
        }
        let live = &roles.last().expect("just pushed").1;
        let sub = issuer::subject(&namespace, &service_account);
        let mut row = Row {
            role_arn: match live {
                Ok(Some(spec)) => spec.arn.clone(),
                _ => format!("arn:{partition}:iam::{account}:role/{role}"),
            },
            role,
            namespace,
            service_account,
            trust: Status::Fail,
            sts: Status::Skip,
            assumed_role_arn: None,
            reasons: Vec::new(),
            passed: false,
        };
        let trust = match live {
            Ok(Some(spec)) => trust::evaluate_trust(
                &spec.trust_policy,
                &trust::WebIdentity {
                    provider_arn: &provider_arn,
                    host: &host,
                    sub: &sub,
                    aud: issuer::AUDIENCE,
                },
            ),
            Ok(None) => Err(format!("role {} does not exist", row.role)),
            Err(e) => Err(e.clone()),
        };
        row.trust = Status::of(&trust);
        if let Err(reason) = trust {
            row.reasons.push(reason);
        } else if !issuer_ok {
            row.reasons.push(ISSUER_BLOCKED.into());
        } else if let Some(signer) = signer {
            let token = issuer::mint_token(signer, &issuer::Claims::new(&issuer, &sub, target.now));
            let assumed = match token {
                Ok(token) => provider
                    .assume_role_with_web_identity(&row.role_arn, &token, SESSION_NAME)
                    .await
                    .map_err(|e| match e {
                        crate::provider::ProviderError::Api { message, .. } => {
                            format!("AssumeRoleWithWebIdentity: {message}")
                        }
                        other => other.to_string(),
                    }),
                Err(e) => Err(e),
            };
            row.sts = Status::of(&assumed);
            match assumed {
                Ok(arn) => row.assumed_role_arn = Some(arn),
                Err(reason) => row.reasons.push(reason),
            }
        } else {
            row.reasons.push(NO_KEY.into());
        }
        row.passed = issuer_ok && row.trust == Status::Pass && row.sts == Status::Pass;
        rows.push(row);
    }

    let failures = checks.iter().filter(|c| c.status == Status::Fail).count()
        + rows
            .iter()
            .map(|r| usize::from(r.trust == Status::Fail) + usize::from(r.sts == Status::Fail))
            .sum::<usize>();
    let summary = Summary {
        service_accounts: rows.len(),
        can_assume: rows.iter().filter(|r| r.passed).count(),
        failures,
        untested: rows
            .iter()
            .filter(|r| r.reasons.iter().any(|x| x == NO_KEY))
            .count(),
    };
    Ok(Report {
        format_version: FORMAT_VERSION,
        issuer,
        provider_arn,
        audience: issuer::AUDIENCE.to_string(),
        checks,
        rows,
        note: options.emulated_sts.then(|| EMULATOR_NOTE.to_string()),
        summary,
    })
}

/// `1 key`, `2 keys`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

async fn read_oidc_provider<P: Provider>(
    provider: &P,
    arn: &str,
    issuer: &str,
) -> Result<Option<OidcProviderSpec>, String> {
    let host = arn.split_once(":oidc-provider/").map_or("", |(_, h)| h);
    let recorded = OidcProviderSpec {
        url: issuer.to_string(),
        arn: arn.to_string(),
        client_ids: Vec::new(),
        thumbprints: Vec::new(),
        tags: Default::default(),
    };
    let id = ResourceId::new(ResourceKind::IamOidcProvider, host);
    match provider.read(&id, &Spec::IamOidcProvider(recorded)).await {
        Ok(Some(Spec::IamOidcProvider(live))) => Ok(Some(live)),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

async fn read_role<P: Provider>(provider: &P, name: &str) -> Result<Option<RoleSpec>, String> {
    let recorded = RoleSpec {
        name: name.to_string(),
        arn: String::new(),
        description: String::new(),
        trust_policy: serde_json::Value::Null,
        permissions_boundary: None,
        tags: Default::default(),
    };
    let id = ResourceId::new(ResourceKind::IamRole, name);
    match provider.read(&id, &Spec::IamRole(recorded)).await {
        Ok(Some(Spec::IamRole(live))) => Ok(Some(live)),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}
