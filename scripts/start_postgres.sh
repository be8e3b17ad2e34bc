#!/usr/bin/env bash
# Start a local PostgreSQL for the class board's tests, installing it first if needed (Debian, as root).
# Safe to run again: it only installs, starts or creates what is missing.
# Prints the SQLAlchemy URL for DIGITVIZ_TEST_POSTGRES_URL on its last line.
# DIGITVIZ_TEST_POSTGRES_PORT (default 5432) is the port of a cluster it creates: scripts/fresh_machine.sh's
# container shares this machine's loopback, where a PostgreSQL of the machine's own may hold 5432 already.
set -euo pipefail
wanted=${DIGITVIZ_TEST_POSTGRES_PORT:-5432}

if [ "$(id -u)" != 0 ]; then
  echo "start_postgres.sh installs and starts PostgreSQL, so it must run as root." >&2
  exit 1
fi

newest_server() { ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | cut -d/ -f5 | sort -V | tail -n 1; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(newest_server)" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# The newest installed server version (Debian 12 ships 15), and its "main" cluster.
version=$(newest_server)
if [ -z "$version" ]; then
  echo "No PostgreSQL server under /usr/lib/postgresql even after installing it." >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
  pg_createcluster -p "$wanted" "$version" main >/dev/null
fi
# pg_ctlcluster status: 0 running, 3 stopped; start refuses to start a running cluster.
if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
  pg_ctlcluster "$version" main start
fi

port=$(pg_conftool -s "$version" main show port)
if [ "$port" != "$wanted" ]; then
  echo "PostgreSQL $version main listens on port $port, not $wanted, which the URL below assumes." >&2
  exit 1
fi

sql() {
  # As the postgres superuser, over the local socket. cd: psql warns when it cannot read root's directory.
  (cd /tmp && runuser -u postgres -- psql -X -q -tA -v ON_ERROR_STOP=1 -p "$port" -c "$1")
}

# Debian's default is listen_addresses = 'localhost'; refuse to vouch for a server open to the network.
listen=$(sql "SHOW listen_addresses")
case "${listen// /}" in
  localhost | 127.0.0.1 | ::1 | localhost,::1 | 127.0.0.1,::1) ;;
  *)
    echo "PostgreSQL $version listens on '$listen', not only on loopback: set listen_addresses = 'localhost'" \
         "in /etc/postgresql/$version/main/postgresql.conf and restart it." >&2
    exit 1
    ;;
esac

if [ -z "$(sql "SELECT 1 FROM pg_roles WHERE rolname = 'digitviz'")" ]; then
  sql "CREATE ROLE digitviz LOGIN PASSWORD 'digitviz'"
fi
if [ -z "$(sql "SELECT 1 FROM pg_database WHERE datname = 'digitviz_test'")" ]; then
  # UTF8 whatever the machine's locale: without one (a bare container) a cluster defaults to SQL_ASCII, where psycopg
  # hands back bytes, not text. template0, because template1 may have another encoding.
  sql "CREATE DATABASE digitviz_test OWNER digitviz ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
fi

echo "postgresql+psycopg://digitviz:digitviz@127.0.0.1:$port/digitviz_test"
