#!/usr/bin/env bash
# Container entry point. Under plain Docker it owns three things:
#  - the ingest environment, with defaults that never override what is set;
#  - whether the ingest follower (`crm-index follow`) runs, printed as
#    "[entrypoint] ingest follower: STARTED" or "SKIPPED (<reason>)" so the
#    choice shows in the logs; the rule matches followerDecision() in startos/env.ts;
#  - supervision: the main process and the follower are children of this
#    script; SIGTERM/SIGINT are forwarded to both (so `docker stop` lets them
#    finish the batch in flight), and when either exits the other is stopped
#    and the container exits with the status of the one that exited first.
#
# Under StartOS (startos/main.ts) the daemons and index jobs start through
# --exec and --job: they wait for the CRM database instead of exiting (the
# CRM may be installed later), and, started as root, run as the database's
# owner, so the CRM and crm-index can both open its -wal and -shm files.
#
# Usage:
#   docker_entrypoint.sh                 MCP HTTP server (+ follower when configured)
#   docker_entrypoint.sh --once [ARGS]   one incremental refresh, exit with its code
#   docker_entrypoint.sh --exec CMD...   wait for $CRM_DB_PATH, then exec CMD as its owner
#   docker_entrypoint.sh --job DIR CMD...  run CMD like --exec, recording it in DIR
#                                        (state, started, finished, exit, stdout, stderr)
#   docker_entrypoint.sh ARGS...         `crm-index ARGS...` as the main process
set -euo pipefail

# The crm-index command; a test or a custom image may point it elsewhere.
read -r -a CLI <<<"${CRM_INDEX_BIN:-crm-index}"

: "${CRM_DB_PATH:=/data/crm.db}"
: "${CRM_INGEST_SYNC_INTERVAL_MIN:=60}"
: "${QDRANT_COLLECTION:=crm_chunks}"
: "${SPARK_CONTROL_VERIFY_TLS:=true}"
: "${CRM_INDEX_HTTP_PORT:=8787}"
: "${MCP_HTTP_PORT:=8788}"
# Not a crm-index setting: where the default MCP server binds. 0.0.0.0 so a
# published port reaches it; off loopback the CLI requires MCP_AUTH_TOKEN.
: "${MCP_HTTP_HOST:=0.0.0.0}"
export CRM_DB_PATH CRM_INGEST_SYNC_INTERVAL_MIN QDRANT_COLLECTION SPARK_CONTROL_VERIFY_TLS \
  CRM_INDEX_HTTP_PORT MCP_HTTP_PORT

log() { printf '[entrypoint] %s\n' "$*" >&2; }

# Seconds between looks for the CRM database (a test shortens it).
: "${CRM_DB_WAIT_INTERVAL_S:=5}"

wait_for_db() {
  local said=0
  until [[ -e "$CRM_DB_PATH" ]]; do
    if ((said == 0)); then
      log "waiting for the CRM database at $CRM_DB_PATH"
      said=1
    fi
    sleep "$CRM_DB_WAIT_INTERVAL_S" &
    wait $! 2>/dev/null || true
  done
}

# Started as root: give crm-index's own folders to the database's owner and
# set RUN_AS to switch to it. Otherwise run as we are.
RUN_AS=()
prepare_owner() {
  ((EUID == 0)) || return 0
  local uid gid dir
  uid=$(stat -c '%u' "$CRM_DB_PATH")
  gid=$(stat -c '%g' "$CRM_DB_PATH")
  for dir in "${CRM_INDEX_PATH:+$(dirname "$CRM_INDEX_PATH")}" "${CRM_INDEX_CACHE_DIR:-}"; do
    [[ -n "$dir" ]] || continue
    mkdir -p "$dir"
    chown -R "$uid:$gid" "$dir"
  done
  ((uid == 0)) || RUN_AS=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --)
}

if [[ "${1:-}" == "--exec" ]]; then
  shift
  trap 'exit 143' TERM
  trap 'exit 130' INT
  wait_for_db
  prepare_owner
  trap - TERM INT
  exec "${RUN_AS[@]}" "$@"
fi

