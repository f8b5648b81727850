//! The IAM OIDC provider thumbprint, computed the way `ccoctl` does it: SHA-1 of the DER
//! of the last certificate the issuer's host sends in its TLS handshake (the top of the
//! served chain), as 40 uppercase hex characters. AWS no longer needs it for issuers whose
//! chain ends at a CA it trusts (S3-hosted issuers among them), so failing to get one is
//! never fatal: [`for_issuer`] turns every failure into "omit the thumbprint". When a run
//! computes one at all is decided here too ([`for_settings`]).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// How long [`for_issuer`] waits for name resolution, connect and handshake together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// SHA-1 of a DER certificate, uppercase hex (the IAM thumbprint format).
pub fn of_certificate(der: &[u8]) -> String {
    // SHA-1 is what IAM specifies for thumbprints; it identifies, it does not protect.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(40), |mut hex, byte| {
            let _ = write!(hex, "{byte:02X}");
            hex
        })
}

/// Where trust comes from: the platform's roots for real use, or given certificates (tests).
#[derive(Clone, Debug)]
pub enum Roots {
    /// The operating system's trust store (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured).
    Native,
    /// Exactly these DER certificates and nothing else.
    Certificates(Vec<Vec<u8>>),
}

/// Why no thumbprint could be fetched.
#[derive(Debug, thiserror::Error)]
pub enum ThumbprintError {
    /// Not an `https://` URL with a host; nothing was sent.
    #[error("invalid issuer URL {0}")]
    InvalidUrl(String),
    /// Name resolution, connect and handshake together took longer than allowed.
    #[error("{host}: no TLS handshake within {after:?}")]
    Timeout {
        /// `host:port` that was tried.
        host: String,
        /// The bound that was exceeded.
        after: Duration,
    },
    /// Name resolution or the TCP connect failed.
    #[error("{host}: cannot connect: {source}")]
    Connect {
        /// `host:port` that was tried.
        host: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The handshake failed, typically because the chain or the host name did not verify.
    #[error("{host}: TLS handshake failed: {message}")]
    Tls {
        /// `host:port` that was tried.
        host: String,
        /// What rustls (or the trust store loader) said.
        message: String,
    },
    /// The handshake completed without the server presenting a certificate.
    #[error("{host}: the server sent no certificate")]
    NoCertificates {
        /// `host:port` that was tried.
        host: String,
    },
}

/// Connects to the issuer's host (port from the URL, default 443), does a TLS handshake that
/// verifies the chain against `roots` and the host name, and returns the thumbprint of the last
/// certificate the server sent. Whole operation bounded by `timeout` (connect + handshake): never hangs.
///
/// Unlike `ccoctl` no HTTP request follows the handshake: it ignores the response anyway, and
/// the certificates are known once the handshake is done. `HTTPS_PROXY` is not used.
pub async fn fetch(
    issuer_url: &str,
    roots: &Roots,
    timeout: Duration,
) -> Result<String, ThumbprintError> {
    let target = Target::parse(issuer_url)?;
    // The trust store is loaded inside the bound too: reading it is local, but "never
    // hangs" should not depend on the file system behaving.
    match tokio::time::timeout(timeout, handshake(&target, roots)).await {
        Ok(result) => result,
        Err(_) => Err(ThumbprintError::Timeout {
            host: target.authority,
            after: timeout,
        }),
    }
}

/// The thumbprint of a run's issuer, when one is to be computed: not when `--thumbprint`
/// gives it, not in day-2 mode (the provider is not ours), not for a private issuer (its
/// host, the distribution's domain, may not exist before apply, and IAM checks CloudFront's
/// certificate against its CA library), and never when the run talks to an emulator
/// (`emulated`: its issuer host is not served, and the lookup would leave loopback).
/// Otherwise [`for_issuer`] of the issuer URL derive builds.
pub async fn for_settings(settings: &crate::settings::Settings, emulated: bool) -> Option<String> {
    if settings.thumbprint.is_some()
        || settings.identity_provider_arn.is_some()
        || settings.create_private_s3_bucket
        || emulated
    {
        return None;
    }
    for_issuer(&crate::desired::issuer_url(settings)).await
}

/// The thumbprint to put in `CreateOpenIDConnectProvider`, or `None` to omit it.
///
/// Never hangs: without an emulator it makes one [`fetch`] against the platform's trust
/// store bounded by [`DEFAULT_TIMEOUT`], and any failure becomes `None`. It returns `None`
/// without any network activity when an endpoint override (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_CLOUDFRONT`, unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`) points at an emulator, whose issuer host is not
/// served anywhere, or when `STSFORM_NO_THUMBPRINT=1`. `None` means "omit the thumbprint":
/// AWS then verifies the issuer against its own CA library, which covers S3-hosted issuers.
pub async fn for_issuer(issuer_url: &str) -> Option<String> {
    for_issuer_with(issuer_url, |name| std::env::var(name).ok()).await
}

/// [`for_issuer`] with the environment passed in, so tests need not mutate the process's.
async fn for_issuer_with(issuer_url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    if !should_fetch(env) {
        return None;
    }
    fetch(issuer_url, &Roots::Native, DEFAULT_TIMEOUT)
        .await
        .ok()
}

/// Whether [`for_issuer`] may touch the network, decided from the environment alone.
fn should_fetch(env: impl Fn(&str) -> Option<String>) -> bool {
    let opted_out =
        env("STSFORM_NO_THUMBPRINT").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if opted_out {
        return false;
    }
    // The emulator rule the AWS clients follow (`sdk`): an endpoint override means the
    // issuer URL names a bucket host that exists only inside the emulator.
    crate::sdk::endpoint_override(env).is_none()
}

/// Where to connect and what name the certificate must carry.
struct Target {
    /// Host as given to the resolver: a DNS name or a bare IP (no brackets).
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    /// `host:port` as written in a URL, for messages.
    authority: String,
}

impl Target {
    fn parse(issuer_url: &str) -> Result<Target, ThumbprintError> {
        let invalid = |why: &dyn std::fmt::Display| {
            ThumbprintError::InvalidUrl(format!("`{issuer_url}`: {why}"))
        };
        let url = url::Url::parse(issuer_url).map_err(|e| invalid(&e))?;
        // IAM only accepts https issuers, and a thumbprint only exists for TLS.
        if url.scheme() != "https" {
            return Err(invalid(&"the issuer must be an https:// URL"));
        }
        let (host, server_name) = match url.host() {
            Some(url::Host::Domain(name)) => {
                let server_name = ServerName::try_from(name.to_string())
                    .map_err(|e| invalid(&format_args!("host name `{name}`: {e}")))?;
                (name.to_string(), server_name)
            }
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), ServerName::from(IpAddr::V4(ip))),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), ServerName::from(IpAddr::V6(ip))),
            None => return Err(invalid(&"no host")),
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let authority = format!("{}:{port}", url.host_str().unwrap_or_default());
        Ok(Target {
            host,
            port,
            server_name,
            authority,
        })
    }
}

