#!/usr/bin/env bash
# The main job on examples/: validate the requests and show the plan for a new cluster.
# Works on a scratch directory so the repository stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet
bin="$PWD/target/debug/stsform"
work="$(mktemp -d "${TMPDIR:-/tmp}/stsform-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
name=demo-cluster
region=us-east-2
common=(--name "$name" --region "$region" --credentials-requests-dir examples/cluster
        --output-dir "$work/install" --state "$work/state/$name.toml")

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }

step "validate the cluster's requests" stsform validate --credentials-requests-dir examples/cluster --name "$name" --region "$region"
"$bin" validate --credentials-requests-dir examples/cluster --name "$name" --region "$region"

step "validate the day-2 application request" stsform validate --credentials-requests-dir examples/day2
"$bin" validate --credentials-requests-dir examples/day2

step "plan a new cluster offline (no AWS calls)" stsform plan "${common[@]}" --refresh=false
"$bin" plan "${common[@]}" --refresh=false

echo
echo "demo: done. Nothing was written outside $work (now removed)."
