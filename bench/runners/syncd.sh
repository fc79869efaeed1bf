#!/usr/bin/env bash
# syncd as a runner of the external peers harness (peers.sh, not in this repository; how
# its ops map: bench/README.md): syncd brings its own server, so `serve` imports the corpus
# into a syncd library (cached per corpus, bench/syncd_serve.py) and serves it; mirror/cycle
# are `syncd sync --once`, daemon is `syncd run`.
#   ./peers.sh --runner "$REPO/bench/runners/syncd.sh" --work /tmp/syncbench --out ...
# Environment: SYNCD_SRC (source tree to run, default: this repo; point it at a snapshot
# of a commit when others are editing the tree), SYNCD_PYTHON (default: the repo's venv),
# SYNCD_BENCH_TRANSFERS (sync.transfers, default: syncd's own default).
set -euo pipefail

HERE=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd)
REPO=$(dirname -- "$(dirname -- "$HERE")")
export SYNCD_SRC=${SYNCD_SRC:-$REPO}
PY=${SYNCD_PYTHON:-$REPO/.venv/bin/python}
export SYNCD_PYTHON=$PY PYTHONPATH=$SYNCD_SRC
WORK=${BENCH_WORK:-/tmp/syncbench}
[[ -n ${SYNCD_BENCH_TRANSFERS:-} ]] && export SYNCD_SYNC__TRANSFERS=$SYNCD_BENCH_TRANSFERS

port_of() { local u=${BENCH_URL%/}; echo "${u##*:}"; }
live() { echo "$WORK/syncd-serve/by-port/$(port_of)"; }

client_env() { # private XDG dirs under BENCH_STATE: no user config, no shared status socket
  local s=${BENCH_STATE:?BENCH_STATE}/xdg d
  for d in config state run data; do mkdir -p -m 700 "$s/$d"; done
  export XDG_CONFIG_HOME=$s/config XDG_STATE_HOME=$s/state XDG_RUNTIME_DIR=$s/run XDG_DATA_HOME=$s/data
  export SYNCD_NOTIFY__ENABLED=false
  ARGS=(--url "${BENCH_URL%/}" --token-file "$(live)/token" --root "$1" --state-dir "$BENCH_STATE/db")
}

# After a pass that may have pushed: wait (bounded) until serve's exporter has written every
# server change into ROOT, because the harness checks pushes there.
barrier() {
  local cursor i body
  for ((i = 0; i < 500; i++)); do
    cursor=$(cat "$(live)/cursor" 2>/dev/null || echo 0)
    body=$(curl -sS --max-time 5 -H "Authorization: Bearer $(cat "$(live)/token")" \
      "${BENCH_URL%/}/v1/changes?cursor=$cursor&limit=1") || return 1
    [[ $body == *'"changes":[]'* || $body == *'"changes": []'* ]] && return 0
    sleep 0.01
  done
  echo "syncd.sh: exporter did not catch up" >&2
  return 1
}

op=${1:?op}
shift
case $op in
  describe)
    rev=$(cat "$SYNCD_SRC/.rev" 2>/dev/null || git -C "$SYNCD_SRC" rev-parse --short HEAD 2>/dev/null || echo '?')
    ver=$(cd /tmp && "$PY" -m syncd --version 2>/dev/null | tail -1)
    echo "${ver:-syncd} (commit $rev; own server: syncd serve, corpus imported through the API, untimed): mirror/cycle = \`syncd sync --once\`, daemon = \`syncd run\`, defaults (transfers ${SYNCD_BENCH_TRANSFERS:-4}, settle_s 1.0, log level info)"
    ;;
  caps) echo "serve inject prepare mirror noop cycle pull push daemon" ;;
  serve) exec "$PY" "$HERE/../syncd_serve.py" serve "$1" "$2" ;;
  inject) exec "$PY" "$HERE/../syncd_serve.py" inject "$1" "$2" ;;
  prepare) rm -rf -- "${BENCH_STATE:?}/db" "$BENCH_STATE/xdg" ;;
  mirror)
    client_env "$1"
    cd /tmp && exec "$PY" -m syncd sync --once "${ARGS[@]}"
    ;;
  cycle)
    client_env "$1"
    (cd /tmp && "$PY" -m syncd sync --once "${ARGS[@]}")
    barrier
    ;;
  daemon)
    client_env "$1"
    cd /tmp && exec "$PY" -m syncd run "${ARGS[@]}"
    ;;
  *) exit 64 ;;
esac
