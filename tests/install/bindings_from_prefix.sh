#!/usr/bin/env bash
# Uses each binding against an installed prefix the way its ecosystem expects, with no
# build tree in sight (every source comes from PREFIX/share/moemamba, every library from
# PREFIX/lib):
#   Python  pip install (offline, Debian's setuptools) into a venv; the package finds the
#           library through MOEMAMBA_PREFIX and through LD_LIBRARY_PATH; its unit tests
#   C#      bindings/csharp/pack_nuget.sh makes a .nupkg; a console program compiled
#           against its lib/netstandard2.0/Moemamba.dll runs with its runtimes/linux-x64/native
#   Rust    cargo test of the installed workspace and the rust_stream sample, both finding
#           the library with pkg-config (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
#   Go      go test of the installed package and the go_stream sample, with cgo flags
#           from pkg-config
# Each streaming program must print exactly what `mmb generate --temp 0` prints
# (samples/compare_with_mmb.sh). A language is skipped, saying so, only when its
# toolchain is missing; any failure exits non-zero.
# Usage: bindings_from_prefix.sh PREFIX BUNDLE
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PREFIX BUNDLE" >&2; exit 2; }
prefix=$(cd "$1" && pwd)
bundle=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
share=$prefix/share/moemamba
fail() { echo "FAIL: $*" >&2; exit 1; }
for f in bin/mmb include/moemamba/moemamba.h lib/libmoemamba.so.0 lib/pkgconfig/moemamba.pc \
         share/moemamba/samples/compare_with_mmb.sh; do
  [ -e "$prefix/$f" ] || fail "$prefix/$f missing: is $prefix an installed moemamba prefix?"
done
[ -f "$bundle" ] || fail "bundle $bundle not found"
version=$(sed -n 's/^Version: *//p' "$prefix/lib/pkgconfig/moemamba.pc")
library=$(realpath "$prefix/lib/libmoemamba.so.0")
work=$(mktemp -d "${TMPDIR:-/tmp}/moemamba-bindings.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Nothing from the caller's environment may point a binding at some other library.
unset MOEMAMBA_LIB MOEMAMBA_LIB_DIR MOEMAMBA_PREFIX MOEMAMBA_MMB MOEMAMBA_INCLUDE_DIR MOEMAMBA_TEST_BUNDLE \
      MOEMAMBA_DEMO_BUNDLE MMB_TEST_DEMO_BUNDLE LD_LIBRARY_PATH PKG_CONFIG_PATH CGO_CFLAGS CGO_LDFLAGS MONO_PATH CARGO_TARGET_DIR
tiny=$work/tiny.mmb  # what the binding test suites run on, as under ctest
# and what their chat tests pack with chat templates: BUNDLE (the demo model)
"$prefix/bin/mmb" synth --shape tiny --seed 3 -o "$tiny" >/dev/null
skipped=()
skip() { echo "SKIP $1: $2"; skipped+=("$1"); }
# run LOG COMMAND...: the output goes to LOG, shown only when the command fails.
run() {
  local log=$work/$1.log
  shift
  "$@" >"$log" 2>&1 || { tail -n 60 "$log" >&2; fail "$* (log above)"; }
}
compare() { sh "$share/samples/compare_with_mmb.sh" "$prefix/bin/mmb" "$bundle" "Once upon a time" 24 "$work/compare" "$@"; }
# loads_from_prefix BINARY: the loader resolves libmoemamba.so.0 to this prefix's.
loads_from_prefix() {
  local found
  found=$(ldd "$1" | awk '$1 ~ /^libmoemamba/ {print $3}')
  # shellcheck disable=SC2015 # fail is the else of both tests
  [ -n "$found" ] && [ "$(realpath "$found")" = "$library" ] || fail "$1 loads '${found:-nothing}', not $library"
  echo "ok: $(basename "$1") loads $found"
}
echo "prefix $prefix (moemamba $version), bundle $bundle"

echo "== Python: pip install into a venv, then the installed package"
python=/usr/bin/python3
if [ ! -x "$python" ]; then
  skip python "$python not found (Debian: python3)"
elif ! "$python" -c 'import ensurepip, venv, setuptools' 2>/dev/null || ! "$python" -m pip --version >/dev/null 2>&1; then
  skip python "$python lacks pip, venv or setuptools (Debian: python3-pip python3-venv python3-setuptools)"
else
  venv=$work/venv
  run python-venv "$python" -m venv --system-site-packages "$venv"
  # pip builds in the source folder: a copy keeps the prefix clean.
  cp -r "$share/bindings/python" "$work/python-src"
  run python-pip "$venv/bin/python" -m pip install --no-index --no-build-isolation "$work/python-src"
  installed=$(cd "$work" && "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moemamba"))')
  [ "$installed" = "$version" ] || fail "pip installed moemamba $installed, the library is $version"
  echo "ok: pip installed moemamba $installed"
  # Which libmoemamba the package loaded, read from the process's own memory map.
  loaded='import moemamba
