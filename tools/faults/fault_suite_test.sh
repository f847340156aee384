#!/bin/sh
# Runs the fault-injection suite in reduced mode; fails if any trial failed.
exec "$1" --reduced
