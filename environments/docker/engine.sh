#!/usr/bin/env bash
# Start, stop or query the Docker engine that builds and runs trainee lab containers.
#
#   environments/docker/engine.sh start    install docker.io if missing, start dockerd, wait until it answers
#   environments/docker/engine.sh stop     stop the dockerd this script started (by its pid file)
#   environments/docker/engine.sh status   exit 0 when an engine answers, 1 otherwise
#
# Why a script: lab machines and CI ship only the docker client; the engine is started on demand and
# must be reusable (a second `start` while one answers does nothing), so tests and `make test` can
# call it unconditionally. Data and exec roots live under DFLAB_DOCKER_ROOT (default
# /var/tmp/dflab-docker) so images survive between runs and nothing lands in the repo.
#
# Environment: DFLAB_DOCKER_ROOT (state directory), DFLAB_DOCKER_TIMEOUT (seconds to wait, default 60).
set -euo pipefail

ROOT=${DFLAB_DOCKER_ROOT:-/var/tmp/dflab-docker}
TIMEOUT=${DFLAB_DOCKER_TIMEOUT:-60}
PIDFILE=$ROOT/dockerd.pid
LOG=$ROOT/dockerd.log

say() { echo "engine: $*" >&2; }

answers() { docker info >/dev/null 2>&1; }

our_pid() {
  # The pid from our pid file, only while that process is still alive.
  [ -s "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

install_engine() {
  command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "dockerd or the docker command is missing and installing docker.io needs root"
    exit 1
  fi
  say "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian 13 moved the `docker` command into docker-cli (a mere Recommends of docker.io); Debian 12 has none.
  local packages=(docker.io)
  apt-cache show docker-cli >/dev/null 2>&1 && packages+=(docker-cli)
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  command -v dockerd >/dev/null 2>&1 || { say "docker.io installed but dockerd is still missing"; exit 1; }
  command -v docker >/dev/null 2>&1 || { say "docker.io installed but the docker command is still missing"; exit 1; }
}

start() {
  if answers; then
    say "an engine already answers; reusing it"
    return 0
  fi
  if pid=$(our_pid); then
    # Started earlier but not answering yet (or hung): wait for it rather than starting a second one.
    say "dockerd (pid $pid) is starting; waiting"
  else
    install_engine
    if [ "$(id -u)" -ne 0 ]; then
      say "starting dockerd needs root"
      exit 1
    fi
    mkdir -p "$ROOT/data" "$ROOT/exec"
    rm -f "$PIDFILE"
    # setsid: dockerd must outlive the shell (or pytest fixture) that started it.
    # dockerd keeps its own pid file inside the exec root; ours (written here) is what stop uses.
    setsid dockerd --data-root "$ROOT/data" --exec-root "$ROOT/exec" -p "$ROOT/exec/dockerd.pid" \
      >"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
    say "started dockerd (pid $pid, log $LOG)"
  fi
  local waited=0
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "dockerd exited before answering; last log lines:"
      tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    if [ "$waited" -ge "$TIMEOUT" ]; then
      say "dockerd (pid $pid) did not answer 'docker info' within ${TIMEOUT}s; see $LOG"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "engine answers (waited ${waited}s)"
}

stop() {
  local pid
  if ! pid=$(our_pid); then
    say "no dockerd started by this script is running"
    rm -f "$PIDFILE"
    return 0
  fi
  kill "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$TIMEOUT" ]; then
      say "dockerd (pid $pid) still running after ${TIMEOUT}s; not forcing it"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$PIDFILE"
  # dockerd leaves its data-root bind mount and the default network namespace mounted after it exits;
  # release them so the state directory can be deleted (they are recreated on the next start).
  local m
  for m in $(awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  say "stopped dockerd (pid $pid)"
}

status() {
  if answers; then
    say "engine answers$(pid=$(our_pid) && echo " (dockerd pid $pid)")"
    return 0
  fi
  say "no engine answers"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
