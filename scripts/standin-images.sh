#!/usr/bin/env bash
# Build local STAND-INS for the two official base images our Dockerfiles start FROM, so that
# Dockerfile.web and Dockerfile.ollama build unchanged on a machine with podman but no registry:
#
#   docker.io/library/python:3.11-slim-bookworm   <- stand-in: Debian bookworm minbase + Debian's
#                                                    python3 (3.11), python3-venv, python3-pip, with
#                                                    python/python3/pip in /usr/local/bin
#   docker.io/ollama/ollama:$(cat ollama/VERSION) <- stand-in: Debian bookworm minbase + the runtime
#                                                    libraries + the ollama binary the tests build
#                                                    (scripts/install-ollama.sh), at /usr/bin/ollama
#
# Neither is the real image: the real python image builds CPython from source into /usr/local, and
# the real ollama image is Ubuntu-based and also ships the CUDA/ROCm backends. What the stand-ins
# copy is the part our Dockerfiles rely on: paths, ENTRYPOINT/CMD, ENV and the tools present.
#
# Caching: the root file systems live under ${CODA_CACHE:-$HOME/.cache/coda}/standins/ and are only
# debootstrapped when absent; an image is re-imported only when its inputs (recipe + ollama binary
# checksum) changed, recorded in the image label coda.standin.inputs.
#
# Usage: scripts/standin-images.sh [all|python|ollama|rootfs]   (default: all)
#   CODA_OLLAMA_BIN=/path/to/ollama   use this binary instead of asking scripts/install-ollama.sh
#   CODA_DEBIAN_MIRROR=URL            Debian mirror for debootstrap (default: deb.debian.org)
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CODA_CACHE:-$HOME/.cache/coda}"
STANDINS="$CACHE/standins"
MIRROR="${CODA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
RECIPE_VERSION=1   # bump when the recipe below changes in a way that should rebuild the images

PYTHON_IMAGE="docker.io/library/python:3.11-slim-bookworm"
PYTHON_PKGS="ca-certificates,python3,python3-venv,python3-pip"
# What `ldd ollama` shows beyond minbase (libc, libm, libgcc_s are already there): libstdc++ only.
OLLAMA_PKGS="ca-certificates,libstdc++6"

