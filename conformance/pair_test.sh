#!/usr/bin/env bash
# Runs the conformance CLI with the given arguments; passes iff nothing
# FAILed (PASS, UNSUPPORTED and a text-only PASS all pass the test).
set -u
cli="$1"
shift
cd "${TEST_SRCDIR}/mp" || exit 1
"$cli" --junit="${XML_OUTPUT_FILE:-/dev/null}" "$@"
