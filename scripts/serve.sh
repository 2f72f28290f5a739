#!/usr/bin/env bash
# Serve Depot in production mode: gunicorn (DEPOT_WEB_WORKERS uvicorn processes, static files by WhiteNoise) and a
# Celery worker for benchmark jobs. Ctrl-C (SIGINT) or SIGTERM stops both and waits for them; if either dies,
# the other is stopped too, so nothing is left running half a service. Called by `make run`.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
WEB_WORKERS="${DEPOT_WEB_WORKERS:-3}"
JOB_WORKERS="${DEPOT_JOB_WORKERS:-1}"
LOG_DIR="${DEPOT_VAR_DIR:-var}/log"
mkdir -p "$LOG_DIR"

# The queues first, by one process: the worker and a web process declaring them at the same moment could race
# on the embedded broker (hub/celery.py, declare_queues).
"$BIN/python" manage.py declare_queues || exit 1

# The embedded SQLite broker has no broadcast exchange: gossip and mingle are off (nothing relies on them).
"$BIN/celery" -A hub worker -Q benchmarks,default --concurrency "$JOB_WORKERS" --loglevel INFO \
  --without-gossip --without-mingle --hostname "depot-worker@%h" >>"$LOG_DIR/worker.log" 2>&1 &
WORKER_PID=$!

if [[ "${1:-}" == "--dev" ]]; then
  # `make dev`: Django's autoreloading development server, one process; never for production.
  "$BIN/python" manage.py runserver "$HOST:$PORT" &
  SERVER_NAME="Django's development server (autoreload)"
else
  # Each worker process is an event loop over hub.asgi (hub/server.py): slow clients cost a socket, not a
  # worker; heads and bodies that stall are cut off. Workers, timeouts and trusted proxies: hub/gunicorn_conf.py.
  DEPOT_WEB_WORKERS="$WEB_WORKERS" "$BIN/gunicorn" -c python:hub.gunicorn_conf --bind "$HOST:$PORT" &
  SERVER_NAME="gunicorn, $WEB_WORKERS event-loop workers (uvicorn)"
fi
WEB_PID=$!

stop() {
  trap '' INT TERM
  echo "Stopping web server (pid $WEB_PID) and worker (pid $WORKER_PID)..."
  # TERM is a graceful stop for both: gunicorn finishes open requests, Celery's warm shutdown ends the
  # current job (its message is acked late, so a job cut short is redelivered to the next worker).
  kill -TERM "$WEB_PID" "$WORKER_PID" 2>/dev/null
  wait_or_force 30
  echo "Stopped."
  exit 0
}

# Waits up to $1 seconds for both processes; then a cold shutdown (QUIT) for the worker, whose unacked job
# goes back to the queue, and KILL for the web server.
wait_or_force() {
  local deadline=$((SECONDS + $1))
  while kill -0 "$WEB_PID" 2>/dev/null || kill -0 "$WORKER_PID" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "Still running after $1 s: forcing." >&2
      kill -QUIT "$WORKER_PID" 2>/dev/null
      kill -KILL "$WEB_PID" 2>/dev/null
      break
    fi
    sleep 0.2
  done
  wait "$WEB_PID" "$WORKER_PID" 2>/dev/null
}
trap stop INT TERM

echo "Benchmark worker running (pid $WORKER_PID, $JOB_WORKERS process(es), log $LOG_DIR/worker.log)"
echo "Depot is serving on http://$HOST:$PORT/ with $SERVER_NAME  (Ctrl-C stops it)"
# Returns when either process exits (or a trapped signal arrives, which runs stop).
wait -n "$WEB_PID" "$WORKER_PID"
echo "A server process exited on its own; stopping the other." >&2
trap '' INT TERM
kill -TERM "$WEB_PID" "$WORKER_PID" 2>/dev/null
wait_or_force 30
exit 1
