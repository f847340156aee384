#!/usr/bin/env bash
# //tools:bench --quick: every figure runs (or says n/a), the table prints and
# --json writes one well-formed line per figure and implementation measured.
set -euo pipefail

bench="$TEST_SRCDIR/mp/tools/bench/bench_as_configured"
json="$TEST_TMPDIR/bench.jsonl"
fail() { echo "FAIL: $*" >&2; exit 1; }

start=$SECONDS
out=$("$bench" --quick --json "$json") || fail "bench --quick failed"
echo "$out"
echo "took $((SECONDS - start)) s"

grep -q '^| Process start+join | us | [0-9]' <<<"$out" || fail "no measured Process start+join row"

python3 - "$json" <<'PY'
import json, math, sys
units = {"us", "per_s", "GB_per_s", "kB"}
seen = set()
with open(sys.argv[1]) as f:
    for n, line in enumerate(f, 1):
        doc = json.loads(line)
        where = "%s:%d" % (sys.argv[1], n)
        assert set(doc) >= {"figure", "impl", "median", "min", "max", "unit"}, (where, doc)
        assert doc["impl"] in ("mp", "cpython", "raw"), (where, doc)
        assert doc["unit"] in units, (where, doc)
        assert all(isinstance(doc[k], (int, float)) and math.isfinite(doc[k]) and doc[k] > 0
                   for k in ("median", "min", "max")), (where, doc)
        assert doc["min"] <= doc["median"] <= doc["max"], (where, doc)
        seen.add((doc["figure"], doc["impl"]))
want = {("process_start_join", i) for i in ("mp", "cpython", "raw")}
assert want <= seen, "missing %s" % (want - seen)
print("json ok:", sorted(seen))
PY
