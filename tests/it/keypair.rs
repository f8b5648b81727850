//! Tests for `stsform::keypair` against keys and values produced by the `openssl` CLI
//! (see `tests/fixtures/keys/README.md`), never against our own output alone.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use stsform::keypair::{
    KeyError, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, PrivateKey, PublicKey, load_from_dir,
    write_secret_file,
};

/// kid of `fixed.public.pem`, computed with `openssl pkey -pubin -outform DER | openssl dgst
/// -sha256 -binary | basenc --base64url | tr -d '='`.
const FIXED_KID: &str = "yOLncXRrBJ6wYxcvUcKXTF1tRUGKVW6_7x5sQhsk4Is";

/// Modulus of `fixed.public.pem` from `openssl rsa -pubin -modulus`, as base64url without padding.
const FIXED_N: &str = "rJ1TjmIAoYHEw8yrChHr5eU-UK9BqRH8O4JEhCyV2nq4NnRplDAMnw-uBLh4pGja8pAp1pdssA0cGbwzFZ2N_2wKfVhmKSYIoPCVE7gtbo6yBSZk9QS7bReu_dYhALGhghYrJMVoZ18fzoTecy0W1rRt9BX7nQyz1MmXK0DUuVnujtUBBOnmtSwR_4lE1huUAXQGtyqrfmz0EQpu_Z_4HMPeKpsQAD2C_bz3xGo__H-WWkXNpYS6DVz39Xmg5lV0ySE2yek17DtUWk2IM6y0oWrrx1FLPEmoP9DqXyVZpg76XI2ax30CpSjxVoOov494pov_KHM3K1hnaPkBUMQ8Rw";

/// kid of ccoctl's own test key, quoted in ccoctl-aws.md §3.2 and re-checked with openssl.
const CCOCTL_TEST_KID: &str = "vTM0nbCme-yk2IjmPYHm9h5pYmdR-9LztPbV76J2C6E";

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

fn fixture(name: &str) -> String {
    fs::read_to_string(fixture_path(name)).expect("fixture readable")
}

fn fixed_public() -> PublicKey {
    PublicKey::from_pem(&fixture("fixed.public.pem"), "fixed.public.pem").unwrap()
}

fn fixed_private() -> PrivateKey {
    PrivateKey::from_pem(&fixture("fixed.private.pem"), "fixed.private.pem").unwrap()
}

/// One 4096-bit key for the whole suite: generation is the slow part (about 1 s in debug).
fn generated() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let start = Instant::now();
        let key = PrivateKey::generate().expect("generate");
        eprintln!("PrivateKey::generate() took {:?}", start.elapsed());
        key
    })
}

/// Runs `openssl` if it is installed; `None` (with a note) if it is not, so the suite still
/// runs on machines without it.
fn openssl(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("openssl").args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("note: openssl CLI not found; skipping the openssl cross-check");
            None
        }
        Err(e) => panic!("running openssl: {e}"),
    }
}

/// 20-character slices of every PEM body line, for "no key material in messages" checks.
fn body_slices(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 20)
        .flat_map(|l| [l[..20].to_owned(), l[l.len() - 20..].to_owned()])
        .collect()
}

