"""Docker for the deploy tests (tests/system/test_docker.py) and the rehearsal of a new machine
(scripts/fresh_machine.sh): Debian's engine and CLI, base images made with debootstrap, this machine's pip.

Only the standard library: the rehearsal runs before any virtualenv exists.
"""
import configparser
import os
import subprocess
import tempfile
import time
from pathlib import Path

from tools import ROOT

# Debian's docker.io CLI, which scripts/start_docker.sh installs: it has BuildKit built in (build secrets). A new
# machine's own newer CLI (/usr/local/bin/docker, first on PATH) has no buildx plugin, so `docker` alone would pick
# the one that fails. Named by path, not looked up: before start() it may not exist yet, and that is fine.
CLI = "/usr/bin/docker"
# Where pip's settings live on a machine of this kind (and a user's own); what they name is what pip may read.
PIP_CONFIGS = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", str(Path.home() / ".config/pip/pip.conf"),
               str(Path.home() / ".pip/pip.conf"))


def log(*parts):
    print("[docker]", *parts, flush=True)


def run(*cmd, timeout=600, env=None, check=True, **kwargs):
    """Run a command; its output on failure, in the assertion message."""
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
    if check and done.returncode:
        raise AssertionError(f"`{' '.join(cmd)}` exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def docker(*args, **kwargs):
    return run(CLI, *args, **kwargs)


def start():
    """Install (first time) and start Docker with scripts/start_docker.sh; its output. Raises if it can't."""
    return run("bash", str(ROOT / "scripts" / "start_docker.sh"), timeout=900).stdout.strip()


def image_exists(name):
    return docker("image", "inspect", name, check=False).returncode == 0


def import_bookworm(name, packages):
    """Image `name` from debootstrap's minimal Debian bookworm with `packages`, unless it exists already."""
    if image_exists(name):
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="digitviz-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run("debootstrap", "--variant=minbase", "--include=" + ",".join(packages), "bookworm", str(rootfs),
            timeout=900)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([CLI, "import", "-", name], stdin=tar.stdout, capture_output=True, text=True,
                                  timeout=600, check=False)
        tar.stdout.close()
        assert tar.wait() == 0 and imported.returncode == 0, imported.stderr
    log(f"{name}: debootstrap and import took {time.monotonic() - started:.0f} s")


def pip_settings():
    """pip's file:// indexes and find-links on this machine, from its config files and PIP_* variables:
    ([index dirs], [flat dirs], [config files and the constraint files they name])."""
    configs = [p for p in (*PIP_CONFIGS, os.environ.get("PIP_CONFIG_FILE", "")) if p and Path(p).is_file()]
    config = configparser.ConfigParser()
    config.read(configs)
    values = {key: [] for key in ("index-url", "extra-index-url", "find-links", "constraint")}
    for section in ("global", "install"):
        for key in values:
            values[key] += config.get(section, key, fallback="").split()
    for key in values:
        values[key] += os.environ.get("PIP_" + key.upper().replace("-", "_"), "").split()

    def folder(url):
        path = Path(url.removeprefix("file://"))
        return path if not url.startswith(("http:", "https:")) and path.is_dir() else None

    indexes = [f for u in values["index-url"] + values["extra-index-url"] if (f := folder(u))]
    flat = [f for u in values["find-links"] if (f := folder(u))]
    files = configs + [c for c in values["constraint"] if Path(c).is_file()]
    return list(dict.fromkeys(indexes)), list(dict.fromkeys(flat)), files
