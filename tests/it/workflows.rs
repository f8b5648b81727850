//! The example GitHub workflows do what the README says: linted with actionlint (and
//! shellcheck on every `run:` script) when scripts/test.sh installed them, and checked
//! here for the parts a linter cannot know: read-only plans take no lock, the apply job
//! applies only the plan saved for the merged pull request's head commit, every stsform
//! command line parses, and the fleet's drift job reads the JSON plan's drift.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;

use crate::derive::root;

fn dir() -> PathBuf {
    root().join("examples/github-actions")
}

fn workflow(name: &str) -> (String, Value) {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let options = serde_saphyr::options! { strict_booleans: true };
    let value: Value = serde_saphyr::from_str_with_options(&text, options).unwrap();
    (text, value)
}

fn job<'a>(w: &'a Value, name: &str) -> &'a Value {
    w["jobs"]
        .get(name)
        .unwrap_or_else(|| panic!("no job {name}"))
}

fn steps(job: &Value) -> &Vec<Value> {
    job["steps"].as_array().expect("steps")
}

/// The step whose `uses` starts with `action`, or whose `name` contains it.
fn step<'a>(job: &'a Value, action: &str) -> &'a Value {
    steps(job)
        .iter()
        .find(|s| {
            s["uses"].as_str().is_some_and(|u| u.starts_with(action))
                || s["name"].as_str().is_some_and(|n| n.contains(action))
        })
        .unwrap_or_else(|| panic!("no step {action}"))
}

