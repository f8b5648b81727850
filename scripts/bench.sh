#!/usr/bin/env bash
# Benchmark stsform (release) against moto behind a loopback delaying proxy.
# Usage: scripts/bench.sh [--delay-ms 50] [--sizes cluster,100,500] [--parallelism 10]
# Everything runs on 127.0.0.1; see docs/benchmarks.md for results and method.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/moto.sh
moto_install
moto_start
trap moto_stop EXIT
moto_env
cargo build --release --locked --bin stsform
# MOTO_PID: the bench reads how much CPU moto spent on each run.
MOTO_PID="$MOTO_PID" cargo run --release --locked --example bench -- "$@"
