#!/usr/bin/env bash
# Runs a schedule perturbation control (a directory with EXPECTED and
# PERTURB) and passes iff both halves hold, proving that perturbation is what
# catches it:
#   - unperturbed, it PASSes at least once in up to 8 runs (its output is
#     right on a quiet schedule; "at least once", not "mostly", so that a
#     loaded CI machine cannot make this half flaky);
#   - `--runs=10 --perturb` FAILs, for one or more of the rules of EXPECTED
#     (the timing class's rule; put_after has one per put), and for no rule
#     beyond those and the extra ones PERTURB lists (a run that delays a line
#     can break a second rule as well).
# Both under the default observer (BPF): only it can perturb.
set -u
cli="$1"
dir="${TEST_SRCDIR}/mp/$2"
cd "${TEST_SRCDIR}/mp" || exit 1
id=$(cd "$dir" && ls | grep -vE '^(EXPECTED|PERTURB)$')
want=$(sort -u "$dir/EXPECTED")
allowed=$( (cat "$dir/EXPECTED"; grep -v '^#' "$dir/PERTURB") | sed '/^$/d' | sort -u)
status=0

passed=0
for i in 1 2 3 4 5 6 7 8; do
  out=$("$cli" --impl="$dir" --scenario="$id")
  rc=$?
  if [[ $rc -eq 0 ]]; then
    passed=$i
    break
  fi
  echo "$out"
  if [[ $rc -ne 1 ]]; then
    echo "perturb-control: $2 ended with exit status $rc unperturbed (not PASS or FAIL)"
    exit 1
  fi
done
if [[ $passed -eq 0 ]]; then
  echo "perturb-control: $2 FAILed all 8 unperturbed runs: it is not a timing control"
  status=1
else
  echo "perturb-control: $2 PASSed unperturbed (run $passed of at most 8)"
fi

out=$("$cli" --impl="$dir" --scenario="$id" --runs=10 --perturb)
rc=$?
echo "$out"
got=$(echo "$out" | sed -n 's/^  violated: \(.*\)  (.*)$/\1/p' | sort -u)
if [[ $rc -ne 1 ]]; then
  echo "perturb-control: $2 did not FAIL --runs=10 --perturb (exit status $rc)"
  status=1
elif ! grep -qE '^\[1/1\] .* FAIL +PASS [0-9]/10 perturbed runs; failing seeds: 0x[0-9a-f]+' <<<"$out"; then
  echo "perturb-control: $2's report lacks the perturbed runs' statistics and failing seeds"
  status=1
elif [[ -z "$(comm -12 <(echo "$want") <(echo "$got"))" || -n "$(comm -13 <(echo "$allowed") <(echo "$got"))" ]]; then
  echo "perturb-control: $2 FAILed perturbed for the wrong rules"
  echo "--- wanted (one or more):"; echo "$want"
  echo "--- allowed besides:"; comm -23 <(echo "$allowed") <(echo "$want")
  echo "--- got:"; echo "$got"
  status=1
else
  echo "perturb-control: $2 FAILed --runs=10 --perturb for its intended rule(s)"
fi
exit $status
