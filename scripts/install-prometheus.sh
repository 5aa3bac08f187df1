#!/usr/bin/env bash
# Prints the path of a Prometheus server binary for the metrics test (tests/integration/
# test_metrics.py), which starts its own on a free loopback port. Progress goes to stderr, the
# path to stdout.
#
#   scripts/install-prometheus.sh            # -> /usr/bin/prometheus, or the cache's copy
#
# It is Debian's `prometheus` package. Installing the package with apt-get would also start the
# system's Prometheus daemon (its postinst starts the init script), which the tests do not want
# running on a shared machine; so the package is fetched with `apt-get download` and unpacked into
# the cache instead (the binary is static; no daemon, no root needed once apt's lists are there).
set -euo pipefail

cache=${CODA_CACHE:-$HOME/.cache/coda}
dest="$cache/prometheus"
bin="$dest/usr/bin/prometheus"

say() { echo "install-prometheus: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if [ -x /usr/bin/prometheus ]; then
  echo /usr/bin/prometheus
  exit 0
fi
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get is missing: install Debian's prometheus package"
work=$(mktemp -d)
chmod 755 "$work"  # apt downloads as its own user, _apt
trap 'rm -rf "$work"' EXIT
say "fetching Debian's prometheus package into $dest"
if ! (cd "$work" && apt-get download prometheus >&2); then
  [ "$(id -u)" -eq 0 ] || die "apt-get download prometheus failed: run 'sudo apt-get update' first"
  apt-get update -q >&2
  (cd "$work" && apt-get download prometheus >&2) || die "apt-get download prometheus failed"
fi
rm -rf "$dest"
mkdir -p "$dest"
dpkg-deb -x "$work"/prometheus_*.deb "$dest"
[ -x "$bin" ] || die "$bin is missing from the package"
"$bin" --version >&2 || die "$bin does not run"
echo "$bin"