/// Every `stsform …` command line of a job's `run:` scripts, continuation lines joined,
/// cut before redirections and `; then`, as argument lists (quotes removed).
fn stsform_commands(job: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for s in steps(job) {
        let Some(script) = s["run"].as_str() else {
            continue;
        };
        let joined = script.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.trim().trim_start_matches("if ! ");
            if !line.starts_with("stsform ") {
                continue;
            }
            let line = line.split(['>', '|', ';']).next().unwrap();
            out.push(
                line.split_whitespace()
                    .map(|w| w.trim_matches('"').to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Each command line parses with stsform's own argument parser.
fn assert_parses(commands: &[Vec<String>]) {
    for args in commands {
        if let Err(e) = stsform::cli::Cli::try_parse_from(args) {
            panic!("{args:?} does not parse: {e}");
        }
    }
}

fn scripts(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|s| s["run"].as_str().or(s["with"]["script"].as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn single_cluster_workflow_plans_read_only_and_applies_only_the_reviewed_plan() {
    let (text, w) = workflow("stsform.yml");
    // Never the push's previous commit, never an apply without a reviewed plan.
    assert!(!text.contains("github.event.before"));
    assert!(!text.contains("--auto-approve"));

    let plan = job(&w, "plan");
    assert_eq!(plan["if"], "github.event_name == 'pull_request'");
    let commands = stsform_commands(plan);
    assert_eq!(commands.len(), 1, "{commands:?}");
    let cmd = &commands[0];
    assert_eq!(&cmd[..2], ["stsform", "plan"]);
    for flag in [
        "--lock=false",
        "--out",
        "--format",
        "--detailed-exitcode",
        "--config",
    ] {
        assert!(cmd.iter().any(|a| a == flag), "plan lacks {flag}: {cmd:?}");
    }
    assert_parses(&commands);
    // The plan job's role may only read: nothing in it may write AWS state.
    let role = step(plan, "aws-actions/configure-aws-credentials")["with"]["role-to-assume"]
        .as_str()
        .unwrap();
    assert!(role.contains("PLAN_ROLE"), "{role}");
    let upload = step(plan, "actions/upload-artifact");
    assert_eq!(
        upload["with"]["name"],
        "stsform-plan-${{ github.event.pull_request.head.sha }}"
    );
    assert!(
        upload.get("if").is_none(),
        "the plan is saved for every head commit"
    );

    let apply = job(&w, "apply");
    assert_eq!(apply["if"], "github.event_name == 'push'");
    assert_eq!(apply["concurrency"]["cancel-in-progress"], false);
    let find = step(apply, "Find the plan reviewed");
    assert_eq!(find["id"], "reviewed");
    let script = find["with"]["script"].as_str().unwrap();
    for needed in [
        "listPullRequestsAssociatedWithCommit",
        "p.merged_at",
        "const head = pr.head.sha;",
        "const name = `stsform-plan-${head}`;",
        "workflow_id: 'stsform.yml'",
        "head_sha: head",
        "core.setFailed(`No saved plan ${name}",
        "To plan again:",
    ] {
        assert!(
            script.contains(needed),
            "lookup lacks `{needed}`:\n{script}"
        );
    }
    let download = step(apply, "actions/download-artifact");
    assert_eq!(
        download["with"]["name"],
        "${{ steps.reviewed.outputs.artifact }}"
    );
    assert_eq!(
        download["with"]["run-id"],
        "${{ steps.reviewed.outputs.run-id }}"
    );
    assert_eq!(apply["permissions"]["actions"], "read");
    let commands = stsform_commands(apply);
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(
        commands[0][..3],
        ["stsform", "apply", "reviewed/$CLUSTER.plan"],
        "apply runs the downloaded plan and nothing else"
    );
    assert_parses(&commands);
    assert!(
        scripts(apply).contains("plan again"),
        "the failure says how to re-plan"
    );
    // The steps run in order: find, download, then apply.
    let order: Vec<usize> = [
        "Find the plan",
        "actions/download-artifact",
        "Apply exactly",
    ]
    .iter()
    .map(|a| {
        steps(apply)
            .iter()
            .position(|s| std::ptr::eq(s, step(apply, a)))
            .unwrap()
    })
    .collect();
    assert!(order.windows(2).all(|p| p[0] < p[1]), "{order:?}");
}

#[test]
fn fleet_workflow_runs_one_independent_job_per_cluster_and_reports_drift() {
    let (text, w) = workflow("stsform-fleet.yml");
    assert!(!text.contains("github.event.before"));
    assert!(!text.contains("--auto-approve"));
    assert!(w["on"]["schedule"][0]["cron"].is_string());
    let list = job(&w, "clusters");
    assert!(scripts(list).contains("-name stsform.toml"));

    for name in ["plan", "apply", "drift"] {
        let j = job(&w, name);
        assert_eq!(j["needs"], "clusters", "{name}");
        assert_eq!(
            j["strategy"]["matrix"]["cluster"], "${{ fromJSON(needs.clusters.outputs.names) }}",
            "{name}"
        );
        assert_eq!(
            j["strategy"]["fail-fast"], false,
            "{name}: one cluster's failure stops no other"
        );
        assert_eq!(j["env"]["CLUSTER"], "${{ matrix.cluster }}");
        let commands = stsform_commands(j);
        assert_eq!(commands.len(), 1, "{name}: {commands:?}");
        // A saved plan carries its settings: apply takes no settings file.
        assert_eq!(
            commands[0].contains(&"clusters/$CLUSTER/stsform.toml".to_string()),
            name != "apply",
            "{name}: {commands:?}"
        );
        assert_parses(&commands);
        if name != "apply" {
            assert!(commands[0].contains(&"--lock=false".to_string()), "{name}");
        }
    }
    let plan = job(&w, "plan");
    assert_eq!(
        step(plan, "actions/upload-artifact")["with"]["name"],
        "stsform-plan-${{ matrix.cluster }}-${{ github.event.pull_request.head.sha }}"
    );
    assert!(
        scripts(plan).contains("c.body.startsWith(marker)"),
        "one comment per cluster"
    );

    let apply = job(&w, "apply");
    assert_eq!(
        apply["concurrency"]["group"],
        "stsform-apply-${{ matrix.cluster }}"
    );
    let lookup = scripts(apply);
    assert!(
        lookup.contains("const name = `stsform-plan-${cluster}-${head}`;"),
        "{lookup}"
    );
    assert!(lookup.contains("const head = pr.head.sha;"));
    assert_eq!(
        stsform_commands(apply)[0][..3],
        ["stsform", "apply", "reviewed/$CLUSTER.plan"]
    );

    let drift = job(&w, "drift");
    assert!(drift["if"].as_str().unwrap().contains("schedule"));
    assert_eq!(drift["permissions"]["issues"], "write");
    let cmd = &stsform_commands(drift)[0];
    assert!(cmd.windows(2).any(|p| p == ["--format", "json"]), "{cmd:?}");
    let s = scripts(drift);
    assert!(
        s.contains("jq '.drift | length' plan.json"),
        "drift is the signal"
    );
    assert!(s.contains("GITHUB_STEP_SUMMARY") && s.contains("github.rest.issues.create"));
}

#[test]
fn every_fleet_cluster_has_its_own_state_in_s3() {
    let mut states = std::collections::BTreeSet::new();
    let clusters = dir().join("clusters");
    for entry in std::fs::read_dir(&clusters).unwrap() {
        let path = entry.unwrap().path().join("stsform.toml");
        let input = stsform::settings::SettingsInput {
            config: Some(path.clone()),
            ..Default::default()
        };
        let s = stsform::settings::resolve(&input, stsform::settings::Need::StateOnly)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let state = s.state.display().to_string();
        assert!(
            state.starts_with("s3://") && state.ends_with(&format!("/{}.toml", s.name)),
            "{state}"
        );
        assert_eq!(
            path.parent().unwrap().file_name().unwrap().to_str(),
            Some(s.name.as_str()),
            "clusters/<name>/ holds the settings of <name>"
        );
        states.insert(state);
    }
    assert!(states.len() >= 2, "{states:?}");
}

/// A linter `scripts/lint.sh` installs: `$var` (set by scripts/test.sh), else the one in
/// its venv (`$LINT_VENV`, else `.venv-lint`). Fails, saying how to get it, without.
fn linter(var: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("LINT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-lint"));
    let path = venv.join("bin").join(name);
    assert!(
        path.is_file(),
        "{name} is not installed ({} is missing): run `scripts/test.sh` once (it installs \
         the linters into .venv-lint and runs every test)",
        path.display()
    );
    path
}

/// actionlint (with shellcheck for the `run:` scripts) accepts both workflows.
#[test]
fn workflows_pass_actionlint_and_shellcheck() {
    let actionlint = linter("STSFORM_ACTIONLINT", "actionlint");
    let shellcheck = linter("STSFORM_SHELLCHECK", "shellcheck");
    let mut cmd = std::process::Command::new(&actionlint);
    cmd.arg("-shellcheck").arg(&shellcheck);
    let files: Vec<PathBuf> = ["stsform.yml", "stsform-fleet.yml"]
        .iter()
        .map(|f| dir().join(f))
        .collect();
    let o = cmd.args(&files).current_dir(root()).output().unwrap();
    assert!(
        o.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The linter really looks: a broken copy fails.
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("broken.yml");
    let text = std::fs::read_to_string(&files[0]).unwrap().replace(
        "steps.reviewed.outputs.artifact",
        "steps.nope.outputs.artifact",
    );
    std::fs::write(&broken, text).unwrap();
    let o = std::process::Command::new(&actionlint)
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!o.status.success(), "actionlint accepted a broken workflow");
}

#[test]
fn nothing_in_the_repository_points_outside_it() {
    let mut offenders = Vec::new();
    walk(&root(), &mut offenders);
    assert!(
        offenders.is_empty(),
        "references to files outside the repository: {offenders:#?}"
    );
}

fn walk(dir: &Path, offenders: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | ".moto") && !name.starts_with(".venv") {
                walk(&path, offenders);
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // Split so that this file does not match itself.
        for needle in [
            concat!("shared", "/reference"),
            concat!("/work/", "shared"),
            concat!("../", "shared/"),
        ] {
            if text.contains(needle) {
                offenders.push(format!("{}: {needle}", path.display()));
            }
        }
    }
}
