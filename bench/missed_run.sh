#!/usr/bin/env bash
# Benchmark of missed-run gap finding on its worst case (issue 14): one pipeline on
# `* * * * *` whose runs last 70 days, so every run covers ~100,000 expected starts.
# Gap finding must cost O(runs), not O(expected starts): the evaluation of the worst
# case is reported as a ratio to a reference measured in the same run, the same
# pipeline and run count with 30-second runs (nothing to skip over).
#
# Usage: bench/missed_run.sh [PIPEMON_BINARY] [WORKDIR]   (release build)
# RUNS (default 10000) runs of two events each: 20,000 lines.
set -euo pipefail
BIN=${1:-target/release/pipemon}
WORK=${2:-bench/out/missed_run}
RUNS=${RUNS:-10000}
mkdir -p "$WORK"
python3 - "$WORK" "$RUNS" <<'PY'
import json, sys
work, runs = sys.argv[1], int(sys.argv[2])
t0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
minute = 60_000
for name, dur in (("long", 70 * 86_400_000), ("short", 30_000)):
    with open(f"{work}/{name}.jsonl", "w") as f:
        for i in range(runs):
            start = t0 + i * minute + 1000
            base = {"pipeline_id": "every_minute", "run_id": f"r{i}", "schedule": "* * * * *"}
            f.write(json.dumps({**base, "event_id": f"{i}s", "status": "started",
                                "timestamp": start}) + "\n")
            f.write(json.dumps({**base, "event_id": f"{i}e", "status": "success",
                                "timestamp": start + dur, "duration_ms": dur}) + "\n")
PY
declare -A took
for name in short long; do
  DB="$WORK/$name.db"
  rm -f "$DB" "$DB-wal" "$DB-shm"
  "$BIN" --db "$DB" import --no-progress "$WORK/$name.jsonl" >/dev/null
  t0=$(date +%s.%N)
  "$BIN" --db "$DB" evaluate --no-notify --now data-end >/dev/null
  t1=$(date +%s.%N)
  took[$name]=$(echo "$t1 - $t0" | bc -l)
  printf '%s runs (%s): evaluate %.3f s\n' "$RUNS" "$name" "${took[$name]}"
done
printf '70-day runs / 30-second runs: %.2f x\n' "$(echo "${took[long]} / ${took[short]}" | bc -l)"
