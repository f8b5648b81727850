//! The service-account signing key pair: generating, reading and writing it, and its
//! `kid`, byte-compatible with `ccoctl aws create-key-pair` (the JWKS it is served in is
//! laid out by `jwks`).
//!
//! Owns key material and its on-disk formats. Must not print or log key material (every
//! `Debug` and error message here shows at most the kid and file names) and must not touch AWS.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pkcs1::der::asn1::{BitStringRef, UintRef};
use pkcs1::der::{Decode as _, Encode as _};
use sha2::{Digest as _, Sha256};

/// File name of the private key inside the output directory (same name as ccoctl).
pub const PRIVATE_KEY_FILE: &str = "serviceaccount-signer.private";

/// File name of the public key inside the output directory (same name as ccoctl).
pub const PUBLIC_KEY_FILE: &str = "serviceaccount-signer.public";

/// Size of generated keys: ccoctl generates 4096-bit keys (`create_key_pair.go`).
const GENERATED_BITS: KeySize = KeySize::Rsa4096;

/// PEM labels we produce and accept.
const LABEL_PUBLIC: &str = "PUBLIC KEY";
const LABEL_RSA_PRIVATE: &str = "RSA PRIVATE KEY";
const LABEL_PKCS8_PRIVATE: &str = "PRIVATE KEY";

/// Everything that can go wrong with the key pair. Messages name the file and never
/// contain key bytes (not even base64 fragments).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (or directory) involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The text is not the PEM block we need (wrong label, broken base64, bad DER...).
    #[error("{origin}: {message}")]
    Pem {
        /// Where the text came from (a path, as the user named it).
        origin: String,
        /// What is wrong and, when we know, how to fix it.
        message: String,
    },
    /// The key parses but is not an RSA key (e.g. EC or Ed25519).
    #[error(
        "{origin}: not an RSA key; service-account tokens are signed with RS256, so the key must be RSA"
    )]
    NotRsa {
        /// Where the key came from.
        origin: String,
    },
    /// An RSA private key that parses structurally but that AWS-LC refuses to use
    /// (inconsistent components, under 2048 or over 8192 bits, ...).
    #[error("{origin}: unusable RSA private key: {reason}")]
    Rejected {
        /// Where the key came from.
        origin: String,
        /// Why it was rejected, in words.
        reason: String,
    },
    /// The public key file is not the public half of the private key file.
    #[error(
        "{}: not the public half of {}; restore the matching pair, or delete {} \
         so it is derived from the private key again",
        public.display(), private.display(), public.display()
    )]
    Mismatch {
        /// The private key file.
        private: PathBuf,
        /// The public key file.
        public: PathBuf,
    },
    /// The public key file exists but the private key file does not.
    #[error(
        "{}: the private key is missing, although the public key {} exists; \
         restore the private key (a cluster using this public key needs it), \
         or remove {} to start over with a new key pair",
        private.display(), public.display(), public.display()
    )]
    MissingPrivate {
        /// The missing private key file.
        private: PathBuf,
        /// The public key file that exists.
        public: PathBuf,
    },
    /// Key generation failed inside AWS-LC.
    #[error("generating a 4096-bit RSA key failed: {0}")]
    Generate(String),
}

fn pem_error(origin: &str, message: impl Into<String>) -> KeyError {
    KeyError::Pem {
        origin: origin.to_owned(),
        message: message.into(),
    }
}

/// A byte buffer that is overwritten with zeros when dropped.
///
/// Best effort only (no extra crates): it keeps the DER of private keys from lingering in
/// freed heap memory, but copies made by callers (PEM `String`s, file contents) and by
/// AWS-LC are outside its reach. Never grow it after filling it with secrets, because a
/// reallocation would leave the old buffer unzeroed.
struct SecretBytes(Vec<u8>);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the compiler from treating the writes as dead stores before deallocation.
        std::hint::black_box(&mut self.0);
    }
}

