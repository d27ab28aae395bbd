#!/usr/bin/env bash
# Stop the single-host Slurm cluster started by start.sh.
#
# Usage:  scripts/slurm-local/stop.sh [--purge]
#
# Stops only the daemons start.sh recorded under the state dir (slurmd nodes,
# slurmctld, slurmdbd, then MariaDB and munged if start.sh started them), by
# PID, with SIGTERM and then SIGKILL after 15 s. --purge also removes the state
# dir (slurmctld state, spool, logs) and the config files start.sh wrote to
# /etc/slurm; the accounting database in MariaDB is kept.
set -euo pipefail

STATE=${T2S_SLURM_STATE:-/tmp/t2s-slurm}
CONF_DIR=/etc/slurm
MARKER="# Written by t2s scripts/slurm-local/start.sh"
# slurmctld saves its state on SIGTERM; MariaDB flushes InnoDB. Both take well
# under a second here; 15 s before SIGKILL covers a loaded CI machine.
GRACE_S=15

purge=0
case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

# stop NAME...: SIGTERM the recorded PIDs together, wait for all of them, then
# SIGKILL any left; forget the PIDs. Each daemon takes ~2 s to exit here, so
# stopping a group at once keeps stop.sh at ~6 s instead of ~12 s.
stop() {
    local name file pid i pids=()
    for name in "$@"; do
        file="${STATE}/pids/${name}.pid"
        [[ -s ${file} ]] || continue
        pid=$(cat "${file}")
        rm -f "${file}"
        if kill -TERM "${pid}" 2>/dev/null; then pids+=("${pid}"); fi
    done
    for pid in "${pids[@]}"; do
        for (( i = 0; i < GRACE_S * 5; i++ )); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "${pid}" 2>/dev/null; then
            echo "slurm-local: pid ${pid} ignored SIGTERM for ${GRACE_S} s; killing it" >&2
            kill -KILL "${pid}" 2>/dev/null || true
        fi
    done
}

if [[ -d ${STATE}/pids ]]; then
    # Nodes and controller first (running job steps end with their slurmd's
    # stepd; slurmctld saves its state), then accounting and its database
    # (slurmctld may still send records while it exits), then authentication.
    nodes=()
    for file in "${STATE}"/pids/slurmd-*.pid; do
        [[ -e ${file} ]] && nodes+=("$(basename "${file}" .pid)")
    done
    stop "${nodes[@]}" slurmctld
    stop slurmdbd mariadb
    stop munged
fi

if (( purge )); then
    rm -rf "${STATE}"
    for conf in slurm.conf slurmdbd.conf cgroup.conf; do
        if [[ -f ${CONF_DIR}/${conf} ]] && head -1 "${CONF_DIR}/${conf}" | grep -qF "${MARKER}"; then
            rm -f "${CONF_DIR}/${conf}"
        fi
    done
fi
if (( purge )); then echo "slurm-local: stopped, state purged"; else echo "slurm-local: stopped"; fi
