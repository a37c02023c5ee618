#!/usr/bin/env bash
# The whole test suite. First the README's main command (demo.sh) exactly as a newcomer
# runs it, checked to exit 0 after streaming at least 50 words; then the full set-up,
# release build + every test (the install tree, the CMake and pkg-config consumers, the
# release archive, the bindings from an installed prefix among them), then the bundle and
# API tests again under AddressSanitizer + UBSan, the threaded tests under
# ThreadSanitizer, the arm64 build's kernel and parity tests under qemu-user (the NEON
# path; its library's architecture and dynamic section), the CUDA plugin's kernels and
# GPU tests on the CPU emulator of tests/cuda_emu (under AddressSanitizer), the
# WebAssembly build (emscripten: the JavaScript binding's tests under Node.js, the web
# sample in headless Chromium), the Windows x64 build (mingw-w64) under wine64, and
# every fuzz target for a minute. Prints ctest's summaries, the fuzzers' table and the
# time of each stage.
# Stages can be skipped: MMB_SKIP_ASAN=1, MMB_SKIP_TSAN=1, MMB_SKIP_ARM64=1,
# MMB_SKIP_CUDA_EMU=1, MMB_SKIP_WASM=1, MMB_SKIP_WINDOWS=1, MMB_SKIP_FUZZ=1;
# MMB_FUZZ_SECONDS sets the time per fuzz target (default 60).
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS
stage_start=$SECONDS
stage() { echo "test: stage $1 took $((SECONDS - stage_start)) s (total $((SECONDS - start)) s)"; stage_start=$SECONDS; }

bash sdk/scripts/check_demo.sh
stage "demo"
bash sdk/scripts/setup.sh all
stage "set-up"
bash sdk/scripts/build.sh release
ctest --preset release
stage "release"
if [ "${MMB_SKIP_ASAN:-0}" != 1 ]; then
  bash sdk/scripts/build.sh asan
  ctest --preset asan
  stage "asan"
fi
if [ "${MMB_SKIP_TSAN:-0}" != 1 ]; then
  bash sdk/scripts/build.sh tsan
  MMB_STRESS_SECONDS=60 ctest --preset tsan
  stage "tsan"
fi
if [ "${MMB_SKIP_ARM64:-0}" != 1 ]; then
  bash sdk/scripts/build.sh arm64
  ctest --preset arm64
  stage "arm64"
fi
if [ "${MMB_SKIP_CUDA_EMU:-0}" != 1 ]; then
  bash sdk/scripts/build.sh cuda-emu
  ctest --preset cuda-emu
  stage "cuda-emu"
fi
# WebAssembly: moemamba.wasm and bindings/js, built with Debian's emscripten; ctest
# runs the binding's tests under Node.js (greedy text against the release build's mmb)
# and opens samples/web_chat in headless Chromium.
if [ "${MMB_SKIP_WASM:-0}" != 1 ]; then
  bash sdk/scripts/setup.sh wasm
  bash sdk/scripts/build.sh wasm
  ctest --preset wasm
  stage "wasm"
fi
# Windows x64: cross-built with mingw-w64, its DLL's imports and exports checked, the
# unit tests and the C sample run under wine64, and mmb.exe's greedy text against the
# release build's. The wine prefix is made first, once, before tests start side by side.
if [ "${MMB_SKIP_WINDOWS:-0}" != 1 ]; then
  bash sdk/scripts/setup.sh windows
  bash sdk/scripts/build.sh windows-x64
  bash sdk/scripts/wine_run.sh wineboot --init
  ctest --preset windows-x64
  bash sdk/scripts/check_windows_generate.sh build/release/sdk/tools/mmb build/windows-x64/bin/mmb.exe
  stage "windows"
fi
if [ "${MMB_SKIP_FUZZ:-0}" != 1 ]; then
  bash tests/fuzz/run_fuzzers.sh "${MMB_FUZZ_SECONDS:-60}"
  stage "fuzz"
fi
echo "test: all stages passed in $((SECONDS - start)) s"