/// The public half of the signing key: what goes into `serviceaccount-signer.public`,
/// the kid and the JWKS.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Canonical DER SubjectPublicKeyInfo (re-encoded from n and e, as Go's
    /// `x509.MarshalPKIXPublicKey` does, so the kid matches ccoctl even for odd inputs).
    spki_der: Vec<u8>,
    /// Big-endian modulus without leading zero bytes.
    modulus: Vec<u8>,
    /// Big-endian public exponent without leading zero bytes.
    exponent: Vec<u8>,
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block holding an RSA key, like
    /// ccoctl's `x509.ParsePKIXPublicKey` on the first PEM block. `origin` (normally the
    /// path) prefixes error messages.
    pub fn from_pem(text: &str, origin: &str) -> Result<PublicKey, KeyError> {
        let block = decode_first_pem(text, origin)?;
        match block.label.as_str() {
            LABEL_PUBLIC => PublicKey::from_spki_der(&block.der.0, origin),
            // The kube-apiserver operator writes its public keys (`service-account.pub` of
            // `next-bound-service-account-signing-key`, the new key of a rotation) as a
            // SubjectPublicKeyInfo under this label. Go's `x509.ParsePKIXPublicKey`, which
            // ccoctl uses, ignores the label, so such a file works there: read it as SPKI.
            "RSA PUBLIC KEY" if spki::SubjectPublicKeyInfoRef::from_der(&block.der.0).is_ok() => {
                PublicKey::from_spki_der(&block.der.0, origin)
            }
            "RSA PUBLIC KEY" => Err(pem_error(
                origin,
                "not a PEM `PUBLIC KEY` block (found `RSA PUBLIC KEY`; convert it with \
                 `openssl rsa -RSAPublicKey_in -pubout`)",
            )),
            "CERTIFICATE" => Err(pem_error(
                origin,
                "not a PEM `PUBLIC KEY` block (found `CERTIFICATE`; extract the key with \
                 `openssl x509 -pubkey -noout`)",
            )),
            // Say so plainly: a private key in the public file is a mistake worth noticing.
            LABEL_RSA_PRIVATE | LABEL_PKCS8_PRIVATE => Err(pem_error(
                origin,
                format!(
                    "not a PEM `PUBLIC KEY` block (found the private key block `{}`; derive \
                     the public key with `openssl rsa -pubout`)",
                    block.label
                ),
            )),
            other => Err(pem_error(
                origin,
                format!("not a PEM `PUBLIC KEY` block (found `{other}`)"),
            )),
        }
    }

    /// Builds the key from SubjectPublicKeyInfo DER, checking that it is RSA.
    fn from_spki_der(der: &[u8], origin: &str) -> Result<PublicKey, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| {
            pem_error(
                origin,
                format!("the `PUBLIC KEY` block is not a valid SubjectPublicKeyInfo ({e})"),
            )
        })?;
        if spki.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(KeyError::NotRsa {
                origin: origin.to_owned(),
            });
        }
        let rsa = spki
            .subject_public_key
            .as_bytes()
            .and_then(|bytes| pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(bytes).ok())
            .ok_or_else(|| {
                pem_error(
                    origin,
                    "the RSA public key inside the `PUBLIC KEY` block is malformed",
                )
            })?;
        PublicKey::from_components(rsa.modulus.as_bytes(), rsa.public_exponent.as_bytes())
            .ok_or_else(|| {
                pem_error(
                    origin,
                    "the RSA public key has an empty modulus or exponent",
                )
            })
    }

    /// Builds the key from n and e (big-endian, leading zeros already stripped), encoding
    /// the canonical SPKI: algorithm rsaEncryption with NULL parameters, as Go does.
    fn from_components(modulus: &[u8], exponent: &[u8]) -> Option<PublicKey> {
        if modulus.is_empty() || exponent.is_empty() {
            return None;
        }
        let pkcs1_der = pkcs1::RsaPublicKey {
            modulus: UintRef::new(modulus).ok()?,
            public_exponent: UintRef::new(exponent).ok()?,
        }
        .to_der()
        .ok()?;
        let spki_der = spki::SubjectPublicKeyInfoRef {
            algorithm: pkcs1::ALGORITHM_ID,
            subject_public_key: BitStringRef::from_bytes(&pkcs1_der).ok()?,
        }
        .to_der()
        .ok()?;
        Some(PublicKey {
            spki_der,
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
        })
    }

    /// The PEM `PUBLIC KEY` text in Go `pem.Encode` layout (64-column base64, trailing
    /// newline), i.e. the exact bytes ccoctl writes to `serviceaccount-signer.public`.
    pub fn to_pem(&self) -> String {
        pem_encode(LABEL_PUBLIC, &self.spki_der)
    }

    /// The key id: base64url (no padding) of SHA-256 over the SPKI DER; 43 characters.
    /// Same as ccoctl's and Kubernetes' `KeyIDFromPublicKey`, so tokens signed by the
    /// cluster carry a kid that is found in our JWKS.
    pub fn kid(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.spki_der))
    }

    /// The JWKS document (`keys.json`) serving this key alone, with exactly the bytes
    /// ccoctl produces (see [`crate::jwks::document`], which lays out any number of keys).
    pub fn jwks(&self) -> String {
        crate::jwks::document(std::slice::from_ref(self))
    }

    /// The JWK `n` (modulus) and `e` (exponent): base64url without padding, big-endian,
    /// without leading zero bytes, as go-jose writes them.
    pub fn jwk_components(&self) -> (String, String) {
        (
            URL_SAFE_NO_PAD.encode(&self.modulus),
            URL_SAFE_NO_PAD.encode(&self.exponent),
        )
    }

    /// The modulus size in bits (4096 for keys we generate).
    pub fn bits(&self) -> usize {
        match self.modulus.first() {
            // `modulus` has no leading zero byte, so only the first byte's high bits can be 0.
            Some(&first) => (self.modulus.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
            None => 0,
        }
    }
}