print(moemamba.version(), next(l.split()[-1] for l in open("/proc/self/maps") if "libmoemamba" in l))'
  for how in "MOEMAMBA_PREFIX=$prefix" "LD_LIBRARY_PATH=$prefix/lib"; do
    read -r v path < <(cd "$work" && env "$how" "$venv/bin/python" -c "$loaded")
    # shellcheck disable=SC2015 # fail is the else of both tests
    [ "$v" = "$version" ] && [ "$(realpath "$path")" = "$library" ] || fail "with $how the package loaded $path ($v)"
    echo "ok: with $how it loads $path"
  done
  cat >"$work/py_stream.py" <<'EOF'
import sys

import moemamba

bundle, prompt, tokens, temperature = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with moemamba.Runtime() as rt, moemamba.Model.load_file(rt, bundle) as model, model.session() as session, \
        moemamba.Sampler(temperature=temperature) as sampler:
    for piece in session.generate(sampler, prompt, max_tokens=tokens):
        sys.stdout.buffer.write(piece.text.encode())
        sys.stdout.buffer.flush()
sys.stdout.buffer.write(b"\n")
EOF
  (cd "$work" && MOEMAMBA_PREFIX=$prefix compare python "$venv/bin/python" "$work/py_stream.py")
  # The unit tests, without the package's source beside them so that the installed one is
  # imported; they compile the layout program shared with the Rust binding.
  tests=$work/python-tests/bindings
  mkdir -p "$tests/python" "$tests/rust/sys/tests"
  cp -r "$share/bindings/python/tests" "$tests/python/"
  cp "$share/bindings/rust/sys/tests/layout.c" "$tests/rust/sys/tests/"
  (cd "$tests/python" && run python-unittest env MOEMAMBA_PREFIX="$prefix" MOEMAMBA_MMB="$prefix/bin/mmb" \
     MOEMAMBA_INCLUDE_DIR="$prefix/include" MOEMAMBA_TEST_BUNDLE="$tiny" MOEMAMBA_DEMO_BUNDLE="$bundle" \
     PYTHONDONTWRITEBYTECODE=1 \
     "$venv/bin/python" -m unittest discover -s tests -t .)
  echo "ok: python unit tests: $(grep '^Ran ' "$work/python-unittest.log")"
fi

echo "== C#: a NuGet package, then a console program against it"
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null || ! command -v zip >/dev/null \
   || ! command -v unzip >/dev/null; then
  skip csharp "mcs, mono, zip or unzip not found (Debian: mono-mcs mono-runtime zip unzip)"
