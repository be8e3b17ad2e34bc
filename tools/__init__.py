"""What the tests, the benchmarks and the scripts share, so that each of them drives the app one way.

- `server`: the real server, `streamlit run streamlit_app.py` on a free loopback port (`Server`);
- `student`: a simulated student speaking the browser's websocket protocol (`Student`);
- `browser`: helpers that drive the page in Chromium and wait for it the way a person does;
- `stack`: PostgreSQL, several servers and nginx in front of them, on loopback (`Stack`);
- `replicas`: the checks that such a layout keeps each student on one server and shares the class board;
- `timing`: the engine alone, run as the page runs it, to compare against.

`pip install -e .` (requirements-dev.txt) installs it beside the package: nothing edits sys.path.
"""
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "page.py")  # the page, for AppTest.from_file (streamlit_app.py serves it)


def free_port():
    """A loopback port that nothing listens on now (standard library only: scripts use it before any venv)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
