#!/usr/bin/env bash
# Runs each of the reference implementation's seed programs and prints its
# output and exit status.
set -u
dir="${RUNFILES_DIR:-$0.runfiles}/mp/conformance/impls/mp"
rc=0
for s in fork process pool; do
  echo "== $s"
  "$dir/$s"
  st=$?
  echo "== $s: exit status $st"
  [[ $st -eq 0 ]] || rc=1
done
exit $rc
