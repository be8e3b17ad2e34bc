"""The deploy path, built and run for real (issue 15): the Dockerfile's image, then compose.yaml's stack.

    bash scripts/test.sh -k docker

As root, scripts/start_docker.sh installs Debian's docker.io, docker-compose and debootstrap and starts
dockerd (left running). No image registry is reachable here, so the official base images are replaced by
images made from Debian's packages, through the build arguments and variables that the real files declare:

- `digitviz-test/python:bookworm` for python:3.11-slim: debootstrap's minimal bookworm with python3 (3.11),
  its venv module, pip and CA certificates, imported with `docker import`;
- `digitviz-test/nginx` and `digitviz-test/postgres` for nginx:stable and postgres:15, from
  tests/system/standins/ (Debian's nginx and postgresql-15 on that base).

The app's image is built from the real Dockerfile. pip inside the build reaches PyPI through the host's
network with the host's CA bundle as a build secret; the wheels this machine keeps on disk (pip's
find-links and file:// indexes, torch's multi-GB CUDA build among them) are served on loopback and listed
first, so the same versions come from disk rather than the internet. Docker's layer cache makes a second
run (a warm machine) rebuild nothing.

Without root the tests are skipped, except under CI, where nothing may be skipped.
"""
import asyncio
import functools
import http.server
import json
import os
import secrets
import threading
import time
import uuid
from pathlib import Path

import pytest
import websockets

from digitviz.board import Board
from digitviz.failover import MOVED_MESSAGE
from tools import ROOT, replicas
from tools.docker import CLI, docker, import_bookworm, pip_settings, run, start
from tools.server import free_port, healthy
from tools.student import XSRF_COOKIE, run_async, trace

STANDINS = Path(__file__).resolve().parent / "standins"

PYTHON_IMAGE = "digitviz-test/python:bookworm"
NGINX_IMAGE = "digitviz-test/nginx"
POSTGRES_IMAGE = "digitviz-test/postgres"
APP_IMAGE = "digitviz-test/app"
PROJECT_PREFIX = "digitvizdockertest"  # compose projects (containers, network, volume) named by these tests
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
QUERY = replicas.QUERY  # the class board alone; a 2-epoch run once a student leaves it for the training page
STUDENTS = 4  # new students for the affinity checks
PYPI = "https://pypi.org/simple"  # pip's default index, for what this machine has no copy of
WHEELS_PORT = 38457  # where this machine's wheels are served during the build


def log(*parts):
    print("[test_docker]", *parts, flush=True)


# ---------------------------------------------------------------------------------------------- images

@pytest.fixture(scope="module")
def docker_ready():
    """dockerd up (installed and started by scripts/start_docker.sh); stacks an earlier run left behind removed."""
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("needs root: it installs and starts Docker (scripts/start_docker.sh)")
    try:
        log(start())
    except AssertionError as e:
        pytest.fail(f"scripts/start_docker.sh failed: {e}", pytrace=False)
    for project in docker("ps", "-a", "--format", "{{.Label \"com.docker.compose.project\"}}").stdout.split():
        if project.startswith(PROJECT_PREFIX):
            compose(project, "down", "-v", "--remove-orphans", check=False)
    stale = docker("ps", "-aq", "--filter", f"label={PROJECT_PREFIX}").stdout.split()
    if stale:
        docker("rm", "-f", *stale)


def buildkit(*args, timeout=1800):
    """`docker build` with BuildKit (for the CA bundle as a secret) on the host's network (for loopback)."""
    return run(CLI, "build", "--network", "host", *args, timeout=timeout, env={**os.environ, "DOCKER_BUILDKIT": "1"})