impl fmt::Debug for PublicKey {
    /// Shows the kid only: it identifies the key without dumping it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(kid={})", self.kid())
    }
}

/// The private half of the signing key, held as PKCS#1 DER (what ccoctl writes).
/// The DER buffer is zeroed when the value is dropped.
pub struct PrivateKey {
    pkcs1_der: SecretBytes,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a new 4096-bit RSA key with AWS-LC (about 1 s even in debug builds,
    /// unlike pure-Rust RSA).
    pub fn generate() -> Result<PrivateKey, KeyError> {
        let pair =
            KeyPair::generate(GENERATED_BITS).map_err(|e| KeyError::Generate(e.to_string()))?;
        // AWS-LC only exports PKCS#8; PKCS#1 is the `privateKey` OCTET STRING inside it.
        let pkcs8 = pair
            .as_der()
            .map_err(|e| KeyError::Generate(format!("exporting the key: {e}")))?;
        let pkcs1_der = pkcs1_from_pkcs8(pkcs8.as_ref(), "generated key")?;
        let public = public_from_pair(&pair, "generated key")?;
        Ok(PrivateKey { pkcs1_der, public })
    }

    /// Parses a PEM private key: `RSA PRIVATE KEY` (PKCS#1, what ccoctl writes) or
    /// `PRIVATE KEY` (unencrypted PKCS#8 holding RSA, what `openssl genpkey` writes).
    /// The key is checked for consistency by AWS-LC. `origin` prefixes error messages.
    pub fn from_pem(text: &str, origin: &str) -> Result<PrivateKey, KeyError> {
        let block = decode_first_pem(text, origin)?;
        if block.encrypted {
            return Err(pem_error(
                origin,
                format!(
                    "the `{}` block is encrypted; decrypt it first (`openssl rsa -in <file> \
                     -out <file> -traditional`)",
                    block.label
                ),
            ));
        }
        let pkcs1_der = match block.label.as_str() {
            LABEL_RSA_PRIVATE => block.der,
            LABEL_PKCS8_PRIVATE => pkcs1_from_pkcs8(&block.der.0, origin)?,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(pem_error(
                    origin,
                    "the private key is encrypted (`ENCRYPTED PRIVATE KEY`); decrypt it first \
                     (`openssl rsa -in <file> -out <file> -traditional`)",
                ));
            }
            "EC PRIVATE KEY" | "OPENSSH PRIVATE KEY" | "DSA PRIVATE KEY" => {
                return Err(KeyError::NotRsa {
                    origin: origin.to_owned(),
                });
            }
            other => {
                return Err(pem_error(
                    origin,
                    format!("not a PEM `RSA PRIVATE KEY` or `PRIVATE KEY` block (found `{other}`)"),
                ));
            }
        };
        // A structural parse first, only to explain a wrong label better than AWS-LC's
        // opaque error codes can (PKCS#8 and PKCS#1 are easy to mix up).
        if let Err(e) = pkcs1::RsaPrivateKeyRef::from_der(&pkcs1_der.0) {
            let hint = if pkcs8::PrivateKeyInfoRef::from_der(&pkcs1_der.0).is_ok() {
                "; it holds PKCS#8, so its label should be `PRIVATE KEY`".to_owned()
            } else {
                format!(" ({e})")
            };
            return Err(pem_error(
                origin,
                format!("the RSA private key is not a valid PKCS#1 RSAPrivateKey{hint}"),
            ));
        }
        // Parsing through AWS-LC validates the key (RSA_check_key, size 2048..=8192) and
        // gives us the public half without trusting the file's own public fields blindly.
        let pair = KeyPair::from_der(&pkcs1_der.0).map_err(|e| KeyError::Rejected {
            origin: origin.to_owned(),
            reason: describe_rejection(e.description_()),
        })?;
        let public = public_from_pair(&pair, origin)?;
        Ok(PrivateKey { pkcs1_der, public })
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The PEM `RSA PRIVATE KEY` (PKCS#1) text in Go `pem.Encode` layout: the bytes ccoctl
    /// writes to `serviceaccount-signer.private`. The caller owns (and should not log) it.
    pub fn to_pkcs1_pem(&self) -> String {
        pem_encode(LABEL_RSA_PRIVATE, &self.pkcs1_der.0)
    }
}

impl fmt::Debug for PrivateKey {
    /// Shows the kid of the public half only; never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(kid={})", self.public.kid())
    }
}

/// Unwraps PKCS#8 `PrivateKeyInfo` to the PKCS#1 `RSAPrivateKey` it carries.
fn pkcs1_from_pkcs8(der: &[u8], origin: &str) -> Result<SecretBytes, KeyError> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| {
        pem_error(
            origin,
            format!("the `PRIVATE KEY` block is not a valid PKCS#8 PrivateKeyInfo ({e})"),
        )
    })?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID {
        return Err(KeyError::NotRsa {
            origin: origin.to_owned(),
        });
    }
    Ok(SecretBytes(info.private_key.as_bytes().to_vec()))
}