log() { printf 'standin-images: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"
command -v podman >/dev/null || die "podman missing: run scripts/podman-setup.sh first"
command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/podman-setup.sh first"
mkdir -p "$STANDINS/debs"

# Build $STANDINS/rootfs-NAME with debootstrap unless a finished one is there. The .done marker
# holds the package list, so a changed list rebuilds; the shared deb cache makes a rebuild cheap.
rootfs() {
  local name="$1" pkgs="$2" dir="$STANDINS/rootfs-$1"
  if [ -f "$dir.done" ] && [ "$(cat "$dir.done")" = "$SUITE $pkgs" ]; then
    echo "$dir"; return
  fi
  log "debootstrap $SUITE ($name: $pkgs) into $dir; this takes a few minutes"
  rm -rf "$dir" "$dir.done"
  local t0=$SECONDS
  debootstrap --variant=minbase --include="$pkgs" --cache-dir="$STANDINS/debs" \
    "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; die "debootstrap $name failed (log: $dir.log)"; }
  # Slim it down the way the official slim images do: no apt lists, docs or man pages.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* \
         "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/log/*.log
  : > "$dir/etc/resolv.conf"   # podman provides its own at run time
  echo "$SUITE $pkgs" > "$dir.done"
  log "rootfs $name ready in $((SECONDS - t0)) s ($(du -sh "$dir" | cut -f1))"
  echo "$dir"
}

# STAND-IN ONLY, not in any official image: this machine reaches PyPI through an egress proxy whose
# CA certificates sit in /usr/local/share/ca-certificates. Both stand-ins trust them too, so that
# `pip install` inside a build can verify PyPI. With no such certificates this does nothing.
host_cas_sum() {
  find /usr/local/share/ca-certificates -name '*.crt' -type f -print0 2>/dev/null \
    | sort -z | xargs -0 -r cat | sha256sum | cut -c1-16
}
add_host_cas() {
  local dir="$1"
  mkdir -p "$dir/usr/local/share/ca-certificates"
  find "$dir/usr/local/share/ca-certificates" -name '*.crt' -delete
  find /usr/local/share/ca-certificates -name '*.crt' -type f -exec cp {} "$dir/usr/local/share/ca-certificates/" \; 2>/dev/null || true
  chroot "$dir" /usr/sbin/update-ca-certificates --fresh >/dev/null 2>&1 || die "update-ca-certificates failed in $dir"
}

label_of() { podman image inspect --format '{{index .Labels "coda.standin.inputs"}}' "$1" 2>/dev/null || true; }

import_rootfs() {  # dir image inputs change...
  local dir="$1" image="$2" inputs="$3"; shift 3
  local args=()
  for c in "$@"; do args+=(--change "$c"); done
  tar --numeric-owner -C "$dir" -c . | podman import "${args[@]}" \
    --change "LABEL coda.standin.inputs=$inputs" \
    --change "LABEL coda.standin=true" --quiet - "$image" >/dev/null || die "podman import $image failed"
  log "imported $image ($(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

build_python() {
  local inputs="r$RECIPE_VERSION $SUITE $PYTHON_PKGS $(host_cas_sum)"
  inputs="$(printf '%s' "$inputs" | sha256sum | cut -c1-16)"
  if [ "$(label_of "$PYTHON_IMAGE")" = "$inputs" ]; then log "$PYTHON_IMAGE up to date"; return; fi
  local dir; dir="$(rootfs python "$PYTHON_PKGS")"
  # The official image has python, python3, pip, pip3 in /usr/local/bin and lets pip install into
  # the system interpreter; Debian marks its Python externally managed (PEP 668), so drop the marker.
  ln -sf /usr/bin/python3 "$dir/usr/local/bin/python3"
  ln -sf /usr/bin/python3 "$dir/usr/local/bin/python"
  for p in pip pip3; do
    printf '#!/bin/sh\nexec /usr/bin/python3 -m pip "$@"\n' > "$dir/usr/local/bin/$p"
    chmod 0755 "$dir/usr/local/bin/$p"
  done
  rm -f "$dir"/usr/lib/python3.*/EXTERNALLY-MANAGED
  add_host_cas "$dir"
  local ver; ver="$(chroot "$dir" /usr/bin/python3 -c 'import platform; print(platform.python_version())')"
  import_rootfs "$dir" "$PYTHON_IMAGE" "$inputs" \
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV LANG=C.UTF-8" "ENV PYTHON_VERSION=$ver" 'CMD ["python3"]' \
    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt"   # stand-in only: the system store above
}

ollama_bin() {
  if [ -n "${CODA_OLLAMA_BIN:-}" ]; then echo "$CODA_OLLAMA_BIN"; return; fi
  [ -x "$HERE/scripts/install-ollama.sh" ] || die "scripts/install-ollama.sh missing; set CODA_OLLAMA_BIN"
  "$HERE/scripts/install-ollama.sh" | tail -n1
}

build_ollama() {
  local version bin sum inputs image
  version="$(tr -d '[:space:]' < "$HERE/ollama/VERSION")"
  image="docker.io/ollama/ollama:$version"
  bin="$(ollama_bin)"
  [ -x "$bin" ] || die "ollama binary not executable: '$bin'"
  "$bin" --version >/dev/null 2>&1 || die "'$bin --version' fails"
  sum="$(sha256sum "$bin" | cut -d' ' -f1)"
  # A build from source may put the ggml backends beside the binary in lib/ollama, like the release
  # tarball does; the official image keeps them in /usr/lib/ollama.
  local libdir; libdir="$(dirname "$bin")/../lib/ollama"
  local libsum=none
  if [ -d "$libdir" ]; then libsum="$(cd "$libdir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"; fi
  inputs="$(printf 'r%s %s %s %s %s %s' "$RECIPE_VERSION" "$SUITE" "$OLLAMA_PKGS" "$sum" "$libsum" \
    "$(host_cas_sum)" | sha256sum | cut -c1-16)"
  if [ "$(label_of "$image")" = "$inputs" ]; then log "$image up to date"; return; fi
  local dir; dir="$(rootfs ollama "$OLLAMA_PKGS")"
  add_host_cas "$dir"
  install -m 0755 "$bin" "$dir/usr/bin/ollama"    # /bin -> usr/bin (merged /usr), so /bin/ollama works
  rm -rf "$dir/usr/lib/ollama"
  if [ -d "$libdir" ]; then mkdir -p "$dir/usr/lib/ollama" && cp -a "$libdir/." "$dir/usr/lib/ollama/"; fi
  local missing; missing="$(chroot "$dir" ldd /usr/bin/ollama 2>&1 | grep 'not found' || true)"
  [ -z "$missing" ] || die "the ollama binary misses libraries in the stand-in: $missing"
  chroot "$dir" /usr/bin/ollama --version >/dev/null 2>&1 || die "ollama does not run inside the stand-in rootfs"
  # ENV, EXPOSE, ENTRYPOINT and CMD as the official image declares them.
  import_rootfs "$dir" "$image" "$inputs" \
    "ENV PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64" \
    "ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility" "ENV NVIDIA_VISIBLE_DEVICES=all" \
    "ENV OLLAMA_HOST=0.0.0.0:11434" "EXPOSE 11434" \
    'ENTRYPOINT ["/bin/ollama"]' 'CMD ["serve"]'
}

case "${1:-all}" in
  rootfs) rootfs python "$PYTHON_PKGS" >/dev/null; rootfs ollama "$OLLAMA_PKGS" >/dev/null ;;
  python) build_python ;;
  ollama) build_ollama ;;
  all)    build_python; build_ollama ;;
  *) die "usage: $0 [all|python|ollama|rootfs]" ;;
esac
