#!/usr/bin/env bash
# Peak memory of `pipemon import` on very long lines, beside an ordinary file: a batch
# must close by bytes as well as by lines, so 32,768 lines of about 1 MiB each (32 GiB
# of text, a ~36 MB .gz) need no more memory than ordinary lines do.
#
# Usage: bench/long-lines.sh [PIPEMON_BINARY...]   (default: target/release/pipemon)
# Knobs (environment): LINES (32768 long lines), WORK (bench/out/long-lines),
# VMEM_LIMIT_KIB (8 GiB: address-space cap per import, so a binary whose memory grows
# with the batch fails fast instead of pressing a shared machine).
#
# The long lines alternate between a valid event whose `error_message` brings the line
# just under the 1 MiB line limit (parsed, then a duplicate after the first) and a line
# just over it (rejected, kept truncated, once). The ordinary file is the bundled
# sample, data/pipeline_executions.jsonl (65,030 lines, 14.8 MB). For each binary it
# prints the exit status, the wall time and the peak RSS (`/usr/bin/time -f %M`).
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=(target/release/pipemon)
LINES=${LINES:-32768}
WORK=${WORK:-bench/out/long-lines}
VMEM_LIMIT_KIB=${VMEM_LIMIT_KIB:-8388608}
mkdir -p "$WORK"
GZ="$WORK/long-$LINES.jsonl.gz"
if [ ! -f "$GZ" ]; then
  # One gzip member of 64 lines, repeated: gzip readers take concatenated members
  # as one stream, and compressing 32 GiB once would take minutes.
  python3 - "$GZ" "$LINES" <<'PY'
import gzip, json, sys
out, lines = sys.argv[1], int(sys.argv[2])
limit = 1 << 20
head = {"pipeline_id": "long_lines", "run_id": "long_lines@1", "status": "failed",
        "timestamp": "2026-11-01T03:00:00Z", "error_type": "Overflow"}
short = json.dumps({**head, "error_message": ""})
valid = json.dumps({**head, "error_message": "x" * (limit - len(short) - 16)})
assert len(valid) < limit
overlong = '{"pipeline_id": "long_lines", "junk": "' + "y" * (limit + 4096) + '"}'
member = gzip.compress(("".join(
    (valid if i % 2 == 0 else overlong) + "\n" for i in range(64))).encode(), 6)
with open(out, "wb") as f:
    for _ in range(lines // 64):
        f.write(member)
PY
fi
printf 'long-line input: %s (%s bytes compressed, %s lines)\n' "$GZ" "$(stat -c %s "$GZ")" "$LINES"

measure() { # binary, input, label
  local db="$WORK/bench.db" log="$WORK/time.log" status
  rm -f "$db" "$db-wal" "$db-shm"
  set +e
  (ulimit -v "$VMEM_LIMIT_KIB"; /usr/bin/time -o "$log" -f '%e %M %x' \
    "$1" --db "$db" --format json import --no-progress "$2" >"$WORK/out.json" 2>"$WORK/err.log")
  status=$?
  set -e
  read -r secs rss code < <(tail -1 "$log")
  if grep -q 'terminated by signal' "$log"; then
    code="signal-$(grep -o 'signal [0-9]*' "$log" | head -1 | cut -d' ' -f2)"
  fi
  printf '%-28s %-12s exit %-10s %8.1f s  peak RSS %7.1f MiB  %s\n' "$1" "$3" "$code" "$secs" \
    "$(echo "$rss / 1024" | bc -l)" "$(head -c 160 "$WORK/out.json" | tr -d '\n')"
  [ "$status" -eq 0 ] || tail -3 "$WORK/err.log" | sed 's/^/    /'
}

for bin in "${BINS[@]}"; do
  measure "$bin" data/pipeline_executions.jsonl ordinary
  measure "$bin" "$GZ" long-lines
done
