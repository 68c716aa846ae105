#!/usr/bin/env bash
# Runs every check and test of the workspace on a fresh Debian machine:
# installs what the tests need, starts a throwaway PostgreSQL on a free
# loopback port (tests start their own Redis servers), then fmt, clippy,
# the release build the images are made from, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# command -> Debian package
declare -A wants=(
  [redis-server]=redis-server
  [ffmpeg]=ffmpeg
  [dot]=graphviz
  [mmdebstrap]=mmdebstrap
  [busybox]=busybox-static
  [ip]=iproute2
  [curl]=curl
)
missing=()
for cmd in "${!wants[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wants[$cmd]}")
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A throwaway PostgreSQL, trust auth on 127.0.0.1 only. It refuses to run as
# root, so under root it runs as the postgres user the package created.
pg_dir=$(mktemp -d /tmp/meshctl-pg.XXXXXX)
pg_port=$(free_port)
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
cleanup() {
  run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap cleanup EXIT
log "starting PostgreSQL on 127.0.0.1:$pg_port"
run_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
export MESH_TEST_PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
log "release build (the images are made from these binaries)"
cargo build --release --workspace --bins
log "tests"
cargo test --release --workspace
