#!/usr/bin/env bash
# The README's two commands on a brand-new Debian machine: a fresh-machine check the project owns.
#
#   environments/fresh/check.sh                       Debian 12 (bookworm), then Debian 13 (trixie)
#   environments/fresh/check.sh bookworm              one release
#   environments/fresh/check.sh --lab-only trixie     only `make lab` (minutes instead of a full suite)
#   environments/fresh/check.sh --keep bookworm       keep the container and its volume for a look inside
#   environments/fresh/check.sh --tests "tests/test_x.py -k y" bookworm   `make lab`, then only those tests
#
# For each release: a root file system made with debootstrap from the mirror this machine's apt uses
# (like environments/docker/base-image.sh; nothing but the distribution's own packages), imported as an
# image; a clean `git clone` of this repository's HEAD with a read-only copy of ../shared beside it, as CI
# lays them out; then, in a container of that image, as root:
#   1. `make lab` until it prints the trainee's link and the link answers, then Ctrl-C (SIGINT);
#   2. `make test` (= .ci/run), which installs what it needs and starts its own Docker engine.
# The container looks like a machine an instructor does not control: /proc keeps Docker's masked paths,
# no --privileged (every capability this host may grant, seccomp and AppArmor off and the host's cgroup
# tree bound in, so the nested engine can work; its containers get a cgroup parent of their own). The nested
# engines (make test's, and the private one a test starts) keep their data roots on a volume mounted at
# /var/tmp, not on the container's overlay (which would push them onto the slow vfs storage driver).
# /proc/sys is read-only in the container, so Docker 26 (Debian 13) cannot switch IPv6 off on its containers'
# interfaces there (a machine's /proc/sys is writable): DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1 lets it go on.
#
# Prints a summary table (release, Python, command, minutes, result, passed/failed) and writes it to
# $OUT/summary.txt; exits non-zero when any command failed.
#
# Environment: DFLAB_FRESH_DIR (work directory, default /var/tmp/dflab-fresh), DFLAB_DEBIAN_MIRROR.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${DFLAB_FRESH_DIR:-/var/tmp/dflab-fresh}
LAB_TIMEOUT=${DFLAB_FRESH_LAB_TIMEOUT:-1800}   # seconds `make lab` may take to serve
TEST_TIMEOUT=${DFLAB_FRESH_TEST_TIMEOUT:-5400} # CI's budget for `make test`
# The base system a cloud image of Debian has; everything else must come from the README's commands.
PACKAGES=ca-certificates,git,make,procps,iproute2,curl,kmod
keep=0 lab_only=0 tests='' releases=()

say() { echo "fresh: $*" >&2; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while (($#)); do
  case $1 in
    --keep) keep=1 ;;
    --lab-only) lab_only=1 ;;
    --tests) shift; tests=${1:?--tests needs pytest arguments} ;;
    -h|--help) usage 0 ;;
    bookworm|trixie) releases+=("$1") ;;
    *) say "unknown argument: $1"; usage 2 ;;
  esac
  shift
done
((${#releases[@]})) || releases=(bookworm trixie)
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, a Docker engine)"; exit 1; }

bash "$REPO/environments/docker/engine.sh" start
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }

mirror() {
  [ -n "${DFLAB_DEBIAN_MIRROR:-}" ] && { echo "$DFLAB_DEBIAN_MIRROR"; return; }
  # The first deb URI of the apt sources that serves Debian's main archive (any suite: releases share it).
  grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '$2 ~ /debian\/?$/ {print $2; exit}'
  grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '$0 ~ /debian\/? / {for (i = 2; i <= NF; i++) if ($i ~ /^http/) {print $i; exit}}'
}

# Capabilities: all this host may grant (a container here cannot get one the host itself lacks).
host_caps() {
  local bnd names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE
    SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL
    SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)  # newer ones: unknown to older engines
  bnd=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
  for i in "${!names[@]}"; do
    (( (bnd >> i) & 1 )) && printf -- '--cap-add=%s ' "${names[$i]}"
  done
}

image_for() {
  local release=$1 tag=dflab/fresh:$1 rootfs
  if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; return; fi
  rootfs=$(mktemp -d)
  say "debootstrap $release (minbase + $PACKAGES) from $(mirror)"
  debootstrap --variant=minbase --include="$PACKAGES" "$release" "$rootfs" "$(mirror)" >"$OUT/debootstrap-$release.log" 2>&1 \
    || { say "debootstrap failed; see $OUT/debootstrap-$release.log"; rm -rf "$rootfs"; exit 1; }
  # This network's own certificate authorities (a TLS-inspecting egress, say): a machine here has them too.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || true
  fi
  printf 'deb %s %s main\n' "$(mirror)" "$release" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | docker import - "$tag" >/dev/null
  rm -rf "$rootfs"
  echo "$tag"
}

