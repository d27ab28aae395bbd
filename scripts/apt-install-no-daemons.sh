#!/usr/bin/env bash
# Install Debian packages without letting their maintainer scripts start daemons.
#
# Usage (as root):  scripts/apt-install-no-daemons.sh PACKAGE...
#
# The scripts in slurm-local/ and postgres-local/ start every daemon themselves
# and record its PID (there is no systemd on CI machines); a postinst that
# started one through invoke-rc.d would hold its port and outlive the run.
# Exit code 101 from policy-rc.d means "action forbidden"; the file is only
# added if absent, and removed again afterwards.
set -euo pipefail

(( $# > 0 )) || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e ${policy} ]]; then
    printf '#!/bin/sh\nexit 101\n' >"${policy}"
    chmod 755 "${policy}"
    added_policy=1
fi
cleanup() { if [[ ${added_policy} -eq 1 ]]; then rm -f "${policy}"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
