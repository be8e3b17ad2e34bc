"""Several servers behind nginx (issue 7): tools/replicas.py's checks against tools/stack.py's layout.

The layout is PostgreSQL (DIGITVIZ_TEST_POSTGRES_URL, else scripts/start_postgres.sh), two Streamlit servers
and nginx on 127.0.0.1, installing nginx first if it is missing. That needs root: without it the tests that
start it are skipped, except under CI, where nothing may be skipped; a layout that cannot be started is a
failure, never a skip.
"""
import asyncio
import os
import subprocess

import pytest
import yaml

from digitviz.board import Board
from digitviz.questions import BANK
from digitviz.rounds import FRESH_SECONDS, Rounds
from tools import ROOT, replicas
from tools.stack import SetupError, Stack, compose_nginx_conf, nginx_binary
from tools.student import run_async

STUDENTS = 4  # new students for the affinity checks


def needs_root():
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("needs root: it installs and starts nginx and PostgreSQL (scripts/start_postgres.sh)")


@pytest.fixture(scope="module")
def stack():
    """PostgreSQL (a fresh schema), two replicas and nginx, for every test here; stopped afterwards."""
    needs_root()
    try:
        stack = Stack(2, pg_url=os.environ.get("DIGITVIZ_TEST_POSTGRES_URL")).__enter__()
    except SetupError as e:
        pytest.fail(f"could not start PostgreSQL, the replicas or nginx: {e}", pytrace=False)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def routes(stack):
    """{replica: a route cookie that nginx sends there}."""
    return replicas.check_routes(stack.url, stack.addrs)


@pytest.fixture(scope="module")
def students(stack, routes):
    """New students who each loaded the page through nginx, uploaded a file and left."""
    return replicas.new_students(stack.url, STUDENTS)


@pytest.mark.timeout(120)
def test_nginx_keeps_a_route_cookie_and_some_route_reaches_every_replica(stack, routes):
    assert set(routes) == set(stack.addrs) and len(stack.addrs) == 2


@pytest.mark.timeout(120)
def test_a_browser_on_a_named_host_gets_its_websocket(stack):
    replicas.check_named_host_websocket(stack.url)


@pytest.mark.timeout(240)
def test_each_student_stays_on_one_replica_for_page_static_files_websocket_and_upload(students):
    replicas.check_affinity(students)


@pytest.mark.timeout(120)
def test_an_upload_routed_to_another_replica_is_refused_there(students, routes):
    replicas.check_upload_elsewhere_is_refused(students, routes)


def test_xsrf_protection_holds_behind_nginx(students):
    replicas.check_xsrf(students)


def test_the_upload_limit_is_the_replicas_not_nginxs(students):
    replicas.check_upload_limit(students)


@pytest.mark.timeout(300)
def test_new_students_spread_over_every_replica(stack, students):
    replicas.check_spread(stack.url, stack.addrs, students)


@pytest.mark.timeout(240)
def test_a_run_posted_on_one_replica_shows_on_the_other(stack, routes):
    replicas.check_board_is_shared(stack.url, routes, stack.board_url)


@pytest.mark.timeout(240)
def test_the_teachers_passphrase_clears_the_board_across_replicas(stack, routes):
    replicas.check_teacher_clears(stack.url, routes, stack.board_url, stack.passphrase)


def test_compose_nginx_conf_is_the_template_rendered():
    """deploy/nginx.compose.conf can't drift from the template: `scripts/replicas.py --write-compose-conf`."""
    assert (ROOT / "deploy" / "nginx.compose.conf").read_text() == compose_nginx_conf()


def test_compose_nginx_conf_passes_nginx_t(tmp_path):
    """`nginx -t` on the compose config, with the compose names and paths swapped for local ones: the
    service names app1 and app2 only resolve inside compose's network."""
    needs_root()
    try:
        nginx = nginx_binary()
    except SetupError as e:
        pytest.fail(str(e), pytrace=False)
    text = (ROOT / "deploy" / "nginx.compose.conf").read_text()
    for old, new in {"app1:8501": "127.0.0.1:9", "app2:8501": "127.0.0.1:10", "/var/cache/nginx": str(tmp_path),
                     "/tmp/nginx.pid": str(tmp_path / "nginx.pid"), "listen 80;": "listen 127.0.0.1:9;",
                     "/dev/stdout": str(tmp_path / "access.log")}.items():
        assert old in text
        text = text.replace(old, new)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.timeout(300)
