"""A rehearsal of a new machine: the README's two commands on a fresh clone, in a clean container.

    bash scripts/fresh_machine.sh [--runs N] [pytest args...]

A green CI on a warm machine can hide a missing install step: whatever a session installed by hand is still there.
This starts from nothing the project did not install itself: Debian bookworm made with debootstrap (python3 with
its venv module, CA certificates; no Chromium, PostgreSQL, nginx or project files), a `git clone` of the
committed HEAD, and this machine's pip settings and wheel folders (read-only, at the same paths: a new machine of
this kind has the same ones). Then, as root, as a newcomer would:

1. the README's first command, until the page answers /_stcore/health (then it is stopped);
2. the README's second command (`bash scripts/test.sh`), N times in a row, with CI=true so that nothing may skip,
   less the Docker tests (`--ignore=tests/system/test_docker.py`: Docker in Docker is another machine; they run on
   the host). Pytest arguments given to the script follow (a path runs only that).

Each run's whole log is kept in LOGS on this machine.

The container shares this machine's network (the package registries are reached from here only) and so its
loopback: the app and the tests pick free ports, and its PostgreSQL listens on a free port, not 5432.
Standard library only: it runs before any virtualenv exists.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import ROOT, free_port
from tools.docker import CLI, import_bookworm, pip_settings, run

IMAGE = "digitviz-fresh/bookworm"
PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates"]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOME = "/root/digitviz"  # where the clone lies in the container
LOGS = Path(tempfile.gettempdir()) / "digitviz-fresh-logs"  # each run's log, kept here on this machine
LOGS_IN = "/root/logs"  # where the container writes them


def readme_commands():
    """The two commands under the README's "Two commands": the app's, then the tests'."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    ") and line.strip()]
    assert len(commands) >= 2, f"expected two indented commands under '## Two commands', found {commands}"
    return commands[0], commands[1]


def fresh_clone(folder):
    """A clone of the committed HEAD, as CI and a newcomer get it: no venv, nothing ignored, nothing uncommitted."""
    dirty = run("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        print("[fresh_machine] note: uncommitted changes are not rehearsed (only HEAD is cloned)", flush=True)
    run("git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(folder))
    return run("git", "-C", str(folder), "log", "-1", "--format=%h %s").stdout.strip()


def pip_mounts():
    """Docker arguments that give the container this machine's pip: its settings, folders and variables."""
    indexes, flat, files = pip_settings()
    # An index's pages link to files beside it (here ../../files/...): mount the folder that holds both.
    folders = dict.fromkeys([*(index.parent for index in indexes), *flat])
    args = []
    for path in [*folders, *files, *([CA_BUNDLE] if Path(CA_BUNDLE).is_file() else [])]:
        args += ["-v", f"{path}:{path}:ro"]
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            args += ["-e", f"{name}={value}"]
    return args


def shared_mount():
    """shared/ beside the clone, read-only, as CI has it (the MNIST rebuild test reads the public pickle there)."""
    shared = ROOT.parent / "shared"
    return ["-v", f"{shared}:{Path(HOME).parent / 'shared'}:ro"] if shared.is_dir() else []


def container_script(app_command, test_command, runs, pytest_args, app_port):
    """What runs in the container: the app until healthy, then the tests `runs` times; exits with the last
    failure."""
    tests = f"{test_command} --ignore=tests/system/test_docker.py {shlex.join(pytest_args)}"
    return f"""
set -u
cd {HOME}
began=$(date +%s)
echo "[fresh_machine] 1. {app_command}"
STREAMLIT_SERVER_PORT={app_port} setsid bash -c {shlex.quote(app_command)} > {LOGS_IN}/app.log 2>&1 &
app=$!
health="import urllib.request as u; assert u.urlopen('http://127.0.0.1:{app_port}/_stcore/health').read() == b'ok'"
until python3 -c "$health" 2>/dev/null; do
  if ! kill -0 $app 2>/dev/null || [ $(( $(date +%s) - began )) -gt 1200 ]; then
    echo "[fresh_machine] the app's command ended, or did not serve within 20 min:"; tail -30 {LOGS_IN}/app.log; exit 1
  fi
  sleep 2
done
echo "[fresh_machine] installed and serving after $(( $(date +%s) - began )) s"
kill -- -$app; sleep 1
# The PostgreSQL that test.sh installs takes a free port: this machine's own may hold 5432 on the shared loopback.
mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
failed=0
for i in $(seq {runs}); do
  began=$(date +%s)
  echo "[fresh_machine] 2. run $i of {runs}: {tests}"
  {tests} > {LOGS_IN}/tests-$i.log 2>&1; rc=$?
  grep -E '^(FAILED|ERROR) ' {LOGS_IN}/tests-$i.log | head -40
  echo "[fresh_machine] run $i: exit $rc after $(( $(date +%s) - began )) s: $(tail -n 1 {LOGS_IN}/tests-$i.log)"
  [ $rc = 0 ] || failed=$rc
done
exit $failed
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="how many times in a row to run the test command")
    args, pytest_args = parser.parse_known_args(argv)
    import_bookworm(IMAGE, PACKAGES)
    LOGS.mkdir(exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    app_command, test_command = readme_commands()
    with tempfile.TemporaryDirectory(prefix="digitviz-fresh-") as tmp:
        clone = Path(tmp) / "digitviz"
        print(f"[fresh_machine] a fresh clone of {fresh_clone(clone)}", flush=True)
        script = container_script(app_command, test_command, args.runs, pytest_args, free_port())
        started = time.monotonic()
        # --shm-size: Chromium's shared memory; --network host: the package registries are reached from here only
        done = subprocess.run([CLI, "run", "--rm", "--network", "host", "--shm-size", "2g",
                               "-e", "CI=true", "-e", f"DIGITVIZ_TEST_POSTGRES_PORT={free_port()}",
                               *pip_mounts(), *shared_mount(), "-v", f"{clone}:{HOME}", "-v", f"{LOGS}:{LOGS_IN}",
                               IMAGE, "bash", "-c", script], check=False)
        print(f"[fresh_machine] {'passed' if done.returncode == 0 else 'FAILED'}: "
              f"{(time.monotonic() - started) / 60:.1f} min in all; the logs are in {LOGS}", flush=True)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