@pytest.fixture(scope="module")
def standin_images(docker_ready):
    """The stand-ins for python:3.11-slim, nginx:stable and postgres:15 (kept between runs)."""
    import_bookworm(PYTHON_IMAGE, ["python3", "python3-venv", "python3-pip", "ca-certificates"])
    for name, dockerfile in ((NGINX_IMAGE, "nginx.Dockerfile"), (POSTGRES_IMAGE, "postgres.Dockerfile")):
        buildkit("-q", "--build-arg", f"BASE_IMAGE={PYTHON_IMAGE}", "-f", str(STANDINS / dockerfile),
                 "--label", PROJECT_PREFIX, "-t", name, str(STANDINS))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pip_build_args():
    """Build arguments that put this machine's own wheels first, served read-only on 127.0.0.1."""
    indexes, flat, _ = pip_settings()
    if not indexes and not flat:
        yield []  # plain PyPI, as a school's IT builds it
        return
    top = Path(os.path.commonpath([str(p) for p in indexes + flat]))
    handler = functools.partial(QuietHandler, directory=str(top))
    try:  # the same port each time: the URLs are build arguments, so a new port would miss Docker's cache
        server = http.server.ThreadingHTTPServer(("127.0.0.1", WHEELS_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}/{p.relative_to(top)}".rstrip("/.") + "/" for p in indexes]
    # pip takes the first of equal candidates: the index URL before the extra ones, so a local copy wins.
    args = ["--build-arg", f"PIP_INDEX_URL={urls[0] if urls else PYPI}",
            "--build-arg", "PIP_EXTRA_INDEX_URL=" + " ".join(urls[1:] + ([PYPI] if urls else [])),
            "--build-arg", "PIP_FIND_LINKS=" + " ".join(f"{base}/{p.relative_to(top)}/" for p in flat)]
    try:
        yield args
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def app_image(standin_images, pip_build_args):
    """The real Dockerfile built on the stand-in base; the figures for the README are logged."""
    secret = ["--secret", f"id=pip_cert,src={CA_BUNDLE}"] if Path(CA_BUNDLE).is_file() else []
    started = time.monotonic()
    buildkit("--progress=plain", "--build-arg", f"PYTHON_IMAGE={PYTHON_IMAGE}", *pip_build_args, *secret,
             "--label", PROJECT_PREFIX, "-t", APP_IMAGE, str(ROOT))
    # The image this one replaced, when the app changed: only its own layers, but a warm machine keeps no pile.
    docker("image", "prune", "-f", "--filter", f"label={PROJECT_PREFIX}")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", APP_IMAGE).stdout)
    log(f"{APP_IMAGE}: built in {time.monotonic() - started:.0f} s, {size / 1e9:.2f} GB")
    return APP_IMAGE


# ---------------------------------------------------------------------------------------------- one container

def wait_healthy(url, timeout=120):
    """Seconds until url's /_stcore/health answers ok."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if healthy(url):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{url}/_stcore/health did not answer ok within {timeout} s")


def container_health(container, timeout=120):
    """Docker's own verdict from the image's HEALTHCHECK, once it has one."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip()
        if status != "starting":
            return status
        time.sleep(1)
    return status


async def train_once(url, started, query="epochs=3"):
    """A student loads the page, presses Train and waits: (validation accuracy, the page's texts, exceptions)."""
    student = replicas.RoutedStudent(url, query=query, name="student")
    try:
        await student.connect(timeout=120)
        log(f"docker run to the first page drawn: {time.monotonic() - started:.1f} s")
        await student.click("train")
        await student.wait_until_finished(120)
        valid = trace(student.chart("Accuracy") or {}, "validation accuracy") or {}
        return valid, student.texts(), student.exceptions()
    finally:
        await student.close()


@pytest.fixture
def container(app_image):
    """The image run as a school would run it, its port on loopback only."""
    port = free_port()
    name = f"{PROJECT_PREFIX}-app-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    docker("run", "-d", "--name", name, "--label", PROJECT_PREFIX, "-p", f"127.0.0.1:{port}:8501", app_image)
    try:
        yield name, f"http://127.0.0.1:{port}", started
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.timeout(1800)
def test_docker_image_serves_the_page_and_trains(container):
    """Built from the Dockerfile: healthy, the page loads, a run trains over the websocket; non-root, lean."""
    name, url, started = container
    startup = wait_healthy(url)
    log(f"docker run to a healthy server: {time.monotonic() - started:.1f} s ({startup:.1f} s after `docker run`)")
    status, _, page = replicas.request(url + "/")
    assert status == 200 and b"<title>Streamlit</title>" in page
    valid, texts, exceptions = run_async(train_once(url, started))
    assert not exceptions, exceptions
    assert valid.get("x") == [1, 2, 3], f"the accuracy chart after Train: {valid}; texts: {texts}"
    assert valid["y"][-1] > 0.6, valid  # it learned: 3s against 7s, better than a coin
    assert container_health(name) == "healthy"  # the image's own HEALTHCHECK agrees
    assert docker("exec", name, "id", "-u").stdout.strip() == "10001"  # not root
    listing = docker("exec", name, "find", "/app", "-maxdepth", "2", "-not", "-path", "*/digitviz/*").stdout.split()
    assert sorted(listing) == ["/app", "/app/.streamlit", "/app/.streamlit/config.toml", "/app/digitviz",
                               "/app/page.py", "/app/requirements.txt", "/app/streamlit_app.py"]
    env = json.loads(docker("image", "inspect", "--format", "{{json .Config.Env}}", APP_IMAGE).stdout)
    assert not [e for e in env if e.split("=")[0] in ("DIGITVIZ_BOARD_URL", "DIGITVIZ_BOARD_PASSPHRASE", "PIP_CERT")]
    assert docker("exec", name, "test", "-e", "/run/secrets/pip_cert", check=False).returncode == 1


# ---------------------------------------------------------------------------------------------- compose

def compose(project, *args, env=None, check=True, timeout=600):
    return run("docker-compose", "-p", project, "-f", str(ROOT / "compose.yaml"), *args, env=env, check=check,
               timeout=timeout)


class ComposeStack:
    """compose.yaml's stack, seen as tools/stack.py's Stack: url (the proxy), addrs (each replica as nginx
    names it, the container's IP:8501), board_url (PostgreSQL on its container's IP), passphrase."""

    def __init__(self, image):
        self.project = f"{PROJECT_PREFIX}{uuid.uuid4().hex[:8]}"
        self.passphrase = secrets.token_urlsafe(12)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DIGITVIZ_IMAGE": image, "DIGITVIZ_POSTGRES_IMAGE": POSTGRES_IMAGE,
                    "DIGITVIZ_NGINX_IMAGE": NGINX_IMAGE, "DIGITVIZ_PORT": f"127.0.0.1:{self.port}",
                    "DIGITVIZ_BOARD_PASSPHRASE": self.passphrase, "DIGITVIZ_DB_PASSWORD": secrets.token_hex(8)}
        self.addrs, self.containers, self.board_url, self.up_seconds = [], {}, "", None

    def up(self):
        started = time.monotonic()
        compose(self.project, "up", "-d", "--no-build", env=self.env, timeout=600)
        wait_healthy(self.url)
        self.up_seconds = time.monotonic() - started
        for service in ("app1", "app2", "db"):
            container = compose(self.project, "ps", "-q", service, env=self.env).stdout.strip()
            self.containers[service] = container
        self.addrs = [f"{self.ip('app1')}:8501", f"{self.ip('app2')}:8501"]
        self.board_url = f"postgresql+psycopg://digitviz:{self.env['DIGITVIZ_DB_PASSWORD']}@{self.ip('db')}:5432/digitviz"
        return self

    def ip(self, service):
        return docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                      self.containers[service]).stdout.strip()

    def logs(self):
        return compose(self.project, "logs", "--no-color", "--tail", "40", env=self.env, check=False).stdout

    def down(self):
        compose(self.project, "down", "-v", "--remove-orphans", env=self.env, check=False)


