#!/usr/bin/env bash
# Deploy coda to Cloud Run from an empty project: APIs, Artifact Registry, service accounts, the
# secrets, both images (Cloud Build), the private model service, the IAM binding, the web service
# behind Identity-Aware Proxy (or public, with limits, when asked).
#
#   scripts/deploy-cloud-run.sh PROJECT_ID REGION gpu|cpu|vllm [--dry-run] [--skip-build] [--public]
#
# Variants: gpu and cpu run Ollama (Dockerfile.ollama) on an NVIDIA L4 or on CPU only; vllm runs
# vLLM's OpenAI-compatible server (Dockerfile.vllm) on an L4, and the web app talks to it with
# CODA_PROVIDER=openai. docs/deploy-cloud-run.md, "Ollama or vLLM", says which to choose.
#
# Settings (environment):
#   MAX_INSTANCES        model service max instances (default 1: a GPU instance is the big cost)
#   MIN_INSTANCES        model service min instances, 0 (scale to zero, cold starts) or 1 (warm)
#   OLLAMA_NUM_PARALLEL  (gpu, cpu) sequences Ollama decodes at once = the service's concurrency
#                        (default 4 on gpu, 2 on cpu)
#   VLLM_MAX_NUM_SEQS    (vllm) sequences vLLM batches at once = the service's concurrency
#                        (default 64: what the L4's KV cache holds at the full context)
#   WEB_MAX_INSTANCES    web max instances (default 1: the limits are counted in its memory)
#   TAG                  image tag (default: the git commit, else a timestamp)
#   REPO                 Artifact Registry repository (default coda)
#   CODA_MODEL           the model's name on the model server (default tinyswallow:1.5b)
#
# The knowledge base (gpu, cpu; docs/deploy-cloud-run.md, "The knowledge base"), off unless:
#   KNOWLEDGE_BUCKET     a Cloud Storage bucket holding the index (`python -m coda.knowledge
#                        index`), mounted read-only into the web service at /knowledge; the web
#                        service account is granted roles/storage.objectViewer on it
#   KNOWLEDGE_OBJECT     the index's object name in it (default index.sqlite); it must exist
#   EMBEDDING_MODEL      the embedding model the Ollama image bakes and the index was built with
#                        (default bge-m3:567m)
#
# Who may chat (docs/deploy-cloud-run.md, "Who may chat, how much, what it may cost"):
#   by default IAP on the web service, and only these members may pass it:
#   IAP_MEMBERS          comma-separated principals: user:ada@example.com,group:team@example.com,
#                        domain:example.com (required unless --public)
#   --public             no sign-in: anyone with the URL may chat, and the limits below are on
#   ANSWERS_PER_MINUTE, ANSWERS_PER_DAY, STREAMS_PER_USER, TOKENS_PER_DAY
#                        per-user limits, 0 for none (public: 5, 100, 1, 50000; IAP: 0, 0, 2, 0)
#   STREAMS_PER_INSTANCE answers one web instance streams at once (default: what the model
#                        servers decode at once, MAX_INSTANCES x their concurrency)
# The limits are counted in the web instance's memory, so WEB_MAX_INSTANCES defaults to 1 (one
# instance streams 250 answers at once, far more than the model server); more instances would
# each count on their own.
#
# CODA_SECRET_KEY (signs the session cookie that carries the CSRF token) must be the same on every
# web instance, so it lives in the Secret Manager secret coda-secret-key: created on the first
# deploy with a random value that is piped to gcloud and never printed, readable by the web
# service account only, and pinned by version number in the web service (rotation: add a version,
# then deploy again; see docs/deploy-cloud-run.md). The vllm variant keeps vLLM's API key the same
# way, in coda-vllm-api-key, readable by the web and vLLM service accounts only.
#
# --dry-run prints the rendered service YAML and the commands instead of running them (a secret
# value is neither generated nor printed: a placeholder stands in for it).
# `scripts/deploy-cloud-run.sh --render FILE` renders one template with the current environment
# (what the tests use to check the templates).
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
log() { printf 'deploy: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The placeholders the templates in cloudrun/ may use; anything else left as ${...} is an error.
PLACEHOLDERS=(REGION OLLAMA_SERVICE OLLAMA_SA OLLAMA_IMAGE OLLAMA_NUM_PARALLEL MIN_INSTANCES
              MAX_INSTANCES WEB_SERVICE WEB_SA WEB_IMAGE WEB_MAX_INSTANCES OLLAMA_URL CODA_MODEL
              SECRET_KEY_SECRET SECRET_KEY_VERSION VLLM_SERVICE VLLM_SA VLLM_IMAGE
              VLLM_MAX_NUM_SEQS VLLM_URL API_KEY_SECRET API_KEY_VERSION GMP_CONFIG_SECRET
              GMP_CONFIG_VERSION
              WEB_IAP CODA_AUTH IAP_AUDIENCE ANSWERS_PER_MINUTE ANSWERS_PER_DAY STREAMS_PER_USER
              TOKENS_PER_DAY STREAMS_PER_INSTANCE KNOWLEDGE_BUCKET KNOWLEDGE_OBJECT EMBEDDING_MODEL)
# Those that may be empty (a public deployment has no IAP audience).
MAY_BE_EMPTY=" IAP_AUDIENCE "

render() {  # render TEMPLATE -> stdout, every placeholder replaced by its variable's value
  local file="$1" out name value
  # The knowledge base's lines (between ">>> knowledge" and "<<< knowledge") only with a bucket.
  if [ -n "${KNOWLEDGE_BUCKET:-}" ]; then
    out="$(cat "$file")"
  else
    out="$(sed '/# >>> knowledge/,/# <<< knowledge/d' "$file")"
  fi
  for name in "${PLACEHOLDERS[@]}"; do
    case "$out" in *"\${$name}"*) ;; *) continue ;; esac
    case "$MAY_BE_EMPTY" in *" $name "*) ;; *) [ -n "${!name:-}" ] || die "$file needs $name, which is not set" ;; esac
    value="${!name}"
    out="${out//\$\{$name\}/$value}"
  done
  if grep -q '\${' <<<"$out"; then
    die "unfilled placeholders in $file: $(grep -o '\${[A-Z_]*}' <<<"$out" | sort -u | tr '\n' ' ')"
  fi
  printf '%s\n' "$out"
}

