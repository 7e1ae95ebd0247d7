#!/usr/bin/env bash
# Benchmark of `pipemon evaluate` (release build): a full evaluation over ~2,000,000
# events (2,000 pipelines), then an incremental one after importing 1 % more events.
# Targets (issue 4): full < 15 s; incremental < 5 % of full.
#
# Usage: [INCREMENTAL_RUNS=5] bench/evaluate.sh [PIPEMON_BINARY] [WORKDIR]
# The data comes from `pipemon generate` (deterministic by seed); it is split by
# event time into the first 99 % and the last 1 %.
set -euo pipefail
BIN=${1:-target/release/pipemon}
WORK=${2:-bench/out/evaluate}
PIPELINES=${PIPELINES:-2000}
DAYS=${DAYS:-16}
mkdir -p "$WORK"
if [ ! -f "$WORK/data/events.jsonl" ]; then
  "$BIN" generate --pipelines "$PIPELINES" --days "$DAYS" --seed 4242 --out "$WORK/data" >&2
fi
if [ ! -f "$WORK/head.jsonl" ]; then
  python3 - "$WORK" <<'PY'
import json, sys
from datetime import datetime
work = sys.argv[1]

def millis(ts):
    if isinstance(ts, int):
        return ts
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)

lines = []
for raw in open(f"{work}/data/events.jsonl", encoding="utf-8", errors="replace"):
    try:
        key = millis(json.loads(raw)["timestamp"])
    except Exception:
        key = None  # malformed lines stay with the head
    lines.append((key, raw))
stamped = sorted(k for k, _ in lines if k is not None)
cut = stamped[int(len(stamped) * 0.99)] if stamped else 0
with open(f"{work}/head.jsonl", "w") as h, open(f"{work}/tail.jsonl", "w") as t:
    for key, raw in lines:
        (t if key is not None and key >= cut else h).write(raw)
PY
fi
DB="$WORK/bench.db"
rm -f "$DB" "$DB-wal" "$DB-shm"
"$BIN" --db "$DB" import --no-progress "$WORK/head.jsonl" 2>&1 | tail -1
echo "events in the database: $(sqlite3 "$DB" 'select count(*) from events'), runs: $(sqlite3 "$DB" 'select count(*) from run_state')"
t0=$(date +%s.%N)
"$BIN" --db "$DB" evaluate --no-notify --now data-end
t1=$(date +%s.%N)
# The incremental run is short (well under a second), so one timing of it is at the
# mercy of a busy machine: it is repeated (INCREMENTAL_RUNS, default 5), each time from
# the database as the full evaluation left it, and the median is reported.
SNAP="$WORK/after-full.db"
sqlite3 "$DB" 'pragma wal_checkpoint(truncate)' >/dev/null
cp "$DB" "$SNAP"
runs=()
for i in $(seq "${INCREMENTAL_RUNS:-5}"); do
  cp "$SNAP" "$DB"
  rm -f "$DB-wal" "$DB-shm"
  "$BIN" --db "$DB" import --no-progress "$WORK/tail.jsonl" 2>&1 | tail -1
  t2=$(date +%s.%N)
  "$BIN" --db "$DB" evaluate --no-notify --now data-end
  t3=$(date +%s.%N)
  runs+=("$(echo "$t3 - $t2" | bc -l)")
done
rm -f "$SNAP"
full=$(echo "$t1 - $t0" | bc -l)
inc=$(printf '%s\n' "${runs[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
printf 'full evaluation: %.2f s (target < 15 s)\n' "$full"
printf 'incremental evaluation after +1 %% events, %d runs: %s s\n' "${#runs[@]}" "$(printf '%.2f\n' "${runs[@]}" | paste -sd' ')"
printf 'incremental evaluation after +1 %% events: median %.2f s = %.1f %% of full (target < 5 %%)\n' "$inc" "$(echo "100 * $inc / $full" | bc -l)"
