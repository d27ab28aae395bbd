#!/usr/bin/env bash
# Build containers/Dockerfile without a Docker daemon or a base-image registry:
# a Debian 12 base made with mmdebstrap from Debian's packages, then buildah
# (vfs storage, chroot isolation), as root. This is how the image is built and
# smoke-tested on the dev/CI machines; on a workstation `make image` (Docker) is
# the usual way.
#
#   scripts/build-image-buildah.sh [TAG]          # default TAG: localhost/t2s:cpu
#   buildah --storage-driver vfs images           # the result
#   scripts/run-in-image.sh TAG -- t2s --help     # run something inside it
#
# The image is the CPU variant (torch from pip's default index). The host's pip
# settings that make installs work here (a CA bundle, a folder of wheels,
# constraints) are passed to the build as read-only mounts, never baked in.
# Environment: T2S_IMAGE_WORK (default /var/tmp/t2s-image) keeps the base
# tarball between builds; T2S_DEBIAN_MIRROR overrides the mirror read from apt's
# sources; apt-get installs buildah and mmdebstrap if missing.
set -euo pipefail

TAG=${1:-localhost/t2s:cpu}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${T2S_IMAGE_WORK:-/var/tmp/t2s-image}
BASE_TAG=localhost/t2s-base:bookworm
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
log() { echo "build-image: $*" >&2; }

if [[ $(id -u) != 0 ]]; then
    log "run as root (buildah's chroot isolation and mmdebstrap's root mode need it)"
    exit 2
fi
if ! command -v buildah >/dev/null || ! command -v mmdebstrap >/dev/null; then
    log "installing buildah and mmdebstrap (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        buildah mmdebstrap >/dev/null
fi
mkdir -p "$WORK"

# 1. The base: minimal Debian 12 with CA certificates (python3 comes from the
# Dockerfile's own apt-get line, as on any other base).
if ! buildah images -q "$BASE_TAG" 2>/dev/null | grep -q .; then
    if [[ ! -s $WORK/base.tar ]]; then
        log "making a Debian 12 base with mmdebstrap (~1 min)"
        # The Debian mirror this machine's apt uses (or T2S_DEBIAN_MIRROR).
        mirror=${T2S_DEBIAN_MIRROR:-$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' \
            /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
        if [[ -z $mirror ]]; then
            log "no Debian mirror in /etc/apt/sources.list.d/debian.sources: set T2S_DEBIAN_MIRROR"
            exit 2
        fi
        mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm \
            "$WORK/base.tar.part" "deb $mirror bookworm main"
        mv "$WORK/base.tar.part" "$WORK/base.tar"
    fi
    container=$(buildah from scratch)
    buildah add --quiet "$container" "$WORK/base.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        "$container"
    buildah commit --quiet "$container" "$BASE_TAG" >/dev/null
    buildah rm "$container" >/dev/null
fi

# 2. The host's pip settings, as a build-time pip.conf plus the folders it names.
mounts=()
pip_conf=$WORK/pip.conf
{
    echo "[global]"
    cert=${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}
    if [[ -n $cert && -f $cert ]]; then
        echo "cert = $cert"
        mounts+=(--volume "$cert:$cert:ro")
    fi
    links=${PIP_FIND_LINKS:-$(pip config get global.find-links 2>/dev/null || true)}
    if [[ -n $links && -d $links ]]; then
        echo "find-links = $links"
        mounts+=(--volume "$links:$links:ro")
    fi
    constraint=$(pip config get global.constraint 2>/dev/null || true)
    if [[ -n $constraint && -f $constraint ]]; then
        echo "constraint = $constraint"
        mounts+=(--volume "$constraint:$constraint:ro")
    fi
} >"$pip_conf"
mounts+=(--volume "$pip_conf:/etc/pip.conf:ro")

# 3. The image, from the same Dockerfile as everywhere else.
log "building $TAG from containers/Dockerfile (several minutes: torch + the stack)"
started=$SECONDS
# A rebuild replaces the tag; drop the old image rather than leave 2 GB dangling.
buildah rmi --force "$TAG" >/dev/null 2>&1 || true
# --format docker: the OCI format has no SHELL, and RUN lines rely on bash's pipefail.
buildah bud --quiet --format docker --layers=false --ignorefile "$ROOT/containers/Dockerfile.dockerignore" \
    -f "$ROOT/containers/Dockerfile" -t "$TAG" \
    --build-arg BASE_IMAGE="$BASE_TAG" --build-arg TORCH_INDEX_URL= \
    "${mounts[@]}" "$ROOT" >/dev/null
log "built $TAG in $((SECONDS - started)) s"
