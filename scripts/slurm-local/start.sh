#!/usr/bin/env bash
# Start a single-host Slurm cluster with real accounting, as root, without systemd.
#
# Usage:  scripts/slurm-local/install.sh && scripts/slurm-local/start.sh
#         scripts/slurm-local/stop.sh
#
# Starts munged, MariaDB, slurmdbd, slurmctld and one slurmd per node, each
# directly (no systemd), and records the PIDs of the daemons it started under
# the state dir. Safe to run twice: when the cluster already answers, it only
# prints the status line. Prints one status line on success, e.g.
#   slurm-local: up, cluster t2s, 2 nodes idle (t2s-[1-2]), 3.1 s, state /tmp/t2s-slurm
#
# Environment:
#   T2S_SLURM_STATE  state dir: logs, PIDs, spool, slurmctld state (/tmp/t2s-slurm)
#   T2S_SLURM_NODES  slurmd processes = emulated nodes on this host (2);
#                    1 gives one node named after the host
#   T2S_SLURM_CLUSTER  cluster name in slurm.conf and accounting (t2s)
#
# slurm.conf, slurmdbd.conf and cgroup.conf go to /etc/slurm so that sbatch,
# sacct and submitit find them without SLURM_CONF. An existing slurm.conf that
# this script did not write is never overwritten.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${T2S_SLURM_STATE:-/tmp/t2s-slurm}
NODES=${T2S_SLURM_NODES:-2}
CLUSTER=${T2S_SLURM_CLUSTER:-t2s}
CONF_DIR=/etc/slurm
MARKER="# Written by t2s scripts/slurm-local/start.sh"
CTLD_PORT=6817
DBD_PORT=6819
# slurmd ports: 6818 for a single node (Slurm's default), 6821.. for emulated
# nodes (6820 is slurmrestd's default).
FIRST_NODE_PORT=6821
DB_NAME=slurm_acct_db
DB_USER=slurm
MYSQL_SOCKET=/run/mysqld/mysqld.sock
# Seconds to wait for each daemon; measured here: MariaDB ~2 s, slurmdbd <1 s,
# nodes idle ~1 s after slurmctld starts. 60 s leaves room for a slow CI box.
WAIT_S=${T2S_SLURM_WAIT_S:-60}

T0=$(date +%s.%N)
log() { echo "slurm-local: $*" >&2; }
die() { log "error: $*"; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s.
wait_for() {
    local seconds=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@" >/dev/null 2>&1; do
        if (( $(date +%s) >= deadline )); then
            die "${what} not ready after ${seconds} s (logs: ${STATE}/log)"
        fi
        sleep 0.2
    done
}

# pid_alive FILE: the PID recorded in FILE is a running process.
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# record NAME PID: remember a daemon this script started, for stop.sh.
record() { echo "$2" >"${STATE}/pids/$1.pid"; }

node_names() {
    if (( NODES == 1 )); then
        hostname -s
    else
        local i
        for (( i = 1; i <= NODES; i++ )); do echo "t2s-${i}"; done
    fi
}

status_line() {
    local idle total elapsed
    total=$(sinfo -h -N -o '%N' | sort -u | wc -l)
    idle=$(sinfo -h -N -t idle -o '%N' | sort -u | wc -l)
    elapsed=$(echo "$(date +%s.%N) - ${T0}" | bc)
    printf 'slurm-local: up, cluster %s, %s/%s nodes idle (%s), %.1f s, state %s\n' \
        "${CLUSTER}" "${idle}" "${total}" "$(sinfo -h -o '%N' | head -1)" "${elapsed}" "${STATE}"
}

all_nodes_idle() {
    local idle
    idle=$(sinfo -h -N -t idle -o '%N' 2>/dev/null | sort -u | wc -l)
    (( idle == NODES ))
}

# --- checks ------------------------------------------------------------------
[[ ${EUID} -eq 0 ]] || die "must run as root (daemons run as root, config goes to ${CONF_DIR})"
for cmd in munged mariadbd slurmdbd slurmctld slurmd sacctmgr sinfo bc; do
    command -v "${cmd}" >/dev/null || die "${cmd} not found; run scripts/slurm-local/install.sh first"
done
[[ ${NODES} =~ ^[1-9][0-9]*$ ]] || die "T2S_SLURM_NODES must be a positive integer, got '${NODES}'"
if [[ -e ${CONF_DIR}/slurm.conf ]] && ! head -1 "${CONF_DIR}/slurm.conf" | grep -qF "${MARKER}"; then
    die "${CONF_DIR}/slurm.conf exists and was not written by this script; refusing to overwrite it"
fi

mkdir -p "${STATE}"/{pids,run,log,ctld,spool}
chmod 755 "${STATE}"

# Already up? (every recorded Slurm daemon alive and every node idle or busy)
if pid_alive "${STATE}/run/slurmctld.pid" && pid_alive "${STATE}/run/slurmdbd.pid" \
        && sinfo -h >/dev/null 2>&1; then
    running=1
    while read -r node; do
        pid_alive "${STATE}/run/slurmd-${node}.pid" || running=0
    done < <(node_names)
    if (( running )); then
        status_line
        exit 0
    fi
fi

# --- munge ---------------------------------------------------------------------
# The key authenticates every Slurm RPC. Debian's postinst usually makes one.
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
    runuser -u munge -- munged
    wait_for "${WAIT_S}" munged test -S /run/munge/munge.socket.2
    record munged "$(cat /run/munge/munged.pid)"
fi

# --- MariaDB -------------------------------------------------------------------
if ! mariadb-admin --socket="${MYSQL_SOCKET}" ping >/dev/null 2>&1; then
    install -d -o mysql -g mysql -m 755 /run/mysqld
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    # setsid: the server must outlive this shell and the CI step that ran it.
    setsid mariadbd --user=mysql --datadir=/var/lib/mysql --socket="${MYSQL_SOCKET}" \
        --pid-file=/run/mysqld/mysqld.pid --bind-address=127.0.0.1 \
        >>"${STATE}/log/mariadb.log" 2>&1 </dev/null &
    record mariadb $!
    wait_for "${WAIT_S}" MariaDB mariadb-admin --socket="${MYSQL_SOCKET}" ping
fi

# The database password lives only in the state dir and in slurmdbd.conf (mode 600).
if [[ ! -s ${STATE}/db.pass ]]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"${STATE}/db.pass")
fi
DB_PASS=$(cat "${STATE}/db.pass")
# Root reaches MariaDB through unix_socket authentication (Debian's default).
mariadb --socket="${MYSQL_SOCKET}" <<SQL
CREATE DATABASE IF NOT EXISTS ${DB_NAME};
CREATE USER IF NOT EXISTS '${DB_USER}'@'localhost';
ALTER USER '${DB_USER}'@'localhost' IDENTIFIED BY '${DB_PASS}';
GRANT ALL ON ${DB_NAME}.* TO '${DB_USER}'@'localhost';
SQL