fn assert_no_key_material(text: &str, pems: &[&str]) {
    for pem in pems {
        for slice in body_slices(pem) {
            assert!(
                !text.contains(&slice),
                "message contains key material {slice:?}: {text}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Public key, kid, JWKS

#[test]
fn ccoctl_test_key_has_ccoctl_kid() {
    let text = fixture("ccoctl-test.public.pem");
    let key = PublicKey::from_pem(&text, "ccoctl-test.public.pem").unwrap();
    assert_eq!(key.kid(), CCOCTL_TEST_KID);
    assert_eq!(key.bits(), 4096);
    assert_eq!(key.to_pem(), text, "Go pem.Encode layout round-trips");
}

#[test]
fn fixed_key_kid_and_modulus_match_openssl() {
    let key = fixed_public();
    assert_eq!(key.kid(), FIXED_KID);
    assert_eq!(key.kid().len(), 43);
    assert_eq!(key.bits(), 2048);
    assert_eq!(key.to_pem(), fixture("fixed.public.pem"));
    let jwks: serde_json::Value = serde_json::from_str(&key.jwks()).unwrap();
    assert_eq!(jwks["keys"][0]["n"], FIXED_N);
    assert_eq!(format!("{key:?}"), format!("PublicKey(kid={FIXED_KID})"));
}

#[test]
fn jwks_has_exact_ccoctl_bytes() {
    let expected = format!(
        r#"{{
    "keys": [
        {{
            "use": "sig",
            "kty": "RSA",
            "kid": "{FIXED_KID}",
            "alg": "RS256",
            "n": "{FIXED_N}",
            "e": "AQAB"
        }}
    ]
}}"#
    );
    let jwks = fixed_public().jwks();
    assert_eq!(jwks, expected);
    assert!(!jwks.ends_with('\n'));
    let parsed: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    let key = parsed["keys"][0].as_object().unwrap();
    // serde_json has `preserve_order`, so this checks go-jose's field order too.
    let fields: Vec<&str> = key.keys().map(String::as_str).collect();
    assert_eq!(fields, ["use", "kty", "kid", "alg", "n", "e"]);
}

#[test]
fn rsa_public_key_block_is_rejected_with_conversion_hint() {
    let err = PublicKey::from_pem(
        &fixture("fixed.rsapublickey.pem"),
        "install/serviceaccount-signer.public",
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::Pem { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "install/serviceaccount-signer.public: not a PEM `PUBLIC KEY` block (found `RSA PUBLIC KEY`; \
         convert it with `openssl rsa -RSAPublicKey_in -pubout`)"
    );
}

/// kid of `next.public.pem`, computed with the openssl pipeline of `FIXED_KID`.
const NEXT_KID: &str = "jA8KMo4SvEZLdFk3L7OAL9TQK5xWlueYAmmfLn_aSN8";

/// The kube-apiserver operator writes a rotation's new public key as a SubjectPublicKeyInfo
/// under the label `RSA PUBLIC KEY` (ccoctl's Go parser ignores the label): read as SPKI,
/// it is the same key as the `PUBLIC KEY` file, kid included. A real PKCS#1 block under
/// that label is still refused with the hint (the test above).
#[test]
fn the_operators_public_key_file_is_read_as_the_spki_it_holds() {
    let operator = PublicKey::from_pem(&fixture("next.operator.pub"), "next.operator.pub").unwrap();
    let public = PublicKey::from_pem(&fixture("next.public.pem"), "next.public.pem").unwrap();
    assert_eq!(operator, public);
    assert_eq!(operator.kid(), NEXT_KID);
    assert_eq!(
        fixture("next.operator.pub").lines().next(),
        Some("-----BEGIN RSA PUBLIC KEY-----")
    );
    let private = PrivateKey::from_pem(&fixture("next.private.pem"), "next.private.pem").unwrap();
    assert_eq!(private.public_key(), public);
}

#[test]
fn private_key_in_public_slot_is_rejected() {
    let err = PublicKey::from_pem(&fixture("fixed.private.pem"), "x.public").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("x.public: not a PEM `PUBLIC KEY` block")
    );
    assert_no_key_material(&err.to_string(), &[&fixture("fixed.private.pem")]);
}

#[test]
fn ec_keys_are_not_rsa() {
    let err = PublicKey::from_pem(&fixture("ec.public.pem"), "ec.public.pem").unwrap_err();
    assert!(matches!(err, KeyError::NotRsa { .. }), "{err:?}");
    assert!(err.to_string().starts_with("ec.public.pem: not an RSA key"));
    let err = PrivateKey::from_pem(&fixture("ec.private.pem"), "ec.private.pem").unwrap_err();
    assert!(matches!(err, KeyError::NotRsa { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Private key

#[test]
fn pkcs1_and_pkcs8_private_keys_give_the_fixed_public_key() {
    let pkcs1 = fixed_private();
    assert_eq!(pkcs1.public_key(), fixed_public());
    assert_eq!(pkcs1.to_pkcs1_pem(), fixture("fixed.private.pem"));

    let pkcs8 = PrivateKey::from_pem(
        &fixture("fixed.private.pkcs8.pem"),
        "fixed.private.pkcs8.pem",
    )
    .unwrap();
    assert_eq!(pkcs8.public_key(), fixed_public());
    // PKCS#8 input is written back out as ccoctl's PKCS#1 form.
    assert_eq!(pkcs8.to_pkcs1_pem(), fixture("fixed.private.pem"));
}

#[test]
fn keys_under_2048_bits_are_rejected() {
    let err = PrivateKey::from_pem(&fixture("small-1024.private.pem"), "small.pem").unwrap_err();
    assert!(matches!(err, KeyError::Rejected { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "small.pem: unusable RSA private key: smaller than 2048 bits"
    );
}

#[test]
fn truncated_private_key_is_rejected_without_leaking() {
    let text = fixture("fixed.private.pem");
    // Drop a line from the middle: still valid base64 framing, broken DER.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(5);
    let broken = lines.join("\n") + "\n";
    let err = PrivateKey::from_pem(&broken, "broken.pem").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("broken.pem: "), "{msg}");
    assert_no_key_material(&msg, &[&text]);
    assert_no_key_material(&format!("{err:?}"), &[&text]);
}

#[test]
fn generated_key_is_4096_bit_pkcs1_and_round_trips() {
    let key = generated();
    let public = key.public_key();
    assert_eq!(public.bits(), 4096);
    assert_eq!(public.kid().len(), 43);
    let pem = key.to_pkcs1_pem();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert!(pem.ends_with("-----END RSA PRIVATE KEY-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 64));

    let reread = PrivateKey::from_pem(&pem, "generated").unwrap();
    assert_eq!(reread.public_key(), public);
    assert_eq!(reread.to_pkcs1_pem(), pem);
    let reread_public = PublicKey::from_pem(&public.to_pem(), "generated.public").unwrap();
    assert_eq!(reread_public, public);
    let e: serde_json::Value = serde_json::from_str(&public.jwks()).unwrap();
    assert_eq!(e["keys"][0]["e"], "AQAB");
}

#[test]
fn generated_key_is_accepted_by_openssl() {
    let key = generated();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(PRIVATE_KEY_FILE);
    write_secret_file(&path, key.to_pkcs1_pem().as_bytes()).unwrap();
    let path = path.to_str().unwrap();

    let Some(check) = openssl(&["rsa", "-check", "-noout", "-in", path]) else {
        return;
    };
    assert!(
        check.status.success(),
        "openssl rsa -check: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let pubout = openssl(&["rsa", "-pubout", "-in", path]).unwrap();
    assert!(pubout.status.success());
    assert_eq!(
        String::from_utf8(pubout.stdout).unwrap(),
        key.public_key().to_pem(),
        "our SPKI PEM must equal `openssl rsa -pubout` byte for byte"
    );
}

#[test]
fn private_key_debug_shows_kid_only() {
    let key = fixed_private();
    let debug = format!("{key:?}");
    assert_eq!(debug, format!("PrivateKey(kid={FIXED_KID})"));
    assert_no_key_material(&debug, &[&fixture("fixed.private.pem")]);

    let generated = generated();
    let debug = format!("{generated:?}");
    assert!(debug.starts_with("PrivateKey(kid="));
    assert_no_key_material(&debug, &[&generated.to_pkcs1_pem()]);
}

// ---------------------------------------------------------------------------------------
// write_secret_file

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn write_secret_file_creates_private_parents_and_0600_file() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("a/b/secret.key");
    write_secret_file(&path, b"first").unwrap();

    assert_eq!(fs::read(&path).unwrap(), b"first");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&root.path().join("a")), 0o700);
    assert_eq!(mode(&root.path().join("a/b")), 0o700);
    assert_eq!(dir_entries(&root.path().join("a/b")), ["secret.key"]);
}

#[test]
fn write_secret_file_replaces_existing_file_atomically() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("secret.key");
    fs::write(&path, b"an older and much longer content").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let old_inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());

    write_secret_file(&path, b"new").unwrap();

    // Fully replaced (no O_TRUNC-less overwrite like ccoctl's copy), by rename (new inode),
    // and the replacement is 0600 although the old file was 0644.
    assert_eq!(fs::read(&path).unwrap(), b"new");
    assert_eq!(mode(&path), 0o600);
    let new_inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
    assert_ne!(old_inode, new_inode);
    assert_eq!(dir_entries(root.path()), ["secret.key"]);
}

#[test]
fn write_secret_file_error_names_the_path() {
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    let err = write_secret_file(&blocker.join("secret.key"), b"x").unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not-a-dir"),
        "error should name the path: {err}"
    );
}

// ---------------------------------------------------------------------------------------
// load_from_dir

fn dir_with(private: Option<&str>, public: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(name) = private {
        fs::copy(fixture_path(name), dir.path().join(PRIVATE_KEY_FILE)).unwrap();
    }
    if let Some(name) = public {
        fs::copy(fixture_path(name), dir.path().join(PUBLIC_KEY_FILE)).unwrap();
    }
    dir
}

#[test]
fn load_from_empty_dir_is_none() {
    let dir = dir_with(None, None);
    assert!(load_from_dir(dir.path()).unwrap().is_none());
    // A directory that does not exist yet is just as empty.
    assert!(
        load_from_dir(&dir.path().join("missing"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn load_matching_pair() {
    let dir = dir_with(Some("fixed.private.pem"), Some("fixed.public.pem"));
    let (private, public) = load_from_dir(dir.path()).unwrap().unwrap();
    assert_eq!(public.kid(), FIXED_KID);
    assert_eq!(private.public_key(), public);
}

#[test]
fn load_private_only_derives_public() {
    let dir = dir_with(Some("fixed.private.pem"), None);
    let (_, public) = load_from_dir(dir.path()).unwrap().unwrap();
    assert_eq!(public.kid(), FIXED_KID);
}

#[test]
fn load_accepts_pkcs8_private_key() {
    let dir = dir_with(Some("fixed.private.pkcs8.pem"), Some("fixed.public.pem"));
    let (private, public) = load_from_dir(dir.path()).unwrap().unwrap();
    assert_eq!(public.kid(), FIXED_KID);
    assert_eq!(private.to_pkcs1_pem(), fixture("fixed.private.pem"));
}

#[test]
fn load_mismatching_pair_names_both_files() {
    let dir = dir_with(Some("fixed.private.pem"), Some("ccoctl-test.public.pem"));
    let err = load_from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::Mismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(PRIVATE_KEY_FILE), "{msg}");
    assert!(msg.contains(PUBLIC_KEY_FILE), "{msg}");
    assert!(msg.contains(dir.path().to_str().unwrap()), "{msg}");
}

#[test]
fn load_public_only_says_private_key_is_missing() {
    let dir = dir_with(None, Some("fixed.public.pem"));
    let err = load_from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::MissingPrivate { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("private key is missing"), "{msg}");
    assert!(
        msg.contains(PRIVATE_KEY_FILE) && msg.contains(PUBLIC_KEY_FILE),
        "{msg}"
    );
}

#[test]
fn load_garbage_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(PRIVATE_KEY_FILE), "some data").unwrap();
    let err = load_from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::Pem { .. }), "{err:?}");
    let expected_origin = dir.path().join(PRIVATE_KEY_FILE);
    assert!(
        err.to_string().starts_with(&format!(
            "{}: no PEM block found",
            expected_origin.display()
        )),
        "{err}"
    );

    // Garbage in the public file is reported against the public file.
    let dir = dir_with(Some("fixed.private.pem"), None);
    fs::write(dir.path().join(PUBLIC_KEY_FILE), [0xff, 0xfe, 0x00]).unwrap();
    let err = load_from_dir(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&dir.path().join(PUBLIC_KEY_FILE).display().to_string()),
        "{err}"
    );
}

#[test]
fn error_messages_contain_no_key_material() {
    let private_pem = fixture("fixed.private.pem");
    let public_pem = fixture("fixed.public.pem");
    let pems = [private_pem.as_str(), public_pem.as_str()];
    let mut errors: Vec<KeyError> = vec![
        PublicKey::from_pem(&private_pem, "p").unwrap_err(),
        PublicKey::from_pem(&fixture("fixed.rsapublickey.pem"), "p").unwrap_err(),
        PublicKey::from_pem(&public_pem.replace("-----END PUBLIC KEY-----", ""), "p").unwrap_err(),
        PublicKey::from_pem(&public_pem.replace("RwIDAQAB", "RwIDAQA!"), "p").unwrap_err(),
        PrivateKey::from_pem(&public_pem, "p").unwrap_err(),
        PrivateKey::from_pem(&private_pem.replace("RSA PRIVATE KEY", "PRIVATE KEY"), "p")
            .unwrap_err(),
        PrivateKey::from_pem(
            &fixture("fixed.private.pkcs8.pem").replace("PRIVATE KEY", "RSA PRIVATE KEY"),
            "p",
        )
        .unwrap_err(),
    ];
    let mismatch = dir_with(Some("fixed.private.pem"), Some("ccoctl-test.public.pem"));
    errors.push(load_from_dir(mismatch.path()).unwrap_err());
    for err in &errors {
        assert_no_key_material(&err.to_string(), &pems);
        assert_no_key_material(&format!("{err:?}"), &pems);
    }
    // The variants we expect for the two label/content confusions.
    assert!(matches!(errors[5], KeyError::Pem { .. }), "{:?}", errors[5]);
    assert!(matches!(errors[6], KeyError::Pem { .. }), "{:?}", errors[6]);
    assert!(
        errors[6]
            .to_string()
            .contains("label should be `PRIVATE KEY`"),
        "{}",
        errors[6]
    );
}
