#!/usr/bin/env bash
# The HTML report (--html) in a real browser, headless Chromium: the report
# of a failing negative control beside mp's passing program must load with no
# console message (the page has no script, so any message is a blocked
# load, a CSP violation or a parse problem), and the browser's DOM and
# screenshot must show the matrix and the violated rule highlighted
# (html_browser_check.py). The screenshot and the report are kept in
# $TEST_UNDECLARED_OUTPUTS_DIR (bazel-testlogs/.../test.outputs/outputs.zip).
#
# Chromium comes from Debian: tools/bazel installs it when a command's target
# patterns can include this test (//..., //conformance/..., or its name).
# Without it this test FAILs, saying so; it never skips.
#
# Chromium must not reach the network: the report is self-contained, and the
# flags below turn off its own background traffic and send any request to a
# dead proxy and an empty resolver.
set -u
cli="$1"
control="$2"
check="$3"
cd "${TEST_SRCDIR}/mp" || exit 1
out="${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR}}"
tmp="${TEST_TMPDIR}/browser"
rm -rf "$tmp" && mkdir -p "$tmp" "$out"

chromium=$(command -v chromium || true)
if [[ -z "$chromium" ]]; then
  echo "html_browser_test: FAILED: Debian's chromium is not installed, and this test needs it."
  echo "  tools/bazel installs it when the targets include this test: tools/bazel test //conformance:html_browser_test"
  echo "  or install it yourself: sudo apt-get install --no-install-recommends chromium"
  exit 1
fi

"$cli" --impl=mp --impl="$control" --scenario=process --runs=2 --html="$out/report.html" >"$tmp/cli.txt" 2>&1
rc=$?
cat "$tmp/cli.txt"
if [[ $rc -ne 1 ]]; then
  echo "html_browser_test: FAILED: the control should FAIL (exit status 1), got $rc"
  exit 1
fi

flags=(
  --headless --disable-gpu --no-sandbox --disable-dev-shm-usage
  --user-data-dir="$tmp/profile" --no-first-run --no-default-browser-check
  --disable-background-networking --disable-component-update --disable-sync --disable-default-apps
  --disable-extensions --disable-domain-reliability --disable-breakpad --no-pings --metrics-recording-only
  --host-resolver-rules="MAP * ~NOTFOUND" --proxy-server=127.0.0.1:9 --proxy-bypass-list="<-loopback>"
  --enable-logging=stderr --v=0
)
url="file://$out/report.html"
export HOME="$tmp"  # Chromium writes its caches there.
timeout 120 "$chromium" "${flags[@]}" --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/dom.log"
rc_dom=$?
timeout 120 "$chromium" "${flags[@]}" --window-size=1280,1400 --screenshot="$out/report.png" "$url" \
  >"$tmp/shot.log" 2>&1
rc_shot=$?
status=0
if [[ $rc_dom -ne 0 || $rc_shot -ne 0 || ! -s "$out/report.png" ]]; then
  echo "html_browser_test: FAILED: chromium exited $rc_dom (--dump-dom) and $rc_shot (--screenshot)"
  tail -n 20 "$tmp/dom.log" "$tmp/shot.log"
  exit 1
fi
if grep -h ':CONSOLE' "$tmp/dom.log" "$tmp/shot.log"; then
  echo "html_browser_test: FAILED: the page logged to the console (above)"
  status=1
fi
python3 "$check" "$tmp/dom.html" "$out/report.png" || status=1
[[ $status -eq 0 ]] && echo "html_browser_test: the report loads cleanly and shows the matrix and the violated rule"
exit $status