if [ "${1:-}" = "--render" ]; then
  [ $# -eq 2 ] || die "usage: $0 --render TEMPLATE"
  render "$2"
  exit 0
fi

[ $# -ge 3 ] || die "usage: $0 PROJECT_ID REGION gpu|cpu|vllm [--dry-run] [--skip-build] [--public]"
PROJECT_ID="$1"; REGION="$2"; VARIANT="$3"; shift 3
DRY_RUN=0; SKIP_BUILD=0; PUBLIC=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --public) PUBLIC=1 ;;
    *) die "unknown option $arg" ;;
  esac
done

# L4 GPUs on Cloud Run exist only in some regions (list as of the Cloud Run docs in 2025; it grows).
L4_REGIONS="us-central1 us-east4 europe-west1 europe-west4 asia-southeast1 asia-south1"
case "$VARIANT" in
  gpu) SERVER=ollama; QUANT=q8_0; DEFAULT_PARALLEL=4 ;;
  cpu) SERVER=ollama; QUANT=q5_k_m; DEFAULT_PARALLEL=2 ;;
  vllm) SERVER=vllm ;;
  *) die "variant must be gpu, cpu or vllm, not '$VARIANT'" ;;
esac
if [ "$VARIANT" != cpu ]; then
  case " $L4_REGIONS " in
    *" $REGION "*) ;;
    *) log "warning: $REGION is not among the L4 regions we know ($L4_REGIONS); the deploy may fail" ;;
  esac
fi

