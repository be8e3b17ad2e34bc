#!/usr/bin/env bash
# A rehearsal of a new machine: the README's two commands on a fresh clone of HEAD, in a clean Debian bookworm
# container made with debootstrap (tools/fresh_machine.py says what it proves). As root; it installs and starts
# Docker first if needed. Usage: bash scripts/fresh_machine.sh [--runs N] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/start_docker.sh
exec python3 -m tools.fresh_machine "$@"
