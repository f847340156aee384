#!/usr/bin/env bash
# Runs the conformance CLI with the given arguments; passes iff every
# scenario met its expectation (exit status 0: INTERPRETING.md).
set -u
cli="$1"
shift
cd "${TEST_SRCDIR}/mp" || exit 1
"$cli" --junit="${XML_OUTPUT_FILE:-/dev/null}" "$@"
