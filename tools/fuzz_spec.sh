#!/usr/bin/env bash
# Kept for old habits: the spec parser's fuzz target, now one of tools/fuzz.sh's.
#   tools/fuzz_spec.sh [SECONDS]   (default 120)
exec "$(dirname "$0")/fuzz.sh" spec "${1:-120}"
