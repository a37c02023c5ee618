#!/bin/sh
# Per-call overhead of each binding against the C API, on one tiny random bundle.
# Each binding's benchmark times its Session step against the bare foreign call on the
# same session in the same process (best of several interleaved rounds); the C program
# gives the C API's own figure. Prints figures; it checks nothing.
# usage: samples/step_overhead/run_all.sh [BUILD_DIR]   (default build/release)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
lib="$build/src"
mmb="$build/sdk/tools/mmb"
work="$build/samples/step_overhead"
mkdir -p "$work"
bundle="$work/tiny.mmb"
"$mmb" synth --shape tiny --seed 3 -o "$bundle" >/dev/null

echo "== C API"
"$build/samples/step_overhead_c" "$bundle" 2000 1

echo "== Rust (safe Session::step vs moemamba_sys call)"
if command -v cargo >/dev/null; then
  MOEMAMBA_LIB_DIR="$lib" CARGO_TARGET_DIR="$work/rust_target" \
    cargo run -q --offline --release --manifest-path "$root/bindings/rust/Cargo.toml" \
    -p moemamba --example step_overhead -- "$bundle" 2000
else echo "cargo not found"; fi

echo "== Python (Session.step vs raw ctypes call)"
MOEMAMBA_LIB="$lib/libmoemamba.so" PYTHONDONTWRITEBYTECODE=1 \
  /usr/bin/python3 "$root/bindings/python/tests/step_overhead.py" "$bundle" 2000

echo "== Go (Session.Step vs bare cgo call)"
if command -v go >/dev/null; then
  (cd "$root/bindings/go" &&
    CGO_CFLAGS="-I$root/include" CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib" GOFLAGS=-mod=mod GOPROXY=off \
    GOCACHE="$work/gocache" GOPATH="$work/gopath" MMB_TEST_BUNDLE="$bundle" MMB_TEST_CLI="$mmb" \
    go test -count=1 -v -run 'TestStepOverhead$' . | grep 'step x')
else echo "go not found"; fi

echo "== C# (Session.Step vs bare P/Invoke)"
if command -v mcs >/dev/null && command -v mono >/dev/null; then
  mcs -langversion:7.2 -nologo -out:"$work/BindingTests.exe" -r:System.Core.dll \
    "$root"/bindings/csharp/src/*.cs "$root"/bindings/csharp/tests/*.cs
  LD_LIBRARY_PATH="$lib" mono "$work/BindingTests.exe" "$bundle" "$mmb" | grep 'step x'
else echo "mcs/mono not found"; fi
