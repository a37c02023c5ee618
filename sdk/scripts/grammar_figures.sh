#!/usr/bin/env bash
# Structured-output figures beside llama.cpp's GBNF sampler, in one run on one machine:
# `mmb bench grammar` (GPT-2's vocabulary), then llama.cpp's llama_sampler_apply over
# the same 50,257 tokens for the same three constraints (tests/grammar: the 6-field
# object schema, the free JSON grammar, the 20 choices), then decode tokens/s with and
# without the schema on the Mamba-130M shape.
#
# usage: sdk/scripts/grammar_figures.sh LLAMA_DIR
#   LLAMA_DIR: a llama.cpp work tree outside this repository (its models/ holds
#   ggml-vocab-gpt-2.gguf). It is built there (CPU, static; only the llama and common
#   targets), the bench program in a temporary folder; LLAMA_COMMIT names the commit
#   when LLAMA_DIR is not a git work tree. Run from a configured release
#   build (bash sdk/scripts/build.sh release).
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_DIR="${1:?usage: grammar_figures.sh LLAMA_DIR}"
MMB="${MMB:-build/release/sdk/tools/mmb}"
[ -x "$MMB" ] || { echo "grammar_figures: build first: bash sdk/scripts/build.sh release" >&2; exit 1; }
JOBS="${JOBS:-2}"
BUILD="$LLAMA_DIR/build"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$LLAMA_DIR" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_HTTPLIB=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=ON -DBUILD_SHARED_LIBS=OFF >/dev/null
fi
cmake --build "$BUILD" -j"$JOBS" --target llama common >/dev/null
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
g++ -std=c++17 -O2 -DNDEBUG -I"$LLAMA_DIR/include" -I"$LLAMA_DIR/ggml/include" -I"$LLAMA_DIR/common" \
  -I"$LLAMA_DIR/vendor" sdk/scripts/llama_grammar_bench/bench.cpp -o "$WORK/llama_grammar_bench" \
  "$BUILD/common/libcommon.a" "$BUILD/src/libllama.a" "$BUILD/ggml/src/libggml.a" \
  "$BUILD/ggml/src/libggml-cpu.a" "$BUILD/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl -lm
COMMIT="${LLAMA_COMMIT:-$(git -C "$LLAMA_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)}"

echo "== mmb bench grammar"
"$MMB" bench grammar
echo "== llama.cpp $COMMIT: llama_sampler_apply on the same vocabulary and constraints"
common=(--vocab "$LLAMA_DIR/models/ggml-vocab-gpt-2.gguf" --commit "$COMMIT" --gens 10 --max-tokens 300 --seed 42)
"$WORK/llama_grammar_bench" "${common[@]}" --name object6 --schema tests/grammar/schemas/bench_object6.json
"$WORK/llama_grammar_bench" "${common[@]}" --name json --gbnf tests/grammar/gbnf/json.gbnf
"$WORK/llama_grammar_bench" "${common[@]}" --name choice20 --choices tests/grammar/choices20.txt
echo "== decode with and without the schema, Mamba-130M shape"
"$MMB" bench grammar --shape mamba-130m
