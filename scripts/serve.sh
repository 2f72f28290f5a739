#!/usr/bin/env bash
# Serve Depot: a Celery worker for benchmark jobs in the background, the web server in the foreground.
# Stopping the web server (Ctrl-C) stops the worker too. Called by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
LOG_DIR="${DEPOT_VAR_DIR:-var}/log"
mkdir -p "$LOG_DIR"
# The embedded SQLite broker has no broadcast exchange: gossip and mingle are off (nothing relies on them).
"$BIN/celery" -A hub worker -Q benchmarks,default --concurrency 1 --loglevel INFO \
  --without-gossip --without-mingle --hostname "depot-worker@%h" >>"$LOG_DIR/worker.log" 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM
echo "Benchmark worker running (pid $WORKER_PID, log $LOG_DIR/worker.log)"
echo "Depot is serving on http://$HOST:$PORT/  (Ctrl-C stops it)"
"$BIN/python" manage.py runserver --noreload "$HOST:$PORT"
