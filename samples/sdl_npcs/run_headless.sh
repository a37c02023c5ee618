#!/usr/bin/env bash
# Runs the sdl_npcs sample without a display: in an X server of its own (xvfb-run -a,
# Debian's xvfb) with SDL's x11 driver; where no X server can start, with SDL's
# "offscreen" driver, then its "dummy" one. Says which it used.
#
# usage: run_headless.sh SAMPLE [sample options...]
# Exit status: the sample's; 77 when no video driver could start at all.
set -u
sample=$1
shift
args=("$@")

# Runs the sample with one driver, under an optional wrapper command; returns only when
# the driver did not start (the sample exits with 3 for that).
try() {
  local driver=$1 rc
  shift
  echo "run_headless: SDL_VIDEODRIVER=$driver${*:+ under $*}"
  SDL_VIDEODRIVER=$driver "$@" "$sample" "${args[@]}"
  rc=$?
  [ "$rc" -ne 3 ] && exit "$rc"
  echo "run_headless: the $driver driver did not start"
}

if command -v xvfb-run >/dev/null 2>&1; then
  if xvfb-run -a true >/dev/null 2>&1; then
    try x11 xvfb-run -a
  else
    echo "run_headless: xvfb-run is installed but Xvfb could not start"
  fi
else
  echo "run_headless: xvfb-run not found (Debian package xvfb)"
fi
try offscreen
try dummy
echo "run_headless: no SDL video driver could start"
exit 77
