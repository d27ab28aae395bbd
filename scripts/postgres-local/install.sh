#!/usr/bin/env bash
# Install PostgreSQL 15 from Debian 12 (bookworm) when its server binaries are missing.
#
# Usage (as root):  scripts/postgres-local/install.sh && scripts/postgres-local/start.sh
#
# Idempotent and quiet: does nothing when /usr/lib/postgresql/15/bin/postgres exists.
# No cluster is created or started here: Debian's postinst would make one in
# /var/lib/postgresql and start it through invoke-rc.d, which the policy-rc.d
# forbids (scripts/apt-install-no-daemons.sh); start.sh runs its own throw-away cluster.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
# postgresql-contrib ships dblink, which the hostile tests install to show
# that a read-only role still cannot write through it.
PACKAGES=(postgresql-15 postgresql-client-15 postgresql-contrib)

if [[ -x ${BIN}/postgres && -x ${BIN}/initdb && -x ${BIN}/pg_ctl ]]; then
    exit 0
fi
if [[ ${EUID} -ne 0 ]]; then
    echo "install.sh: PostgreSQL 15 is missing and installing it needs root" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "install.sh: apt-get not found (Debian 12 expected)" >&2; exit 1; }

echo "install.sh: installing ${PACKAGES[*]}"
"$(dirname "${BASH_SOURCE[0]}")/../apt-install-no-daemons.sh" "${PACKAGES[@]}"
