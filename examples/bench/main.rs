//! Benchmark: apply from empty, a no-change plan and destroy, through the real (release)
//! binary, against the moto emulator behind a loopback proxy that adds a fixed delay to
//! every HTTP exchange. Run it with `scripts/bench.sh` (which starts moto).
//!
//! ```text
//! bench [--delay-ms 50] [--sizes cluster,100,500,2000] [--parallelism 10] [--binary PATH]
//!       [--throttle-size 100] [--throttle-above 3] [--write-requests DIR]
//! ```
//!
//! `--write-requests DIR` only writes each size's inputs to `DIR/<size>` (`creds/`,
//! `install/` with the fixed key pair) and exits, to profile the binary by hand on them.
//!
//! For each size it prints wall time, AWS calls (the binary's own count and the proxy's,
//! which includes SDK retries), peak RSS, and the critical-path limit
//! `depth × delay + calls ÷ parallelism × delay`, where depth is 1 (GetCallerIdentity)
//! plus the longest dependency chain of AWS changes in the plan (for a no-change plan:
//! 1 + one wave of reads). `ccoctl-like` is `calls × delay`: one call at a time.
//!
//! It also prints, per size: what saving the state cost the apply (`STSFORM_TIMINGS=1`),
//! and whether destroy read only what its own plan read (`plan --destroy`'s reads) and
//! wrote at most once per AWS resource it deleted. Last, at `--throttle-size` requests, it
//! applies and destroys through a proxy that throttles every service above
//! `--throttle-above` requests in flight, once with the concurrency fixed at
//! `--parallelism` (`STSFORM_PACING=fixed`) and once adaptive (the default), and prints
//! wall time and throttled attempts for both (0 for `--throttle-above` skips it).

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
    throttle_size: usize,
    throttle_above: usize,
    /// Write each size's working directory (requests + key pair) under this directory
    /// and stop: for profiling the binary by hand (heaptrack, massif) on the same inputs.
    write_requests: Option<PathBuf>,
}

fn parse_args() -> Args {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = Args {
        delay: Duration::from_millis(50),
        sizes: vec!["cluster".into(), "100".into(), "500".into(), "2000".into()],
        parallelism: 10,
        binary: root.join("target/release/stsform"),
        seed: 7,
        throttle_size: 100,
        throttle_above: 3,
        write_requests: None,
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
            "--throttle-size" => args.throttle_size = value().parse().unwrap(),
            "--throttle-above" => args.throttle_above = value().parse().unwrap(),
            "--write-requests" => args.write_requests = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, dest).unwrap();
        }
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
    /// Requests the proxy answered as throttled (`FaultPlan::throttle_above`).
    throttled: usize,
    /// Where the wall time went, from the proxy's exchanges; `None` if it made no call.
    timeline: Option<Timeline>,
    /// CPU seconds moto used during the run (`MOTO_PID`'s user + system time), if known.
    moto_cpu: Option<f64>,
}

/// User + system CPU seconds the moto process has used so far (`/proc/PID/stat`), when
/// `MOTO_PID` names it. moto runs its Python under one lock, so this is also about the
/// least wall time moto needs to answer a run's calls, however they are spread.
fn moto_cpu() -> Option<f64> {
    let pid = std::env::var("MOTO_PID").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces):
    // utime and stime are the 14th and 15th fields of the line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux everywhere this runs.
    Some(ticks / 100.0)
}

/// A run's wall time split at its first request and its last answer.
struct Timeline {
    /// From starting the process to its first request reaching the proxy.
    lead: f64,
    /// From the first request's arrival to the last answer.
    span: f64,
    /// From the last answer to the process's exit.
    tail: f64,
    /// Mean exchanges in flight over `span`.
    in_flight: f64,
    /// The longest exchange: `Service:Action` and seconds.
    slowest: (String, f64),
}

impl Timeline {
    fn of(exchanges: &[proxy::Exchange], started: Instant, ended: Instant) -> Option<Timeline> {
        let first = exchanges.iter().map(|e| e.arrived).min()?;
        let last = exchanges.iter().map(|e| e.answered).max()?;
        let span = last.duration_since(first).as_secs_f64();
        let busy: f64 = exchanges
            .iter()
            .map(|e| e.answered.duration_since(e.arrived).as_secs_f64())
            .sum();
        let slowest = exchanges
            .iter()
            .max_by_key(|e| e.answered.duration_since(e.arrived))
            .map(|e| {
                (
                    e.action.clone(),
                    e.answered.duration_since(e.arrived).as_secs_f64(),
                )
            })?;
        Some(Timeline {
            lead: first.saturating_duration_since(started).as_secs_f64(),
            span,
            tail: ended.saturating_duration_since(last).as_secs_f64(),
            in_flight: if span > 0.0 { busy / span } else { 0.0 },
            slowest,
        })
    }
}

