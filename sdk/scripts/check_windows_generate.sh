#!/usr/bin/env bash
# The Windows CLI (mmb.exe under wine64) must stream the same greedy text from the demo
# model as the Linux CLI: same bundle, same prompt, --temp 0. stdout only (the stats line
# goes to stderr; wine_run.sh drops the carriage returns of Windows' line ends).
# Usage: check_windows_generate.sh LINUX_MMB WINDOWS_MMB_EXE [BUNDLE] [PROMPT]
set -euo pipefail
cd "$(dirname "$0")/../.."
linux_mmb=$1
windows_mmb=$2
bundle=${3:-models/demo-moe-mamba.mmb}
prompt=${4:-The old man looked at the}
args=(generate "$bundle" --prompt "$prompt" --max-tokens 64 --temp 0)
linux_text=$("$linux_mmb" "${args[@]}" 2>/dev/null)
windows_text=$(bash sdk/scripts/wine_run.sh "$windows_mmb" "${args[@]}" 2>/dev/null)
if [ "$linux_text" != "$windows_text" ]; then
  echo "check_windows_generate: the texts differ" >&2
  diff <(echo "$linux_text") <(echo "$windows_text") >&2 || true
  exit 1
fi
echo "check_windows_generate: mmb.exe under wine64 streams the Linux text ($(echo "$linux_text" | wc -w) words)"
