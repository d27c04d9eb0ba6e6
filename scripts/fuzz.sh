#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each (default 20s).
# Usage: scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-20s}"
grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do
  for name in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); do
    echo "fuzz: $dir $name ($dur)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$dur" -fuzzminimizetime 3s "$dir"
  done
done