export REGION
export MAX_INSTANCES="${MAX_INSTANCES:-1}"
export MIN_INSTANCES="${MIN_INSTANCES:-0}"
export WEB_MAX_INSTANCES="${WEB_MAX_INSTANCES:-1}"
export CODA_MODEL="${CODA_MODEL:-tinyswallow:1.5b}"
# Must equal Dockerfile.ollama's EMBEDDING_MODEL default (tests/unit/deploy check it).
export EMBEDDING_MODEL="${EMBEDDING_MODEL:-bge-m3:567m}"
export KNOWLEDGE_BUCKET="${KNOWLEDGE_BUCKET:-}" KNOWLEDGE_OBJECT="${KNOWLEDGE_OBJECT:-index.sqlite}"
REPO="${REPO:-coda}"
TAG="${TAG:-$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)}"
case "$MIN_INSTANCES" in 0|1) ;; *) die "MIN_INSTANCES must be 0 or 1" ;; esac
[[ "$MAX_INSTANCES" =~ ^[1-9][0-9]*$ ]] || die "MAX_INSTANCES must be a positive integer"
[[ "$WEB_MAX_INSTANCES" =~ ^[1-9][0-9]*$ ]] || die "WEB_MAX_INSTANCES must be a positive integer"
if [ -n "$KNOWLEDGE_BUCKET" ]; then
  [ "$VARIANT" != vllm ] || die "KNOWLEDGE_BUCKET: the vllm variant serves no embedding model; deploy gpu or cpu"
  [[ "$KNOWLEDGE_BUCKET" =~ ^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$ ]] \
    || die "KNOWLEDGE_BUCKET must be a bucket name (lower case, digits, . _ -), without gs://"
  [[ "$KNOWLEDGE_OBJECT" =~ ^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$ && "$KNOWLEDGE_OBJECT" != *..* ]] \
    || die "KNOWLEDGE_OBJECT must be an object name such as index.sqlite or indexes/2026-06-01.sqlite"
fi

export OLLAMA_SERVICE=coda-ollama VLLM_SERVICE=coda-vllm WEB_SERVICE=coda-web
export OLLAMA_SA="coda-ollama@${PROJECT_ID}.iam.gserviceaccount.com"
export VLLM_SA="coda-vllm@${PROJECT_ID}.iam.gserviceaccount.com"
export WEB_SA="coda-web@${PROJECT_ID}.iam.gserviceaccount.com"
export SECRET_KEY_SECRET=coda-secret-key API_KEY_SECRET=coda-vllm-api-key
export GMP_CONFIG_SECRET=coda-gmp-config
REGISTRY="${REGION}-docker.pkg.dev/${PROJECT_ID}/${REPO}"
export WEB_IMAGE="${REGISTRY}/web:${TAG}"
if [ "$SERVER" = ollama ]; then
  export OLLAMA_NUM_PARALLEL="${OLLAMA_NUM_PARALLEL:-$DEFAULT_PARALLEL}"
  [[ "$OLLAMA_NUM_PARALLEL" =~ ^[1-9][0-9]*$ ]] || die "OLLAMA_NUM_PARALLEL must be a positive integer"
  export OLLAMA_IMAGE="${REGISTRY}/ollama:${TAG}-${QUANT}"
  MODEL_SERVICE=$OLLAMA_SERVICE MODEL_SA=$OLLAMA_SA
  MODEL_TEMPLATE="$HERE/cloudrun/ollama-$VARIANT.yaml" WEB_TEMPLATE="$HERE/cloudrun/web.yaml"
  BUILD_CONFIG="$HERE/cloudbuild.yaml"
  BUILD_SUBSTITUTIONS="_REGION=$REGION,_REPO=$REPO,_TAG=$TAG,_QUANT=$QUANT,_EMBEDDING_MODEL=$EMBEDDING_MODEL"
  SIZING="$QUANT, parallel $OLLAMA_NUM_PARALLEL"
