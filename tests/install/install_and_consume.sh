#!/usr/bin/env bash
# Installs a build into a fresh prefix and uses it as a user's project would, with no
# build tree in sight: the layout and the library's SONAME links; a CMake project with
# find_package(moemamba MAJOR.MINOR) of this version (and a refused next minor); the C sample with pkg-config and plain
# cc, also after the prefix has moved; the installed mmb; each binding from the prefix.
# Usage: install_and_consume.sh BUILD_DIR BUNDLE WORK_DIR
set -euo pipefail
build=$1 bundle=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
echo "== layout"
for f in include/moemamba/moemamba.h lib/libmoemamba.so lib/cmake/moemamba/moemambaConfig.cmake \
         lib/cmake/moemamba/moemambaConfigVersion.cmake lib/cmake/moemamba/moemambaTargets.cmake \
         lib/pkgconfig/moemamba.pc bin/mmb share/doc/moemamba/README.md share/doc/moemamba/getting-started.md \
         share/moemamba/samples/c_generate/generate.c share/moemamba/models/demo-moe-mamba.mmb; do
  [ -e "$prefix/$f" ] || fail "$f missing from the installed prefix"
done
version=$("$prefix/bin/mmb" --version | awk '{print $2}')
[ -n "$version" ] || fail "mmb --version printed no version"
soname=$(readelf -d "$prefix/lib/libmoemamba.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libmoemamba.so.${version%%.*}" ] || fail "SONAME $soname, expected libmoemamba.so.${version%%.*}"
[ "$(readlink "$prefix/lib/libmoemamba.so")" = "$soname" ] || fail "libmoemamba.so does not link to $soname"
[ "$(readlink "$prefix/lib/$soname")" = "libmoemamba.so.$version" ] || fail "$soname does not link to libmoemamba.so.$version"
[ -f "$prefix/lib/libmoemamba.so.$version" ] || fail "libmoemamba.so.$version missing"
echo "ok: version $version, SONAME $soname"

echo "== CMake consumer: find_package(moemamba ${version%.*})"
sample="$prefix/share/moemamba/samples/c_generate/generate.c"
cmake -S "$here/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DMMB_SAMPLE_SOURCE="$sample" \
  -DMMB_REQUIRED_VERSION="${version%.*}" -DCMAKE_C_COMPILER_LAUNCHER= >/dev/null
cmake --build "$work/consumer" >/dev/null
[ "$("$work/consumer/print_version")" = "$version" ] || fail "the consumer's mmb_version_string() is not $version"
text=$("$work/consumer/generate" "$bundle" "The house")
[ "$(echo "$text" | wc -w)" -ge 5 ] || fail "the CMake consumer streamed too little: $text"
echo "ok: streamed $(echo "$text" | wc -w) words"
next_minor=$(echo "$version" | awk -F. '{print $1 "." $2 + 1}')
if cmake -S "$here/consumer" -B "$work/consumer-next" -DCMAKE_PREFIX_PATH="$prefix" -DMMB_SAMPLE_SOURCE="$sample" \
     -DMMB_REQUIRED_VERSION="$next_minor" >"$work/consumer-next.log" 2>&1; then
  fail "find_package(moemamba $next_minor) accepted version $version"
fi
grep -q "moemamba" "$work/consumer-next.log" || fail "no message naming moemamba when $next_minor was refused"
echo "ok: find_package(moemamba $next_minor) refused"

echo "== pkg-config and plain cc, then the prefix moved"
build_with_pkg_config() {
  local p=$1 out=$2
  PKG_CONFIG_PATH="$p/lib/pkgconfig" sh -c 'cc -std=c99 -o "$1" "$2" $(pkg-config --cflags --libs moemamba) \
    -Wl,-rpath,"$(pkg-config --variable=libdir moemamba)"' sh "$out" "$sample"
}
[ "$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion moemamba)" = "$version" ] \
  || fail "pkg-config --modversion is not $version"
build_with_pkg_config "$prefix" "$work/generate_pc"
text=$("$work/generate_pc" "$bundle" "The house")
[ "$(echo "$text" | wc -w)" -ge 5 ] || fail "the pkg-config build streamed too little: $text"
mv "$prefix" "$work/moved"
prefix="$work/moved"
sample="$prefix/share/moemamba/samples/c_generate/generate.c"
build_with_pkg_config "$prefix" "$work/generate_moved"
text=$("$work/generate_moved" "$bundle" "The house")
[ "$(echo "$text" | wc -w)" -ge 5 ] || fail "the build against the moved prefix streamed too little: $text"
echo "ok: both builds streamed text"

echo "== the installed mmb"
text=$("$prefix/bin/mmb" generate "$prefix/share/moemamba/models/demo-moe-mamba.mmb" --prompt "The house" \
  --max-tokens 24 --seed 2 2>/dev/null)
[ "$(echo "$text" | wc -w)" -ge 5 ] || fail "the installed mmb streamed too little: $text"
echo "ok"

if [ -f "$here/bindings_from_prefix.sh" ]; then
  echo "== the bindings from the prefix"
  bash "$here/bindings_from_prefix.sh" "$prefix" "$bundle"
fi
echo "install_and_consume: all checks passed"
