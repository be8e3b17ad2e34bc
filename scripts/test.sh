#!/usr/bin/env bash
# Install everything the tests need on a fresh clone, check the code with ruff, then run every test
# (tests/unit, tests/app, tests/system, tests/browser).
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv/bin/ruff check .  # style first: a failure here stops the run before any test starts
if ! command -v chromium >/dev/null 2>&1 || ! ldconfig -p | grep -q libatomic.so.1; then
  # Playwright's own browser download cannot run here; Debian's Chromium can. Playwright's driver (its own node)
  # needs libatomic, which a machine with gcc has and a bare Debian has not.
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libatomic1 >/dev/null
  else
    echo "The browser tests need Chromium and libatomic: sudo apt-get install -y chromium libatomic1" >&2
    exit 1
  fi
fi
if [ "$(id -u)" = 0 ] && [ -z "${DIGITVIZ_TEST_POSTGRES_URL:-}" ]; then
  # The class board's tests run against a real PostgreSQL too, on loopback only.
  DIGITVIZ_TEST_POSTGRES_URL=$(bash scripts/start_postgres.sh | tail -n 1)
  export DIGITVIZ_TEST_POSTGRES_URL
fi
# -m "": every test, the slow ones too (pyproject.toml leaves them out of a plain `pytest`); a -m given here wins.
exec .venv/bin/python -m pytest -m "" "$@"
