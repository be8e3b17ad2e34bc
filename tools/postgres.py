"""A PostgreSQL server of a test's own, to freeze or stop without touching the one other tests share."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import psutil


class Unavailable(RuntimeError):
    """This machine can't run a private PostgreSQL (not root, or no Debian postgresql package)."""


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, a free loopback port), so that a test
    can freeze it with SIGSTOP or stop it without touching the database other tests share. Needs root (as
    scripts/start_postgres.sh does) and Debian's PostgreSQL under /usr/lib/postgresql."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if os.geteuid() != 0 or not bins:
            raise Unavailable("a private PostgreSQL needs root and Debian's postgresql package "
                              "(scripts/start_postgres.sh)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="digitviz-pg-")
        os.chown(self.dir, *self._postgres_ids())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # UTF8 whatever the machine's locale (without one, SQL_ASCII: psycopg would hand back bytes)
        self._as_postgres("initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres", "--no-sync",
                          "-E", "UTF8", "--locale=C")
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _postgres_ids():
        user = pwd.getpwnam("postgres")
        return user.pw_uid, user.pw_gid

    def _as_postgres(self, program, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/{program}", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir, timeout=60)

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres("pg_ctl", "-D", f"{self.dir}/data", "-o", options, "-w", "-l", f"{self.dir}/log", "start")

    def stop(self):
        self._as_postgres("pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop")

    def processes(self):
        """The postmaster and every backend it has forked."""
        with open(f"{self.dir}/data/postmaster.pid") as f:
            postmaster = psutil.Process(int(f.readline()))
        return [postmaster, *postmaster.children(recursive=True)]

    def freeze(self):
        for p in self.processes():
            p.suspend()  # SIGSTOP: the server keeps its sockets (the kernel still accepts) but never answers

    def thaw(self):
        for p in self.processes():
            p.resume()

    def cleanup(self):
        try:
            self.thaw()
            self.stop()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
