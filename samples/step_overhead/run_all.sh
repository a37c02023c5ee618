#!/bin/sh
# Per-call overhead of each binding against the C API, on one tiny random bundle, one
# compute thread. Each program times the binding's Session step and position calls
# against the same C functions called bare from that language, in the same process,
# as the fastest of many short interleaved blocks (Go also times a loop written in C).
# step_overhead_c gives the C API's own figures. Prints figures; checks nothing but
# that every program ran. A language whose toolchain is missing is skipped.
# usage: samples/step_overhead/run_all.sh [BUILD_DIR]   (default build/release)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
lib="$build/src"
work="$build/samples/step_overhead"
mkdir -p "$work"
bundle="$work/tiny.mmb"
"$build/sdk/tools/mmb" synth --shape tiny --seed 3 -o "$bundle" >/dev/null

"$build/samples/step_overhead_c" "$bundle" 1

if command -v cargo >/dev/null; then
  MOEMAMBA_LIB_DIR="$lib" CARGO_TARGET_DIR="$work/rust_target" \
    cargo build -q --offline --locked --release --manifest-path "$here/rust/Cargo.toml"
  "$work/rust_target/release/step_overhead" "$bundle"
else echo "rust: cargo not found, skipped"; fi

if command -v go >/dev/null; then
  (cd "$here/go" &&
    CGO_CFLAGS="-O2 -I$root/include" CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib" GOFLAGS=-mod=mod GOPROXY=off \
    GOCACHE="$work/gocache" GOPATH="$work/gopath" go build -o "$work/step_overhead_go" .)
  "$work/step_overhead_go" "$bundle"
else echo "go: go not found, skipped"; fi

if command -v mcs >/dev/null && command -v mono >/dev/null; then
  mcs -langversion:7.2 -nologo -warnaserror -out:"$work/step_overhead.exe" \
    "$root"/bindings/csharp/src/*.cs "$here"/csharp/*.cs
  LD_LIBRARY_PATH="$lib" mono "$work/step_overhead.exe" "$bundle"
else echo "csharp: mcs/mono not found, skipped"; fi

if [ -x /usr/bin/python3 ]; then
  MOEMAMBA_LIB="$lib/libmoemamba.so" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$here/python/step_overhead.py" "$bundle"
else echo "python: /usr/bin/python3 not found, skipped"; fi