def test_a_class_round_counts_students_on_both_replicas(stack, routes):
    """One round, opened on the shared database; students on each replica vote, vote again and see the reveal:
    every vote counted once, and each page's reveal shows the whole class's votes."""
    board = Board(stack.board_url)
    rounds = Rounds(board)
    question = BANK["lr_100"]
    code = rounds.open(question, stack.passphrase, stack.passphrase)
    firsts, seconds = [0, 3, 1, 3, 0, 3], [3, 3, 1, 3, 3, 3]

    async def scenario():
        students = [replicas.RoutedStudent(stack.url, query=f"round={code}", name=f"s{i}", route=routes[addr])
                    for i, addr in enumerate(stack.addrs * 3)]
        try:
            for s in students:
                await s.connect()
                assert s.auto_reruns, "a voting page watches the round's stage"
            for s, option in zip(students, firsts):
                await s.vote(code, "vote", question.options[option], name=s.name)
                assert "Vote counted." in s.texts(), s.texts()
            rounds.advance(code, "vote_again", stack.passphrase, stack.passphrase)
            await asyncio.sleep(FRESH_SECONDS)  # a move made elsewhere (here, this process) reaches a server this late
            for s, option in zip(students, seconds):
                await s.poll()  # the page's stage watch sees the second vote
                await s.vote(code, "vote_again", question.options[option], name=s.name)
                assert "Vote counted." in s.texts(), s.texts()
            rounds.advance(code, "reveal", stack.passphrase, stack.passphrase)
            await asyncio.sleep(FRESH_SECONDS)
            for s in students:
                await s.poll()
                assert any("2 of the 6 who voted twice" in t for t in s.texts()), s.texts()
                assert not s.auto_reruns, "a revealed page is final: it polls no more"
            return {s.replicas().pop() for s in students}
        finally:
            for s in students:
                await s.close()
    try:
        served = run_async(scenario())
        assert served == set(stack.addrs)  # the class really was on both replicas
        state = rounds.get(code)
        assert state.counts(1) == [2, 1, 0, 3] and state.counts(2) == [0, 1, 0, 5]
        assert {v.name for v in state.votes[1].values()} == {f"s{i}" for i in range(6)}
        assert state.moved_to_right() == (2, 6)  # s0 and s4 moved to the right answer; s2 stayed
    finally:
        board.engine.dispose()


def test_compose_file():
    """compose.yaml: two app replicas on PostgreSQL behind the proxy, each started once the one before is healthy."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app1", "app2", "db", "proxy"}
    conf = (ROOT / "deploy" / "nginx.compose.conf").read_text()
    for name in ("app1", "app2"):
        app = services[name]
        assert app["environment"]["DIGITVIZ_BOARD_URL"].split("@")[1].startswith("db:5432/")
        assert "DIGITVIZ_BOARD_PASSPHRASE" in app["environment"]
        assert app["depends_on"]["db"]["condition"] == "service_healthy"
        assert "/_stcore/health" in " ".join(app["healthcheck"]["test"])
        assert f"server {name}:8501;" in conf
        assert "ports" not in app  # only the proxy is reachable from outside
        assert app["build"]["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}"
    # The official images unless the environment names others (tests/system/test_docker.py names stand-ins).
    assert services["db"]["image"] == "${DIGITVIZ_POSTGRES_IMAGE:-postgres:15}"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    proxy = services["proxy"]
    assert proxy["image"] == "${DIGITVIZ_NGINX_IMAGE:-nginx:stable}"
    assert "./deploy/nginx.compose.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert {k: v["condition"] for k, v in proxy["depends_on"].items()} == {"app1": "service_healthy",
                                                                           "app2": "service_healthy"}
