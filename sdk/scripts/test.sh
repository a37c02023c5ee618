#!/usr/bin/env bash
# The whole test suite: set-up, release build + every test, then the bundle and
# API tests again under AddressSanitizer + UBSan. Prints ctest's summaries.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash sdk/scripts/setup.sh
bash sdk/scripts/build.sh release
ctest --preset release
if [ "${MMB_SKIP_ASAN:-0}" != 1 ]; then
  bash sdk/scripts/build.sh asan
  ctest --preset asan
fi
