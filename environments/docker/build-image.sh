#!/usr/bin/env bash
# Build the trainee image from a wheelhouse kept outside the repository.
#
#   environments/docker/build-image.sh WHEELHOUSE TAG [docker build options...]
#   e.g. environments/docker/build-image.sh /var/tmp/dflab-wheelhouse dflab/trainee:test \
#          --build-arg BASE_IMAGE=dflab/base:bookworm
#
# Why: the Dockerfile reads `wheelhouse/` from its build context, and the classic builder (the only one
# on machines without buildx) cannot add a second context. So a small context is staged in a temporary
# directory: the Dockerfile, the server config and the wheelhouse (hard links where the file system
# allows, so nothing large is copied). COPY caches by content, so staging anew keeps the cache.
set -euo pipefail

WHEELHOUSE=${1:?usage: $0 WHEELHOUSE TAG [docker build options...]}
TAG=${2:?usage: $0 WHEELHOUSE TAG [docker build options...]}
shift 2
REPO=$(cd "$(dirname "$0")/../.." && pwd)

for need in requirements.txt deps dflab; do
  [ -e "$WHEELHOUSE/$need" ] || { echo "build-image: $WHEELHOUSE/$need is missing; run wheelhouse.sh first" >&2; exit 1; }
done

CTX=$(mktemp -d /var/tmp/dflab-context.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
cp "$REPO/Dockerfile" "$REPO/.dockerignore" "$REPO/jupyter_config.py" "$CTX/"
mkdir -p "$CTX/wheelhouse"
for part in requirements.txt deps dflab; do
  cp -al "$WHEELHOUSE/$part" "$CTX/wheelhouse/" 2>/dev/null || cp -a "$WHEELHOUSE/$part" "$CTX/wheelhouse/"
done
docker build -t "$TAG" "$@" "$CTX"