else
  nupkg=$(bash "$share/bindings/csharp/pack_nuget.sh" "$prefix" "$work/nuget")
  [ "$(basename "$nupkg")" = "Moemamba.$version.nupkg" ] || fail "pack_nuget.sh made $nupkg"
  pkg=$work/nuget/unpacked
  mkdir -p "$pkg" && (cd "$pkg" && unzip -q "$nupkg")
  for f in Moemamba.nuspec '[Content_Types].xml' _rels/.rels lib/netstandard2.0/Moemamba.dll \
           runtimes/linux-x64/native/libmoemamba.so; do
    [ -f "$pkg/$f" ] || fail "$f missing from $nupkg"
  done
  grep -q "<version>$version</version>" "$pkg/Moemamba.nuspec" || fail "the nuspec's version is not $version"
  echo "ok: $(basename "$nupkg"): $(cd "$pkg" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')"
  # As a build would: the program compiled against the package's assembly, which is
  # copied beside it; the native library where the package put it.
  app=$work/csharp-app
  mkdir -p "$app" && cp "$pkg/lib/netstandard2.0/Moemamba.dll" "$app/"
  run csharp-mcs mcs -langversion:7.2 -nologo -warnaserror -r:"$app/Moemamba.dll" -out:"$app/csharp_console.exe" \
    "$share/samples/csharp_console/Program.cs"
  LD_LIBRARY_PATH=$pkg/runtimes/linux-x64/native compare csharp mono "$app/csharp_console.exe"
  echo "ok: mono loaded runtimes/linux-x64/native/libmoemamba.so through LD_LIBRARY_PATH"
  # Deployed instead: the native library copied beside the program, no environment.
  cp "$pkg/runtimes/linux-x64/native/libmoemamba.so" "$app/"
  text=$(mono "$app/csharp_console.exe" "$bundle" "Once upon a time" 8 0)
  [ -n "$text" ] || fail "with libmoemamba.so beside the program, csharp_console printed nothing"
  echo "ok: with libmoemamba.so beside the program it streamed:$text"
fi

echo "== Rust: the installed workspace and sample, found with pkg-config"
cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
if [ ! -x "$cargo" ]; then
  skip rust "cargo not found (install Rust: rustup, or sdk/scripts/setup.sh)"
elif ! command -v pkg-config >/dev/null; then
  skip rust "pkg-config not found (Debian: pkg-config)"
else
  # The installed copies build in place (their ../../../build fallback does not exist
  # there); cargo's output goes to the scratch folder.
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig CARGO_TARGET_DIR=$work/cargo
  run rust-test env MOEMAMBA_MMB="$prefix/bin/mmb" MOEMAMBA_INCLUDE_DIR="$prefix/include" MOEMAMBA_TEST_BUNDLE="$tiny" \
    MOEMAMBA_DEMO_BUNDLE="$bundle" \
    "$cargo" test --offline --locked --manifest-path "$share/bindings/rust/Cargo.toml"
  echo "ok: cargo test: $(grep -c '^test .* ok$' "$work/rust-test.log") tests passed"
  loads_from_prefix "$(find "$CARGO_TARGET_DIR/debug/deps" -name 'binding-*' -type f -executable | head -n 1)"
  run rust-sample "$cargo" build --offline --locked --release --manifest-path "$share/samples/rust_stream/Cargo.toml"
  loads_from_prefix "$CARGO_TARGET_DIR/release/rust_stream"
  compare rust "$CARGO_TARGET_DIR/release/rust_stream"
  unset PKG_CONFIG_PATH CARGO_TARGET_DIR
fi

echo "== Go: the installed package and sample, cgo flags from pkg-config"
if ! command -v go >/dev/null; then
  skip go "go not found (Debian: golang-go)"
elif ! command -v pkg-config >/dev/null; then
  skip go "pkg-config not found (Debian: pkg-config)"
else
  pc() { PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config "$@" moemamba; }
  CGO_CFLAGS=$(pc --cflags) || fail "pkg-config --cflags moemamba"
  CGO_LDFLAGS="$(pc --libs) -Wl,-rpath,$(pc --variable=libdir)" || fail "pkg-config --libs moemamba"
  export CGO_CFLAGS CGO_LDFLAGS GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$work/gocache GOPATH=$work/gopath
  echo "CGO_CFLAGS=$CGO_CFLAGS CGO_LDFLAGS=$CGO_LDFLAGS"
  (cd "$share/bindings/go" && run go-test env MMB_TEST_BUNDLE="$tiny" MMB_TEST_CLI="$prefix/bin/mmb" MMB_TEST_DEMO_BUNDLE="$bundle" \
     go test -count=1 -v ./...)
  echo "ok: go test: $(grep -c '^--- PASS' "$work/go-test.log") tests passed"
  (cd "$share/samples/go_stream" && run go-sample go build -o "$work/go_stream" .)
  loads_from_prefix "$work/go_stream"
  compare go "$work/go_stream"
  unset CGO_CFLAGS CGO_LDFLAGS GOFLAGS GOPROXY GOCACHE GOPATH
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo "bindings_from_prefix: passed, skipped: ${skipped[*]}"
else
  echo "bindings_from_prefix: all four bindings passed"
fi
