#!/usr/bin/env bash
# Builds the spec parser's libFuzzer target with clang-14
# (-fsanitize=fuzzer,address) against Debian's Abseil and runs it.
#   tools/fuzz_spec.sh [SECONDS]   (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/mp-spec-fuzz"
mkdir -p "$out/corpus"
cp conformance/spec/fuzz_corpus/* conformance/scenarios/*.spec "$out/corpus/"
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address -I. \
  conformance/spec/spec.cc conformance/spec/spec_fuzz.cc \
  -labsl_status -labsl_statusor -labsl_strings -labsl_strings_internal -labsl_str_format_internal \
  -labsl_int128 -labsl_raw_logging_internal -labsl_throw_delegate -labsl_cord -labsl_cord_internal \
  -labsl_cordz_info -labsl_cordz_functions -labsl_cordz_handle -labsl_spinlock_wait -labsl_base \
  -labsl_synchronization -labsl_time -labsl_time_zone -labsl_stacktrace -labsl_symbolize \
  -o "$out/spec_fuzz"
echo "fuzz_spec: running $out/spec_fuzz for ${1:-120} s"
"$out/spec_fuzz" -max_total_time="${1:-120}" -max_len=4096 -timeout=10 "$out/corpus"