impl Run {
    /// `state saves N taking Xs, Ys of it holding up changes` (`STSFORM_TIMINGS=1`):
    /// (saves, seconds saving, seconds it held changes up).
    fn saves(&self) -> Option<(usize, f64, f64)> {
        let line = self.stderr.lines().find(|l| l.contains("timings: "))?;
        let rest = line.split("state saves ").nth(1)?;
        let count = rest.split(' ').next()?.parse().ok()?;
        let saving = rest
            .split("taking ")
            .nth(1)?
            .split('s')
            .next()?
            .parse()
            .ok()?;
        let blocked = rest.split(", ").nth(1)?.split('s').next()?.parse().ok()?;
        Some((count, saving, blocked))
    }

    /// `K attempts throttled by AWS and retried` in the summary line (0 when absent).
    fn own_throttled(&self) -> usize {
        self.stdout
            .lines()
            .find_map(|l| {
                let before = l
                    .split(" throttled by AWS")
                    .next()
                    .filter(|b| b.len() < l.len())?;
                before.rsplit("; ").next()?.split(' ').next()?.parse().ok()
            })
            .unwrap_or(0)
    }
}

fn run(
    binary: &Path,
    dir: &Path,
    endpoint: &str,
    args: &[String],
    env: &[(&str, &str)],
    proxy: &Proxy,
) -> Run {
    assert!(proxy::is_loopback_url(endpoint));
    let before = proxy.counts();
    let answered_before = proxy.exchanges().len();
    let moto_before = moto_cpu();
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
        .env("STSFORM_TIMINGS", "1")
        .envs(env.iter().copied())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_IAM")
        .env_remove("AWS_ENDPOINT_URL_STS")
        .output()
        .expect("run the binary under /usr/bin/time");
    let ended = Instant::now();
    let wall = ended.duration_since(started).as_secs_f64();
    let timeline = Timeline::of(&proxy.exchanges()[answered_before..], started, ended);
    let moto_cpu = moto_before.zip(moto_cpu()).map(|(a, b)| b - a);
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
        throttled: after.throttled - before.throttled,
        timeline,
        moto_cpu,
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
    /// For the no-change plan: seconds its own requests took replayed by a minimal
    /// client ([`Proxy::replay`]).
    replay: Option<f64>,
}

/// A working directory with the requests of `size` and the fixed key pair, and a fresh
/// cluster name.
fn workdir(root: &Path, size: &str, seed: u64) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    if size == "cluster" {
        copy_dir(&root.join("examples/cluster"), &creds);
    } else {
        synthetic_requests(&creds, size.parse().unwrap(), seed);
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
    (dir, name)
}

/// The arguments of `verb` (`apply`, `plan`, `plan --destroy`, `destroy`, `graph`).
fn command(verb: &str, name: &str, parallelism: usize) -> Vec<String> {
    let mut a: Vec<String> = verb.split(' ').map(str::to_string).collect();
    a.extend(
        ["--name", name, "--region", "us-east-2"]
            .iter()
            .map(|s| s.to_string()),
    );
    if verb != "graph" {
        a.extend(["--parallelism".into(), parallelism.to_string()]);
    }
    // Destroy works from the state: it takes neither directory.
    if !verb.contains("destroy") {
        a.extend([
            "--output-dir".into(),
            "install".into(),
            "--credentials-requests-dir".into(),
            "creds".into(),
        ]);
    }
    if verb == "apply" || verb == "destroy" {
        a.push("--auto-approve".into());
    }
    a
}

/// AWS resources a plan's text would destroy (local files and the key cost no call).
fn aws_deletions(plan: &str) -> usize {
    plan.lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("# ")
                && l.contains(" will be destroyed")
                && !(l.starts_with("# key_pair.") || l.starts_with("# file."))
        })
        .count()
}

/// Destroy against its own plan: reads, and writes per AWS resource deleted.
struct DestroyCheck {
    size: String,
    plan_reads: usize,
    reads: usize,
    writes: usize,
    deleted: usize,
}

