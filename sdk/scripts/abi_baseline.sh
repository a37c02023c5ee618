#!/usr/bin/env bash
# Rewrites tests/abi/libmoemamba.abi from a fresh release build. Run it only when the
# ABI changes on purpose (docs/abi.md: what that means and what else must change).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash sdk/scripts/build.sh release
bash tests/abi/abi.sh dump build/release/src/libmoemamba.so tests/abi/libmoemamba.abi
echo "baseline written: tests/abi/libmoemamba.abi ($(grep -c "<function-decl name='mmb_" tests/abi/libmoemamba.abi) functions)"
