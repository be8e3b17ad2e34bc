"""How one server is set up, read in one place from its secrets file and its environment.

A school's IT sets these in `.streamlit/secrets.toml` (`[board] url`, `passphrase`) or, handy in a container, in
the environment (DIGITVIZ_*); the secrets file wins where both are set.
"""
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerConfig:
    """A server's settings; `read` builds it, tests build it directly."""
    # Training runs in worker processes, one per core: a server's own Python runs on one core at a time (the GIL)
    # and has a class's pages to serve. 0 trains in the page's own thread instead (the tests' AppTest runs do).
    processes: int
    # Runs training at once; more wait their turn rather than all slowing to a crawl. Measured with
    # benchmarks/bench_load.py, 30 students on 2 cores, p95 Train to fully drawn: 9.5-10.5 s with 1 slot in
    # threads, 11.7 s with 2, 14.0 s with 4; so one per worker process, and one for in-thread training.
    slots: int
    board_url: str  # any SQLAlchemy URL; SQLite in the data folder by default
    passphrase: str | None  # the teacher's, to clear the class board; None: nobody can clear it
    data_dir: Path  # where the default SQLite board lives
    # Finished runs kept for anyone who asks for the same settings (digitviz.trajectories): the lesson's
    # 30-epoch run is about 100 kB, 300 epochs 1 MB; a two-layer net's 1,000 epochs (94 MB) is never kept.
    cache_bytes: int = 64 * 2**20

    @classmethod
    def read(cls, secrets: Mapping, environ: Mapping = os.environ) -> "ServerConfig":
        """The settings from the secrets file's contents (a dict, possibly empty) and the environment."""
        board = secrets.get("board") or {}
        processes = int(environ.get("DIGITVIZ_TRAINING_PROCESSES", os.cpu_count() or 1))
        data_dir = Path(environ.get("DIGITVIZ_DATA_DIR") or "~/.digitviz").expanduser()
        return cls(processes=processes,
                   slots=int(environ.get("DIGITVIZ_TRAINING_SLOTS", max(1, processes))),
                   board_url=board.get("url") or environ.get("DIGITVIZ_BOARD_URL")
                   or f"sqlite:///{data_dir / 'board.sqlite3'}",
                   passphrase=board.get("passphrase") or environ.get("DIGITVIZ_BOARD_PASSPHRASE") or None,
                   data_dir=data_dir,
                   cache_bytes=int(float(environ.get("DIGITVIZ_TRAJECTORY_CACHE_MB", 64)) * 2**20))
