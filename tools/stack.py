"""Several digitviz servers behind nginx, on one machine, and a check that the layout works.

    .venv/bin/python scripts/replicas.py --replicas 2 --students 6

It starts (and afterwards stops) everything a lecture-hall deployment has, all on 127.0.0.1:

- PostgreSQL for the class board, through `scripts/start_postgres.sh` (left running: the tests share it);
  this run's posts go to a schema of their own, dropped at the end;
- N Streamlit servers, each with DIGITVIZ_BOARD_URL and DIGITVIZ_BOARD_PASSPHRASE in its environment;
- nginx in front of them, from deploy/nginx.conf.template, with session affinity by a cookie nginx
  sets itself (`digitviz_route`), its pid, logs and temp files in a temporary folder.

Then simulated students (benchmarks/student.py, each with a cookie jar of its own, as a browser has)
go through nginx, and it checks:

(a) affinity: every request of one student (the page, a static file, /_stcore/health, the websocket
    upgrade to /_stcore/stream, an upload to /_stcore/upload_file/<session>/...) reaches one replica,
    as nginx's X-Digitviz-Replica response header says; an upload routed to another replica is
    refused there, which is why the affinity is needed;
(b) spread: new students (no cookie) land on every replica;
(c) the class board is shared: a student on one replica trains and posts, a student on another
    replica sees the post in the board's table, and it is in PostgreSQL;
(d) the teacher's passphrase from the environment: refused when wrong, and the right one, typed on
    another replica, clears the shared board.

It prints a report and exits 1 if any check failed (2 if the layout could not be started).
tests/test_replicas.py runs the same checks. `--write-compose-conf` rewrites deploy/nginx.compose.conf
from the template, for compose.yaml.
"""
from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402
from student import XSRF_COOKIE, Student, StudentError, production_env, run_async  # noqa: E402

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
COMPOSE_CONF = ROOT / "deploy" / "nginx.compose.conf"
ROUTE_COOKIE = "digitviz_route"
REPLICA_HEADER = "X-Digitviz-Replica"
UPLOAD_LIMIT = 10 * 1024 * 1024  # server.maxUploadSize in .streamlit/config.toml, in bytes
QUERY = "epochs=2&panel=board"  # a short run, with the class board open: the checks are about the layout
MAX_STUDENTS = 30  # (b) keeps adding new students until every replica served one, at most this many


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
        policy.write_text("#!/bin/sh\n# written by digitviz scripts/replicas.py while it installs nginx\nexit 101\n")
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

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, headers=None, method="GET", data=None, opener=None, timeout=30):
    """(status, headers, body) of one request; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def healthy(url):
    try:
        return request(f"{url}/_stcore/health", timeout=2)[2].strip() == b"ok"
    except OSError:
        return False


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
                cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                       "--server.address", "127.0.0.1", "--server.headless", "true",
                       "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
                with open(log_path, "w") as log:
                    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
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

    def replica_logs(self):
        return "\n".join(f"--- replica {n} ({r.addr}) log, last lines:\n{r.log_tail()}"
                         for n, r in enumerate(self.replicas, 1))


# ---------------------------------------------------------------------------------------------- the students

class RoutedStudent(Student):
    """A Student with a browser's cookie jar, so nginx's route cookie (and the XSRF cookie) come back on
    every request, as they do from a browser. `route` starts it with a given route cookie (to put it on a
    chosen replica); `seen` lists (what, status, replica, route cookie set by the response) for each response."""

    def __init__(self, url, query="", name=None, route=None):
        super().__init__(url, query=query, name=name)
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.seen = []
        self.session_id = None
        self.asset = None
        self.ws_status = None
        if route:
            self.jar.set_cookie(_cookie(ROUTE_COOKIE, route, urlsplit_host(url)))

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def _note(self, what, status, headers):
        routes = [m.group(1) for h in (headers.get_all("Set-Cookie") or [])
                  if (m := re.match(rf"\s*{ROUTE_COOKIE}=([^;]*)", h))]
        self.seen.append((what, status, headers.get(REPLICA_HEADER), routes[0] if routes else None))

    def get(self, path, what):
        status, headers, body = request(f"{self.url}{path}", opener=self.opener)
        self._note(what, status, headers)
        return status, body

    async def connect(self, timeout=120):
        """As Student.connect, with the cookie jar: the page, one of its static files, the health check,
        the websocket; then the first script run."""
        loop = asyncio.get_running_loop()
        _, body = await loop.run_in_executor(None, self.get, "/" + (f"?{self.query}" if self.query else ""), "page")
        assets = re.findall(rb'src="\.?/?(static/[^"]+\.js)"', body)
        if assets:
            self.asset = "/" + assets[0].decode()
            await loop.run_in_executor(None, self.get, self.asset, "static")
        _, body = await loop.run_in_executor(None, self.get, "/_stcore/health", "health")
        if body.strip() != b"ok":
            raise StudentError(f"{self.name}: the server is not healthy: {body[:100]!r}")
        token = self.cookie(XSRF_COOKIE)
        protocols = ["streamlit"] + ([token] if token else [])
        self.ws = await websockets.connect(self.ws_url, subprotocols=protocols,
                                           additional_headers={"Cookie": self.cookie_header()}, origin=self.url,
                                           max_size=None, open_timeout=timeout, compression=None)
        self.ws_status = self.ws.response.status_code
        self._note("websocket", self.ws_status, self.ws.response.headers)
        self.connected_at = time.perf_counter()
        self._reader = asyncio.create_task(self._read(), name=f"student-{self.name}")
        await self.rerun()
        await self.wait_until_finished(timeout)
        return self

    def _handle(self, data):
        super()._handle(data)
        if self.session_id is None:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            if msg.WhichOneof("type") == "new_session":
                self.session_id = msg.new_session.initialize.session_id

    def upload(self, size, cookie=None, what="upload", xsrf=True):
        """PUT a file of `size` bytes to this session's upload endpoint, as st.file_uploader does:
        (status, replica, body). `cookie` replaces the jar's cookies (to send it elsewhere); `xsrf=False`
        leaves out the X-Xsrftoken header that the browser copies from the XSRF cookie."""
        boundary = uuid.uuid4().hex
        data = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="digit.png"\r\n'
                f"Content-Type: image/png\r\n\r\n").encode() + os.urandom(size) + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": self.url}
        if xsrf:
            headers["X-Xsrftoken"] = self.cookie(XSRF_COOKIE) or ""
        url = f"{self.url}/_stcore/upload_file/{self.session_id}/{uuid.uuid4().hex}"
        if cookie is not None:
            status, headers_back, body = request(url, {**headers, "Cookie": cookie}, "PUT", data)
        else:
            status, headers_back, body = request(url, headers, "PUT", data, opener=self.opener)
            self._note(what, status, headers_back)
        return status, headers_back.get(REPLICA_HEADER), body

    def replicas(self):
        return {replica for _, _, replica, _ in self.seen}

    def tables(self):
        """Every st.dataframe on the page, as a list of row dicts each."""
        import pyarrow as pa
        out = []
        for path in sorted(self.elements):
            element = self.elements[path]
            if element.WhichOneof("type") == "dataframe" and element.dataframe.arrow_data.data:
                out.append(pa.ipc.open_stream(element.dataframe.arrow_data.data).read_all().to_pylist())
        return out

    def board_names(self):
        return {row.get("name") for table in self.tables() for row in table if "name" in row}

    async def submit(self, values, button):
        """Type `values` ({widget key: text}) and press `button`, in one rerun, as a browser sends them."""
        states = []
        for key, text in values.items():
            widget = self.widget(key)
            if widget is None:
                raise StudentError(f"{self.name}: no widget {key!r} on the page")
            states.append(WidgetState(id=widget.id, string_value=text))
        pressed = self.button(button)
        if pressed is None:
            raise StudentError(f"{self.name}: no button {button!r} on the page")
        states.append(WidgetState(id=pressed.id, trigger_value=True))
        await self.rerun(states)
        await self.wait_until_finished(60)


def urlsplit_host(url):
    return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def _cookie(name, value, host):
    return http.cookiejar.Cookie(0, name, value, None, False, host, False, False, "/", True, False, None, False,
                                 None, None, {})


def routes_by_replica(url, replicas, tries=200):
    """{replica addr: a route cookie value that nginx sends there}, by asking nginx with random routes."""
    found = {}
    for _ in range(tries):
        route = secrets.token_hex(16)
        _, headers, _ = request(f"{url}/_stcore/health", {"Cookie": f"{ROUTE_COOKIE}={route}"})
        echoed = [h for h in headers.get_all("Set-Cookie") or [] if h.startswith(f"{ROUTE_COOKIE}={route};")]
        if echoed:
            found.setdefault(headers.get(REPLICA_HEADER), route)
        if len(found) == len(replicas):
            break
    return found


# ---------------------------------------------------------------------------------------------- the checks

class Report:
    def __init__(self, log=print):
        self.log = log
        self.results = []  # (name, ok, detail)

    def check(self, name, ok, detail=""):
        self.results.append((name, bool(ok), detail))
        self.log(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""))
        return ok

    @property
    def failed(self):
        return [r for r in self.results if not r[1]]

    def summary(self):
        if self.failed:
            return f"FAILED: {len(self.failed)} of {len(self.results)} checks: " + "; ".join(n for n, _, _ in self.failed)
        return f"OK: all {len(self.results)} checks passed"


async def visit(url, n, at_the_limit=False):
    """One new student (no cookies): load the page through nginx, upload a small file (and, if asked, one of
    exactly server.maxUploadSize), leave. Uploads need the session open: the replica drops it on disconnect."""
    student = RoutedStudent(url, query=QUERY, name=f"student {n}")
    loop = asyncio.get_running_loop()
    try:
        await student.connect(timeout=120)
        await loop.run_in_executor(None, student.upload, 64 * 1024)
        if at_the_limit:
            await loop.run_in_executor(None, lambda: student.upload(1024, what="upload without XSRF token",
                                                                    xsrf=False))
            # Streamlit counts the whole multipart body against the limit, not just the file.
            await loop.run_in_executor(None, student.upload, UPLOAD_LIMIT - 1024, None, "upload under the limit")
            await loop.run_in_executor(None, student.upload, UPLOAD_LIMIT, None, "upload over the limit")
    finally:
        await student.close()
    return student


def describe(student):
    replicas = sorted(r or "none" for r in student.replicas())
    route = student.cookie(ROUTE_COOKIE) or "none"
    steps = ", ".join(f"{what} {status}" for what, status, _, _ in student.seen)
    return f"{student.name}: {' + '.join(replicas)} for {steps} (route {route[:8]}...)"


def check_affinity(report, stack, students, routes):
    """(a) and (b): new students through nginx, each on one replica for all it does, over every replica."""
    report.log(f"(a) affinity: {students} new students through nginx, each with its own cookie jar")
    seen, failures, n = [], [], 0

    async def batch(count):
        nonlocal n
        first = n + 1
        n += count
        return await asyncio.gather(*(visit(stack.url, i, at_the_limit=i == 1) for i in range(first, first + count)),
                                    return_exceptions=True)

    for student in run_async(batch(students)):
        if isinstance(student, BaseException):
            failures.append(f"a student failed: {student!r}")
            continue
        seen.append(student)
        report.log("    " + describe(student))
    for student in seen:
        statuses = {what: status for what, status, _, _ in student.seen}
        routes_set = {route for _, _, _, route in student.seen}
        first_route = student.seen[0][3] if student.seen else None
        problems = []
        if len(student.replicas()) != 1 or None in student.replicas():
            problems.append(f"served by {sorted(map(str, student.replicas()))}")
        if any("," in (r or "") for r in student.replicas()):
            problems.append("nginx retried on another replica")
        if not first_route or routes_set != {first_route}:
            problems.append(f"route cookies set: {routes_set}")
        expected = {"page": 200, "static": 200, "health": 200, "websocket": 101, "upload": 204}
        wrong = {k: statuses.get(k) for k, v in expected.items() if statuses.get(k) != v}
        if wrong:
            problems.append(f"statuses {wrong} (expected {expected})")
        if problems:
            failures.append(f"{student.name}: " + "; ".join(problems))
    report.check("every student stayed on one replica for page, static file, health, websocket 101 and upload, "
                 "with the route cookie from its first response", seen and not failures,
                 "; ".join(failures) or f"{len(seen)} students")

    # Why the affinity matters: the same session's upload, routed to another replica, is refused there.
    other = next((s for s in seen if s.session_id), None)
    if other is not None and len(routes) > 1:
        own = next(iter(other.replicas()))
        elsewhere = next(r for r in routes if r != own)
        cookie = f"{XSRF_COOKIE}={other.cookie(XSRF_COOKIE)}; {ROUTE_COOKIE}={routes[elsewhere]}"
        status, replica, body = other.upload(1024, cookie=cookie)
        report.check("an upload for a session, routed to another replica, is refused there (why affinity is "
                     "needed)", status == 400 and replica == elsewhere and b"sticky" in body,
                     f"{status} from {replica}: {body[:90].decode(errors='replace')}...")
    # nginx's client_max_body_size lets through whatever Streamlit's server.maxUploadSize (10 MB) allows.
    got = [(s.name, status, replica) for s in seen for w, status, replica, _ in s.seen
           if w == "upload without XSRF token"]
    report.check("XSRF protection is on behind nginx: an upload without the X-Xsrftoken header is refused",
                 [(status, replica is not None) for _, status, replica in got] == [(403, True)],
                 "; ".join(f"{n}: {s} from {r or 'nginx'}" for n, s, r in got) or "not tried")
    for what, expected in (("upload under the limit", 204), ("upload over the limit", 413)):
        got = [(s.name, status, replica) for s in seen for w, status, replica, _ in s.seen if w == what]
        report.check(f"an {what} (10 MB, server.maxUploadSize) gets {expected} from the replica itself, not nginx",
                     [(status, replica is not None) for _, status, replica in got] == [(expected, True)],
                     "; ".join(f"{n}: {s} from {r or 'nginx'}" for n, s, r in got) or "not tried")

    report.log("(b) spread: new students land on every replica")
    counts = {r.addr: 0 for r in stack.replicas}
    for student in seen:
        for r in student.replicas():
            counts[r] = counts.get(r, 0) + 1
    while any(v == 0 for v in counts.values()) and n < MAX_STUDENTS:
        for student in run_async(batch(min(4, MAX_STUDENTS - n))):
            if not isinstance(student, BaseException):
                for r in student.replicas():
                    counts[r] = counts.get(r, 0) + 1
    report.check(f"new students reached all {len(stack.replicas)} replicas", all(counts.values()),
                 ", ".join(f"{addr}: {c}" for addr, c in counts.items()) + f" ({n} students)")


async def board_check(report, stack, routes):
    """(c) and (d): post on one replica, see it on another; the teacher clears it from another replica."""
    from digitviz.board import Board

    first, second = stack.replicas[0].addr, stack.replicas[1].addr
    name = f"replicas-{secrets.token_hex(4)}"
    report.log(f"(c) shared board: {name!r} trains and posts on {first}, a classmate on {second} looks")
    poster = RoutedStudent(stack.url, query=QUERY, name="poster", route=routes[first])
    looker = RoutedStudent(stack.url, query=QUERY, name="looker", route=routes[second])
    board = Board(stack.board_url)
    try:
        await looker.connect()
        await poster.connect()
        report.check("the two students are on different replicas",
                     poster.replicas() == {first} and looker.replicas() == {second},
                     f"poster on {sorted(map(str, poster.replicas()))}, looker on {sorted(map(str, looker.replicas()))}")
        before = name in looker.board_names()
        await poster.click("train")
        await poster.wait_until_finished(120)
        await poster.submit({"board_name": name}, "post")
        texts = poster.texts()
        report.check("the poster's replica accepted the post", "Posted: your run is on the board." in texts,
                     next((t for t in texts if "board" in t.lower() or "post" in t.lower()), "no message"))
        stored = [p for p in board.newest() if p.name == name]
        report.check("the post is in PostgreSQL", stored and stored[0].epochs == 2,
                     f"{len(stored)} post(s) named {name!r} in schema {stack.schema}" +
                     (f", {stored[0].epochs} epochs, accuracy {stored[0].accuracy:.2%}" if stored else ""))
        await looker.rerun()
        await looker.wait_until_finished(60)
        report.check("the classmate on the other replica sees it in the board's table",
                     not before and name in looker.board_names(),
                     f"before the post: {'shown' if before else 'not shown'}; after: "
                     f"{sorted(n for n in looker.board_names() if n)}")

        report.log(f"(d) teacher passphrase (DIGITVIZ_BOARD_PASSPHRASE), typed on {second}")
        await looker.submit({"board_passphrase": "not the passphrase"}, "clear-board")
        refused = "Wrong passphrase: the board was not cleared." in looker.texts()
        report.check("a wrong passphrase is refused", refused and board.newest(),
                     f"{len(board.newest())} post(s) still on the board")
        await looker.submit({"board_passphrase": stack.passphrase}, "clear-board")
        cleared = [t for t in looker.texts() if t.startswith("Cleared")]
        report.check("the right one clears the shared board, the other replica's post included",
                     cleared == ["Cleared 1 posts."] and not board.newest(),
                     f"{cleared}, {len(board.newest())} post(s) left")
    finally:
        await poster.close()
        await looker.close()
        board.engine.dispose()


async def named_host_websocket(url, host="lecture.example"):
    """The websocket upgrade as a browser on http://HOST:PORT/ sends it (Origin and Host with the port):
    Streamlit refuses an Origin that matches neither Host nor its own addresses, so nginx must pass the
    Host header with its port ($http_host; $host drops it). Returns (status, replica)."""
    port = int(url.rsplit(":", 1)[1])
    try:
        ws = await websockets.connect(f"ws://{host}:{port}/_stcore/stream", host="127.0.0.1", port=port,
                                      origin=f"http://{host}:{port}", subprotocols=["streamlit"], open_timeout=30)
    except websockets.InvalidStatus as e:
        return e.response.status_code, e.response.headers.get(REPLICA_HEADER)
    status, replica = ws.response.status_code, ws.response.headers.get(REPLICA_HEADER)
    await ws.close()
    return status, replica


def run_checks(replicas=2, students=6, pg_url=None, log=print):
    """Start the layout, run every check, stop it; returns the Report. SetupError if it can't start."""
    if replicas < 2:
        raise ValueError("the checks need at least 2 replicas")
    report = Report(log)
    log(f"digitviz behind nginx: {replicas} replicas, {students} students")
    with Stack(replicas, pg_url=pg_url, log=log) as stack:
        routes = routes_by_replica(stack.url, stack.replicas)
        report.check("nginx keeps a route cookie it was sent, and some route reaches every replica",
                     len(routes) == replicas and set(routes) == {r.addr for r in stack.replicas},
                     ", ".join(f"{addr} <- {route[:8]}..." for addr, route in routes.items()))
        status, replica = run_async(named_host_websocket(stack.url))
        report.check("a browser on a named host (Origin http://lecture.example:PORT) gets its websocket",
                     status == 101 and replica, f"{status} from {replica}")
        if len(routes) == replicas:
            try:
                check_affinity(report, stack, students, routes)
                run_async(board_check(report, stack, routes))
            except Exception as e:  # a check that crashed is a failed check, reported like the others
                report.check("the simulated students got through", False,
                             "".join(traceback.format_exception(e)).strip())
        if report.failed:
            log(stack.replica_logs())
    log(report.summary())
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2, help="Streamlit servers behind nginx (at least 2)")
    parser.add_argument("--students", type=int, default=6, help="new students for the affinity check")
    parser.add_argument("--postgres-url", help="use this PostgreSQL instead of scripts/start_postgres.sh's")
    parser.add_argument("--write-compose-conf", action="store_true",
                        help=f"rewrite {COMPOSE_CONF.relative_to(ROOT)} from the template and exit")
    args = parser.parse_args(argv)
    if args.write_compose_conf:
        COMPOSE_CONF.write_text(compose_nginx_conf())
        print(f"wrote {COMPOSE_CONF.relative_to(ROOT)}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops what was started
    try:
        report = run_checks(args.replicas, args.students, pg_url=args.postgres_url)
    except SetupError as e:
        print(f"could not start the layout: {e}", file=sys.stderr)
        return 2
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
