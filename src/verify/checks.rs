//! The pure checks of `verify`: discovery document, JWKS, token mint and verification,
//! OIDC provider, and trust-policy evaluation for one web identity.
//!
//! No I/O and no clock: the driver fetches the documents and passes the time in. Each
//! check returns `Ok(detail)` or `Err(reason)`, worded for the report.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keypair::{PrivateKey, PublicKey};
use crate::resource::OidcProviderSpec;

/// The audience of the cluster's bound service-account tokens (ccoctl's client ID).
pub const AUDIENCE: &str = "openshift";
/// The STS action a web identity needs.
pub const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// Lifetime of a minted token, in seconds (bound tokens live an hour by default).
pub const TOKEN_LIFETIME: u64 = 3600;

/// The claims of a bound service-account token, as far as STS reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer URL.
    pub iss: String,
    /// `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

impl Claims {
    /// The claims of a token for `sub` issued by `issuer` at `now`, valid for an hour.
    pub fn new(issuer: &str, sub: &str, now: u64) -> Claims {
        Claims {
            iss: issuer.to_string(),
            sub: sub.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now,
            exp: now + TOKEN_LIFETIME,
        }
    }
}

/// The subject of a service account's token: the rule derive writes into trust policies.
pub use crate::desired::subject;

/// A kid shortened for display: `Lx…KI`.
pub fn short_kid(kid: &str) -> String {
    let chars: Vec<char> = kid.chars().collect();
    if chars.len() <= 6 {
        return kid.to_string();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

/// The discovery document names `issuer` and serves the JWKS at `<issuer>/keys.json`.
pub fn check_discovery(text: &str, issuer: &str) -> Result<String, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let field = |name: &str| doc.get(name).and_then(Value::as_str);
    let jwks_uri = format!("{issuer}/{}", crate::desired::JWKS_KEY);
    match field("issuer") {
        Some(i) if i == issuer => {}
        Some(i) => return Err(format!("issuer is {i}, not {issuer}")),
        None => return Err("no issuer field".into()),
    }
    match field("jwks_uri") {
        Some(u) if u == jwks_uri => Ok("issuer and jwks_uri match".into()),
        Some(u) => Err(format!("jwks_uri is {u}, not {jwks_uri}")),
        None => Err("no jwks_uri field".into()),
    }
}

/// Parses a JWKS document.
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    serde_json::from_str(text).map_err(|e| format!("not a valid JWKS ({e})"))
}

/// Big-endian integer bytes from base64url, leading zero bytes dropped.
fn integer(b64: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Some(bytes[start..].to_vec())
}

/// RSA `(n, e)` of a JWK, decoded.
fn rsa_components(params: &AlgorithmParameters) -> Option<(Vec<u8>, Vec<u8>)> {
    match params {
        AlgorithmParameters::RSA(rsa) => Some((integer(&rsa.n)?, integer(&rsa.e)?)),
        _ => None,
    }
}

/// Where the key verify signs with comes from (in day-2 mode too, where there is no
/// `serviceaccount-signer.public`): the JWKS is checked against its public half.
const SIGNING_KEY: &str = crate::keypair::PRIVATE_KEY_FILE;

