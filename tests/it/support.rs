//! What every kind of test shares: the emulator's endpoint (loopback only), the test's
//! own SDK clients for arranging and inspecting AWS, scratch directories holding the
//! example requests and the fixed key, and the binary with a loopback-only environment.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use aws_sdk_iam::config::Credentials;

use crate::derive::root;

/// Region every emulator test uses.
pub const REGION: &str = "us-east-2";

/// The emulator's URL (loopback only): the one `scripts/test.sh` started, or the one this
/// test process started itself (`emulator`). Panics, saying how to get one, without.
pub fn endpoint() -> String {
    let url = crate::emulator::endpoint();
    assert_loopback(&url);
    // The provider itself reads the SDK's variables: they must point at loopback too,
    // so no test can ever reach a real AWS account.
    let global = std::env::var("AWS_ENDPOINT_URL")
        .expect("STSFORM_TEST_ENDPOINT is set but AWS_ENDPOINT_URL is not");
    assert_loopback(&global);
    for var in [
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_CLOUDFRONT",
    ] {
        if let Ok(v) = std::env::var(var) {
            assert_loopback(&v);
        }
    }
    url
}

/// Panics unless `url` points at 127.0.0.1, localhost or [::1].
pub fn assert_loopback(url: &str) {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = if rest.starts_with('[') {
        &rest[..rest.find(']').map_or(rest.len(), |i| i + 1)]
    } else {
        rest.split([':', '/']).next().unwrap_or("")
    };
    assert!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "refusing to test against non-loopback endpoint {url}"
    );
}

/// The test's own S3 and IAM clients for the (loopback-checked) emulator at `url`.
pub fn sdk_clients(url: &str) -> (aws_sdk_s3::Client, aws_sdk_iam::Client) {
    assert_loopback(url);
    let creds = Credentials::new("testing", "testing", None, None, "stsform-tests");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(url)
            .credentials_provider(creds.clone())
            .force_path_style(true)
            .build(),
    );
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(REGION))
            .endpoint_url(url)
            .credentials_provider(creds)
            .build(),
    );
    (s3, iam)
}

/// The test's own CloudFront client for the (loopback-checked) emulator at `url`.
pub fn cloudfront_client(url: &str) -> aws_sdk_cloudfront::Client {
    assert_loopback(url);
    let creds = Credentials::new("testing", "testing", None, None, "stsform-tests");
    aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::Config::builder()
            .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(creds)
            .build(),
    )
}

/// A scratch directory with a copy of `examples/<requests>` as `creds/` and, when
/// `with_key`, the fixed test key pair in `install/` (so runs spend no time on keygen).
pub fn scratch(requests: &str, with_key: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    for entry in std::fs::read_dir(root().join("examples").join(requests)).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, creds.join(p.file_name().unwrap())).unwrap();
    }
    if with_key {
        put_fixed_key(dir.path());
    }
    dir
}

/// Copies the fixed test key pair into `<dir>/install`, the private key 0600.
pub fn put_fixed_key(dir: &Path) {
    let install = dir.join("install");
    std::fs::create_dir_all(&install).unwrap();
    let keys = root().join("tests/fixtures/keys");
    let private = install.join("serviceaccount-signer.private");
    std::fs::copy(keys.join("fixed.private.pem"), &private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::copy(
        keys.join("fixed.public.pem"),
        install.join("serviceaccount-signer.public"),
    )
    .unwrap();
}

/// The binary in `dir`, able to reach only the loopback `endpoint`: test credentials,
/// no profile, no IMDS, no per-service endpoint that could point elsewhere.
pub fn stsform(dir: &Path, endpoint: &str) -> Command {
    assert_loopback(endpoint);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stsform"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_MAX_ATTEMPTS")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_IAM")
        .env_remove("AWS_ENDPOINT_URL_STS");
    cmd
}

/// The emulator when there is one, else a closed loopback port, so a stray AWS call from a
/// test that expects none fails fast and locally.
pub fn endpoint_or_closed_port() -> String {
    std::env::var("STSFORM_TEST_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9".into())
}

/// The binary in `dir` with `args`, reaching only loopback (the emulator, or a closed port
/// for runs that must make no AWS call).
pub fn run_local(dir: &Path, args: &[&str]) -> std::process::Output {
    stsform(dir, &endpoint_or_closed_port())
        .args(args)
        .output()
        .unwrap()
}

/// A run's stdout as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A plan of `prod-east` from `creds/` into `install/` that reads nothing from AWS.
pub const OFFLINE_PLAN: &[&str] = &[
    "plan",
    "--name",
    "prod-east",
    "--region",
    "us-east-2",
    "--credentials-requests-dir",
    "creds",
    "--output-dir",
    "install",
    "--refresh=false",
];