/// Apply and destroy through a throttling proxy, fixed or adaptive.
struct ThrottleRow {
    mode: &'static str,
    op: &'static str,
    run: Run,
}

fn fail(what: &str, r: &Run) -> ! {
    eprintln!("{what} failed ({:?}):\n{}\n{}", r.code, r.stdout, r.stderr);
    std::process::exit(1);
}

fn main() {
    let args = parse_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(out) = &args.write_requests {
        for size in &args.sizes {
            let (dir, _) = workdir(&root, size, args.seed);
            let to = out.join(size);
            copy_dir(dir.path(), &to);
            println!("{}", to.display());
        }
        return;
    }
    let moto = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto) must be set");
    assert!(
        proxy::is_loopback_url(&moto),
        "moto must be on loopback: {moto}"
    );
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
    let mut checks = Vec::new();
    for size in &args.sizes {
        let (dir, name) = workdir(&root, size, args.seed);
        let proxy = runtime.block_on(Proxy::start(
            Some(proxy::upstream_addr(&moto)),
            args.delay,
            FaultPlan::none(),
        ));
        let endpoint = proxy.url();
        let run = |verb: &str| {
            let r = run(
                &args.binary,
                dir.path(),
                &endpoint,
                &command(verb, &name, args.parallelism),
                &[],
                &proxy,
            );
            if r.code != Some(0) {
                fail(&format!("{size} {verb}"), &r);
            }
            r
        };
        let depth = depth_from_dot(&run("graph").stdout);
        for (op, depth) in [("apply", depth), ("plan", 2), ("destroy", depth)] {
            let mut planned = None;
            if op == "destroy" {
                // Destroy's own plan, made apart: what its refresh reads.
                planned = Some(run("plan --destroy"));
            }
            proxy.record_requests(op == "plan");
            let r = run(op);
            proxy.record_requests(false);
            let mut replay = None;
            if op == "plan" {
                assert!(r.stdout.contains("No changes."), "{}", r.stdout);
                // Reads only, so they can be sent again: the same calls, the same number
                // at once, through the same proxy and moto, by a client that does nothing
                // else.
                let requests = proxy.take_recorded();
                assert_eq!(requests.len(), r.seen.0 + r.seen.1);
                let took = runtime
                    .block_on(proxy.replay(requests, args.parallelism))
                    .expect("replay the plan's requests");
                replay = Some(took.as_secs_f64());
            }
            if let Some(p) = planned {
                checks.push(DestroyCheck {
                    size: size.clone(),
                    plan_reads: p.seen.0,
                    reads: r.seen.0,
                    writes: r.seen.1,
                    deleted: aws_deletions(&p.stdout),
                });
            }
            eprintln!("{size:>7} {op:<7} {:.2}s", r.wall);
            rows.push(Row {
                size: size.clone(),
                op,
                run: r,
                depth,
                replay,
            });
        }
        drop(proxy);
    }

    // Fixed and adaptive concurrency against a service that throttles above a few calls
    // in flight.
    let mut throttled = Vec::new();
    if args.throttle_above > 0 {
        for (mode, pacing) in [("fixed", "fixed"), ("adaptive", "adaptive")] {
            let size = args.throttle_size.to_string();
            let (dir, name) = workdir(&root, &size, args.seed);
            let proxy = runtime.block_on(Proxy::start(
                Some(proxy::upstream_addr(&moto)),
                args.delay,
                FaultPlan {
                    throttle_above: Some(args.throttle_above),
                    ..FaultPlan::none()
                },
            ));
            for op in ["apply", "destroy"] {
                let r = run(
                    &args.binary,
                    dir.path(),
                    &proxy.url(),
                    &command(op, &name, args.parallelism),
                    &[("STSFORM_PACING", pacing)],
                    &proxy,
                );
                eprintln!(
                    "throttled above {}: {mode:<8} {op:<7} {:.2}s, exit {:?}",
                    args.throttle_above, r.wall, r.code
                );
                let failed = r.code != Some(0);
                throttled.push(ThrottleRow { mode, op, run: r });
                if failed {
                    // Left for the report; the rest of this mode cannot follow.
                    break;
                }
            }
        }
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

    println!(
        "\nWhere the wall time went (from the proxy's exchanges): process start to the first request, first request to last answer, last answer to exit; mean exchanges in flight over that span (of --parallelism {}); the longest exchange; moto's CPU time during the run (its Python runs under one lock, so the calls cannot be answered in less wall time than that):\n",
        args.parallelism
    );
    println!(
        "| N | op | wall s | to first request s | requests span s | after last answer s | mean in flight | longest exchange | moto CPU s | moto CPU / span |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let Some(t) = &row.run.timeline else {
            continue;
        };
        let (cpu, share) = row.run.moto_cpu.map_or(("-".into(), "-".into()), |c| {
            (format!("{c:.2}"), format!("{:.0}%", c / t.span * 100.0))
        });
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.2} | {:.3} | {:.1} | {} {:.0} ms | {cpu} | {share} |",
            row.size,
            row.op,
            row.run.wall,
            t.lead,
            t.span,
            t.tail,
            t.in_flight,
            t.slowest.0,
            t.slowest.1 * 1000.0
        );
    }

    println!(
        "\nThe no-change plan against the least any client could take for its calls here: the plan's own requests, recorded by the proxy, sent again by a minimal client ({} at once, no dependencies between them, through the same proxy and moto):\n",
        args.parallelism
    );
    println!(
        "| N | plan wall s | its requests replayed s | plan / replay | limit s | replay / limit |"
    );
    println!("|---|---|---|---|---|---|");
    for row in rows.iter().filter(|r| r.op == "plan") {
        let Some(replay) = row.replay else { continue };
        let (r, w) = row.run.seen;
        let limit = row.depth as f64 * d + (r + w) as f64 / args.parallelism as f64 * d;
        println!(
            "| {} | {:.2} | {replay:.2} | {:.2} | {limit:.2} | {:.2} |",
            row.size,
            row.run.wall,
            row.run.wall / replay,
            replay / limit
        );
    }

    println!(
        "\nState saves during apply (on their own thread; \"holding up\" = time no change could start because of a save):\n"
    );
    println!("| N | apply wall s | saves | saving s | holding up changes s | share of wall |");
    println!("|---|---|---|---|---|---|");
    for row in rows.iter().filter(|r| r.op == "apply") {
        let Some((count, saving, blocked)) = row.run.saves() else {
            println!("| {} | {:.2} | - | - | - | - |", row.size, row.run.wall);
            continue;
        };
        println!(
            "| {} | {:.2} | {count} | {saving:.3} | {blocked:.3} | {:.1}% |",
            row.size,
            row.run.wall,
            blocked / row.run.wall * 100.0
        );
    }

    println!(
        "\nDestroy against its own plan (`plan --destroy`, run apart): reads no more than the plan read, writes at most one per AWS resource deleted:\n"
    );
    println!(
        "| N | plan --destroy reads | destroy reads | AWS resources deleted | destroy writes | calls ≤ plan reads + deleted |"
    );
    println!("|---|---|---|---|---|---|");
    for c in &checks {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            c.size,
            c.plan_reads,
            c.reads,
            c.deleted,
            c.writes,
            if c.reads + c.writes <= c.plan_reads + c.deleted {
                "yes"
            } else {
                "NO"
            }
        );
    }

    if !throttled.is_empty() {
        println!(
            "\nThrottling: N={}, every service throttles a request that arrives while more than {} of its requests are in flight (IAM/STS 400 Throttling, S3 503 SlowDown), {} ms per exchange, --parallelism {}. fixed = STSFORM_PACING=fixed (always {} at once, the SDK's retries only); adaptive = the default. limit at {} = depth-free floor calls ÷ {} × delay:\n",
            args.throttle_size,
            args.throttle_above,
            args.delay.as_millis(),
            args.parallelism,
            args.parallelism,
            args.throttle_above,
            args.throttle_above,
        );
        println!(
            "| concurrency | op | exit | wall s | floor s | wall/floor | requests (proxy) | throttled (proxy) | throttled (binary) | calls (binary: R/W) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for t in &throttled {
            let (r, w) = t.run.seen;
            let calls = t.run.own.map_or(r + w, |(r, w)| r + w);
            let floor = calls as f64 / args.throttle_above as f64 * d;
            println!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
                t.mode,
                t.op,
                t.run.code.map_or("killed".into(), |c| c.to_string()),
                t.run.wall,
                floor,
                t.run.wall / floor,
                r + w,
                t.run.throttled,
                t.run.own_throttled(),
                t.run.own.map_or("-".into(), |(r, w)| format!("{r}/{w}")),
            );
        }
    }
}