/// The SPKI of an AWS-LC key pair, re-read through our own parser so every `PublicKey`
/// has the same canonical form.
fn public_from_pair(pair: &KeyPair, origin: &str) -> Result<PublicKey, KeyError> {
    let spki = pair.public_key().as_der().map_err(|e| KeyError::Rejected {
        origin: origin.to_owned(),
        reason: format!("cannot export its public key ({e})"),
    })?;
    PublicKey::from_spki_der(spki.as_ref(), origin)
}

/// Turns AWS-LC's terse rejection codes into words.
fn describe_rejection(code: &'static str) -> String {
    match code {
        "InvalidEncoding" => "not a valid PKCS#1 RSAPrivateKey".to_owned(),
        "TooSmall" => "smaller than 2048 bits".to_owned(),
        "TooLarge" => "larger than 8192 bits".to_owned(),
        "InconsistentComponents" => "its components are inconsistent".to_owned(),
        other => format!("rejected by AWS-LC ({other})"),
    }
}

/// One decoded PEM block.
struct PemBlock {
    label: String,
    /// Legacy OpenSSL encryption header (`Proc-Type: 4,ENCRYPTED`) present.
    encrypted: bool,
    der: SecretBytes,
}

/// Finds and decodes the first PEM block, as Go's `pem.Decode` does: text before it is
/// ignored, RFC 1421 headers are skipped, CRLF line ends are fine.
fn decode_first_pem(text: &str, origin: &str) -> Result<PemBlock, KeyError> {
    let mut lines = text.lines();
    let label = loop {
        let Some(line) = lines.next() else {
            return Err(pem_error(
                origin,
                "no PEM block found (expected a `-----BEGIN ...-----` line)",
            ));
        };
        if let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            break label;
        }
    };
    // Labels come from the user's file; keep odd ones from flooding the message.
    if label.len() > 40
        || !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
    {
        return Err(pem_error(origin, "malformed PEM `-----BEGIN` line"));
    }
    let end_line = format!("-----END {label}-----");
    let mut body = Vec::with_capacity(text.len());
    let mut encrypted = false;
    let mut ended = false;
    for line in lines {
        let line = line.trim();
        if line == end_line {
            ended = true;
            break;
        }
        if line.contains(':') {
            encrypted |= line.starts_with("Proc-Type:") && line.contains("ENCRYPTED");
            continue;
        }
        body.extend_from_slice(line.as_bytes());
    }
    // Wrapped only after the loop: `body` was sized up front so it never reallocates.
    let body = SecretBytes(body);
    if !ended {
        return Err(pem_error(
            origin,
            format!("the `{label}` block has no `{end_line}` line"),
        ));
    }
    if body.0.is_empty() {
        return Err(pem_error(origin, format!("the `{label}` block is empty")));
    }
    // No detail from the decoder: it would quote the offending byte and its offset.
    let der = STANDARD
        .decode(&body.0)
        .map(SecretBytes)
        .map_err(|_| pem_error(origin, format!("the `{label}` block is not valid base64")))?;
    Ok(PemBlock {
        label: label.to_owned(),
        encrypted,
        der,
    })
}

