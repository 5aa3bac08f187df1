#!/usr/bin/env bash
# Debian's Chromium (driven by Playwright through executable_path; Playwright's own browser
# download is never used) and CJK fonts, so Japanese answers render in screenshots.
set -euo pipefail

say() { echo "install-browser: $*" >&2; }
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || packages+=(fonts-noto-cjk)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  say "ERROR: missing ${packages[*]}: run 'sudo apt-get install ${packages[*]}'"
  exit 1
fi
say "installing ${packages[*]}"
if ! apt-get install -y -q "${packages[@]}" >&2; then
  apt-get update -q >&2
  apt-get install -y -q "${packages[@]}" >&2
fi
[ -x /usr/bin/chromium ] || { say "ERROR: /usr/bin/chromium still missing"; exit 1; }