@pytest.fixture(scope="module")
def stack(app_image, standin_images):
    """compose.yaml's stack, up for every test below, down (its volume too) afterwards."""
    stack = ComposeStack(app_image)
    try:
        yield stack.up()
    finally:
        stack.down()


@pytest.fixture(scope="module")
def routes(stack):
    """{replica: a route cookie that nginx sends there}."""
    return replicas.check_routes(stack.url, stack.addrs)


@pytest.fixture(scope="module")
def students(stack, routes):
    """New students who each loaded the page through nginx, uploaded a file and left."""
    return replicas.new_students(stack.url, STUDENTS)


class ReturningStudent(replicas.RoutedStudent):
    """A RoutedStudent whose tab, like a browser's, reconnects after its socket dropped: the same cookies,
    and the old session's id as the third Sec-WebSocket-Protocol entry (Streamlit's frontend does this)."""

    async def reconnect(self, timeout=120):
        await self.close()
        previous = self.session_id
        self.session_id, self.elements, self.blocks = None, {}, {}
        self._finished = asyncio.Event()
        protocols = ["streamlit", self.cookie(XSRF_COOKIE) or "", previous]
        self.ws = await websockets.connect(self.ws_url, subprotocols=protocols, origin=self.url,
                                           additional_headers={"Cookie": self.cookie_header()},
                                           max_size=None, open_timeout=timeout, compression=None)
        self._note("websocket", self.ws.response.status_code, self.ws.response.headers)
        self._reader = asyncio.create_task(self._read(), name=f"student-{self.name}")
        await self.rerun()
        await self.wait_until_finished(timeout)
        return previous


