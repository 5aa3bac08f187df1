#!/usr/bin/env bash
# Make podman usable on a Docker-less dev or CI machine (see shared/CONTAINERS.md).
#
# Idempotent: installs only what is missing, rewrites containers.conf only when it differs, and
# reuses the tools venv. Prints the tools venv's bin directory on stdout as its last line, so a
# caller can do: PATH="$(scripts/podman-setup.sh | tail -n1):$PATH".
set -euo pipefail

CACHE="${CODA_CACHE:-$HOME/.cache/coda}"
TOOLS_VENV="$CACHE/tools-venv"
PODMAN_COMPOSE_VERSION="1.6.0"
CONF=/etc/containers/containers.conf

log() { printf 'podman-setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get and /etc/containers)"

# --- Debian packages ----------------------------------------------------------------------------
# netavark + aardvark-dns give compose services DNS names, and netavark needs iptables to set up a
# container network ("netavark: No such file or directory" without it); uidmap/slirp are podman's
# usual companions; debootstrap builds the stand-in base images (scripts/standin-images.sh).
PKGS=(podman runc debootstrap netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs
      ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # An apt cache older than a day is refreshed; a fresh CI machine has none.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
    apt-get update -qq || die "apt-get update failed"
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install failed"
fi

# --- containers.conf ----------------------------------------------------------------------------
# crun (the default runtime) fails here with "cgroups in hybrid mode" / "setrlimit RLIMIT_NOFILE";
# runc with the cgroupfs manager and no default ulimits works.
want_conf='[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"'
mkdir -p /etc/containers
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want_conf" ]; then
  if [ -f "$CONF" ]; then cp "$CONF" "$CONF.bak.$(date +%s)"; fi
  printf '%s\n' "$want_conf" > "$CONF"
  log "wrote $CONF"
fi

# --- podman-compose in a tools venv -------------------------------------------------------------
PY="${PYTHON:-python3}"
if [ ! -x "$TOOLS_VENV/bin/podman-compose" ] \
   || ! "$TOOLS_VENV/bin/python" -m pip show podman-compose 2>/dev/null | grep -qx "Version: $PODMAN_COMPOSE_VERSION"; then
  log "installing podman-compose $PODMAN_COMPOSE_VERSION into $TOOLS_VENV"
  "$PY" -m venv "$TOOLS_VENV" || die "cannot create venv $TOOLS_VENV"
  "$TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "podman-compose==$PODMAN_COMPOSE_VERSION" >&2 || die "pip install podman-compose failed"
fi

# --- smoke check: the engine answers and the runtime is the one we configured ------------------
runtime="$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)" || die "podman info failed"
[ "$runtime" = "runc" ] || die "podman runtime is '$runtime', expected runc (check $CONF)"
"$TOOLS_VENV/bin/podman-compose" --version >/dev/null 2>&1 || die "podman-compose does not run"
log "ok: $(podman --version), runtime $runtime, $("$TOOLS_VENV/bin/podman-compose" --version 2>/dev/null | head -n1)"
echo "$TOOLS_VENV/bin"
