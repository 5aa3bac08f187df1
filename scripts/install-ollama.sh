#!/usr/bin/env bash
# Prints the path of an `ollama` binary of the pinned version (ollama/VERSION), building it from
# the Go module proxy into the cache when there is none. Progress goes to stderr, the path to stdout.
#
#   scripts/install-ollama.sh            # -> /root/.cache/coda/ollama/v0.17.4/bin/ollama
#
# The module zip that `go install` fetches leaves out llama.cpp's vendor/ directory (Go drops every
# vendor/ folder from module zips), so three header-only libraries it includes are missing:
# nlohmann/json and stb_image come from Debian's packages, miniaudio from the sdist of PyPI's
# `miniaudio` package (which carries the same single header). They are put on CGO_CPPFLAGS.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d '[:space:]' < "$root/ollama/VERSION")
cache=${CODA_CACHE:-$HOME/.cache/coda}
dest="$cache/ollama/v$version"
bin="$dest/bin/ollama"
miniaudio_version=1.71

say() { echo "install-ollama: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

binary_version() {
  # `ollama --version` warns on stderr when no server runs; the client version is on the last line.
  "$1" --version 2>&1 | sed -n 's/.*version is \([0-9][0-9.]*\).*/\1/p' | tail -n 1
}

if on_path=$(command -v ollama 2>/dev/null) && [ "$(binary_version "$on_path")" = "$version" ]; then
  echo "$on_path"
  exit 0
fi
if [ -x "$bin" ] && [ "$(binary_version "$bin")" = "$version" ]; then
  echo "$bin"
  exit 0
fi

say "building ollama v$version from the Go module proxy (about 10 minutes on 2 cores)"
command -v go >/dev/null || die "the Go toolchain is missing: install Go 1.24 or newer"
command -v g++ >/dev/null || die "a C++ compiler is missing: apt-get install g++"

headers=(/usr/include/nlohmann/json_fwd.hpp /usr/include/stb/stb_image.h)
missing=()
for header in "${headers[@]}"; do [ -f "$header" ] || missing+=("$header"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "missing ${missing[*]}: run 'sudo apt-get install nlohmann-json3-dev libstb-dev'"
  fi
  say "installing nlohmann-json3-dev and libstb-dev"
  apt-get install -y -q nlohmann-json3-dev libstb-dev >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q nlohmann-json3-dev libstb-dev >&2; } \
    || die "could not install nlohmann-json3-dev libstb-dev"
fi

vendor="$cache/ollama-vendor"
if [ ! -f "$vendor/miniaudio/miniaudio.h" ]; then
  say "fetching miniaudio.h from PyPI's miniaudio==$miniaudio_version sdist"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" \
    "miniaudio==$miniaudio_version" >&2 || die "pip could not download miniaudio==$miniaudio_version"
  tar -xzf "$work/miniaudio-$miniaudio_version.tar.gz" -C "$work"
  mkdir -p "$vendor/miniaudio"
  cp "$work/miniaudio-$miniaudio_version/miniaudio/miniaudio.h" "$vendor/miniaudio/"
fi

mkdir -p "$dest/bin"
CGO_ENABLED=1 \
  CGO_CPPFLAGS="-I$vendor" \
  GOBIN="$dest/bin" \
  GOFLAGS=-buildvcs=false \
  go install -ldflags "-X github.com/ollama/ollama/version.Version=$version" \
  "github.com/ollama/ollama@v$version" >&2 || die "go install github.com/ollama/ollama@v$version failed"

built=$(binary_version "$bin")
[ "$built" = "$version" ] || die "built binary reports version '$built', expected $version"
say "built $bin"
echo "$bin"