@pytest.mark.timeout(1800)
def test_docker_compose_stack_comes_up_and_nginx_reaches_both_replicas(stack, routes):
    log(f"compose stack {stack.project}: the page through nginx {stack.up_seconds:.1f} s after `up`")
    assert set(routes) == set(stack.addrs) and len(stack.addrs) == 2


@pytest.mark.timeout(120)
def test_docker_compose_a_browser_on_a_named_host_gets_its_websocket(stack):
    replicas.check_named_host_websocket(stack.url)


@pytest.mark.timeout(240)
def test_docker_compose_each_student_stays_on_one_replica(students):
    """Page, static files, health check, websocket and upload, all from one replica."""
    replicas.check_affinity(students)


@pytest.mark.timeout(120)
def test_docker_compose_an_upload_routed_to_another_replica_is_refused_there(students, routes):
    replicas.check_upload_elsewhere_is_refused(students, routes)


def test_docker_compose_xsrf_and_the_upload_limit_hold_behind_nginx(students):
    replicas.check_xsrf(students)
    replicas.check_upload_limit(students)


@pytest.mark.timeout(300)
def test_docker_compose_new_students_spread_over_both_replicas(stack, students):
    replicas.check_spread(stack.url, stack.addrs, students)


@pytest.mark.timeout(240)
def test_docker_compose_a_run_posted_on_one_replica_shows_on_the_other(stack, routes):
    replicas.check_board_is_shared(stack.url, routes, stack.board_url)


@pytest.mark.timeout(240)
def test_docker_compose_the_teachers_passphrase_clears_the_board_across_replicas(stack, routes):
    replicas.check_teacher_clears(stack.url, routes, stack.board_url, stack.passphrase)


@pytest.mark.timeout(300)
def test_docker_compose_a_killed_replicas_students_move_with_a_message_and_the_board_keeps_every_post(stack,
                                                                                                    routes):
    """Last, as it kills app1: its student's tab reconnects to app2 and is told why the page started afresh;
    the board loses nothing; app2's student notices nothing; newcomers land on app2."""
    run_async(lost_replica(stack, routes))


def served_by(replica_header):
    """The replica that answered: nginx lists every one it tried ("dead:8501, alive:8501"), the last answered."""
    return (replica_header or "").split(",")[-1].strip()


async def lost_replica(stack, routes):
    """Kill app1's container with a student on each replica, then follow both students and a newcomer."""
    first, second = stack.addrs
    board = Board(stack.board_url)
    name = f"before-{secrets.token_hex(3)}"
    mover = ReturningStudent(stack.url, query=QUERY, name="mover", route=routes[first])
    stayer = ReturningStudent(stack.url, query=QUERY, name="stayer", route=routes[second])
    try:
        await mover.connect()
        await stayer.connect()
        await mover.click("leave-board")  # QUERY projects the board alone: the training page, the board below
        await mover.wait_until_finished(120)
        await mover.click("train")
        await mover.wait_until_finished(120)
        await mover.submit({"board_name": name}, "post")
        posts = sorted(p.name for p in board.newest(limit=10**6))
        assert name in posts, posts
        docker("kill", stack.containers["app1"])
        previous = await mover.reconnect()
        tried = mover.seen[-1][2]
        assert served_by(tried) == second, f"the websocket went to {tried}"
        assert mover.session_id not in (None, previous), f"session {previous} -> {mover.session_id}"
        assert MOVED_MESSAGE in mover.texts(), mover.texts()
        assert sorted(p.name for p in board.newest(limit=10**6)) == posts  # the board lost nothing
        assert name in mover.board_names(), sorted(n for n in mover.board_names() if n)
        await stayer.rerun()
        await stayer.wait_until_finished(60)
        assert stayer.replicas() == {second} and MOVED_MESSAGE not in stayer.texts(), stayer.texts()
        assert name in stayer.board_names()
        await mover.click("leave-board")  # the new replica's session starts from the link again
        await mover.wait_until_finished(120)
        await mover.click("train")
        await mover.wait_until_finished(120)
        assert (trace(mover.chart("Accuracy") or {}, "validation accuracy") or {}).get("x") == [1, 2]
        newcomer = replicas.RoutedStudent(stack.url, query=QUERY, name="newcomer")
        await newcomer.connect()
        await newcomer.close()
        assert {served_by(r) for r in newcomer.replicas()} == {second}, newcomer.replicas()
    finally:
        await mover.close()
        await stayer.close()
        board.engine.dispose()