/// The served JWKS holds a key with our kid whose modulus and exponent are ours.
pub fn check_jwks(jwks: &JwkSet, ours: &PublicKey) -> Result<String, String> {
    let kid = ours.kid();
    let count = jwks.keys.len();
    let keys = format!("{count} key{}", if count == 1 { "" } else { "s" });
    let Some(served) = jwks.find(&kid) else {
        let kids: Vec<String> = jwks
            .keys
            .iter()
            .map(|k| {
                k.common
                    .key_id
                    .as_deref()
                    .map_or("(none)".into(), short_kid)
            })
            .collect();
        return Err(format!(
            "{keys}, none with kid {} of the key in {SIGNING_KEY} (served kids: {})",
            short_kid(&kid),
            if kids.is_empty() {
                "none".to_string()
            } else {
                kids.join(", ")
            }
        ));
    };
    let ours_jwks = parse_jwks(&ours.jwks()).map_err(|e| format!("our own JWKS: {e}"))?;
    let expected = ours_jwks
        .keys
        .first()
        .and_then(|k| rsa_components(&k.algorithm));
    match (rsa_components(&served.algorithm), expected) {
        (None, _) => Err(format!(
            "the key with kid {} is not an RSA key",
            short_kid(&kid)
        )),
        (Some(served), Some(expected)) if served == expected => Ok(format!(
            "{keys}, kid {} matches the key in {SIGNING_KEY}",
            short_kid(&kid)
        )),
        (Some((n, _)), Some((en, _))) if n != en => Err(format!(
            "kid {} is served with another modulus than the key in {SIGNING_KEY}",
            short_kid(&kid)
        )),
        _ => Err(format!(
            "kid {} is served with another exponent than the key in {SIGNING_KEY}",
            short_kid(&kid)
        )),
    }
}

/// Signs `claims` with RS256 and the key's kid in the header, like the cluster's
/// service-account token signer.
pub fn mint_token(key: &PrivateKey, claims: &Claims) -> Result<String, String> {
    let pem = key.to_pkcs1_pem();
    let encoding =
        EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| format!("signing key: {e}"))?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.public_key().kid());
    jsonwebtoken::encode(&header, claims, &encoding).map_err(|e| format!("signing failed: {e}"))
}

/// Verifies `token` the way STS does: the key named by its kid in the served JWKS, RS256,
/// issuer, audience, expiry. Returns its claims.
pub fn verify_token(
    token: &str,
    jwks: &JwkSet,
    issuer: &str,
    audience: &str,
) -> Result<Claims, String> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| format!("unreadable header ({e})"))?;
    let kid = header.kid.unwrap_or_default();
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| format!("the served JWKS has no key with kid {}", short_kid(&kid)))?;
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| format!("the served key {} is unusable ({e})", short_kid(&kid)))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => format!(
                "the signature does not verify against the served key {}",
                short_kid(&kid)
            ),
            _ => format!("rejected: {e}"),
        })
}

/// The OIDC provider exists, names the issuer and accepts the audience.
pub fn check_oidc_provider(
    live: Option<&OidcProviderSpec>,
    arn: &str,
    issuer: &str,
    audience: &str,
) -> Result<String, String> {
    let Some(p) = live else {
        return Err(format!("{arn} does not exist"));
    };
    if p.url.trim_end_matches('/') != issuer {
        return Err(format!("its URL is {}, not {issuer}", p.url));
    }
    let ids = if p.client_ids.is_empty() {
        "none".to_string()
    } else {
        p.client_ids.join(", ")
    };
    if !p.client_ids.iter().any(|c| c == audience) {
        return Err(format!(
            "client IDs {ids} do not include the audience {audience}"
        ));
    }
    Ok(format!("client IDs {ids}"))
}

/// A web identity asking STS for a role: who federates it and what its token says.
#[derive(Clone, Copy, Debug)]
pub struct WebIdentity<'a> {
    /// ARN of the OIDC provider that vouches for the token.
    pub provider_arn: &'a str,
    /// Issuer host (and path): the prefix of the condition keys (`<host>:sub`).
    pub host: &'a str,
    /// The token's `sub`.
    pub sub: &'a str,
    /// The token's `aud`.
    pub aud: &'a str,
}

/// `StringLike`: `*` matches any run of characters, `?` exactly one.
pub fn string_like(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    // Where the last `*` was, and the value position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A string or a list of strings (scalars as text), as IAM reads policy values.
fn strings(value: &Value) -> Vec<String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// How far one statement got in admitting the identity.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// The statement is not about the web-identity action.
    NoAction,
    /// It is, for other principals.
    OtherPrincipal(String),
    /// Principal and action fit; a condition does not hold.
    ConditionFails(String),
    /// A condition uses something this evaluator does not know.
    CannotEvaluate(String),
    /// Everything fits.
    Matches,
}