# --- configuration ---------------------------------------------------------------
HOST=$(hostname -s)
# Each node claims the host's real CPUs and memory; slurmd drains a node whose
# config exceeds what it finds, so ask slurmd -C rather than guessing.
read -r CPUS MEM < <(slurmd -C | awk '
    /^NodeName/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
        if (kv[1] == "CPUs") c = kv[2]; if (kv[1] == "RealMemory") m = kv[2] } }
    END { print c, m }')
[[ -n ${CPUS} && -n ${MEM} ]] || die "could not read CPUs/RealMemory from 'slurmd -C'"
if (( NODES == 1 )); then
    NODE_LINES="NodeName=${HOST} CPUs=${CPUS} RealMemory=${MEM} State=UNKNOWN"
else
    # Emulated nodes: several slurmd on this host, told apart by name (-N) and port.
    last_port=$(( FIRST_NODE_PORT + NODES - 1 ))
    NODE_LINES="NodeName=t2s-[1-${NODES}] NodeHostname=${HOST} NodeAddr=127.0.0.1 Port=[${FIRST_NODE_PORT}-${last_port}] CPUs=${CPUS} RealMemory=${MEM} State=UNKNOWN"
fi

mkdir -p "${CONF_DIR}"
render() {
    sed -e "s|@CLUSTER@|${CLUSTER}|g" -e "s|@HOST@|${HOST}|g" -e "s|@STATE@|${STATE}|g" \
        -e "s|@CTLD_PORT@|${CTLD_PORT}|g" -e "s|@DBD_PORT@|${DBD_PORT}|g" \
        -e "s|@DB_NAME@|${DB_NAME}|g" -e "s|@DB_USER@|${DB_USER}|g" -e "s|@DB_PASS@|${DB_PASS}|g" \
        -e "s|@NODES@|${NODE_LINES}|g" "$1"
}
render "${HERE}/slurm.conf.in" >"${CONF_DIR}/slurm.conf"
render "${HERE}/cgroup.conf.in" >"${CONF_DIR}/cgroup.conf"
(umask 077; render "${HERE}/slurmdbd.conf.in" >"${CONF_DIR}/slurmdbd.conf")
chmod 644 "${CONF_DIR}/slurm.conf" "${CONF_DIR}/cgroup.conf"
chmod 600 "${CONF_DIR}/slurmdbd.conf"

# --- slurmdbd, then the cluster in accounting --------------------------------------
if ! pid_alive "${STATE}/run/slurmdbd.pid"; then
    slurmdbd
    wait_for "${WAIT_S}" slurmdbd pid_alive "${STATE}/run/slurmdbd.pid"
    record slurmdbd "$(cat "${STATE}/run/slurmdbd.pid")"
fi
wait_for "${WAIT_S}" "slurmdbd (sacctmgr)" sacctmgr -n list cluster
if [[ -z $(sacctmgr -n -P list cluster "${CLUSTER}" format=cluster) ]]; then
    sacctmgr -i -Q add cluster "${CLUSTER}" >/dev/null
fi

# --- slurmctld and the slurmd nodes -------------------------------------------------
if ! pid_alive "${STATE}/run/slurmctld.pid"; then
    slurmctld
    wait_for "${WAIT_S}" slurmctld pid_alive "${STATE}/run/slurmctld.pid"
    record slurmctld "$(cat "${STATE}/run/slurmctld.pid")"
else
    scontrol reconfigure
fi
wait_for "${WAIT_S}" slurmctld scontrol ping
while read -r node; do
    mkdir -p "${STATE}/spool/${node}"
    if ! pid_alive "${STATE}/run/slurmd-${node}.pid"; then
        if (( NODES == 1 )); then slurmd; else slurmd -N "${node}"; fi
        wait_for "${WAIT_S}" "slurmd ${node}" pid_alive "${STATE}/run/slurmd-${node}.pid"
        record "slurmd-${node}" "$(cat "${STATE}/run/slurmd-${node}.pid")"
    fi
done < <(node_names)

# A node left DOWN/DRAINED by an earlier run comes back with an explicit resume.
wait_for "${WAIT_S}" "nodes registered" bash -c "! sinfo -h -N -o '%T' | grep -q -E 'unknown|not_responding'"
sinfo -h -N -t down,drain -o '%N' | sort -u | while read -r node; do
    scontrol update NodeName="${node}" State=RESUME 2>/dev/null || true
done
wait_for "${WAIT_S}" "all ${NODES} nodes idle" all_nodes_idle
status_line
