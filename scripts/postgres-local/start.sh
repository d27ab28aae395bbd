#!/usr/bin/env bash
# Start a throw-away PostgreSQL 15 cluster for tests: its own data directory,
# socket directory and port, run by an unprivileged user, reachable only
# through a Unix socket (no TCP listener).
#
# Usage:  scripts/postgres-local/install.sh && scripts/postgres-local/start.sh
#         scripts/postgres-local/stop.sh [--purge]
#
# Prints the superuser DSN on stdout (the last line) and writes it to
# ${STATE}/dsn, which the tests read (tests/db/conftest.py):
#   postgresql://t2s_admin@/postgres?host=/tmp/t2s-postgres/run&port=54329
# Safe to run twice: a running cluster is left as it is and its DSN printed.
#
# Environment:
#   T2S_PG_STATE  state dir: data/, run/ (socket), log/, dsn (/tmp/t2s-postgres)
#   T2S_PG_PORT   port, which names the socket file .s.PGSQL.<port> (54329)
#   T2S_PG_USER   OS user that runs the server when this script runs as root
#                 (postgres, which Debian's package creates); PostgreSQL
#                 refuses to run as root.
set -euo pipefail

STATE=${T2S_PG_STATE:-/tmp/t2s-postgres}
PORT=${T2S_PG_PORT:-54329}
RUN_AS=${T2S_PG_USER:-postgres}
BIN=${T2S_PG_BIN:-/usr/lib/postgresql/15/bin}
ADMIN=t2s_admin
# Seconds for the server to accept connections; it takes ~0.5 s here, 60 s
# leaves room for a loaded CI machine.
WAIT_S=${T2S_PG_WAIT_S:-60}

log() { echo "postgres-local: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x ${BIN}/postgres ]] || die "${BIN}/postgres not found; run scripts/postgres-local/install.sh first"
[[ ${PORT} =~ ^[0-9]+$ ]] || die "T2S_PG_PORT must be a number, got '${PORT}'"

# as_server CMD...: run CMD as the user that owns the cluster.
if [[ ${EUID} -eq 0 ]]; then
    id -u "${RUN_AS}" >/dev/null 2>&1 \
        || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "${RUN_AS}"
    as_server() { runuser -u "${RUN_AS}" -- "$@"; }
else
    as_server() { "$@"; }
fi

DATA=${STATE}/data
SOCK=${STATE}/run
DSN="postgresql://${ADMIN}@/postgres?host=${SOCK}&port=${PORT}"

mkdir -p "${STATE}/log" "${SOCK}"
if [[ ${EUID} -eq 0 ]]; then
    chown "${RUN_AS}" "${STATE}" "${STATE}/log" "${SOCK}"
fi
# 0700 on the socket dir: no other local user reaches the trust-authenticated
# socket (root, which runs the tests in CI, always can).
chmod 700 "${SOCK}"
chmod 755 "${STATE}"

if [[ ! -s ${DATA}/PG_VERSION ]]; then
    # trust on the socket (reachable by this user and root only); scram for
    # t2s_pw, a role the tests give a password to check it is never printed.
    as_server "${BIN}/initdb" -D "${DATA}" -U "${ADMIN}" --auth-local=trust --auth-host=reject \
        --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"${STATE}/log/initdb.log" 2>&1 \
        || die "initdb failed (log: ${STATE}/log/initdb.log)"
    # (Before the first "local" line: the first matching line decides.)
    as_server sed -i '0,/^local/s//local   all   t2s_pw   scram-sha-256\nlocal/' "${DATA}/pg_hba.conf"
fi

ready() { "${BIN}/pg_isready" -q -h "${SOCK}" -p "${PORT}" -U "${ADMIN}"; }

if ! as_server "${BIN}/pg_ctl" -D "${DATA}" status >/dev/null 2>&1; then
    # listen_addresses='': socket only. fsync/synchronous_commit off: a cluster
    # that is thrown away after the tests needs no durability (imports ~3x faster).
    as_server "${BIN}/pg_ctl" -D "${DATA}" -l "${STATE}/log/postgres.log" -w -t "${WAIT_S}" \
        -o "-c listen_addresses='' -c unix_socket_directories='${SOCK}' -p ${PORT} -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || die "server did not start (log: ${STATE}/log/postgres.log)"
fi
deadline=$(( $(date +%s) + WAIT_S ))
until ready; do
    (( $(date +%s) < deadline )) || die "server not ready after ${WAIT_S} s (log: ${STATE}/log/postgres.log)"
    sleep 0.2
done
echo "${DSN}" >"${STATE}/dsn"
log "up, $("${BIN}/postgres" --version), socket ${SOCK}, port ${PORT}, state ${STATE}"
echo "${DSN}"