/// Go `pem.Encode` layout: BEGIN line, standard base64 with padding in 64-column lines,
/// END line, each ending in `\n`.
fn pem_encode(label: &str, der: &[u8]) -> String {
    // Encode into a zeroing buffer and size the output exactly, so no copy of a private
    // key's base64 is left behind by a reallocation.
    let mut b64 = SecretBytes(vec![0; base64::encoded_len(der.len(), true).unwrap_or(0)]);
    let written = STANDARD
        .encode_slice(der, &mut b64.0)
        .expect("buffer sized by encoded_len");
    let b64 = &b64.0[..written];
    let lines = b64.len().div_ceil(64);
    let mut out = String::with_capacity(2 * (16 + label.len()) + b64.len() + lines);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Writes a key file: atomically, mode 0600 from the first byte (never a window where the
/// key is world-readable), parent directories 0700 ([`crate::atomic_write`]).
///
/// ccoctl writes its keys with `os.Create` (0644 under a usual umask); we deliberately
/// do better.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    crate::atomic_write::write(path, bytes, 0o600).map_err(|e| KeyError::Io {
        path: e.path,
        source: e.source,
    })
}

/// Reads the key pair (`serviceaccount-signer.private` / `.public`) from `dir`.
///
/// - neither file → `Ok(None)` (the caller generates a pair);
/// - private key only → the pair, with the public key derived from the private key
///   (ccoctl also never checks the public file; the caller may (re)write it);
/// - both → the pair if they match, else [`KeyError::Mismatch`] naming both files;
/// - public key only → [`KeyError::MissingPrivate`]: silently generating a new pair would
///   orphan whatever cluster trusts the existing public key.
pub fn load_from_dir(dir: &Path) -> Result<Option<(PrivateKey, PublicKey)>, KeyError> {
    let private_path = dir.join(PRIVATE_KEY_FILE);
    let public_path = dir.join(PUBLIC_KEY_FILE);

    let private_bytes = match fs::read(&private_path) {
        Ok(bytes) => SecretBytes(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match fs::symlink_metadata(&public_path) {
                Ok(_) => Err(KeyError::MissingPrivate {
                    private: private_path,
                    public: public_path,
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(KeyError::Io {
                    path: public_path,
                    source,
                }),
            };
        }
        Err(source) => {
            return Err(KeyError::Io {
                path: private_path,
                source,
            });
        }
    };
    let private_origin = private_path.display().to_string();
    let text = std::str::from_utf8(&private_bytes.0)
        .map_err(|_| pem_error(&private_origin, "not a PEM file (not UTF-8 text)"))?;
    let private = PrivateKey::from_pem(text, &private_origin)?;

    let public = match fs::read(&public_path) {
        Ok(bytes) => {
            let origin = public_path.display().to_string();
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| pem_error(&origin, "not a PEM file (not UTF-8 text)"))?;
            let public = PublicKey::from_pem(text, &origin)?;
            if public != private.public {
                return Err(KeyError::Mismatch {
                    private: private_path,
                    public: public_path,
                });
            }
            public
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => private.public_key(),
        Err(source) => {
            return Err(KeyError::Io {
                path: public_path,
                source,
            });
        }
    };
    Ok(Some((private, public)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "install/serviceaccount-signer.public";

    #[test]
    fn pem_layout_matches_go() {
        let der: Vec<u8> = (0..=200u8).collect();
        let pem = pem_encode("PUBLIC KEY", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(*lines.last().unwrap(), "-----END PUBLIC KEY-----");
        assert!(pem.ends_with("-----\n"));
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        assert!(body.last().unwrap().len() <= 64);
        assert_eq!(STANDARD.decode(body.concat()).unwrap(), der);
    }

    #[test]
    fn pem_exact_multiple_of_64_has_no_empty_line() {
        let pem = pem_encode("X", &[7u8; 48]); // 48 bytes -> exactly 64 base64 chars
        assert_eq!(pem.lines().count(), 3);
    }

    #[test]
    fn decode_skips_leading_text_headers_and_crlf() {
        let text = "comment\r\n-----BEGIN PUBLIC KEY-----\r\nX-Header: y\r\nAAEC\r\nAw==\r\n-----END PUBLIC KEY-----\r\n";
        let block = decode_first_pem(text, ORIGIN).unwrap();
        assert_eq!(block.label, "PUBLIC KEY");
        assert!(!block.encrypted);
        assert_eq!(block.der.0, vec![0, 1, 2, 3]);
    }

    #[test]
    fn decode_errors_name_the_origin() {
        let cases = [
            ("", "no PEM block found"),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n",
                "has no `-----END PUBLIC KEY-----` line",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
                "is empty",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
                "not valid base64",
            ),
        ];
        for (text, want) in cases {
            let err = decode_first_pem(text, ORIGIN).err().unwrap().to_string();
            assert!(err.starts_with(&format!("{ORIGIN}: ")), "{err}");
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn bits_ignores_high_zero_bits() {
        let key = PublicKey::from_components(&[0x01, 0, 0], &[3]).unwrap();
        assert_eq!(key.bits(), 17);
    }
}
