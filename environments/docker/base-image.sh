#!/usr/bin/env bash
# Build the local base image dflab/base:bookworm with debootstrap, for machines that cannot pull images.
#
#   environments/docker/base-image.sh            build it unless the engine already has it (fast path)
#   environments/docker/base-image.sh --force    rebuild it
#
# Why: lab machines and CI reach a Debian mirror but no image registry, so the trainee image's base is
# made here from the mirror this machine's apt already uses (read from /etc/apt/sources.list.d/*, never a
# hard-coded host). The Debian tools the image needs at run time (The Sleuth Kit CLI, tshark, tini as
# PID 1) go into the same debootstrap run, so the Dockerfile needs no network on this path.
#
# Environment: DFLAB_BASE_IMAGE (tag, default dflab/base:bookworm), DFLAB_DEBIAN_MIRROR (override the
# mirror), DFLAB_DEBIAN_SUITE (default bookworm), DFLAB_DOCKER_ROOT (state directory shared with
# engine.sh; the downloaded .debs are cached under it so a rebuild does not fetch them again).
set -euo pipefail

TAG=${DFLAB_BASE_IMAGE:-dflab/base:bookworm}
SUITE=${DFLAB_DEBIAN_SUITE:-bookworm}
# python3-venv: the image's virtual environment; sleuthkit/tshark: trainees' CLI tools; ewf-tools/dcfldd: lab 06
# images a drive with dcfldd and ewfacquire and checks the E01 with ewfinfo and ewfverify; tini: PID 1 that reaps
# zombies left by notebook kernels and terminals; procps/iproute2/binutils: ps, ss and strings, which lab 01 names for
# a terminal on the running suspect.
PACKAGES=python3,python3-venv,ca-certificates,sleuthkit,tshark,ewf-tools,dcfldd,tini,procps,iproute2,binutils
CACHE=${DFLAB_DOCKER_ROOT:-/var/tmp/dflab-docker}/debootstrap-cache
# The image records the list it was made with (a label), so a base made before the list changed is made again.
LABEL=dflab.base.packages

say() { echo "base-image: $*" >&2; }

if [ "${1:-}" != "--force" ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  made_with=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$TAG" 2>/dev/null || true)
  if [ "$made_with" = "$PACKAGES" ]; then
    say "$TAG already exists; skipping (use --force to rebuild)"
    exit 0
  fi
  say "$TAG was made with packages '${made_with:-unrecorded}', not '$PACKAGES': making it again"
fi

if [ "$(id -u)" -ne 0 ]; then
  say "debootstrap needs root"
  exit 1
fi

mirror_from_apt() {
  # First URI whose suites include $SUITE, from deb822 *.sources or one-line *.list files.
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (isdeb && hassuite && uri != "") { print uri; found = 1; exit } isdeb = hassuite = 0; uri = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1 }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hassuite = 1 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) print $i }' "$f"
  done
}

any_debian_mirror() {
  # A machine of another release (Debian 13 building the bookworm base): its main archive serves every suite.
  grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '$2 ~ /\/debian\/?$/ {print $2; exit}'
  grep -hs '^deb ' /etc/apt/sources.list.d/*.list /etc/apt/sources.list \
    | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^http/ && $i ~ /\/debian\/?$/) {print $i; exit}}'
}

# (grep exits 2 for a sources file this machine lacks: that is not a failure here)
MIRROR=${DFLAB_DEBIAN_MIRROR:-$( { mirror_from_apt; any_debian_mirror; } 2>/dev/null | head -n 1 || true)}
if [ -z "$MIRROR" ]; then
  say "no Debian mirror in /etc/apt/sources.list.d/* or /etc/apt/sources.list; set DFLAB_DEBIAN_MIRROR"
  exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

WORK=$(mktemp -d /var/tmp/dflab-rootfs.XXXXXX)
ROOTFS=$WORK/rootfs
cleanup() {
  # debootstrap mounts /proc and /sys inside the target; unmount before deleting so an interrupted run
  # can never delete through a mount.
  local m
  for m in $(awk -v r="$ROOTFS" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

say "debootstrap $SUITE from $MIRROR with $PACKAGES"
fail() {
  say "$1 failed; last log lines:"
  tail -n 30 "$WORK/debootstrap.log" >&2
  tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2 2>/dev/null || true
  exit 1
}
mkdir -p "$CACHE"
# Two stages so dpkg can skip its per-file fsync while installing (a throw-away rootfs needs no crash
# safety); that saved about 40 s of a 2 min build here.
debootstrap --foreign --variant=minbase --cache-dir="$CACHE" --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
  >"$WORK/debootstrap.log" 2>&1 || fail "debootstrap (first stage)"
echo force-unsafe-io >"$ROOTFS/etc/dpkg/dpkg.cfg.d/dflab-unsafe-io"
chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$WORK/debootstrap.log" 2>&1 ||
  fail "debootstrap (second stage)"
rm "$ROOTFS/etc/dpkg/dpkg.cfg.d/dflab-unsafe-io"
# Debconf runs non-interactively inside debootstrap, so the question below defaulted to "no"; it is
# preseeded anyway so a later apt-get upgrade in a derived image keeps dumpcap without setuid.
echo "wireshark-common wireshark-common/install-setuid boolean false" | chroot "$ROOTFS" debconf-set-selections
if [ -u "$ROOTFS/usr/bin/dumpcap" ]; then
  say "dumpcap is setuid in the rootfs; refusing to build"
  exit 1
fi

# Keep the image small: package caches and lists are rebuilt by any later apt-get update.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

say "importing as $TAG"
tar --numeric-owner -C "$ROOTFS" -c . |
  docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' -c "LABEL $LABEL=$PACKAGES" - "$TAG" >/dev/null
say "built $TAG"
