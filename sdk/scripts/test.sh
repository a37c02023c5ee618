#!/usr/bin/env bash
# The whole test suite: set-up, release build + every test, then the bundle and
# API tests again under AddressSanitizer + UBSan, the threaded tests under
# ThreadSanitizer, the arm64 build's kernel and parity tests under qemu-user (the NEON
# path; its library's architecture and dynamic section), and every fuzz target for a
# minute. Prints ctest's summaries and the fuzzers' table. Stages can be skipped:
# MMB_SKIP_ASAN=1, MMB_SKIP_TSAN=1, MMB_SKIP_ARM64=1, MMB_SKIP_FUZZ=1;
# MMB_FUZZ_SECONDS sets the time per fuzz target (default 60).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash sdk/scripts/setup.sh
bash sdk/scripts/build.sh release
ctest --preset release
if [ "${MMB_SKIP_ASAN:-0}" != 1 ]; then
  bash sdk/scripts/build.sh asan
  ctest --preset asan
fi
if [ "${MMB_SKIP_TSAN:-0}" != 1 ]; then
  bash sdk/scripts/build.sh tsan
  ctest --preset tsan
fi
if [ "${MMB_SKIP_ARM64:-0}" != 1 ]; then
  bash sdk/scripts/build.sh arm64
  ctest --preset arm64
fi
if [ "${MMB_SKIP_FUZZ:-0}" != 1 ]; then
  bash tests/fuzz/run_fuzzers.sh "${MMB_FUZZ_SECONDS:-60}"
fi