else
  export VLLM_MAX_NUM_SEQS="${VLLM_MAX_NUM_SEQS:-64}"
  [[ "$VLLM_MAX_NUM_SEQS" =~ ^[1-9][0-9]*$ ]] || die "VLLM_MAX_NUM_SEQS must be a positive integer"
  export VLLM_IMAGE="${REGISTRY}/vllm:${TAG}"
  MODEL_SERVICE=$VLLM_SERVICE MODEL_SA=$VLLM_SA
  MODEL_TEMPLATE="$HERE/cloudrun/vllm-gpu.yaml" WEB_TEMPLATE="$HERE/cloudrun/web-vllm.yaml"
  BUILD_CONFIG="$HERE/cloudbuild.vllm.yaml" BUILD_SUBSTITUTIONS="_REGION=$REGION,_REPO=$REPO,_TAG=$TAG"
  SIZING="max-num-seqs $VLLM_MAX_NUM_SEQS"
fi

# Who may chat, and how much. IAP by default; --public opens the service and turns the limits on.
if [ "$PUBLIC" = 1 ]; then
  export CODA_AUTH=none WEB_IAP=false
  defaults=(5 100 1 50000)
else
  export CODA_AUTH=iap WEB_IAP=true
  defaults=(0 0 2 0)
  [ -n "${IAP_MEMBERS:-}" ] || die "IAP_MEMBERS is required (who may chat through IAP, e.g. \
IAP_MEMBERS=user:ada@example.com,group:team@example.com), unless you deploy --public"
  IFS=, read -r -a MEMBERS <<<"$IAP_MEMBERS"
  for member in "${MEMBERS[@]}"; do
    [[ "$member" =~ ^(user|group|domain|serviceAccount):[^[:space:]]+$ ]] \
      || die "IAP_MEMBERS: '$member' is not user:EMAIL, group:EMAIL, domain:DOMAIN or serviceAccount:EMAIL"
  done
fi
export ANSWERS_PER_MINUTE="${ANSWERS_PER_MINUTE:-${defaults[0]}}"
export ANSWERS_PER_DAY="${ANSWERS_PER_DAY:-${defaults[1]}}"
export STREAMS_PER_USER="${STREAMS_PER_USER:-${defaults[2]}}"
export TOKENS_PER_DAY="${TOKENS_PER_DAY:-${defaults[3]}}"
# The model servers decode MAX_INSTANCES x their concurrency at once; more would queue there.
MODEL_CONCURRENCY=$(( MAX_INSTANCES * ${OLLAMA_NUM_PARALLEL:-${VLLM_MAX_NUM_SEQS:-1}} ))
(( MODEL_CONCURRENCY <= 250 )) || MODEL_CONCURRENCY=250  # CODA_CONCURRENCY in cloudrun/web*.yaml
export STREAMS_PER_INSTANCE="${STREAMS_PER_INSTANCE:-$MODEL_CONCURRENCY}"
for name in ANSWERS_PER_MINUTE ANSWERS_PER_DAY STREAMS_PER_USER TOKENS_PER_DAY STREAMS_PER_INSTANCE; do
  [[ "${!name}" =~ ^[0-9]+$ ]] || die "$name must be a whole number (0: no limit)"
done

# The ceiling on cost: every instance that may exist, running around the clock, at the prices of
# docs/deploy-cloud-run.md ("What it costs"; USD per hour, tier-1 regions). Instance-based GPU
# billing makes the GPU variants' ceiling real whenever instances are up; the rest is busy time.
case "$VARIANT" in gpu|vllm) MODEL_HOURLY=1.42 ;; cpu) MODEL_HOURLY=0.42 ;; esac
WEB_HOURLY=0.09
ceiling() {  # ceiling: "$X a day, $Y a month" at MAX_INSTANCES and WEB_MAX_INSTANCES
  awk -v m="$MAX_INSTANCES" -v mh="$MODEL_HOURLY" -v w="$WEB_MAX_INSTANCES" -v wh="$WEB_HOURLY" \
    'BEGIN { h = m * mh + w * wh; printf "$%.2f a day, $%.0f a month (730 h)", h * 24, h * 730 }'
}

