#!/usr/bin/env bash
# Install a single-host Slurm with real accounting (Debian 12: Slurm 22.05, MariaDB 10.11).
#
# Usage (as root):  scripts/slurm-local/install.sh && scripts/slurm-local/start.sh
#
# Idempotent and quiet: does nothing when every package is already installed.
# Daemons are NOT started here (no systemd on CI machines): start.sh does that.
# Accounting (slurmdbd + MariaDB) is not optional: submitit reads job states
# from sacct, and without accounting they stay UNKNOWN and a cancelled job's
# result() waits forever.
set -euo pipefail

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

if [[ ${EUID} -ne 0 ]]; then
    echo "install.sh: must run as root (it installs Debian packages)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "install.sh: apt-get not found; this script targets Debian 12 (bookworm)" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("${pkg}")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

# start.sh owns every daemon and records its PID: no package may start one.
echo "install.sh: installing ${missing[*]}"
"$(dirname "${BASH_SOURCE[0]}")/../apt-install-no-daemons.sh" "${missing[@]}"
