#!/bin/sh
# Creates an Ollama model from a GGUF file and a Modelfile: the one path every model takes into
# Ollama, whether TinySwallow baked into the image, TinySwallow for `make run`, or the small test
# model the test suite loads.
#
#   ollama/create-model.sh [--serve] GGUF MODELFILE NAME
#
# The Modelfile's FROM line is replaced by the GGUF's path, so one Modelfile serves any quantization
# and any location. Talks to the server at $OLLAMA_HOST; with --serve, starts a temporary
# `ollama serve` there first and stops it afterwards (what an image build needs). $OLLAMA_BIN names
# the binary (default: `ollama` on PATH).
set -eu

serve=0
if [ "${1:-}" = "--serve" ]; then
  serve=1
  shift
fi
if [ $# -ne 3 ]; then
  echo "usage: $0 [--serve] GGUF MODELFILE NAME" >&2
  exit 2
fi
gguf=$1
modelfile=$2
name=$3
ollama=${OLLAMA_BIN:-ollama}

[ -f "$gguf" ] || { echo "create-model: no GGUF file at $gguf" >&2; exit 1; }
[ -f "$modelfile" ] || { echo "create-model: no Modelfile at $modelfile" >&2; exit 1; }
case $gguf in /*) ;; *) gguf="$(pwd)/$gguf" ;; esac

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

{
  echo "FROM $gguf"
  grep -v '^FROM ' "$modelfile"
} > "$work/Modelfile"

if [ "$serve" = 1 ]; then
  "$ollama" serve > "$work/serve.log" 2>&1 &
  server_pid=$!
fi

# Wait for the server: `ollama list` fails until it answers.
tries=0
until "$ollama" list > /dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    echo "create-model: no Ollama server answered at ${OLLAMA_HOST:-127.0.0.1:11434}" >&2
    [ -f "$work/serve.log" ] && tail -n 20 "$work/serve.log" >&2
    exit 1
  fi
  if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
    echo "create-model: ollama serve exited:" >&2
    tail -n 20 "$work/serve.log" >&2
    exit 1
  fi
  sleep 0.5
done

"$ollama" create "$name" -f "$work/Modelfile"
echo "create-model: created $name from $(basename "$gguf")" >&2
