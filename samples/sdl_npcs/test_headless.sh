#!/usr/bin/env bash
# ctest's sample_sdl_npcs: five seconds of the scene through run_headless.sh, then
# checks the exit status, the figures, that every character said something, and that
# the screenshot is a drawn frame with generated text in it; then that closing the
# window (SDL_QUIT) ends a run cleanly.
# usage: test_headless.sh SAMPLE BUNDLE WORKDIR
set -u
here=$(dirname "$0")
sample=$1
bundle=$2
work=$3
shot="$work/sdl_npcs.bmp"
log="$work/sdl_npcs.log"
npcs=6

fail() {
  echo "sample_sdl_npcs: FAIL: $*"
  exit 1
}

mkdir -p "$work"
rm -f "$shot"
bash "$here/run_headless.sh" "$sample" --bundle "$bundle" --npcs "$npcs" --seconds 5 --screenshot "$shot" >"$log" 2>&1
rc=$?
cat "$log"
if [ "$rc" -eq 77 ]; then
  echo "sample_sdl_npcs: skipped: no SDL video driver could start (install xvfb)"
  exit 77
fi
[ "$rc" -eq 0 ] || fail "exit status $rc"

for figure in '^frame time  p50 ' '^frame work  p50 ' '^model       p50 ' '^tokens .* tokens/s$'; do
  grep -q "$figure" "$log" || fail "no line matching '$figure'"
done
summary=$(grep '^summary ' "$log") || fail "no summary line"
field() { sed -n "s/.* $1=\([0-9a-f]*\).*/\1/p" <<<"$summary"; }
[ "$(field npcs)" = "$npcs" ] || fail "npcs=$(field npcs), expected $npcs"
[ "$(field talked)" = "$npcs" ] || fail "only $(field talked) of $npcs characters said anything"
# Frame times are figures, not checks: on a loaded machine a frame can take far more
# than 16.7 ms. What must hold is that the loop ran and the model spoke in it.
[ "$(field frames)" -ge 2 ] || fail "only $(field frames) frames"
[ "$(field tokens)" -gt 0 ] || fail "no tokens"
[ -s "$shot" ] || fail "no screenshot at $shot"
/usr/bin/python3 "$here/screenshot.py" check "$shot" "$(field ink)" || fail "the screenshot does not show the scene"

# Closing the window ends the loop cleanly: SDL turns SIGINT into the SDL_QUIT event that
# a window manager's close button sends, and the sample still reports and frees all.
quit_log="$work/sdl_npcs_quit.log"
bash "$here/run_headless.sh" timeout --preserve-status -s INT 4 "$sample" --bundle "$bundle" --npcs 2 >"$quit_log" 2>&1
rc=$?
cat "$quit_log"
[ "$rc" -eq 0 ] || fail "exit status $rc after SDL_QUIT"
grep -q '^summary ' "$quit_log" || fail "no summary line after SDL_QUIT"
echo "sample_sdl_npcs: ok"
