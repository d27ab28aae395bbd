#!/usr/bin/env bash
# Stop the throw-away PostgreSQL cluster started by start.sh.
#
# Usage:  scripts/postgres-local/stop.sh [--purge]
#
# Fast shutdown (open sessions are ended, nothing to keep). --purge also
# removes the state dir (data, socket, logs, dsn).
set -euo pipefail

STATE=${T2S_PG_STATE:-/tmp/t2s-postgres}
RUN_AS=${T2S_PG_USER:-postgres}
BIN=${T2S_PG_BIN:-/usr/lib/postgresql/15/bin}

purge=0
case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

if [[ ${EUID} -eq 0 ]]; then as_server() { runuser -u "${RUN_AS}" -- "$@"; }; else as_server() { "$@"; }; fi

if [[ -s ${STATE}/data/PG_VERSION ]] && as_server "${BIN}/pg_ctl" -D "${STATE}/data" status >/dev/null 2>&1; then
    as_server "${BIN}/pg_ctl" -D "${STATE}/data" -m fast -w stop >/dev/null
fi
rm -f "${STATE}/dsn"
if (( purge )); then
    rm -rf "${STATE}"
    echo "postgres-local: stopped, state purged"
else
    echo "postgres-local: stopped"
fi
