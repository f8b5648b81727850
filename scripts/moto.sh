#!/usr/bin/env bash
# scripts/moto.sh: install and run the moto AWS emulator on loopback, for tests and the demo.
# Source it, then: moto_install; moto_start; moto_env; trap moto_stop EXIT
# Or run it by hand (README, "Try it against the local emulator"):
#   eval "$(scripts/moto.sh start)"   # install on first use, start, print the AWS_* settings
#   scripts/moto.sh stop              # stop the emulator started above
# Nothing here ever talks to an address other than 127.0.0.1.

STSFORM_ROOT="${STSFORM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
# The venv lives in the project (git-ignored) so a fresh clone installs its own.
MOTO_VENV="${MOTO_VENV:-$STSFORM_ROOT/.venv-moto}"
MOTO_DIR="${MOTO_DIR:-$STSFORM_ROOT/.moto}"
MOTO_PID=""
MOTO_PORT=""

moto_install() {
  if "$MOTO_VENV/bin/python" -c "import moto, flask, flask_cors, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "moto.sh: installing moto $MOTO_VERSION into $MOTO_VENV" >&2
  rm -rf "$MOTO_VENV"
  python3 -m venv "$MOTO_VENV" || return 1
  # Pinned set, installed and tested together: moto 5.2.5's server with the flask,
  # flask-cors and werkzeug versions it was measured with (newer ones are untested).
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check \
      "moto[s3]==$MOTO_VERSION" "flask==3.1.3" "flask-cors==6.0.5" "werkzeug==3.1.9" || return 1
}

# A free loopback port, chosen by the kernel.
moto_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

moto_start() {
  mkdir -p "$MOTO_DIR"
  MOTO_PORT="${MOTO_PORT_WANTED:-$(moto_free_port)}"
  local log="$MOTO_DIR/moto-$MOTO_PORT.log"
  ( cd "$MOTO_DIR" && MOTO_RECORDER_FILEPATH="$MOTO_DIR/recording-$MOTO_PORT.jsonl" \
      exec "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" ) >"$log" 2>&1 &
  MOTO_PID=$!
  local i
  for i in $(seq 1 150); do            # 30 s budget; normally ready in < 0.5 s
    # Python, not curl: the project promises to need only Rust and Python.
    if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto.sh: moto_server exited during startup:" >&2; cat "$log" >&2; MOTO_PID=""; return 1
    fi
    sleep 0.2
  done
  echo "moto.sh: moto_server not ready after 30 s" >&2; cat "$log" >&2; moto_stop; return 1
}

moto_stop() {
  [ -n "$MOTO_PID" ] || return 0
  kill "$MOTO_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    kill -0 "$MOTO_PID" 2>/dev/null || { MOTO_PID=""; return 0; }
    sleep 0.1
  done
  kill -9 "$MOTO_PID" 2>/dev/null; MOTO_PID=""
}

# Point the AWS SDK (and only it) at the emulator, with test credentials that cannot
# reach a real account, and keep the credential chain away from IMDS and ~/.aws.
moto_env() {
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
  export STSFORM_TEST_ENDPOINT="$AWS_ENDPOINT_URL"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  export AWS_REGION=us-east-2 AWS_DEFAULT_REGION=us-east-2
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_IAM AWS_ENDPOINT_URL_STS
}

# Run as a command (not sourced): start or stop a long-running emulator for trying stsform
# by hand. `start` prints `export` lines for the calling shell to eval; everything else
# goes to stderr. The server's pid and port are kept in $MOTO_DIR/server.pid.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  pidfile="$MOTO_DIR/server.pid"
  case "${1:-}" in
    start)
      if [ -f "$pidfile" ] && kill -0 "$(cut -d' ' -f1 "$pidfile")" 2>/dev/null; then
        MOTO_PORT="$(cut -d' ' -f2 "$pidfile")"
        echo "moto.sh: already running on http://127.0.0.1:$MOTO_PORT" >&2
      else
        moto_install >&2
        moto_start >&2
        echo "$MOTO_PID $MOTO_PORT" >"$pidfile"
        echo "moto.sh: moto $MOTO_VERSION on http://127.0.0.1:$MOTO_PORT (stop it with: scripts/moto.sh stop)" >&2
      fi
      # What moto_env sets, as text for `eval` (STSFORM_TEST_ENDPOINT only serves the tests).
      echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
      echo "export AWS_REGION=us-east-2 AWS_DEFAULT_REGION=us-east-2 AWS_EC2_METADATA_DISABLED=true"
      echo "export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null"
      echo "unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_IAM AWS_ENDPOINT_URL_STS"
      ;;
    stop)
      if [ -f "$pidfile" ]; then
        MOTO_PID="$(cut -d' ' -f1 "$pidfile")"
        moto_stop
        rm -f "$pidfile"
        echo "moto.sh: stopped; open a new shell (or unset the AWS_* variables) to reach AWS again" >&2
      else
        echo "moto.sh: not running (no $pidfile)" >&2
      fi
      ;;
    *)
      echo "usage: eval \"\$(scripts/moto.sh start)\"  |  scripts/moto.sh stop" >&2
      exit 1
      ;;
  esac
fi
