#!/usr/bin/env bash
# Runs every test: installs the pinned moto emulator into .venv-moto and the workflow
# linters into .venv-lint, starts moto on a free loopback port, runs the Rust test suite
# against it, and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/moto.sh
. scripts/lint.sh
moto_install
lint_install
moto_start
trap moto_stop EXIT
moto_env
echo "test.sh: moto $MOTO_VERSION on $AWS_ENDPOINT_URL" >&2
cargo test --locked "$@"
