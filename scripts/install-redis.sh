#!/usr/bin/env bash
# Debian's redis-server, for the tests of the limits shared between instances: the test fixtures
# start their own server on a free loopback port (tests/support/redis_server.py), never a service.
set -euo pipefail

say() { echo "install-redis: $*" >&2; }
[ -x /usr/bin/redis-server ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  say "ERROR: missing redis-server: run 'sudo apt-get install redis-server'"
  exit 1
fi
say "installing redis-server"
if ! apt-get install -y -q --no-install-recommends redis-server >&2; then
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends redis-server >&2
fi
# The package may start a system service; the tests want none listening on 6379.
if command -v service >/dev/null && service redis-server status >/dev/null 2>&1; then
  service redis-server stop >&2 || true
fi
[ -x /usr/bin/redis-server ] || { say "ERROR: /usr/bin/redis-server still missing"; exit 1; }