fn action_fits(statement: &Value) -> bool {
    let fits = |list: &Value| {
        strings(list)
            .iter()
            .any(|a| string_like(&a.to_ascii_lowercase(), &ACTION.to_ascii_lowercase()))
    };
    match (statement.get("Action"), statement.get("NotAction")) {
        (Some(actions), _) => fits(actions),
        (None, Some(not)) => !fits(not),
        (None, None) => false,
    }
}

/// `Ok(())` when the principal is the provider, else the principals it names.
fn principal_fits(statement: &Value, provider_arn: &str) -> Result<(), String> {
    if statement.get("NotPrincipal").is_some() {
        return Err("a NotPrincipal (not evaluated)".into());
    }
    match statement.get("Principal") {
        Some(Value::String(s)) if s == "*" => Ok(()),
        Some(Value::Object(p)) => {
            let federated = p.get("Federated").map(strings).unwrap_or_default();
            if federated.iter().any(|f| f == provider_arn) {
                Ok(())
            } else if federated.is_empty() {
                let kinds: Vec<&str> = p.keys().map(String::as_str).collect();
                Err(format!("{} principals only", kinds.join(", ")))
            } else {
                Err(federated.join(", "))
            }
        }
        _ => Err("no principal".into()),
    }
}

/// Evaluates a statement's `Condition` block for the identity.
fn conditions_hold(statement: &Value, who: &WebIdentity<'_>) -> Fit {
    let Some(block) = statement.get("Condition") else {
        return Fit::Matches;
    };
    let Some(ops) = block.as_object() else {
        return Fit::CannotEvaluate("a Condition that is not an object".into());
    };
    let sub_key = format!("{}:sub", who.host);
    let aud_key = format!("{}:aud", who.host);
    for (op, keys) in ops {
        let (base, if_exists) = match op.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (op.as_str(), false),
        };
        let (negated, matcher): (bool, fn(&str, &str) -> bool) = match base {
            "StringEquals" => (false, |p, v| p == v),
            "StringNotEquals" => (true, |p, v| p == v),
            "StringEqualsIgnoreCase" => (false, |p, v| p.eq_ignore_ascii_case(v)),
            "StringNotEqualsIgnoreCase" => (true, |p, v| p.eq_ignore_ascii_case(v)),
            "StringLike" => (false, string_like),
            "StringNotLike" => (true, string_like),
            _ => return Fit::CannotEvaluate(format!("cannot evaluate {op}")),
        };
        let Some(keys) = keys.as_object() else {
            return Fit::CannotEvaluate(format!("cannot evaluate {op}: not a key map"));
        };
        for (key, wanted) in keys {
            let wanted = strings(wanted);
            // Condition keys are case-insensitive in IAM.
            let value = if key.eq_ignore_ascii_case(&sub_key) {
                Some(who.sub)
            } else if key.eq_ignore_ascii_case(&aud_key) {
                Some(who.aud)
            } else {
                None
            };
            let holds = match value {
                // A key the request does not carry: only the negated and IfExists forms hold.
                None => negated || if_exists,
                Some(v) => wanted.iter().any(|w| matcher(w, v)) != negated,
            };
            if holds {
                continue;
            }
            let reason = match value {
                None => {
                    format!("trust policy requires {op} on {key}, which the token does not carry")
                }
                Some(_) if key.eq_ignore_ascii_case(&sub_key) && !negated => format!(
                    "trust policy admits {}, not {}",
                    wanted.join(", "),
                    who.sub
                        .strip_prefix("system:serviceaccount:")
                        .unwrap_or(who.sub)
                ),
                Some(v) if key.eq_ignore_ascii_case(&aud_key) && !negated => format!(
                    "trust policy requires audience {}, the token carries {v}",
                    wanted.join(", ")
                ),
                Some(v) => format!(
                    "trust policy condition {op} {key} {} excludes {v}",
                    wanted.join(", ")
                ),
            };
            return Fit::ConditionFails(reason);
        }
    }
    Fit::Matches
}

