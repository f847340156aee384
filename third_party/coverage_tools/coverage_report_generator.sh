#!/usr/bin/env bash
echo "coverage_report_generator: not implemented yet" >&2
exit 1
