//! Benchmark: apply from empty, a no-change plan and destroy, through the real (release)
//! binary, against the moto emulator behind a loopback proxy that adds a fixed delay to
//! every HTTP exchange. Run it with `scripts/bench.sh` (which starts moto).
//!
//! ```text
//! bench [--delay-ms 50] [--sizes cluster,100,500] [--parallelism 10] [--binary PATH]
//! ```
//!
//! For each size it prints wall time, AWS calls (the binary's own count and the proxy's,
//! which includes SDK retries), peak RSS, and the critical-path limit
//! `depth × delay + calls ÷ parallelism × delay`, where depth is 1 (GetCallerIdentity)
//! plus the longest dependency chain of AWS changes in the plan (for a no-change plan:
//! 1 + one wave of reads). `ccoctl-like` is `calls × delay`: one call at a time.

#[path = "../support/proxy.rs"]
mod proxy;
#[path = "../support/synthetic.rs"]
mod synthetic;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use proxy::{FaultPlan, Proxy};
use synthetic::synthetic_requests;

struct Args {
    delay: Duration,
    sizes: Vec<String>,
    parallelism: usize,
    binary: PathBuf,
    seed: u64,
}

fn parse_args() -> Args {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = Args {
        delay: Duration::from_millis(50),
        sizes: vec!["cluster".into(), "100".into(), "500".into()],
        parallelism: 10,
        binary: root.join("target/release/stsform"),
        seed: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--delay-ms" => args.delay = Duration::from_millis(value().parse().unwrap()),
            "--sizes" => args.sizes = value().split(',').map(str::to_string).collect(),
            "--parallelism" => args.parallelism = value().parse().unwrap(),
            "--binary" => args.binary = PathBuf::from(value()),
            "--seed" => args.seed = value().parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

struct Run {
    wall: f64,
    rss_mb: f64,
    stdout: String,
    stderr: String,
    code: Option<i32>,
    /// From the binary's summary line: (reads, writes).
    own: Option<(usize, usize)>,
    /// From the proxy: (reads, writes).
    seen: (usize, usize),
    /// Mean time moto took to answer one exchange (its service time, not the delay).
    service: Duration,
}

fn run(binary: &Path, dir: &Path, endpoint: &str, args: &[String], proxy: &Proxy) -> Run {
    assert!(proxy::is_loopback_url(endpoint));
    let before = proxy.counts();
    let time_file = dir.join("time.out");
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&time_file)
        .arg(binary)
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_IAM")
        .env_remove("AWS_ENDPOINT_URL_STS")
        .output()
        .expect("run the binary under /usr/bin/time");
    let wall = started.elapsed().as_secs_f64();
    let time = std::fs::read_to_string(&time_file).unwrap_or_default();
    let rss_kb: f64 = time
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let after = proxy.counts();
    Run {
        wall,
        rss_mb: rss_kb / 1024.0,
        own: own_calls(&stdout),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout,
        code: out.status.code(),
        seen: (after.reads - before.reads, after.writes - before.writes),
        service: (after.upstream - before.upstream)
            .checked_div((after.requests - before.requests).max(1) as u32)
            .unwrap_or_default(),
    }
}

/// `N AWS calls in all (R reads, W writes); changes took Ts` or `done (R AWS reads, Ts)`.
fn own_calls(stdout: &str) -> Option<(usize, usize)> {
    let num = |s: &str| s.trim().parse::<usize>().ok();
    for line in stdout.lines() {
        if let Some(i) = line.find(" AWS calls in all (") {
            let rest = &line[i + " AWS calls in all (".len()..];
            let reads = num(rest.split(" reads").next()?)?;
            let writes = num(rest.split(", ").nth(1)?.split(" writes").next()?)?;
            return Some((reads, writes));
        }
        if let Some(i) = line.find("... done (") {
            let rest = &line[i + "... done (".len()..];
            return Some((num(rest.split(" AWS reads").next()?)?, 0));
        }
    }
    None
}

/// 1 + the longest chain of AWS resources in `stsform graph`'s DOT (local files cost no
/// exchange).
fn depth_from_dot(dot: &str) -> usize {
    let aws = |id: &str| !(id.starts_with("key_pair.") || id.starts_with("file."));
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut nodes = BTreeSet::new();
    for line in dot.lines() {
        let parts: Vec<&str> = line.split('"').collect();
        if parts.len() >= 4 && line.contains("->") {
            edges
                .entry(parts[1].to_string())
                .or_default()
                .push(parts[3].to_string());
            nodes.insert(parts[1].to_string());
            nodes.insert(parts[3].to_string());
        } else if parts.len() >= 2 {
            nodes.insert(parts[1].to_string());
        }
    }
    fn longest(
        n: &str,
        edges: &BTreeMap<String, Vec<String>>,
        memo: &mut BTreeMap<String, usize>,
        aws: &dyn Fn(&str) -> bool,
    ) -> usize {
        if let Some(d) = memo.get(n) {
            return *d;
        }
        let below = edges
            .get(n)
            .map(|next| {
                next.iter()
                    .map(|m| longest(m, edges, memo, aws))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let d = below + usize::from(aws(n));
        memo.insert(n.to_string(), d);
        d
    }
    let mut memo = BTreeMap::new();
    1 + nodes
        .iter()
        .map(|n| longest(n, &edges, &mut memo, &aws))
        .max()
        .unwrap_or(0)
}

struct Row {
    size: String,
    op: &'static str,
    run: Run,
    depth: usize,
}

fn main() {
    let args = parse_args();
    let moto = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto) must be set");
    assert!(
        proxy::is_loopback_url(&moto),
        "moto must be on loopback: {moto}"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        args.binary.exists(),
        "{} missing: cargo build --release first",
        args.binary.display()
    );

    // Key generation, timed on its own (the timed runs use a pre-placed fixed key).
    let t = Instant::now();
    let key = stsform::keypair::PrivateKey::generate().expect("RSA 4096 generation");
    let keygen = t.elapsed();
    drop(key);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    for size in &args.sizes {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        if size == "cluster" {
            copy_dir(&root.join("examples/cluster"), &creds);
        } else {
            synthetic_requests(&creds, size.parse().unwrap(), args.seed);
        }
        let install = dir.path().join("install");
        std::fs::create_dir_all(&install).unwrap();
        let keys = root.join("tests/fixtures/keys");
        std::fs::copy(
            keys.join("fixed.private.pem"),
            install.join("serviceaccount-signer.private"),
        )
        .unwrap();
        std::fs::copy(
            keys.join("fixed.public.pem"),
            install.join("serviceaccount-signer.public"),
        )
        .unwrap();
        let name = format!("bn{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let proxy = runtime.block_on(Proxy::start(
            Some(proxy::upstream_addr(&moto)),
            args.delay,
            FaultPlan::none(),
        ));
        let endpoint = proxy.url();
        let common = |verb: &str| -> Vec<String> {
            let mut a: Vec<String> = [
                verb,
                "--name",
                &name,
                "--region",
                "us-east-2",
                "--parallelism",
                &args.parallelism.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            // Destroy works from the state: it takes neither directory.
            if verb != "destroy" {
                a.extend([
                    "--output-dir".into(),
                    "install".into(),
                    "--credentials-requests-dir".into(),
                    "creds".into(),
                ]);
            }
            if verb != "plan" {
                a.push("--auto-approve".into());
            }
            a
        };
        let graph_args: Vec<String> = [
            "graph",
            "--name",
            &name,
            "--region",
            "us-east-2",
            "--credentials-requests-dir",
            "creds",
            "--output-dir",
            "install",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let g = run(&args.binary, dir.path(), &endpoint, &graph_args, &proxy);
        let depth = depth_from_dot(&g.stdout);
        for (op, depth) in [("apply", depth), ("plan", 2), ("destroy", depth)] {
            let r = run(&args.binary, dir.path(), &endpoint, &common(op), &proxy);
            if r.code != Some(0) {
                eprintln!(
                    "{size} {op} failed ({:?}):\n{}\n{}",
                    r.code, r.stdout, r.stderr
                );
                std::process::exit(1);
            }
            if op == "plan" {
                assert!(r.stdout.contains("No changes."), "{}", r.stdout);
            }
            eprintln!("{size:>7} {op:<7} {:.2}s", r.wall);
            rows.push(Row {
                size: size.clone(),
                op,
                run: r,
                depth,
            });
        }
        drop(proxy);
    }

    let d = args.delay.as_secs_f64();
    println!(
        "delay {} ms per exchange, parallelism {}; RSA 4096 keygen (release, separate): {:.2}s\n",
        args.delay.as_millis(),
        args.parallelism,
        keygen.as_secs_f64()
    );
    println!(
        "| N | op | wall s | limit s | wall/limit | moto ms/call | limit incl. moto s | wall/that | calls (proxy: R/W) | calls (binary: R/W) | depth | peak RSS MB | ccoctl-like sequential s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let (r, w) = row.run.seen;
        let calls = (r + w) as f64;
        let limit = row.depth as f64 * d + calls / args.parallelism as f64 * d;
        let own = row
            .run
            .own
            .map_or("-".to_string(), |(r, w)| format!("{}/{}", r, w));
        // The same limit with moto's own mean service time added to every exchange: what
        // is left above it is stsform's overhead (process start, CPU, local files, saves).
        let per = d + row.run.service.as_secs_f64();
        let with_moto = row.depth as f64 * per + calls / args.parallelism as f64 * per;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {}/{} | {} | {} | {:.1} | {:.1} |",
            row.size,
            row.op,
            row.run.wall,
            limit,
            row.run.wall / limit,
            row.run.service.as_secs_f64() * 1000.0,
            with_moto,
            row.run.wall / with_moto,
            r,
            w,
            own,
            row.depth,
            row.run.rss_mb,
            calls * d
        );
    }
}
