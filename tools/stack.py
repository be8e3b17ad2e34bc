"""Several digitviz servers behind nginx, on one machine: what a lecture-hall deployment has, on 127.0.0.1.

    with Stack(2) as stack:     # PostgreSQL (a fresh schema), two replicas, nginx in front
        stack.url, stack.addrs, stack.board_url, stack.passphrase

- PostgreSQL for the class board, through `scripts/start_postgres.sh` (left running: the tests share it);
  each Stack's posts go to a schema of its own, dropped at the end;
- N Streamlit servers, each with DIGITVIZ_BOARD_URL and DIGITVIZ_BOARD_PASSPHRASE in its environment;
- nginx in front of them, from deploy/nginx.conf.template, with session affinity by a cookie nginx
  sets itself (`digitviz_route`), its pid, logs and temp files in a temporary folder.

tools/replicas.py checks such a layout (tests/system/test_replicas.py runs the checks against this one);
scripts/replicas.py brings it up from the command line and writes deploy/nginx.compose.conf.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tools import ROOT
from tools.server import free_port, healthy, production_env, streamlit_command

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
COMPOSE_CONF = ROOT / "deploy" / "nginx.compose.conf"


class SetupError(RuntimeError):
    """PostgreSQL, a replica or nginx could not be started: nothing was checked."""


# ---------------------------------------------------------------------------------------------- nginx config

def render_nginx_conf(listen, servers, pid, error_log, access_log, temp):
    """deploy/nginx.conf.template with its placeholders filled in; `servers` are "host:port" strings."""
    text = TEMPLATE.read_text()
    values = {"LISTEN": listen, "SERVERS": "\n".join(f"        server {s};" for s in servers), "PID": pid,
              "ERROR_LOG": error_log, "ACCESS_LOG": access_log, "TEMP": temp}
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", str(value))
    left = re.findall(r"@@\w+@@", text)
    if left:
        raise ValueError(f"unfilled placeholders in {TEMPLATE}: {left}")
    return text


def compose_nginx_conf():
    """The config for compose.yaml's proxy (nginx:stable): replicas app1 and app2 on 8501, logs to docker."""
    body = render_nginx_conf(listen="80", servers=["app1:8501", "app2:8501"], pid="/tmp/nginx.pid",
                             error_log="/dev/stderr", access_log="/dev/stdout", temp="/var/cache/nginx")
    header = ("# GENERATED from deploy/nginx.conf.template by `python scripts/replicas.py --write-compose-conf`;\n"
              "# edit the template, not this file. compose.yaml mounts it as the proxy's /etc/nginx/nginx.conf.\n")
    return header + body


