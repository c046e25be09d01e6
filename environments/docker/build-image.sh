#!/usr/bin/env bash
# Build the trainee image from a wheelhouse kept outside the repository.
#
#   environments/docker/build-image.sh WHEELHOUSE TAG [docker build options...]
#   e.g. environments/docker/build-image.sh /var/tmp/dflab-wheelhouse dflab/trainee:test \
#          --build-arg BASE_IMAGE=dflab/base:bookworm
#
# Why: the dependency wheels (185 MB) must reach the image's install step without landing in a layer, and the
# classic builder (the only one on machines without buildx) has no build-time mounts. So they are served to the
# build over loopback only: an HTTP server on 127.0.0.1 for the build's duration, the build run with
# `--network host` so its steps reach it. The build context stays small: the Dockerfile, the server config, the
# requirements, the wheels' SHA-256 list (the install step's cache key) and the dflab wheel.
#
# Environment: PYTHON (interpreter serving the wheels, default python3), DFLAB_WHEELHOUSE_PORT (loopback port,
# default 47613: fixed, since the URL is part of the install step's cache key; builds take turns on it).
set -euo pipefail

WHEELHOUSE=${1:?usage: $0 WHEELHOUSE TAG [docker build options...]}
TAG=${2:?usage: $0 WHEELHOUSE TAG [docker build options...]}
shift 2
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python3}
PORT=${DFLAB_WHEELHOUSE_PORT:-47613}

for need in requirements.txt deps dflab; do
  [ -e "$WHEELHOUSE/$need" ] || { echo "build-image: $WHEELHOUSE/$need is missing; run wheelhouse.sh first" >&2; exit 1; }
done
WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)

CTX=$(mktemp -d /var/tmp/dflab-context.XXXXXX)
SERVER=
cleanup() {
  [ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true
  rm -rf "$CTX"
}
trap cleanup EXIT
cp "$REPO/Dockerfile" "$REPO/.dockerignore" "$REPO/jupyter_config.py" "$CTX/"
mkdir -p "$CTX/wheelhouse"
cp "$WHEELHOUSE/requirements.txt" "$CTX/wheelhouse/"
cp -al "$WHEELHOUSE/dflab" "$CTX/wheelhouse/" 2>/dev/null || cp -a "$WHEELHOUSE/dflab" "$CTX/wheelhouse/"
(cd "$WHEELHOUSE" && find deps -name '*.whl' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$CTX/wheelhouse/deps.sha256"

# One build at a time holds the port (a second waits here rather than failing on it).
exec 8>"/var/tmp/dflab-build-image-$PORT.lock"
flock 8
# The server prints one line once it listens, so the build never starts before it.
exec 7< <("$PY" - "$WHEELHOUSE" "$PORT" <<'PYEOF'
"""Serve the wheelhouse, read-only, on 127.0.0.1 only, quietly."""
import functools
import http.server
import sys


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


try:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])),
                                             functools.partial(Quiet, directory=sys.argv[1]))
except OSError as exc:
    sys.exit(f"build-image: {exc.strerror}")
print("listening", flush=True)
server.serve_forever()
PYEOF
)
SERVER=$!
read -r -t 30 ready <&7 || ready=
[ "$ready" = listening ] || { echo "build-image: cannot serve the wheelhouse on 127.0.0.1:$PORT (set DFLAB_WHEELHOUSE_PORT)" >&2; exit 1; }
docker build --network host --build-arg "WHEELHOUSE_URL=http://127.0.0.1:$PORT" -t "$TAG" "$@" "$CTX"