run() {  # run a command, or only print it with --dry-run
  if [ "$DRY_RUN" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
gc() { run gcloud --project "$PROJECT_ID" --quiet "$@"; }
exists() { [ "$DRY_RUN" = 0 ] && gcloud --project "$PROJECT_ID" --quiet "$@" >/dev/null 2>&1; }

add_secret_version() {  # add_secret_version NAME: a new random value, stdin to gcloud, never printed
  if [ "$DRY_RUN" = 1 ]; then
    printf '+ gcloud --project %s --quiet secrets versions add %s --data-file - %s\n' \
      "$PROJECT_ID" "$1" "< <a new random value, generated at deploy time, never printed>"
    return
  fi
  python3 -c 'import secrets, sys; sys.stdout.write(secrets.token_urlsafe(48))' \
    | gcloud --project "$PROJECT_ID" --quiet secrets versions add "$1" --data-file - >/dev/null
}

newest_secret_version() {  # newest_secret_version NAME: the newest enabled version's number, or nothing
  gcloud --project "$PROJECT_ID" --quiet secrets versions list "$1" \
    --filter 'state=ENABLED' --sort-by '~createTime' --limit 1 --format 'value(name.basename())'
}

pinned_secret() {  # pinned_secret NAME ACCOUNT...: the secret, with a random first version, readable
  # by ACCOUNTs only; sets PINNED to its newest enabled version (a services' secretKeyRef pins it)
  local name="$1" account; shift
  exists secrets describe "$name" \
    || gc secrets create "$name" --replication-policy automatic --labels app=coda
  if [ "$DRY_RUN" = 1 ]; then
    log "(if $name has no enabled version yet, one is added:)"
    add_secret_version "$name"
    PINNED=VERSION  # shown in the rendered services; a real deploy pins a number
  else
    PINNED="$(newest_secret_version "$name")"
    if [ -z "$PINNED" ]; then
      add_secret_version "$name"
      PINNED="$(newest_secret_version "$name")"
    fi
    [ -n "$PINNED" ] || die "$name has no enabled version"
  fi
  for account in "$@"; do
    gc secrets add-iam-policy-binding "$name" \
      --member "serviceAccount:$account" --role roles/secretmanager.secretAccessor
  done
}

apply_service() {  # apply_service TEMPLATE: render, then `gcloud run services replace`
  local rendered; rendered="$(mktemp --suffix .yaml)"
  render "$1" > "$rendered"
  if [ "$DRY_RUN" = 1 ]; then printf -- '--- %s\n' "$1"; cat "$rendered"; fi
  gc run services replace "$rendered" --region "$REGION"
  rm -f "$rendered"
}

[ "$DRY_RUN" = 1 ] || command -v gcloud >/dev/null || die "gcloud not found: install the Google Cloud CLI"
[ "$DRY_RUN" = 1 ] || command -v python3 >/dev/null || die "python3 not found: it generates the secret key"
log "project $PROJECT_ID, region $REGION, variant $VARIANT ($SIZING, instances $MIN_INSTANCES..$MAX_INSTANCES), tag $TAG"
if [ "$PUBLIC" = 1 ]; then
  log "access: PUBLIC, anyone with the URL may chat; limits per client address: $ANSWERS_PER_MINUTE a minute, $ANSWERS_PER_DAY a day, $STREAMS_PER_USER at once, $TOKENS_PER_DAY tokens a day"
else
  log "access: IAP, only $IAP_MEMBERS; limits per user: $ANSWERS_PER_MINUTE a minute, $ANSWERS_PER_DAY a day, $STREAMS_PER_USER at once, $TOKENS_PER_DAY tokens a day (0: none)"
fi
if [ -n "$KNOWLEDGE_BUCKET" ]; then
  log "knowledge base: gs://$KNOWLEDGE_BUCKET/$KNOWLEDGE_OBJECT, read-only at /knowledge, embedding model $EMBEDDING_MODEL"
else
  log "knowledge base: none (set KNOWLEDGE_BUCKET to mount an index)"
fi
log "cost ceiling: at most $MAX_INSTANCES model-server instance(s) at \$$MODEL_HOURLY/h and $WEB_MAX_INSTANCES web at \$$WEB_HOURLY/h: $(ceiling) if all ran around the clock"

log "1/8 enabling APIs"
gc services enable run.googleapis.com artifactregistry.googleapis.com cloudbuild.googleapis.com \
  iam.googleapis.com secretmanager.googleapis.com iap.googleapis.com monitoring.googleapis.com \
  ${KNOWLEDGE_BUCKET:+storage.googleapis.com}

log "2/8 Artifact Registry repository $REPO"
exists artifacts repositories describe "$REPO" --location "$REGION" \
  || gc artifacts repositories create "$REPO" --repository-format docker --location "$REGION" \
       --description "coda images"

log "3/8 service accounts (no project roles: each can do only what is granted on a service)"
exists iam service-accounts describe "$MODEL_SA" \
  || gc iam service-accounts create "coda-$SERVER" --display-name "coda model service ($SERVER)"
exists iam service-accounts describe "$WEB_SA" \
  || gc iam service-accounts create coda-web --display-name "coda web service (invokes the model service)"

log "4/8 the web tier's CODA_SECRET_KEY in Secret Manager ($SECRET_KEY_SECRET), readable by coda-web only"
pinned_secret "$SECRET_KEY_SECRET" "$WEB_SA"
export SECRET_KEY_VERSION="$PINNED"
if [ "$SERVER" = vllm ]; then
  log "4/8 vLLM's API key in Secret Manager ($API_KEY_SECRET), readable by coda-web and coda-vllm only"
  pinned_secret "$API_KEY_SECRET" "$WEB_SA" "$VLLM_SA"
  export API_KEY_VERSION="$PINNED"
fi

log "4/8 the metrics sidecar's scrape config ($GMP_CONFIG_SECRET, cloudrun/gmp-config.yaml); coda-web writes metrics"
exists secrets describe "$GMP_CONFIG_SECRET" \
  || gc secrets create "$GMP_CONFIG_SECRET" --replication-policy automatic --labels app=coda
gc secrets versions add "$GMP_CONFIG_SECRET" --data-file "$HERE/cloudrun/gmp-config.yaml"
if [ "$DRY_RUN" = 1 ]; then
  export GMP_CONFIG_VERSION=VERSION
else
  GMP_CONFIG_VERSION="$(newest_secret_version "$GMP_CONFIG_SECRET")"
  export GMP_CONFIG_VERSION
fi
gc secrets add-iam-policy-binding "$GMP_CONFIG_SECRET" \
  --member "serviceAccount:$WEB_SA" --role roles/secretmanager.secretAccessor
gc projects add-iam-policy-binding "$PROJECT_ID" \
  --member "serviceAccount:$WEB_SA" --role roles/monitoring.metricWriter --condition None

if [ -n "$KNOWLEDGE_BUCKET" ]; then
  log "4/8 the knowledge base's index gs://$KNOWLEDGE_BUCKET/$KNOWLEDGE_OBJECT, readable by coda-web"
  # The web tier stops at start without its index: refuse now rather than deploy a failing revision.
  if [ "$DRY_RUN" = 0 ] && ! gcloud --project "$PROJECT_ID" --quiet storage objects describe \
       "gs://$KNOWLEDGE_BUCKET/$KNOWLEDGE_OBJECT" >/dev/null 2>&1; then
    die "gs://$KNOWLEDGE_BUCKET/$KNOWLEDGE_OBJECT does not exist (or cannot be read): build the index and \
gcloud storage cp it there first (docs/deploy-cloud-run.md, \"The knowledge base\")"
  fi
  gc storage buckets add-iam-policy-binding "gs://$KNOWLEDGE_BUCKET" \
    --member "serviceAccount:$WEB_SA" --role roles/storage.objectViewer
fi

if [ "$SKIP_BUILD" = 0 ]; then
  log "5/8 building and pushing both images with Cloud Build ($(basename "$BUILD_CONFIG"))"
  gc builds submit "$HERE" --config "$BUILD_CONFIG" --substitutions "$BUILD_SUBSTITUTIONS"
else
  log "5/8 skipping the image build (--skip-build): the $SERVER image and $WEB_IMAGE must exist"
fi

log "6/8 $SERVER service ($VARIANT), private"
apply_service "$MODEL_TEMPLATE"
# `services replace` never makes a service public; remove a public binding left from earlier.
if [ "$DRY_RUN" = 1 ] || gcloud --project "$PROJECT_ID" run services get-iam-policy "$MODEL_SERVICE" \
     --region "$REGION" --format 'value(bindings.members)' 2>/dev/null | grep -q allUsers; then
  gc run services remove-iam-policy-binding "$MODEL_SERVICE" --region "$REGION" \
    --member allUsers --role roles/run.invoker || true
fi

log "7/8 only the web service account may invoke $MODEL_SERVICE"
gc run services add-iam-policy-binding "$MODEL_SERVICE" --region "$REGION" \
  --member "serviceAccount:$WEB_SA" --role roles/run.invoker
if [ "$DRY_RUN" = 1 ]; then
  MODEL_URL="https://${MODEL_SERVICE}-PROJECTHASH.${REGION}.run.app"
else
  MODEL_URL="$(gcloud --project "$PROJECT_ID" run services describe "$MODEL_SERVICE" \
    --region "$REGION" --format 'value(status.url)')"
fi
if [ "$SERVER" = ollama ]; then export OLLAMA_URL="$MODEL_URL"; else export VLLM_URL="$MODEL_URL"; fi

if [ "$DRY_RUN" = 1 ]; then
  PROJECT_NUMBER=PROJECT_NUMBER
else
  PROJECT_NUMBER="$(gcloud projects describe "$PROJECT_ID" --format 'value(projectNumber)')"
  [ -n "$PROJECT_NUMBER" ] || die "could not read the number of project $PROJECT_ID"
fi
if [ "$PUBLIC" = 1 ]; then
  export IAP_AUDIENCE=""
  log "8/8 web service, PUBLIC with limits, calling $MODEL_URL with an identity token, secret key version $SECRET_KEY_VERSION"
  apply_service "$WEB_TEMPLATE"
  gc run services add-iam-policy-binding "$WEB_SERVICE" --region "$REGION" \
    --member allUsers --role roles/run.invoker
else
  # The audience IAP signs its assertions for when it sits on the Cloud Run service itself
  # (Google's "Securing your app with signed headers"): the project NUMBER, not its id.
  export IAP_AUDIENCE="/projects/${PROJECT_NUMBER}/locations/${REGION}/services/${WEB_SERVICE}"
  log "8/8 web service behind IAP ($IAP_AUDIENCE), calling $MODEL_URL with an identity token, secret key version $SECRET_KEY_VERSION"
  gc beta services identity create --service iap.googleapis.com
  apply_service "$WEB_TEMPLATE"
  # IAP calls the service as its own service agent; nobody else may invoke it directly.
  gc run services add-iam-policy-binding "$WEB_SERVICE" --region "$REGION" \
    --member "serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-iap.iam.gserviceaccount.com" \
    --role roles/run.invoker
  if [ "$DRY_RUN" = 1 ] || gcloud --project "$PROJECT_ID" run services get-iam-policy "$WEB_SERVICE" \
       --region "$REGION" --format 'value(bindings.members)' 2>/dev/null | grep -q allUsers; then
    gc run services remove-iam-policy-binding "$WEB_SERVICE" --region "$REGION" \
      --member allUsers --role roles/run.invoker || true
  fi
  for member in "${MEMBERS[@]}"; do
    gc beta iap web add-iam-policy-binding --resource-type cloud-run --service "$WEB_SERVICE" \
      --region "$REGION" --member "$member" --role roles/iap.httpsResourceAccessor
  done
fi

if [ "$DRY_RUN" = 0 ]; then
  url="$(gcloud --project "$PROJECT_ID" run services describe "$WEB_SERVICE" --region "$REGION" \
    --format 'value(status.url)')"
  log "done"
  echo "$url"
fi