def nginx_binary():
    """nginx's path, installing Debian's package first when it is missing (as root) without starting it."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"  # root's PATH has /usr/sbin; not every user's does
    if os.access(found, os.X_OK):
        return found
    if os.geteuid() != 0:
        raise SetupError("nginx is not installed, and installing it needs root: sudo apt-get install -y nginx")
    # The package's postinst starts the system-wide nginx on port 80; a policy-rc.d that says no stops that.
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\n# written by digitviz tools/stack.py while it installs nginx\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SetupError(f"`{' '.join(cmd)}` failed:\n{done.stdout}{done.stderr}")
    finally:
        if ours:
            policy.unlink()
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        raise SetupError("nginx is still missing after apt-get install nginx")
    return found


# ---------------------------------------------------------------------------------------------- processes

def stop_process(proc, group=False):
    """SIGTERM, then SIGKILL after 10 s; `group`: the process leads a group of its own (nginx and its workers)."""
    if proc is None or proc.poll() is not None:
        return
    signal_it = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    try:
        signal_it(signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def postgres_url(given=None):
    """The given URL, else the one `scripts/start_postgres.sh` prints (it installs and starts PostgreSQL)."""
    if given:
        return given
    if os.geteuid() != 0:
        raise SetupError("scripts/start_postgres.sh installs and starts PostgreSQL, so it needs root "
                         "(or pass --postgres-url)")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "start_postgres.sh")], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SetupError(f"scripts/start_postgres.sh failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return lines[-1].strip()


@dataclass
class Replica:
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """PostgreSQL (a fresh schema), N replicas and nginx; `with Stack(2) as stack:` stops what it started."""
    replicas_wanted: int = 2
    passphrase: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    pg_url: str | None = None
    log: object = print
    timeout: float = 90
    board_url: str = ""
    schema: str = ""
    url: str = ""
    replicas: list = field(default_factory=list)
    nginx: subprocess.Popen | None = None
    tmp: Path | None = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        import sqlalchemy as sa

        self.tmp = Path(tempfile.mkdtemp(prefix="digitviz-replicas-"))
        self.tmp.chmod(0o755)  # nginx's workers run as nobody and must reach their temp folders in here
        nginx = nginx_binary()
        self.pg_url = postgres_url(self.pg_url)
        self.schema = f"digitviz_replicas_{uuid.uuid4().hex[:10]}"
        try:
            admin = sa.create_engine(self.pg_url)
            with admin.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA {self.schema}"))
            admin.dispose()
        except Exception as e:
            raise SetupError(f"PostgreSQL at {sa.make_url(self.pg_url)!r} refused a new schema: {e}") from e
        self.board_url = (sa.make_url(self.pg_url).update_query_dict({"options": f"-csearch_path={self.schema}"})
                          .render_as_string(hide_password=False))
        self.log(f"PostgreSQL: {sa.make_url(self.pg_url)} (this run's schema: {self.schema})")
        self._start_replicas()
        self._start_nginx(nginx)

    def _start_replicas(self):
        env = {**production_env(), "PYTHONUNBUFFERED": "1", "DIGITVIZ_BOARD_URL": self.board_url,
               "DIGITVIZ_BOARD_PASSPHRASE": self.passphrase}
        pending = list(range(self.replicas_wanted))
        for attempt in range(3):
            started = []
            for i in pending:
                port = free_port()
                data_dir = self.tmp / f"replica-{i + 1}"
                data_dir.mkdir(exist_ok=True)
                log_path = self.tmp / f"replica-{i + 1}-{attempt}.log"
                with open(log_path, "w") as log:
                    proc = subprocess.Popen(streamlit_command(port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            env={**env, "DIGITVIZ_DATA_DIR": str(data_dir)})
                started.append((i, Replica(port, proc, log_path)))
            deadline = time.monotonic() + self.timeout
            waiting = dict(started)
            while waiting and time.monotonic() < deadline:
                for i, r in list(waiting.items()):
                    if r.proc.poll() is not None or healthy(f"http://{r.addr}"):
                        del waiting[i]
                time.sleep(0.2)
            pending = []
            for i, r in started:
                if r.proc.poll() is None and healthy(f"http://{r.addr}"):
                    self.replicas.append(r)
                    continue
                stop_process(r.proc)
                if "is not available" in r.log_tail() and attempt < 2:
                    pending.append(i)  # another process took the port between free_port() and the bind
                    continue
                why = f"exited with code {r.proc.returncode}" if r.proc.returncode is not None else "not healthy"
                raise SetupError(f"replica {i + 1} on {r.addr} {why} within {self.timeout:.0f} s. Its log:\n"
                                 f"{r.log_tail()}")
            if not pending:
                break
        self.replicas.sort(key=lambda r: r.port)
        for n, r in enumerate(self.replicas, 1):
            self.log(f"replica {n}: http://{r.addr} (pid {r.proc.pid})")

    def _start_nginx(self, nginx):
        for attempt in range(3):
            port = free_port()
            conf = self.tmp / "nginx.conf"
            error_log = self.tmp / "nginx-error.log"
            (self.tmp / "nginx-temp").mkdir(exist_ok=True)
            conf.write_text(render_nginx_conf(
                listen=f"127.0.0.1:{port}", servers=[r.addr for r in self.replicas], pid=self.tmp / "nginx.pid",
                error_log=error_log, access_log=self.tmp / "nginx-access.log", temp=self.tmp / "nginx-temp"))
            cmd = [nginx, "-p", str(self.tmp), "-c", str(conf), "-e", str(error_log)]
            tested = subprocess.run([*cmd, "-t", "-q"], capture_output=True, text=True)
            if tested.returncode:
                raise SetupError(f"nginx -t rejects {conf}:\n{tested.stdout}{tested.stderr}")
            self.nginx = subprocess.Popen([*cmd, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.nginx.poll() is None and not healthy(self.url):
                time.sleep(0.1)
            if self.nginx.poll() is None and healthy(self.url):
                version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
                self.log(f"nginx: {self.url} ({version.split(': ')[-1]}, pid {self.nginx.pid}, "
                         f"config {conf})")
                return
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            stop_process(self.nginx, group=True)
            self.nginx = None
            if "Address already in use" in log and attempt < 2:
                continue
            raise SetupError(f"nginx did not answer on {self.url} within 20 s. Its error log:\n{log}")

    def stop(self):
        """Stop nginx and the replicas, drop this run's schema; PostgreSQL keeps running."""
        stop_process(self.nginx, group=True)
        for r in self.replicas:
            stop_process(r.proc)
        if self.schema and self.pg_url:
            import sqlalchemy as sa
            try:
                admin = sa.create_engine(self.pg_url)
                with admin.begin() as conn:
                    conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
                admin.dispose()
            except Exception as e:  # a report, not a crash: the checks' outcome stands
                self.log(f"warning: could not drop schema {self.schema}: {e}")
            self.schema = ""
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    @property
    def addrs(self):
        """The replicas as nginx's X-Digitviz-Replica header names them: "127.0.0.1:PORT"."""
        return [r.addr for r in self.replicas]

    def replica_logs(self):
        return "\n".join(f"--- replica {n} ({r.addr}) log, last lines:\n{r.log_tail()}"
                         for n, r in enumerate(self.replicas, 1))
