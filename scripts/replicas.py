"""Several digitviz servers behind nginx on this machine, from the command line (tools/stack.py does the work).

    .venv/bin/python scripts/replicas.py --replicas 2          # bring the layout up; Ctrl-C stops it
    .venv/bin/python scripts/replicas.py --write-compose-conf  # rewrite deploy/nginx.compose.conf

Bringing it up starts PostgreSQL (scripts/start_postgres.sh, so it needs root, unless --postgres-url is
given), N Streamlit servers and nginx on 127.0.0.1, prints their addresses and the teacher's passphrase, and
waits. To check the layout, run its tests: `.venv/bin/python -m pytest tests/system/test_replicas.py`.
"""
import argparse
import signal
import sys

from tools import ROOT
from tools.stack import COMPOSE_CONF, SetupError, Stack, compose_nginx_conf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2, help="Streamlit servers behind nginx")
    parser.add_argument("--postgres-url", help="use this PostgreSQL instead of scripts/start_postgres.sh's")
    parser.add_argument("--write-compose-conf", action="store_true",
                        help=f"rewrite {COMPOSE_CONF.relative_to(ROOT)} from the template and exit")
    args = parser.parse_args(argv)
    if args.write_compose_conf:
        COMPOSE_CONF.write_text(compose_nginx_conf())
        print(f"wrote {COMPOSE_CONF.relative_to(ROOT)}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `with` stops what was started
    try:
        with Stack(args.replicas, pg_url=args.postgres_url) as stack:
            print(f"Open {stack.url} (teacher's passphrase: {stack.passphrase}). Ctrl-C stops it.", flush=True)
            signal.pause()
    except SetupError as e:
        print(f"could not start the layout: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
