#!/usr/bin/env bash
# Builds mp's libFuzzer targets with clang++-14
# (-fsanitize=fuzzer,address,undefined) against Debian's Abseil and runs them
# on their committed corpora (copied, so new finds stay out of the tree).
#
#   tools/fuzz.sh TARGET [SECONDS]   one target (default 120 s)
#   tools/fuzz.sh --all [SECONDS]    every target in turn (default 20 s each):
#                                    the short pass for CI
#   tools/fuzz.sh --merge TARGET     minimises the committed corpus in place,
#                                    adding the finds of earlier runs and
#                                    keeping the named regress_* inputs
#   tools/fuzz.sh --list             the targets
#
# TARGET: spec, transcript, connection, serialize. Binaries and working
# corpora live under ${MP_FUZZ_OUT:-${TMPDIR:-/tmp}/mp-fuzz}. A crash leaves
# its input there (crash-*) and fails the script; put it into the corpus
# with the fix so the Bazel regression tests replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${MP_FUZZ_OUT:-${TMPDIR:-/tmp}/mp-fuzz}"
targets=(spec transcript connection serialize)

# Per target: the Bazel library that defines LLVMFuzzerTestOneInput, the one
# its *_fuzz_regression_test replays. What to compile comes from Bazel, so a
# function that moves between files needs no edit here.
library() {
  case "$1" in
    spec) echo //conformance/spec:spec_fuzz ;;
    transcript) echo //conformance/checker:transcript_fuzz ;;
    connection | serialize) echo "//mp/fuzz:$1_fuzz" ;;
    *) echo "fuzz.sh: unknown target '$1' (one of: ${targets[*]})" >&2; exit 2 ;;
  esac
}

# The workspace's files (sources and headers) the target's library depends on.
files() {
  local lib
  lib="$(library "$1")"
  tools/bazel query --noshow_progress "kind('source file', deps($lib))" 2>/dev/null |
    sed -n 's|^//\([^:]*\):\(.*\)$|\1/\2|p' | sed 's|^/||' | tr '\n' ' '
}

# The .cc files among them: what to link.
sources() {
  local f
  for f in $(files "$1"); do [[ "$f" == *.cc ]] && printf '%s ' "$f"; done
  return 0
}

corpus() {
  case "$1" in
    spec) echo conformance/spec/fuzz_corpus ;;
    transcript) echo conformance/checker/fuzz_corpus ;;
    *) echo "mp/fuzz/corpus/$1" ;;
  esac
}
max_len() { case "$1" in transcript) echo 2048 ;; *) echo 4096 ;; esac; }

absl_libs=(-labsl_status -labsl_statusor -labsl_strings -labsl_strings_internal -labsl_str_format_internal
  -labsl_int128 -labsl_raw_logging_internal -labsl_throw_delegate -labsl_cord -labsl_cord_internal
  -labsl_cordz_info -labsl_cordz_functions -labsl_cordz_handle -labsl_cordz_sample_token
  -labsl_spinlock_wait -labsl_base -labsl_synchronization -labsl_graphcycles_internal -labsl_malloc_internal
  -labsl_time -labsl_time_zone -labsl_civil_time -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal
  -labsl_demangle_internal -labsl_exponential_biased -labsl_hash -labsl_city -labsl_low_level_hash
  -labsl_raw_hash_set)

build() {
  local t="$1" bin="$out/$1_fuzz"
  mkdir -p "$out"
  local all srcs
  all="$(files "$t")"
  srcs="$(sources "$t")"
  if [[ -z "$srcs" ]]; then
    echo "fuzz.sh: bazel query found no sources for $(library "$t")" >&2
    exit 1
  fi
  # Reuses a binary no file it is built from is newer than (the builds take
  # minutes here).
  # shellcheck disable=SC2086
  if [[ -x "$bin" && -z "$(find $all -newer "$bin" -print -quit)" ]]; then
    return
  fi
  # shellcheck disable=SC2086
  clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
    $srcs -Wl,--as-needed "${absl_libs[@]}" -lre2 -lpthread -o "$bin"
}

# Working corpus: the committed one (plus the scenario specs for spec, the
# transcripts for transcript), then whatever earlier runs found.
seed() {
  local t="$1" dir="$out/$1_corpus"
  mkdir -p "$dir"
  cp "$(corpus "$t")"/* "$dir/"
  case "$t" in
    spec) cp conformance/scenarios/*.spec "$dir/" ;;
    transcript) cp conformance/transcripts/*.txt "$dir/" ;;
  esac
}

run() {
  local t="$1" secs="$2"
  library "$t" >/dev/null
  echo "fuzz.sh: building $t"
  build "$t"
  seed "$t"
  echo "fuzz.sh: running $t for $secs s"
  (cd "$out" && MP_FUZZ_SCENARIOS="$OLDPWD/conformance/scenarios" "./${t}_fuzz" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 "${t}_corpus")
}

merge() {
  local t="$1" dir fresh
  dir="$(corpus "$t")"
  build "$t"
  seed "$t"
  fresh="$(mktemp -d)"
  MP_FUZZ_SCENARIOS="$PWD/conformance/scenarios" "$out/${t}_fuzz" -merge=1 -max_len="$(max_len "$t")" "$fresh" "$out/${t}_corpus"
  # Named regression inputs (regress_*) stay whatever their coverage.
  find "$dir" -type f ! -name 'regress_*' -delete
  cp "$fresh"/* "$dir/"
  rm -rf "$fresh"
  echo "fuzz.sh: $dir now holds $(ls "$dir" | wc -l) inputs"
}

case "${1:-}" in
  --all)
    start=$SECONDS
    for t in "${targets[@]}"; do run "$t" "${2:-20}"; done
    echo "fuzz.sh: --all passed in $((SECONDS - start)) s" ;;
  --merge) merge "${2:?--merge TARGET}" ;;
  --list) printf '%s\n' "${targets[@]}" ;;
  ""|-h|--help) sed -n '2,17p' "$0"; exit 2 ;;
  *) run "$1" "${2:-120}" ;;
# On the line of esac, so bash has parsed all it runs: editing this file
# during a long run cannot make the tail execute something else.
esac; exit $?
