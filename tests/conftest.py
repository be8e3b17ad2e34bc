"""Fixtures for every layer: tests/unit (a module at a time), tests/app (AppTest), tests/system (real servers,
PostgreSQL, nginx) and tests/browser (Chromium). Each test is marked with its layer's name, so
`pytest -m "not browser"` leaves a layer out; `pytest tests/unit` is the fast inner loop."""
import functools
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

# The replica checks in tools/replicas.py assert; pytest explains their failures as it does a test's own.
pytest.register_assert_rewrite("tools.replicas")

# AppTest runs the page in this process: train in its thread, as a server without worker processes would.
# The worker processes are tested on their own (unit/test_workers.py) and through the real server (system, browser).
os.environ.setdefault("DIGITVIZ_TRAINING_PROCESSES", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as streamlit_app.py sets it for a server: torch on one thread

from digitviz import load_digits  # noqa: E402
from digitviz.board import Board  # noqa: E402
from tools import APP  # noqa: E402
from tools.browser import CHROMIUM_ARGS, MISSING_CHROMIUM, TRACK_RUNS, find_chromium, open_app, start_server  # noqa: E402
from tools.postgres import PrivatePostgres, Unavailable  # noqa: E402

LAYERS = ("unit", "app", "system", "browser")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """Mark each test with its layer (its folder here). Without Chromium, each browser test FAILS (not errors
    in set-up, not skips) saying how to get it, and starts nothing: no server, no browser."""
    chromium = find_chromium()
    for item in items:
        layer = Path(item.path).relative_to(HERE).parts[0]
        if layer in LAYERS:
            item.add_marker(layer)
        if not chromium and item.get_closest_marker("browser"):
            item.setup = lambda: None  # no fixtures
            item.runtest = functools.partial(pytest.fail, MISSING_CHROMIUM, pytrace=False)


@pytest.fixture(scope="session")
def data():
    """The lesson's 3s and 7s from the bundled file, shared read-only by every test."""
    return load_digits()


@pytest.fixture
def at():
    """The page, run once headless by AppTest, with no exception."""
    from streamlit.testing.v1 import AppTest  # here, not at the top: tests/unit never pays for it

    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    return at


@pytest.fixture(scope="session")
def postgres_url():
    """DIGITVIZ_TEST_POSTGRES_URL (`bash scripts/start_postgres.sh` prints one). Without it, a test that needs
    it is skipped, except under CI, where it fails so that a missing database can't pass unnoticed."""
    url = os.environ.get("DIGITVIZ_TEST_POSTGRES_URL")
    if not url:
        message = ("DIGITVIZ_TEST_POSTGRES_URL is not set: run `bash scripts/start_postgres.sh` and set it "
                   "to the URL it prints")
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so the PostgreSQL tests may not be skipped).", pytrace=False)
        pytest.skip(message)
    return url


# ---------------------------------------------------------------- the class board's database (unit tests)

@pytest.fixture(scope="module")
def postgres_admin(postgres_url):
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    """The class board's database for a test, empty: a fresh SQLite file, or a fresh schema in the test
    PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'board.sqlite3'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    schema = f"test_board_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def boards():
    """Board(url) for the test, closing their connections afterwards (before the schema is dropped)."""
    made = []

    def make(url):
        made.append(board := Board(url))
        return board

    yield make
    for board in made:
        board.engine.dispose()


@pytest.fixture
def board(url, boards):
    return boards(url)


# ---------------------------------------------------------------- the browser (tests/browser)

@pytest.fixture(scope="session")
def chromium():
    path = find_chromium()
    if not path:
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium):
    """pytest-playwright's launch, pointed at Debian's Chromium: Playwright's own download does not work here."""
    return {**browser_type_launch_args, "executable_path": chromium,
            "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]}


@pytest.fixture(scope="session")
def app_server():
    """One real server for the whole browser session; a fresh browser context per test is a fresh session."""
    try:
        server = start_server()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    with server:
        yield server


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server.url


@pytest.fixture(scope="session")
def base_url(app_url):
    """pytest-playwright's base URL is the server's, so `page.goto("/")` opens the app."""
    return app_url


@pytest.fixture
def page(page):
    """pytest-playwright's page, counting script runs, with timeouts that fit a 2-core machine."""
    page.add_init_script(TRACK_RUNS)
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def app(page, app_url):
    """The page, loaded and settled, in a fresh Streamlit session (each test has its own browser context)."""
    return open_app(page, app_url)


@pytest.fixture(scope="module")
def private_postgres():
    """A PostgreSQL of the test module's own, which it may freeze (SIGSTOP) or stop."""
    try:
        server = PrivatePostgres()
    except Unavailable as e:
        pytest.skip(str(e))
    yield server
    server.cleanup()