if [[ "${1:-}" == "--job" ]]; then
  job_dir=$2
  shift 2
  mkdir -p "$job_dir"
  rm -f "$job_dir/finished" "$job_dir/exit" "$job_dir/stdout" "$job_dir/stderr"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$job_dir/started"
  echo running >"$job_dir/state"
  job_status=0
  if [[ ! -e "$CRM_DB_PATH" ]]; then
    echo "the CRM database is not at $CRM_DB_PATH" >"$job_dir/stderr"
    job_status=3
  else
    prepare_owner
    "${RUN_AS[@]}" "$@" >"$job_dir/stdout" 2> >(tee "$job_dir/stderr" >&2) &
    job_pid=$!
    trap 'kill -TERM "$job_pid" 2>/dev/null || true' TERM INT
    while kill -0 "$job_pid" 2>/dev/null; do
      job_status=0
      wait "$job_pid" || job_status=$?
    done
  fi
  echo "$job_status" >"$job_dir/exit"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$job_dir/finished"
  if ((job_status == 0)); then echo succeeded >"$job_dir/state"; else echo failed >"$job_dir/state"; fi
  log "job $(basename "$job_dir") finished with status $job_status"
  # The outcome is recorded; exiting 0 keeps a failed job from being started again.
  exit 0
fi

if [[ "${1:-}" == "--once" ]]; then
  shift
  log "one-shot refresh"
  exec "${CLI[@]}" refresh --once "$@"
fi

if (($# == 0)); then
  main_cmd=("${CLI[@]}" mcp --http --host "$MCP_HTTP_HOST" --port "$MCP_HTTP_PORT")
else
  main_cmd=("${CLI[@]}" "$@")
fi

# Same rule as followerDecision() in startos/env.ts.
follower_reason=''
if [[ "${1:-mcp}" != "mcp" ]]; then
  follower_reason="the main command is '${1}', not the MCP server"
  [[ "$1" == "follow" ]] && follower_reason="the main command is follow itself"
elif [[ "${CRM_INDEX_STORE:-}" == "embedded" ]]; then
  follower_reason=''
elif [[ -z "${SPARK_CONTROL_URL:-}" && -z "${QDRANT_URL:-}" ]]; then
  follower_reason='SPARK_CONTROL_URL and QDRANT_URL are not set and CRM_INDEX_STORE is not embedded'
elif [[ -z "${SPARK_CONTROL_URL:-}" ]]; then
  follower_reason='SPARK_CONTROL_URL is not set and CRM_INDEX_STORE is not embedded'
elif [[ -z "${QDRANT_URL:-}" ]]; then
  follower_reason='QDRANT_URL is not set and CRM_INDEX_STORE is not embedded'
fi

declare -A running=() # pid -> name
stopping=0

stop_children() {
  local pid
  for pid in "${!running[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}

# shellcheck disable=SC2317 # called by the traps below
on_signal() {
  log "received SIG$1; stopping ${running[*]}"
  stopping=1
  # Children get SIGTERM for INT too: background jobs of a script ignore SIGINT.
  stop_children
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

"${main_cmd[@]}" &
running[$!]=main
main_pid=$!

if [[ -z "$follower_reason" ]]; then
  log "ingest follower: STARTED"
  "${CLI[@]}" follow &
  running[$!]=follower
else
  log "ingest follower: SKIPPED ($follower_reason)"
fi

exit_status=''
while ((${#running[@]} > 0)); do
  finished=''
  for pid in "${!running[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      finished=$pid
      break
    fi
  done
  if [[ -z "$finished" ]]; then
    # Poll rather than `wait -n`, which can miss a child that exited just before it was called.
    # Waiting on a short background sleep keeps the trapped signals prompt.
    sleep 0.2 &
    wait $! 2>/dev/null || true
    continue
  fi
  status=0
  wait "$finished" || status=$?
  name="${running[$finished]}"
  unset "running[$finished]"
  log "$name exited with status $status"
  if [[ -z "$exit_status" ]]; then
    # Under a forwarded signal the main process's status is the container's; otherwise the first to exit.
    if ((stopping == 0)) || [[ "$finished" == "$main_pid" ]]; then
      exit_status=$status
    fi
    if ((stopping == 0)) && ((${#running[@]} > 0)); then
      log "stopping ${running[*]} because $name exited"
      stopping=1
      stop_children
    fi
  fi
done
exit "${exit_status:-0}"
