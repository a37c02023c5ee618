#!/usr/bin/env bash
# Runs a Windows program of the windows-x64 build under wine64 (ctest's emulator): its
# own wine prefix, no wine debug chatter, and no Mono/Gecko installer prompts. The
# program's text-mode stdout ends lines with CR LF; the CRs are dropped so that what
# reads it here (Catch's test discovery, comparisons with Linux) sees Linux's lines.
# MMB_WINE_KEEP_CR=1 passes stdout through untouched (binary output).
set -o pipefail
export WINEPREFIX=${WINEPREFIX:-$HOME/.wine-moemamba}
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}
wine=${MMB_WINE:-/usr/lib/wine/wine64}
if [ "${MMB_WINE_KEEP_CR:-0}" = 1 ]; then exec "$wine" "$@"; fi
"$wine" "$@" | tr -d '\r'
