//! The issuer checks of `verify`, JOSE side: the discovery document, the JWKS against the
//! keys the settings serve (or, day 2, our key), a token minted with a private key and
//! verified as STS verifies it, and the OIDC provider. Pure: no I/O and no clock (the driver fetches the documents and
//! passes the time in). Each check returns `Ok(detail)` or `Err(reason)`, worded for the
//! report.

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

/// The served JWKS serves exactly the keys the settings serve (`expected`, a JWKS built
/// from them): each with its kid and the same modulus and exponent, and no other. Every
/// difference is named; the order does not matter to STS.
pub fn check_served(jwks: &JwkSet, expected: &JwkSet) -> Result<String, String> {
    let count = jwks.keys.len();
    let keys = format!("{count} key{}", if count == 1 { "" } else { "s" });
    let kid_of = |k: &jsonwebtoken::jwk::Jwk| k.common.key_id.clone().unwrap_or_default();
    let mut problems = Vec::new();
    for want in &expected.keys {
        let kid = kid_of(want);
        let Some(served) = jwks.find(&kid) else {
            problems.push(format!(
                "none with kid {}, which the settings serve",
                short_kid(&kid)
            ));
            continue;
        };
        match (
            rsa_components(&served.algorithm),
            rsa_components(&want.algorithm),
        ) {
            (None, _) => problems.push(format!(
                "the key with kid {} is not an RSA key",
                short_kid(&kid)
            )),
            (Some(got), Some(want)) if got == want => {}
            (Some((n, _)), Some((wn, _))) if n != wn => problems.push(format!(
                "kid {} is served with another modulus than the settings' key",
                short_kid(&kid)
            )),
            _ => problems.push(format!(
                "kid {} is served with another exponent than the settings' key",
                short_kid(&kid)
            )),
        }
    }
    for served in &jwks.keys {
        let kid = kid_of(served);
        if !expected.keys.iter().any(|k| kid_of(k) == kid) {
            problems.push(format!(
                "also kid {}, which the settings do not serve",
                if kid.is_empty() {
                    "(none)".to_string()
                } else {
                    short_kid(&kid)
                }
            ));
        }
    }
    let kids: Vec<String> = jwks.keys.iter().map(|k| short_kid(&kid_of(k))).collect();
    if problems.is_empty() {
        Ok(format!(
            "{keys}, kid{} {}, as the settings serve",
            if count == 1 { "" } else { "s" },
            kids.join(", ")
        ))
    } else {
        Err(format!("{keys}: {}", problems.join("; ")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/c1-oidc.s3.us-east-2.amazonaws.com";
    const ISSUER: &str = "https://c1-oidc.s3.us-east-2.amazonaws.com";
    const INGRESS: &str = "system:serviceaccount:openshift-ingress-operator:ingress-operator";

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
    fn the_served_jwks_must_serve_exactly_the_settings_keys() {
        let (ours, other) = (key().public_key(), other_key().public_key());
        let both = parse_jwks(&crate::jwks::document(&[ours.clone(), other.clone()])).unwrap();
        let only_ours = parse_jwks(&ours.jwks()).unwrap();
        let ok = check_served(&both, &both).unwrap();
        assert!(ok.starts_with("2 keys, kids "), "{ok}");
        assert!(ok.ends_with(", as the settings serve"), "{ok}");
        assert!(
            check_served(&only_ours, &only_ours)
                .unwrap()
                .starts_with("1 key, kid ")
        );
        // Phase 1 not applied yet: the new key is missing.
        let err = check_served(&only_ours, &both).unwrap_err();
        assert!(err.starts_with("1 key: none with kid "), "{err}");
        assert!(err.ends_with(", which the settings serve"), "{err}");
        // Phase 2 not applied yet: the retired key is still served.
        let err = check_served(&both, &only_ours).unwrap_err();
        assert!(err.contains("also kid "), "{err}");
        // Our kid with another modulus.
        let forged = other.jwks().replace(&other.kid(), &ours.kid());
        let err = check_served(&parse_jwks(&forged).unwrap(), &only_ours).unwrap_err();
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
