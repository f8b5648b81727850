//! Crashes: `kill -9` of `stsform apply` at seeded random points (through a delaying
//! proxy, so kills land mid-apply), then: the state parses and claims nothing AWS lacks,
//! a re-run of apply converges to "No changes", and AWS holds nothing of the cluster
//! that the state does not know (no orphans). Also: two applies at once on one state, and
//! Ctrl-C (SIGINT) in the middle of an apply.

use std::time::{Duration, Instant};

use crate::binary::{Cluster, assert_no_secrets, state_inventory, text};
use crate::harness::Account;
use crate::moto_account::unique_name;
use crate::proxy::{FaultPlan, Proxy, upstream_addr};

const TRIALS: usize = 24;
const DELAY: Duration = Duration::from_millis(40);
/// Tries per trial while the apply ends before its kill.
const ATTEMPTS: usize = 3;

/// splitmix64, seeded: the same kill points on every run (the apply's own timing varies).
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn kill_9_at_random_points_never_loses_a_resource() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let started = Instant::now();
    let proxy = rt.block_on(Proxy::start(
        Some(upstream_addr(&moto)),
        DELAY,
        FaultPlan::none(),
    ));
    // Calibrate: how long an uninterrupted apply takes through the proxy.
    let c = Cluster::new(&unique_name());
    let t = Instant::now();
    let o = c.run(&proxy.url(), &c.args("apply"));
    let full = t.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(c.run(&moto, &c.args("destroy")).status.code(), Some(0));

    let mut rng = Rng(0xC0FFEE);
    let mut killed = 0;
    let mut bucket_window_hits = 0;
    let mut retried = 0;
    let mut full = full;
    for trial in 0..TRIALS {
        // A kill lands only while the apply runs. The calibration may have been slow (a
        // busy machine, a cold emulator) and later applies fast, so an apply can end
        // before its kill: then the trial is tried again (at most ATTEMPTS times) with
        // the aim shortened to the apply just seen, instead of counting a kill that
        // never happened.
        let mut attempt = 0;
        let (c, at) = loop {
            attempt += 1;
            let c = Cluster::new(&unique_name());
            // Later runs are faster than the first (warm moto): aim at the first 75%.
            let at = full.mul_f64(0.02 + 0.73 * rng.unit());
            let mut child = c
                .command(&proxy.url(), &c.args("apply"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Polled, not slept: an apply that ends first says how long it took.
            let spawned = Instant::now();
            let ended = loop {
                if child.try_wait().unwrap().is_some() {
                    break Some(spawned.elapsed());
                }
                if spawned.elapsed() >= at {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            if ended.is_none() {
                child.kill().unwrap(); // SIGKILL
                killed += 1;
            }
            child.wait().unwrap();
            // The killed apply's last requests are still in the proxy: let them land
            // before anything is checked or run again.
            rt.block_on(proxy.wait_idle(Duration::from_secs(30)));
            match ended {
                Some(took) if attempt < ATTEMPTS => {
                    retried += 1;
                    full = full.min(took);
                    let o = c.run(&moto, &c.args("destroy"));
                    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
                }
                _ => break (c, at),
            }
        };
        let what = format!("trial {trial} ({}), killed at {at:?}", c.name);

        // The state parses (if the first save happened) and claims nothing AWS lacks,
        // but for the bucket: its create is recorded ahead (a bucket is made, then
        // tagged, in two calls), so a kill before CreateBucket leaves it claimed.
        let in_aws = rt.block_on(account.inventory(&c.name));
        let bucket = format!("{}-oidc", c.name);
        if c.state_path().exists() {
            let state = c.state();
            let mut claimed = state_inventory(&state);
            if claimed.remove(&format!("bucket:{bucket}"))
                && !in_aws.contains(&format!("bucket:{bucket}"))
            {
                bucket_window_hits += 1;
            }
            assert!(
                claimed.is_subset(&in_aws),
                "{what}: the state claims what AWS lacks: {:?}",
                claimed.difference(&in_aws).collect::<Vec<_>>()
            );
        }

        // Re-run: converges with no help (an untagged bucket from a kill between
        // CreateBucket and PutBucketTagging is in the state, so it is tagged, not refused),
        // and everything of the cluster in AWS is in the state.
        let apply = c.run(&moto, &c.args("apply"));
        assert_eq!(apply.status.code(), Some(0), "{what}: {}", text(&apply));
        let plan = c.run(&moto, &c.args("plan"));
        assert!(
            String::from_utf8_lossy(&plan.stdout).contains("No changes."),
            "{what}: {}",
            text(&plan)
        );
        let in_aws = rt.block_on(account.inventory(&c.name));
        assert_eq!(
            state_inventory(&c.state()),
            in_aws,
            "{what}: state (left) and AWS (right) disagree"
        );
        assert_eq!(in_aws, crate::harness::expected_cluster_inventory(&c.name));
        let destroy = c.run(&moto, &c.args("destroy"));
        assert_eq!(destroy.status.code(), Some(0), "{what}: {}", text(&destroy));
        assert!(rt.block_on(account.inventory(&c.name)).is_empty(), "{what}");
        assert_no_secrets(c.path(), &[&apply, &plan, &destroy]);
    }
    eprintln!(
        "crash: {killed}/{TRIALS} applies killed mid-run (uninterrupted apply {full:?}, \
         {retried} tries again after an apply ended first); {bucket_window_hits} left the \
         bucket recorded ahead of its creation; {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(killed >= 20, "only {killed} kills landed mid-apply");
}

#[test]
fn two_applies_at_once_one_proceeds_the_other_names_the_holder() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let proxy = rt.block_on(Proxy::start(
        Some(upstream_addr(&moto)),
        DELAY,
        FaultPlan::none(),
    ));
    let c = Cluster::new(&unique_name());
    let first = c
        .command(&proxy.url(), &c.args("apply"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id();
    // Wait (bounded) until the first apply holds the lock and has written who it is.
    let lock = c.path().join(format!("state/{}.toml.lock", c.name));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&lock).map_or(true, |b| b.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = c.run(&proxy.url(), &c.args("apply"));
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    let path = format!("state/{}.toml", c.name);
    assert!(
        err.contains(&format!("error: {path} is locked by "))
            && err.contains(&format!("(pid {pid}, operation apply, since "))
            && err.contains("run `stsform force-unlock "),
        "{}",
        text(&second)
    );
    // The state is whole and true.
    assert_eq!(
        state_inventory(&c.state()),
        rt.block_on(account.inventory(&c.name))
    );
    let plan = c.run(&moto, &c.args("plan"));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("No changes."));
    let destroy = c.run(&moto, &c.args("destroy"));
    assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
    assert_no_secrets(c.path(), &[&first, &second, &plan, &destroy]);
}

/// Ctrl-C (SIGINT) during apply: no new change starts, running ones finish, the state is
/// saved and true, the exit code is 1, and a re-run finishes the job.
#[test]
fn ctrl_c_stops_cleanly_and_a_rerun_finishes() {
    use std::io::{BufRead, BufReader, Read};
    let (rt, moto, account) = crate::binary::moto_setup();
    let proxy = rt.block_on(Proxy::start(
        Some(upstream_addr(&moto)),
        DELAY,
        FaultPlan::none(),
    ));
    let c = Cluster::new(&unique_name());
    let mut child = c
        .command(&proxy.url(), &c.args("apply"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    // Interrupt as soon as the first change is done: most of the apply is still ahead.
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "apply ended before any change: {seen}"
        );
        seen.push_str(&line);
        if line.contains(" done    ") {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stdout.read_to_string(&mut seen).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(1), "{seen}\n{err}");
    assert!(
        err.contains("Interrupt received: finishing running changes, then saving state."),
        "{err}"
    );
    assert!(
        seen.contains("(interrupted). State saved (serial "),
        "{seen}"
    );
    let started = seen.matches(" start   ").count();
    assert!(
        started < 25,
        "every change started despite the interrupt:\n{seen}"
    );

    // The state holds exactly what was made (the bucket may be recorded ahead of creation).
    let in_aws = rt.block_on(account.inventory(&c.name));
    let mut claimed = state_inventory(&c.state());
    claimed.remove(&format!("bucket:{}-oidc", c.name));
    assert!(claimed.is_subset(&in_aws), "{claimed:?} vs {in_aws:?}");

    let apply = c.run(&moto, &c.args("apply"));
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let plan = c.run(&moto, &c.args("plan"));
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("No changes."),
        "{}",
        text(&plan)
    );
    assert_eq!(
        state_inventory(&c.state()),
        rt.block_on(account.inventory(&c.name))
    );
    let destroy = c.run(&moto, &c.args("destroy"));
    assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
}
