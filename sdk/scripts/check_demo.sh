#!/usr/bin/env bash
# Runs the README's main command (sdk/scripts/demo.sh) as a newcomer does and fails
# unless it exits 0 after streaming at least 50 words. SIGPIPE is put back to its default
# disposition first: a harness that starts CI may ignore it, and a script that inherits
# that never dies of a closed pipe, which would hide the very failure this guards against.
set -uo pipefail
cd "$(dirname "$0")/../.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
env --default-signal=PIPE bash sdk/scripts/demo.sh 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" != 0 ]; then
  echo "check_demo: demo.sh exited with status $status" >&2
  exit 1
fi
# The streamed text: what `mmb generate` printed before its closing "[generated ...]" line,
# after the inspect summary (which ends with the "params" line).
words=$(awk '/^params /{on=1; next} /^\[generated /{on=0} on' "$log" | wc -w)
if [ "$words" -lt 50 ]; then
  echo "check_demo: demo.sh streamed only $words words (at least 50 expected)" >&2
  exit 1
fi
echo "check_demo: demo.sh exited 0 after streaming $words words"
