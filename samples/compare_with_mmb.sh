#!/bin/sh
# Runs a streaming sample with greedy sampling and checks that it printed exactly what
# `mmb generate` prints for the same bundle, prompt and token count (plus the sample's
# closing newline). Fails when the model produced no text at all, which would make the
# comparison empty.
# usage: compare_with_mmb.sh MMB BUNDLE PROMPT TOKENS WORKDIR NAME SAMPLE [SAMPLE_ARGS...]
# The sample runs as: SAMPLE [SAMPLE_ARGS...] BUNDLE PROMPT TOKENS 0
set -eu
mmb=$1 bundle=$2 prompt=$3 tokens=$4 work=$5 name=$6
shift 6
mkdir -p "$work"
expected="$work/$name.expected.txt"
actual="$work/$name.actual.txt"
"$mmb" generate "$bundle" --prompt "$prompt" --max-tokens "$tokens" --temp 0 >"$expected" 2>/dev/null
printf '\n' >>"$expected"
if [ "$(wc -c <"$expected")" -le 1 ]; then
  echo "mmb generate produced no text for this prompt: the comparison would prove nothing" >&2
  exit 1
fi
"$@" "$bundle" "$prompt" "$tokens" 0 >"$actual"
echo "--- $name printed:"
cat "$actual"
if cmp "$expected" "$actual"; then
  echo "--- same bytes as mmb generate --temp 0 ($(wc -c <"$actual") bytes)"
else
  echo "--- mmb generate --temp 0 printed:"
  cat "$expected"
  exit 1
fi