fn fit(statement: &Value, who: &WebIdentity<'_>) -> Fit {
    if !action_fits(statement) {
        return Fit::NoAction;
    }
    if let Err(named) = principal_fits(statement, who.provider_arn) {
        return Fit::OtherPrincipal(named);
    }
    conditions_hold(statement, who)
}

/// Whether a role's trust policy lets `who` call AssumeRoleWithWebIdentity, evaluated
/// like IAM does for the parts trust policies use: an explicit Deny wins, then some
/// Allow must fit in action, principal and every condition. `Err` says why not.
pub fn evaluate_trust(policy: &Value, who: &WebIdentity<'_>) -> Result<(), String> {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("trust policy has no statements".into()),
    };
    let mut best: Option<Fit> = None;
    for statement in &statements {
        let effect = statement.get("Effect").and_then(Value::as_str);
        let fit = fit(statement, who);
        match (effect, fit) {
            (Some("Deny"), Fit::Matches) => {
                return Err("trust policy denies it explicitly (Effect Deny)".into());
            }
            (Some("Deny"), Fit::CannotEvaluate(reason)) => {
                return Err(format!("{reason} in a Deny statement"));
            }
            (Some("Allow"), Fit::Matches) => {
                // An explicit Deny elsewhere still wins: keep looking at the others.
                best = Some(Fit::Matches);
            }
            (Some("Allow"), other) if best.as_ref().is_none_or(|b| other > *b) => {
                best = Some(other);
            }
            _ => {}
        }
    }
    match best {
        Some(Fit::Matches) => Ok(()),
        Some(Fit::CannotEvaluate(reason)) | Some(Fit::ConditionFails(reason)) => Err(reason),
        Some(Fit::OtherPrincipal(named)) => Err(format!(
            "trust policy federates {named}, not {}",
            who.provider_arn
        )),
        Some(Fit::NoAction) | None => Err(format!("no Allow statement for {ACTION}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/c1-oidc.s3.us-east-2.amazonaws.com";
    const HOST: &str = "c1-oidc.s3.us-east-2.amazonaws.com";
    const ISSUER: &str = "https://c1-oidc.s3.us-east-2.amazonaws.com";

    fn who(sub: &str) -> WebIdentity<'_> {
        WebIdentity {
            provider_arn: ARN,
            host: HOST,
            sub,
            aud: AUDIENCE,
        }
    }

    fn ours(subjects: &[&str]) -> Value {
        let subjects: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        crate::iam_policy::trust_policy(ARN, HOST, &subjects)
    }

    const INGRESS: &str = "system:serviceaccount:openshift-ingress-operator:ingress-operator";

    #[test]
    fn the_policy_stsform_writes_admits_its_service_accounts() {
        let policy = ours(&[
            INGRESS,
            "system:serviceaccount:openshift-ingress-operator:x",
        ]);
        assert_eq!(evaluate_trust(&policy, &who(INGRESS)), Ok(()));
        // ccoctl's raw form (single strings, not lists) reads the same.
        let raw = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{HOST}:sub"): INGRESS}}}]});
        assert_eq!(evaluate_trust(&raw, &who(INGRESS)), Ok(()));
    }

    #[test]
    fn another_namespace_is_rejected_with_what_is_admitted() {
        let policy = ours(&["system:serviceaccount:openshift-ingress:ingress-operator"]);
        assert_eq!(
            evaluate_trust(&policy, &who(INGRESS)),
            Err("trust policy admits system:serviceaccount:openshift-ingress:ingress-operator, not openshift-ingress-operator:ingress-operator".into())
        );
    }

    #[test]
    fn string_like_wildcards_admit_and_reject() {
        let policy = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Federated": ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {format!("{HOST}:sub"): "system:serviceaccount:openshift-ingress-operator:*"}}}]});
        assert_eq!(evaluate_trust(&policy, &who(INGRESS)), Ok(()));
        assert!(
            evaluate_trust(
                &policy,
                &who("system:serviceaccount:other:ingress-operator")
            )
            .is_err()
        );
        assert!(string_like("a?c*", "abcdef"));
        assert!(string_like("*", ""));
        assert!(string_like("*-operator", "ingress-operator"));
        assert!(string_like("a*b*c", "axxbyyc"));
        assert!(!string_like("a?c", "ac"));
        assert!(!string_like("a*b", "acbd"));
        assert!(!string_like("abc", "abcd"));
    }

    #[test]
    fn wrong_federated_principal_is_rejected() {
        let other = "arn:aws:iam::123456789012:oidc-provider/other.example.com";
        let policy = crate::iam_policy::trust_policy(other, HOST, &[INGRESS.to_string()]);
        assert_eq!(
            evaluate_trust(&policy, &who(INGRESS)),
            Err(format!("trust policy federates {other}, not {ARN}"))
        );
        let service = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRoleWithWebIdentity"}]});
        assert!(
            evaluate_trust(&service, &who(INGRESS))
                .unwrap_err()
                .contains("Service principals only")
        );
    }

    #[test]
    fn missing_or_other_action_is_rejected_and_wildcards_count() {
        let with_action = |action: Value| json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN}, "Action": action}]});
        assert_eq!(
            evaluate_trust(&with_action(json!("sts:AssumeRole")), &who(INGRESS)),
            Err("no Allow statement for sts:AssumeRoleWithWebIdentity".into())
        );
        let no_action =
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN}}]});
        assert!(evaluate_trust(&no_action, &who(INGRESS)).is_err());
        for ok in [
            "sts:*",
            "*",
            "STS:assumerolewithwebidentity",
            "sts:AssumeRoleWith*",
        ] {
            assert_eq!(
                evaluate_trust(&with_action(json!(ok)), &who(INGRESS)),
                Ok(()),
                "{ok}"
            );
        }
    }

    #[test]
    fn audience_conditions_and_unknown_operators() {
        let policy = |cond: Value| {
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond}]})
        };
        let aud = format!("{HOST}:aud");
        assert_eq!(
            evaluate_trust(
                &policy(json!({"StringEquals": {&aud: "openshift"}})),
                &who(INGRESS)
            ),
            Ok(())
        );
        assert_eq!(
            evaluate_trust(
                &policy(json!({"StringEquals": {&aud: "sts.amazonaws.com"}})),
                &who(INGRESS)
            ),
            Err(
                "trust policy requires audience sts.amazonaws.com, the token carries openshift"
                    .into()
            )
        );
        assert_eq!(
            evaluate_trust(
                &policy(json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})),
                &who(INGRESS)
            ),
            Err("cannot evaluate DateGreaterThan".into())
        );
        // A key the token does not carry fails a positive operator, passes IfExists.
        let other = json!({"StringEquals": {"other.example.com:sub": INGRESS}});
        assert!(evaluate_trust(&policy(other), &who(INGRESS)).is_err());
        let if_exists = json!({"StringEqualsIfExists": {"other.example.com:sub": INGRESS}});
        assert_eq!(evaluate_trust(&policy(if_exists), &who(INGRESS)), Ok(()));
    }

    #[test]
    fn an_explicit_deny_wins() {
        let mut policy = ours(&[INGRESS]);
        policy["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Deny", "Principal": "*", "Action": "sts:*"}));
        assert_eq!(
            evaluate_trust(&policy, &who(INGRESS)),
            Err("trust policy denies it explicitly (Effect Deny)".into())
        );
    }

    fn key() -> PrivateKey {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keys/fixed.private.pem"
        ))
        .unwrap();
        PrivateKey::from_pem(&text, "fixed").unwrap()
    }

    fn other_key() -> PrivateKey {
        PrivateKey::generate().unwrap()
    }

    #[test]
    fn discovery_document_must_name_the_issuer_and_its_jwks() {
        let doc = crate::desired::discovery_document(ISSUER);
        assert_eq!(
            check_discovery(&doc, ISSUER),
            Ok("issuer and jwks_uri match".into())
        );
        let wrong = crate::desired::discovery_document("https://elsewhere.example.com");
        assert_eq!(
            check_discovery(&wrong, ISSUER),
            Err(format!(
                "issuer is https://elsewhere.example.com, not {ISSUER}"
            ))
        );
        let jwks = json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/jwks.json")}).to_string();
        assert!(
            check_discovery(&jwks, ISSUER)
                .unwrap_err()
                .starts_with("jwks_uri is")
        );
        assert!(
            check_discovery("<html>", ISSUER)
                .unwrap_err()
                .starts_with("not valid JSON")
        );
    }

    #[test]
    fn jwks_must_hold_our_kid_with_our_modulus() {
        let public = key().public_key();
        let served = parse_jwks(&public.jwks()).unwrap();
        let ok = check_jwks(&served, &public).unwrap();
        assert!(ok.starts_with("1 key, kid "), "{ok}");

        let other = other_key().public_key();
        let foreign = parse_jwks(&other.jwks()).unwrap();
        let err = check_jwks(&foreign, &public).unwrap_err();
        assert!(err.contains("none with kid"), "{err}");

        // Our kid, another key's modulus.
        let forged = other.jwks().replace(&other.kid(), &public.kid());
        let err = check_jwks(&parse_jwks(&forged).unwrap(), &public).unwrap_err();
        assert!(err.contains("another modulus"), "{err}");
    }

    #[test]
    fn a_minted_token_verifies_against_the_served_jwks_only_for_our_key() {
        let key = key();
        let claims = Claims::new(ISSUER, INGRESS, jsonwebtoken::get_current_timestamp());
        let token = mint_token(&key, &claims).unwrap();
        let served = parse_jwks(&key.public_key().jwks()).unwrap();
        assert_eq!(
            verify_token(&token, &served, ISSUER, AUDIENCE),
            Ok(claims.clone())
        );
        assert!(verify_token(&token, &served, "https://other", AUDIENCE).is_err());
        assert!(verify_token(&token, &served, ISSUER, "sts.amazonaws.com").is_err());

        // Signed by another key that claims our kid: the signature does not verify.
        let other = other_key();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.public_key().kid());
        let forged = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(other.to_pkcs1_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        let err = verify_token(&forged, &served, ISSUER, AUDIENCE).unwrap_err();
        assert!(err.contains("signature does not verify"), "{err}");
        // Signed by another key under its own kid: not in the served JWKS at all.
        let theirs = mint_token(&other, &claims).unwrap();
        let err = verify_token(&theirs, &served, ISSUER, AUDIENCE).unwrap_err();
        assert!(err.contains("has no key with kid"), "{err}");
    }

    #[test]
    fn oidc_provider_must_exist_name_the_issuer_and_accept_the_audience() {
        let spec = |url: &str, ids: &[&str]| OidcProviderSpec {
            url: url.into(),
            arn: ARN.into(),
            client_ids: ids.iter().map(|s| s.to_string()).collect(),
            thumbprints: vec![],
            tags: Default::default(),
        };
        let good = spec(ISSUER, &["openshift", "sts.amazonaws.com"]);
        assert_eq!(
            check_oidc_provider(Some(&good), ARN, ISSUER, AUDIENCE),
            Ok("client IDs openshift, sts.amazonaws.com".into())
        );
        assert!(
            check_oidc_provider(None, ARN, ISSUER, AUDIENCE)
                .unwrap_err()
                .contains("does not exist")
        );
        let sts_only = spec(ISSUER, &["sts.amazonaws.com"]);
        assert!(check_oidc_provider(Some(&sts_only), ARN, ISSUER, AUDIENCE).is_err());
        let elsewhere = spec("https://x.example.com", &["openshift"]);
        assert!(check_oidc_provider(Some(&elsewhere), ARN, ISSUER, AUDIENCE).is_err());
    }

    #[test]
    fn kids_are_shortened_for_display() {
        assert_eq!(short_kid("LxAbCdEfKI"), "Lx…KI");
        assert_eq!(short_kid("abc"), "abc");
    }
}