/// Resolve, connect, handshake; the caller bounds it in time.
async fn handshake(target: &Target, roots: &Roots) -> Result<String, ThumbprintError> {
    let tls_error = |message: String| ThumbprintError::Tls {
        host: target.authority.clone(),
        message,
    };
    let config = client_config(roots).await.map_err(tls_error)?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| ThumbprintError::Connect {
            host: target.authority.clone(),
            source,
        })?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(target.server_name.clone(), tcp)
        .await
        .map_err(|e| tls_error(e.to_string()))?;
    // The chain was verified above; what IAM wants is the top of what was *served*, which
    // is the root only when the server sends it (most do not).
    let (_, session) = tls.get_ref();
    session
        .peer_certificates()
        .and_then(<[CertificateDer<'_>]>::last)
        .map(|top| of_certificate(top))
        .ok_or_else(|| ThumbprintError::NoCertificates {
            host: target.authority.clone(),
        })
}

/// A client that verifies against `roots`, always with aws-lc-rs: the provider the AWS SDK
/// already uses, named explicitly so no process-wide default has to be installed.
async fn client_config(roots: &Roots) -> Result<rustls::ClientConfig, String> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::Native => {
            // Reads files: keep it off the async workers.
            let loaded = tokio::task::spawn_blocking(rustls_native_certs::load_native_certs)
                .await
                .map_err(|e| format!("loading the system trust store: {e}"))?;
            let (added, _) = store.add_parsable_certificates(loaded.certs);
            if added == 0 {
                let why: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "no trusted root certificates found on this system ({})",
                    if why.is_empty() {
                        "the trust store is empty".to_string()
                    } else {
                        why.join("; ")
                    }
                ));
            }
        }
        Roots::Certificates(ders) => {
            for der in ders {
                store
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|e| format!("unusable root certificate: {e}"))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(store)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::ENDPOINT_VARS;
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
        Issuer, KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::PrivateKeyDer;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;
    use tokio::net::TcpListener;

    /// ISRG Root X1 (Let's Encrypt) as DER. Its SHA-1 fingerprint is published by its owner
    /// and was checked with `openssl x509 -fingerprint -sha1` and Python's hashlib, so the
    /// expected value does not come from the code under test.
    const ISRG_ROOT_X1: &[u8] = include_bytes!("../tests/fixtures/thumbprint/isrg-root-x1.der");
    const ISRG_ROOT_X1_SHA1: &str = "CABD2A79A1076A31F21D253635CB039D4329A5E8";

    fn ca(name: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
    }

    /// root → intermediate → leaf, all made here; the leaf names `names`.
    struct Pki {
        root: Certificate,
        intermediate: Certificate,
        leaf: Certificate,
        leaf_key: KeyPair,
    }

    fn pki(names: &[&str]) -> Pki {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca("stsform test root");
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);

        let intermediate_key = KeyPair::generate().unwrap();
        let intermediate_params = ca("stsform test intermediate");
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .unwrap();
        let intermediate_issuer = Issuer::new(intermediate_params, intermediate_key);

        let leaf_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut leaf_params = CertificateParams::new(names).unwrap();
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params
            .signed_by(&leaf_key, &intermediate_issuer)
            .unwrap();
        Pki {
            root,
            intermediate,
            leaf,
            leaf_key,
        }
    }

    fn der(cert: &Certificate) -> CertificateDer<'static> {
        cert.der().clone()
    }

    /// A TLS server on 127.0.0.1 serving `chain`; returns its port and a count of accepted
    /// connections. It lives until the test's runtime ends.
    async fn serve(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> (u16, Arc<AtomicUsize>) {
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // Failed handshakes are part of some tests; the client reports them.
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        (port, accepted)
    }

    /// A loopback port nothing listens on: bound, then released.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn is_thumbprint(s: &str) -> bool {
        s.len() == 40
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    }

    #[test]
    fn of_certificate_matches_the_published_fingerprint() {
        assert_eq!(of_certificate(ISRG_ROOT_X1), ISRG_ROOT_X1_SHA1);
    }

    #[test]
    fn of_certificate_is_40_uppercase_hex_even_for_empty_input() {
        // SHA-1 of the empty string, a standard test vector (FIPS 180 examples).
        assert_eq!(
            of_certificate(b""),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
    }

    #[tokio::test]
    async fn fetch_returns_the_intermediate_when_the_root_is_not_served() {
        let pki = pki(&["localhost", "127.0.0.1"]);
        let (port, _) = serve(vec![der(&pki.leaf), der(&pki.intermediate)], &pki.leaf_key).await;
        let roots = Roots::Certificates(vec![pki.root.der().to_vec()]);

        let got = fetch(
            &format!("https://localhost:{port}"),
            &roots,
            Duration::from_secs(2),
        )
        .await
        .unwrap();

        assert!(is_thumbprint(&got), "{got}");
        assert_eq!(got, of_certificate(pki.intermediate.der()));
        assert_ne!(got, of_certificate(pki.root.der()));
        assert_ne!(got, of_certificate(pki.leaf.der()));
    }

    #[tokio::test]
    async fn fetch_returns_the_root_when_the_server_sends_it() {
        let pki = pki(&["localhost", "127.0.0.1"]);
        let chain = vec![der(&pki.leaf), der(&pki.intermediate), der(&pki.root)];
        let (port, _) = serve(chain, &pki.leaf_key).await;
        let roots = Roots::Certificates(vec![pki.root.der().to_vec()]);

        // An IP host with a path: SNI is skipped, the IP SAN is checked, the path ignored.
        let got = fetch(
            &format!("https://127.0.0.1:{port}/some/issuer"),
            &roots,
            Duration::from_secs(2),
        )
        .await
        .unwrap();

        assert_eq!(got, of_certificate(pki.root.der()));
    }

    #[tokio::test]
    async fn fetch_rejects_a_chain_to_an_untrusted_root() {
        let pki = pki(&["localhost"]);
        let stranger = self::pki(&["localhost"]);
        let (port, _) = serve(vec![der(&pki.leaf), der(&pki.intermediate)], &pki.leaf_key).await;
        let url = format!("https://localhost:{port}");

        let err = fetch(
            &url,
            &Roots::Certificates(vec![stranger.root.der().to_vec()]),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ThumbprintError::Tls { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("localhost:{port}")),
            "{err}"
        );

        // The platform's roots do not know our test CA either (or there are none: same class).
        let err = fetch(&url, &Roots::Native, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(err, ThumbprintError::Tls { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn fetch_rejects_a_certificate_for_another_host() {
        let pki = pki(&["issuer.example.test"]);
        let (port, _) = serve(vec![der(&pki.leaf), der(&pki.intermediate)], &pki.leaf_key).await;

        let err = fetch(
            &format!("https://localhost:{port}"),
            &Roots::Certificates(vec![pki.root.der().to_vec()]),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();

        assert!(matches!(err, ThumbprintError::Tls { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn fetch_times_out_on_a_server_that_never_answers() {
        // Bound but never accepted: the kernel completes the TCP handshake, nobody speaks TLS.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let start = Instant::now();

        let err = fetch(
            &format!("https://127.0.0.1:{port}"),
            &Roots::Certificates(vec![]),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();

        let elapsed = start.elapsed();
        assert!(
            matches!(err, ThumbprintError::Timeout { after, .. } if after == Duration::from_secs(1)),
            "{err:?}"
        );
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        drop(silent);
    }

    #[tokio::test]
    async fn fetch_reports_a_refused_connection() {
        let port = closed_port();
        let err = fetch(
            &format!("https://127.0.0.1:{port}"),
            &Roots::Certificates(vec![]),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ThumbprintError::Connect { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn fetch_rejects_bad_urls_before_any_connection() {
        for url in [
            "not a url",
            "http://localhost/",
            "https://",
            "https://local host/",
            "file:///etc/hosts",
        ] {
            let err = fetch(url, &Roots::Native, Duration::from_secs(1))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ThumbprintError::InvalidUrl(_)),
                "{url}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn fetch_rejects_an_unusable_root_before_connecting() {
        let port = closed_port();
        let err = fetch(
            &format!("https://127.0.0.1:{port}"),
            &Roots::Certificates(vec![b"not DER".to_vec()]),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ThumbprintError::Tls { message, .. } if message.contains("root")),
            "{err:?}"
        );
    }

    #[test]
    fn target_defaults_to_port_443_and_keeps_ipv6_bare() {
        let t = Target::parse("https://abc-oidc.s3.us-east-1.amazonaws.com").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port),
            ("abc-oidc.s3.us-east-1.amazonaws.com", 443)
        );
        assert_eq!(t.authority, "abc-oidc.s3.us-east-1.amazonaws.com:443");
        let t = Target::parse("https://[::1]:8443/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
        assert_eq!(t.authority, "[::1]:8443");
    }

    #[test]
    fn should_fetch_only_without_emulator_or_opt_out() {
        assert!(should_fetch(env(&[])));
        for var in ENDPOINT_VARS {
            assert!(
                !should_fetch(env(&[(var, "http://127.0.0.1:5000")])),
                "{var}"
            );
            // Empty means unset, as for the SDK.
            assert!(should_fetch(env(&[(var, "")])), "{var}");
        }
        assert!(!should_fetch(env(&[("STSFORM_NO_THUMBPRINT", "1")])));
        assert!(!should_fetch(env(&[("STSFORM_NO_THUMBPRINT", "true")])));
        assert!(should_fetch(env(&[("STSFORM_NO_THUMBPRINT", "0")])));
        // The SDK ignores the override then, so AWS (and the issuer) are real.
        assert!(should_fetch(env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ])));
        assert!(!should_fetch(env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ("STSFORM_NO_THUMBPRINT", "1"),
        ])));
    }

    #[tokio::test]
    async fn for_issuer_with_an_emulator_returns_none_without_connecting() {
        let pki = pki(&["localhost"]);
        let (port, accepted) =
            serve(vec![der(&pki.leaf), der(&pki.intermediate)], &pki.leaf_key).await;
        let url = format!("https://localhost:{port}");
        let start = Instant::now();

        let got =
            for_issuer_with(&url, env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")])).await;
        assert_eq!(got, None);
        assert!(start.elapsed() < Duration::from_millis(500));
        let got = for_issuer_with(&url, env(&[("STSFORM_NO_THUMBPRINT", "1")])).await;
        assert_eq!(got, None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 0);

        // Control: with a clean environment it does connect, and a chain the platform does
        // not trust turns into None rather than an error.
        let got = for_issuer_with(&url, env(&[])).await;
        assert_eq!(got, None);
        if !rustls_native_certs::load_native_certs().certs.is_empty() {
            // (Without a trust store it fails before connecting, still as None.)
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        }
    }
}
