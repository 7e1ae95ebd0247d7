#!/usr/bin/env bash
# Overlapping cron jobs: do writers fail beside a process that holds the write lock,
# and are evaluations started at once refused as "earlier than the previous one"?
#
# Usage: bench/concurrency.sh [PIPEMON_BINARY...]   (default: target/release/pipemon)
# Knobs (environment): N (40 evaluations started at once), HOLD (40: seconds the write
# lock is held, longer than the 30 s busy timeout pipemon used to have), WORK.
#
# For each binary, on a database holding the bundled sample:
#  1. N `evaluate --no-notify` started at once: how many exit 0;
#  2. a Python process holds the write lock (BEGIN IMMEDIATE, as a long evaluation
#     does) for HOLD seconds while `import`, `evaluate` and `notify` start: each one's
#     exit status and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=(target/release/pipemon)
N=${N:-40}
HOLD=${HOLD:-40}
WORK=${WORK:-bench/out/concurrency}
mkdir -p "$WORK"
# A small extra input for the import beside the held lock.
printf '%s\n' '{"event_id":"late-1","pipeline_id":"bench_late","run_id":"r1","status":"started","timestamp":"2026-10-30T00:00:00Z"}' >"$WORK/late.jsonl"

for bin in "${BINS[@]}"; do
  db="$WORK/bench.db"
  rm -f "$db" "$db-wal" "$db-shm" "$WORK"/eval-*.err
  "$bin" --db "$db" import --no-progress data/pipeline_executions.jsonl 2>/dev/null
  "$bin" --db "$db" evaluate --now data-end --no-notify 2>/dev/null

  pids=()
  for i in $(seq 1 "$N"); do
    "$bin" --db "$db" evaluate --no-notify 2>"$WORK/eval-$i.err" >/dev/null &
    pids+=($!)
  done
  ok=0
  for p in "${pids[@]}"; do
    if wait "$p"; then ok=$((ok + 1)); fi
  done
  refused=$(cat "$WORK"/eval-*.err | grep -c 'earlier than the previous evaluation' || true)
  printf '%-28s %d evaluations at once: %d exit 0, %d refused as earlier than the previous\n' \
    "$bin" "$N" "$ok" "$refused"

  python3 - "$db" "$HOLD" <<'PY' &
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO meta (key, value) VALUES ('bench_holder', 1) "
             "ON CONFLICT (key) DO UPDATE SET value = value + 1")
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
PY
  holder=$!
  sleep 1
  j=0
  for job in "import --no-progress $WORK/late.jsonl" "evaluate --no-notify" "notify"; do
    j=$((j + 1))
    (
      err="$WORK/job-$j.err"
      start=$(date +%s.%N)
      set +e
      # shellcheck disable=SC2086
      "$bin" --db "$db" $job >/dev/null 2>"$err"
      code=$?
      set -e
      end=$(date +%s.%N)
      printf '%-28s beside a %ss write lock: %-40s exit %d after %5.1f s %s\n' "$bin" "$HOLD" \
        "$job" "$code" "$(echo "$end - $start" | bc -l)" \
        "$(grep -m1 -o 'database is locked\|stayed locked' "$err" || true)"
    ) &
  done
  wait
  wait "$holder" 2>/dev/null || true
done
