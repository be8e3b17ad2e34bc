#!/usr/bin/env bash
# Start Docker for the deploy path's tests (tests/system/test_docker.py), installing it first if needed
# (Debian's docker.io and docker-compose, and debootstrap for the stand-in base images; as root).
# Safe to run again: it only installs or starts what is missing, and leaves dockerd running afterwards.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "start_docker.sh installs and starts Docker, so it must run as root." >&2
  exit 1
fi

# Debian's CLI by its path: it has BuildKit built in (build secrets). A new machine has a newer docker CLI first on
# PATH (/usr/local/bin) without the buildx plugin, and no engine; tools/docker.py names the same path.
docker=/usr/bin/docker
missing=()
{ command -v dockerd >/dev/null 2>&1 && [ -x "$docker" ]; } || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! "$docker" info >/dev/null 2>&1; then
  # No init system here to start it: run the daemon in a session of its own, so that it outlives this script.
  log=/var/log/digitviz-dockerd.log
  setsid nohup dockerd >"$log" 2>&1 </dev/null &
  for _ in $(seq 60); do
    "$docker" info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! "$docker" info >/dev/null 2>&1; then
    echo "dockerd did not answer within 60 s; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
fi
"$docker" info --format 'Docker {{.ServerVersion}}, storage driver {{.Driver}}'
