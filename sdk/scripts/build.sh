#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release). Usage: build.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=${1:-release}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/moemamba-ccache}
# Paths relative to the checkout in the cache key: clones and worktrees share hits.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
