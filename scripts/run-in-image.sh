#!/usr/bin/env bash
# Run a command inside an image built by scripts/build-image-buildah.sh, the
# way a job runs inside it: the image's user (10001), its venv, the t2s entry
# point, and the current folder mounted at /workspace. As root (buildah).
#
#   scripts/run-in-image.sh localhost/t2s:cpu -- t2s --help
#   scripts/run-in-image.sh localhost/t2s:cpu -- t2s train --config /opt/t2s/configs/tiny.yaml
set -euo pipefail

TAG=${1:?usage: run-in-image.sh TAG -- COMMAND...}
shift
[[ ${1:-} == -- ]] && shift
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

container=$(buildah from --quiet "$TAG")
trap 'buildah rm "$container" >/dev/null' EXIT
buildah run --volume "$PWD:/workspace" --workingdir /workspace "$container" -- "$@"
