"""Several servers behind nginx (issue 7): scripts/replicas.py's checks, run as tests.

They start PostgreSQL (scripts/start_postgres.sh, or DIGITVIZ_TEST_POSTGRES_URL when it is set), two
Streamlit servers and nginx on 127.0.0.1, installing nginx first if it is missing. That needs root:
without it they are skipped, except under CI, where nothing may be skipped; a layout that cannot be
started is a failure, never a skip.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("digitviz_replicas", ROOT / "scripts" / "replicas.py")
replicas = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # registered first: its dataclasses ask
spec.loader.exec_module(replicas)


def needs_root():
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("needs root: it installs and starts nginx and PostgreSQL (scripts/start_postgres.sh)")


@pytest.mark.timeout(240)
def test_replicas_behind_nginx_keep_sessions_and_share_the_board():
    """Affinity, spread over both replicas, the board shared through PostgreSQL, the teacher's passphrase."""
    needs_root()
    lines = []
    try:
        report = replicas.run_checks(replicas=2, students=4, pg_url=os.environ.get("DIGITVIZ_TEST_POSTGRES_URL"),
                                     log=lines.append)
    except replicas.SetupError as e:
        pytest.fail(f"could not start PostgreSQL, the replicas or nginx: {e}", pytrace=False)
    assert not report.failed, "\n".join(lines)
    names = [name for name, _, _ in report.results]
    assert len(names) >= 14, "\n".join(lines)  # every check ran, none was left out on the way


def test_compose_nginx_conf_is_the_template_rendered():
    """deploy/nginx.compose.conf can't drift from the template: `scripts/replicas.py --write-compose-conf`."""
    assert (ROOT / "deploy" / "nginx.compose.conf").read_text() == replicas.compose_nginx_conf()


def test_compose_nginx_conf_passes_nginx_t(tmp_path):
    """`nginx -t` on the compose config, with the compose names and paths swapped for local ones: the
    service names app1 and app2 only resolve inside compose's network."""
    needs_root()
    try:
        nginx = replicas.nginx_binary()
    except replicas.SetupError as e:
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