# In the container: the README's two commands, timed; results as "key value" lines on fd 3.
INSIDE='set -uo pipefail
exec 3>/results/results.txt
# The nested engine shares the host cgroup tree (bound in): its containers go under a parent of their own.
mkdir -p /etc/docker && echo "{\"cgroup-parent\": \"/dflab-$(hostname)\"}" > /etc/docker/daemon.json
# A machine has loop devices (size-limited Docker workspaces are loop-mounted); a container has only the
# nodes it is given: the kernel makes new loop devices on demand, their nodes are made here.
for i in $(seq 0 63); do [ -e /dev/loop$i ] || mknod -m 0660 /dev/loop$i b 7 $i; done
cd /fresh/dflab
t0=$(date +%s)
set -m  # job control: `make lab` gets its own process group with SIGINT not ignored, as at a terminal
make lab > /results/lab.log 2>&1 &
lab=$!
set +m
served=fail
for _ in $(seq 1 '"$LAB_TIMEOUT"'); do
  url=$(grep -o "http://127\.0\.0\.1:[0-9]*/lab?token=[A-Za-z0-9_-]*" /results/lab.log | head -n 1)
  if [ -n "$url" ] && curl -fsS -o /dev/null "$url"; then served=ok; break; fi
  kill -0 $lab 2>/dev/null || break
  sleep 1
done
echo "lab_seconds $(( $(date +%s) - t0 ))" >&3
echo "lab_result $served" >&3
kill -INT -- -$lab 2>/dev/null  # Ctrl-C: the whole foreground group
for _ in $(seq 1 60); do kill -0 $lab 2>/dev/null || break; sleep 1; done
kill -0 $lab 2>/dev/null && { echo "lab_exit still running 60 s after Ctrl-C" >&3; kill -KILL -- -$lab; }
wait $lab 2>/dev/null
echo "lab_exit $?" >&3
echo "python $(.venv/bin/python --version 2>/dev/null || echo none)" >&3
if [ "${LAB_ONLY:-0}" = 1 ]; then exit 0; fi
t0=$(date +%s)
if [ -n "${FRESH_TESTS:-}" ]; then
  bash environments/docker/engine.sh start > /results/test.log 2>&1
  timeout '"$TEST_TIMEOUT"' .venv/bin/python -m pytest -n 2 --dist loadgroup -q $FRESH_TESTS >> /results/test.log 2>&1
else
  timeout '"$TEST_TIMEOUT"' bash .ci/run > /results/test.log 2>&1
fi
code=$?
echo "test_seconds $(( $(date +%s) - t0 ))" >&3
echo "test_exit $code" >&3
echo "test_summary $(grep -E "^(=+ )?[0-9]+ (passed|failed|error)" /results/test.log | tail -n 1 | tr -d "=")" >&3
'

run_release() {
  local release=$1 image dir name volume
  image=$(image_for "$release")
  dir=$OUT/$release
  name=dflab-fresh-$release
  volume=dflab-fresh-$release-engine
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -rf "$dir"; mkdir -p "$dir/fresh" "$dir/results"
  git clone -q "$REPO" "$dir/fresh/dflab"
  cp -a "$REPO/../shared" "$dir/fresh/shared"
  chmod -R a-w "$dir/fresh/shared"   # as CI lays it: without write bits
  docker volume create "$volume" >/dev/null
  say "$release: running the README's commands in $name (logs in $dir/results)"
  # shellcheck disable=SC2046
  docker run --name "$name" --hostname "fresh-$release" $(host_caps) \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --device /dev/loop-control --device-cgroup-rule "b 7:* rmw" \
    --tmpfs /run --tmpfs /tmp:exec \
    -v "$volume:/var/tmp" -v "$dir/fresh:/fresh" -v "$dir/results:/results" \
    -e DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1 \
    -e CI=true -e LAB_ONLY=$lab_only -e FRESH_TESTS="$tests" -e DEBIAN_FRONTEND=noninteractive \
    "$image" bash -c "$INSIDE" >"$dir/results/container.log" 2>&1 || true
  ((keep)) || { docker rm -f "$name" >/dev/null 2>&1; docker volume rm -f "$volume" >/dev/null 2>&1; }
}

mkdir -p "$OUT"
for release in "${releases[@]}"; do run_release "$release"; done

status=0
summary=$OUT/summary.txt
printf '%-9s %-15s %-10s %8s  %-6s %s\n' release python command minutes result detail >"$summary"
minutes() { awk '{printf "%.1f", ($1 + 0) / 60}'; }
for release in "${releases[@]}"; do
  r=$OUT/$release/results/results.txt
  get() { awk -v k="$1" '$1 == k {sub(/^[^ ]+ /, ""); print; exit}' "$r" 2>/dev/null || true; }
  py=$(get python); py=${py#Python }
  lab=$(get lab_result); [ "$lab" = ok ] || status=1
  printf '%-9s %-15s %-10s %8s  %-6s %s\n' "$release" "${py:-?}" "make lab" "$(get lab_seconds | minutes)" \
    "${lab:-fail}" "served its link (log: $OUT/$release/results/lab.log)" >>"$summary"
  if ((!lab_only)); then
    code=$(get test_exit); [ "$code" = 0 ] || status=1
    printf '%-9s %-15s %-10s %8s  %-6s %s\n' "$release" "${py:-?}" "${tests:+pytest}${tests:-make test}" "$(get test_seconds | minutes)" \
      "$([ "$code" = 0 ] && echo ok || echo "exit ${code:-?}")" "$(get test_summary)" >>"$summary"
  fi
done
cat "$summary"
exit $status
