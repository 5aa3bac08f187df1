#!/usr/bin/env bash
# Debian's PostgreSQL 15 and pgvector built from its source, for the tests of the knowledge base
# on PostgreSQL: the fixtures start their own throwaway cluster (tests/support/postgres_server.py),
# never the package's service.
#
# Debian bookworm ships no pgvector package, so its C source comes from the Go module proxy (the
# only place it is reachable from here): the module zip of the pinned tag, checked against the
# go.sum hash below before anything is built, then compiled with PGXS against the installed server.
set -euo pipefail

PG_MAJOR=15
PGVECTOR_VERSION=0.8.6
# `go mod download -json github.com/pgvector/pgvector@v0.8.6` prints it as "Sum".
PGVECTOR_SUM="h1:6sfeu20BrrzDH+jB/mteFbbk32+HzvSN2y6Fd81TFN8="
BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$BIN/pg_config

say() { echo "install-postgres: $*" >&2; }
installed() {
  [ -x "$BIN/postgres" ] && [ -x "$BIN/initdb" ] && [ -x "$PG_CONFIG" ] || return 1
  local control
  control="$("$PG_CONFIG" --sharedir)/extension/vector.control"
  [ -f "$("$PG_CONFIG" --pkglibdir)/vector.so" ] && [ -f "$control" ] \
    && grep -q "default_version = '$PGVECTOR_VERSION'" "$control"
}
installed && exit 0

if [ "$(id -u)" -ne 0 ]; then
  say "ERROR: missing PostgreSQL $PG_MAJOR with pgvector $PGVECTOR_VERSION: run this script as root"
  exit 1
fi

apt_install() {
  apt-get install -y -q --no-install-recommends "$@" >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$@" >&2; }
}
# The headers should be those of the server that loads the extension: a server already installed
# is kept at its version, with the development package of that very version, when the archive
# still has it (else both are brought to the archive's, together).
server_version=$(dpkg-query -W -f='${Status} ${Version}' "postgresql-$PG_MAJOR" 2>/dev/null \
  | awk '$3 == "installed" {print $4}')
packages=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR")
available=$(apt-cache madison "postgresql-server-dev-$PG_MAJOR")
if [ -n "$server_version" ] && grep -qF "| $server_version |" <<<"$available"; then
  packages=("${packages[@]/%/=$server_version}")
fi
say "installing ${packages[*]}"
apt_install "${packages[@]}" make gcc ca-certificates
command -v go >/dev/null || apt_install golang-go
# The package's postinst may have started its own cluster; the tests want none of it.
if command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster "$PG_MAJOR" main stop >&2 2>/dev/null || true
fi

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
say "downloading pgvector v$PGVECTOR_VERSION from the Go module proxy"
download=$(cd "$work" && GOPATH="$work/go" GOMODCACHE="$work/mod" GOFLAGS=-modcacherw \
  GOPROXY="${GOPROXY:-https://proxy.golang.org}" GOSUMDB=off GO111MODULE=on GOTOOLCHAIN=local \
  go mod download -json "github.com/pgvector/pgvector@v$PGVECTOR_VERSION")
sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p' <<<"$download")
source_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$download")
if [ "$sum" != "$PGVECTOR_SUM" ]; then
  say "ERROR: pgvector v$PGVECTOR_VERSION has the hash '$sum', not the pinned $PGVECTOR_SUM"
  exit 1
fi
cp -r "$source_dir" "$work/pgvector"
chmod -R u+w "$work/pgvector"
say "building pgvector v$PGVECTOR_VERSION"
make -C "$work/pgvector" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" with_llvm=no >&2
make -C "$work/pgvector" PG_CONFIG="$PG_CONFIG" with_llvm=no install >&2
installed || { say "ERROR: pgvector is still missing after the build"; exit 1; }
