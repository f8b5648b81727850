//! The emulator every moto test runs against, found or started by the test binary itself,
//! so that plain `cargo test` runs everything.
//!
//! - `STSFORM_TEST_ENDPOINT` set (`scripts/test.sh` sets it), else `AWS_ENDPOINT_URL`
//!   (`eval "$(scripts/moto.sh start)"` sets it): that emulator is used (`support` refuses
//!   any address but loopback).
//! - Else, before any test starts, this process starts moto from the venv the scripts
//!   install (`$MOTO_VENV`, else `.venv-moto` in the checkout) on a free 127.0.0.1 port,
//!   and points the SDK variables at it (as `scripts/moto.sh`'s `moto_env` does). That
//!   server dies with this process, however it ends (a panic, `kill -9`): the kernel sends
//!   it SIGKILL when its parent goes (`PR_SET_PDEATHSIG`).
//! - Else (no venv): nothing is started, and every test that needs the emulator fails,
//!   saying how to get it, instead of passing without having run.
//!
//! Starting happens in a constructor that runs before `main`, while the process has one
//! thread: the environment can only be changed safely then. Waiting until the server
//! answers happens on the first [`endpoint`] call, so tests that do not need it do not wait.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the constructor found or started.
enum Emulator {
    /// Given by the environment (`STSFORM_TEST_ENDPOINT`).
    Given(String),
    /// Started by this process, answering (once [`endpoint`] has waited) at the URL.
    Started { url: String, log: PathBuf },
    /// Not available: why, and how to get it.
    Missing(String),
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();
/// The server this process started; kept so that it is not reaped early.
static CHILD: Mutex<Option<Child>> = Mutex::new(None);
/// The outcome of waiting for the started server, once.
static READY: OnceLock<Result<(), String>> = OnceLock::new();

/// How to get an emulator, for every message that lacks one.
const HOW: &str = "run `scripts/test.sh` once (it installs moto into .venv-moto and runs every \
                   test), or start one with `eval \"$(scripts/moto.sh start)\"` (the tests \
                   then use its AWS_ENDPOINT_URL)";

#[ctor::ctor(unsafe)]
fn find_or_start() {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let emulator = match (set("STSFORM_TEST_ENDPOINT"), set("AWS_ENDPOINT_URL")) {
        (Some(url), _) => Emulator::Given(url),
        (None, Some(url)) => {
            // SAFETY: called from the constructor, before `main`: no other thread exists.
            unsafe { std::env::set_var("STSFORM_TEST_ENDPOINT", &url) };
            Emulator::Given(url)
        }
        (None, None) => start(),
    };
    let _ = EMULATOR.set(emulator);
}

fn start() -> Emulator {
    if !cfg!(target_os = "linux") {
        return Emulator::Missing(format!(
            "the tests start moto themselves only on Linux (where it dies with them); {HOW}"
        ));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-moto"));
    let server = venv.join("bin/moto_server");
    if !server.is_file() {
        return Emulator::Missing(format!(
            "the moto emulator is not installed ({} is missing); {HOW}",
            server.display()
        ));
    }
    // A free port, chosen by the kernel (as scripts/moto.sh chooses it).
    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => return Emulator::Missing(format!("no free loopback port ({e}); {HOW}")),
    };
    // Its recording and log go where scripts/moto.sh puts them (git-ignored).
    let dir = std::env::var_os("MOTO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".moto"));
    let log = dir.join(format!("moto-{port}.log"));
    let output = std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::create(&log));
    let output = match output {
        Ok(f) => f,
        Err(e) => return Emulator::Missing(format!("{}: {e}; {HOW}", log.display())),
    };
    let mut command = Command::new(&server);
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(&dir)
        .env(
            "MOTO_RECORDER_FILEPATH",
            dir.join(format!("recording-{port}.jsonl")),
        )
        .stdin(Stdio::null())
        .stdout(
            output
                .try_clone()
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .stderr(Stdio::from(output));
    die_with_this_process(&mut command);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Emulator::Missing(format!("{} cannot start: {e}; {HOW}", server.display()));
        }
    };
    *CHILD.lock().unwrap() = Some(child);
    let url = format!("http://127.0.0.1:{port}");
    point_the_sdk_at(&url);
    Emulator::Started { url, log }
}

/// The child gets SIGKILL when this process ends, however it ends.
#[cfg(target_os = "linux")]
fn die_with_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe, and nothing else runs between
    // fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have gone before the signal was armed.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Elsewhere nothing ties the server to this process: it is not started (see `start`).
#[cfg(not(target_os = "linux"))]
fn die_with_this_process(_: &mut Command) {}

/// What `scripts/moto.sh`'s `moto_env` exports: the SDK (and only it) talks to the
/// emulator, with test credentials that cannot reach a real account, and the credential
/// chain stays away from IMDS and ~/.aws.
fn point_the_sdk_at(url: &str) {
    let set = [
        ("AWS_ENDPOINT_URL", url),
        ("STSFORM_TEST_ENDPOINT", url),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-2"),
        ("AWS_DEFAULT_REGION", "us-east-2"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ];
    for (name, value) in set {
        // SAFETY: called from the constructor, before `main`: no other thread exists yet.
        unsafe { std::env::set_var(name, value) };
    }
    for name in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS",
    ] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }
}

/// The emulator's URL, waiting (once, at most 30 s) for one this process started to
/// answer. Panics, saying how to get one, when there is none.
pub fn endpoint() -> String {
    match EMULATOR.get() {
        Some(Emulator::Given(url)) => url.clone(),
        Some(Emulator::Started { url, log }) => {
            if let Err(why) = READY.get_or_init(|| wait_until_ready(url, log)) {
                panic!("{why}");
            }
            url.clone()
        }
        Some(Emulator::Missing(why)) => panic!("{why}"),
        None => panic!("the emulator constructor did not run; {HOW}"),
    }
}

/// Polls `/moto-api/data.json` (moto's readiness probe) until it answers 200.
fn wait_until_ready(url: &str, log: &Path) -> Result<(), String> {
    let addr = url.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if answers(addr) {
            return Ok(());
        }
        let exited = CHILD
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        let log_text = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = exited {
            return Err(format!(
                "moto_server exited ({status}) during startup:\n{}\n{HOW}",
                log_text()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "moto_server did not answer on {url} within 30 s:\n{}",
                log_text()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether an HTTP GET of the readiness probe answers 200 (plain std: no client needed).
fn answers(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
