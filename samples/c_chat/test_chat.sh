#!/bin/sh
# The chat sample answers two user lines read from stdin, and the second turn reuses
# what the session computed for the first.
# usage: test_chat.sh CHAT_PROGRAM BUNDLE_WITH_A_CHAT_TEMPLATE
set -eu
out=$(printf 'Where is the house?\nAnd the garden?\n' | "$1" "$2" "You are a guide.")
echo "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(echo "$out" | grep -c '^assistant: ')" -eq 2 ] || fail "not two replies"
[ "$(echo "$out" | grep -c '^\[turn [12]\] ')" -eq 2 ] || fail "not two turns of figures"
# key=value of the figures on a line
figure() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
system=$(echo "$out" | grep '^\[system\] ')
first=$(echo "$out" | grep '^\[turn 1\] ')
second=$(echo "$out" | grep '^\[turn 2\] ')
[ "$(figure "$first" reused_tokens)" -eq "$(figure "$system" prompt_tokens)" ] ||
  fail "the first turn did not reuse exactly the prefilled system prompt"
[ "$(figure "$first" generated_tokens)" -gt 0 ] || fail "the first reply is empty"
[ "$(figure "$second" restarted)" -eq 0 ] || fail "the second turn started over"
[ "$(figure "$second" reused_tokens)" -eq $(($(figure "$first" prompt_tokens) + $(figure "$first" generated_tokens))) ] ||
  fail "the second turn did not reuse exactly the first turn's prompt and reply"
[ "$(figure "$second" prefilled_tokens)" -lt "$(figure "$second" prompt_tokens)" ] ||
  fail "the second turn prefilled the whole conversation"
echo "sample_c_chat: two replies, the second reusing $(figure "$second" reused_tokens) of $(figure "$second" prompt_tokens) prompt tokens"
