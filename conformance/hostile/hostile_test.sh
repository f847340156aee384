#!/usr/bin/env bash
# Runs the conformance CLI against one hostile implementation and checks the
# runner's guarantees (INTERPRETING.md, "Hostile implementations"):
#   - it finishes within MAX_WALL seconds;
#   - its peak RSS (GNU time's %M) stays under MAX_RSS_KB;
#   - no process whose cmdline names the implementation's directory survives;
#   - its report matches the extended regexp(s) given, one per argument.
# Usage: hostile_test.sh CLI IMPL_DIR SCENARIO TIMEOUT_S MAX_WALL MAX_RSS_KB OBSERVER REGEXP...
set -u
cli="$1"; dir="${TEST_SRCDIR}/mp/$2"; scenario="$3"; timeout_s="$4"; max_wall="$5"; max_rss="$6"; observer="$7"
shift 7
# Under ASan/TSan (.ci/run) the runner is several times slower and bigger:
# the bounds still hold, scaled.
if grep -qaE '__(asan|tsan|msan)_init' "$cli"; then
  max_wall=$((max_wall * 4)); max_rss=$((max_rss * 4))
  echo "hostile: sanitized runner: bounds x4 (${max_wall} s, ${max_rss} KiB)"
fi
out="${TEST_TMPDIR}/out.txt"; tm="${TEST_TMPDIR}/time.txt"
start=$(date +%s%N)
# The outer `timeout` only keeps a hung runner from hanging the test.
/usr/bin/time -f '%M' -o "$tm" timeout -s KILL $((max_wall + 30)) \
  "$cli" --impl="$dir" --scenario="$scenario" --timeout="$timeout_s" --observer="$observer" >"$out" 2>&1
rc=$?
wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$out"
rss_kb=$(tail -n 1 "$tm")
echo "hostile: exit status $rc, wall ${wall_ms} ms, peak RSS ${rss_kb} KiB"
ok=1
# Survivors: anything still running from the implementation's directory.
survivors=$(python3 - "$dir" "$$" <<'PY'
import os, sys
marker, me = sys.argv[1].encode(), {int(sys.argv[2]), os.getpid()}
for p in os.listdir('/proc'):
    if not p.isdigit() or int(p) in me:
        continue
    try:
        with open('/proc/%s/cmdline' % p, 'rb') as f:
            cmd = f.read()
        with open('/proc/%s/stat' % p) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        continue
    if marker in cmd:
        print(p, state, cmd.replace(b'\0', b' ').decode(errors='replace')[:200])
PY
)
if [[ -n "$survivors" ]]; then
  echo "hostile: FAILED: processes survived the runner:"; echo "$survivors"; ok=0
fi
if [[ $rc -ne 1 ]]; then echo "hostile: FAILED: the runner's exit status is $rc, not 1 (a FAIL)"; ok=0; fi
if (( wall_ms > max_wall * 1000 )); then echo "hostile: FAILED: took ${wall_ms} ms > ${max_wall} s"; ok=0; fi
if ! [[ "$rss_kb" =~ ^[0-9]+$ ]] || (( rss_kb > max_rss )); then
  echo "hostile: FAILED: peak RSS '${rss_kb}' KiB > ${max_rss} KiB"; ok=0
fi
for re in "$@"; do
  if ! grep -Eq -- "$re" "$out"; then echo "hostile: FAILED: the report does not match /$re/"; ok=0; fi
done
echo "hostile: checked the report for: $*"
(( ok )) && echo "hostile: PASS"
(( ok ))
