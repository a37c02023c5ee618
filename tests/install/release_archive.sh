#!/usr/bin/env bash
# Makes the release archive of a build with CPack (what `--target package` runs), then
# unpacks it in an empty folder and uses it from there: its name agrees with
# `mmb --version` and mmb_version_string(), the C sample builds against it with
# pkg-config and streams text, and its mmb generates from its demo bundle.
# Usage: release_archive.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/unpacked"
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -B "$work" >/dev/null
archives=("$work"/moemamba-*.tar.gz)
[ ${#archives[@]} = 1 ] && [ -f "${archives[0]}" ] || fail "expected one moemamba-*.tar.gz in $work"
archive=${archives[0]}
name=$(basename "$archive" .tar.gz)
echo "archive $name.tar.gz, $(du -h "$archive" | cut -f1), $(tar tzf "$archive" | wc -l) entries"
[[ "$name" =~ ^moemamba-([0-9]+\.[0-9]+\.[0-9]+)-linux-(x86_64|aarch64)$ ]] || fail "unexpected archive name $name"
archive_version=${BASH_REMATCH[1]}

tar xzf "$archive" -C "$work/unpacked"
root="$work/unpacked/$name"
[ -d "$root" ] || fail "the archive has no top folder $name"
for f in bin/mmb include/moemamba/moemamba.h lib/pkgconfig/moemamba.pc lib/cmake/moemamba/moemambaConfig.cmake \
         share/moemamba/models/demo-moe-mamba.mmb share/moemamba/bindings/rust/Cargo.toml \
         share/moemamba/bindings/go/go.mod share/moemamba/bindings/csharp/src/Native.cs \
         share/moemamba/bindings/python/moemamba/__init__.py share/doc/moemamba/README.md; do
  [ -e "$root/$f" ] || fail "$f missing from the archive"
done
cli_version=$("$root/bin/mmb" --version | awk '{print $2}')
[ "$cli_version" = "$archive_version" ] || fail "mmb --version says $cli_version, the archive $archive_version"

export PKG_CONFIG_PATH="$root/lib/pkgconfig"
cflags_libs=$(pkg-config --cflags --libs moemamba)
libdir=$(pkg-config --variable=libdir moemamba)
# shellcheck disable=SC2086
cc -std=c99 -o "$work/print_version" "$here/print_version.c" $cflags_libs -Wl,-rpath,"$libdir"
lib_version=$("$work/print_version")
[ "$lib_version" = "$archive_version" ] || fail "mmb_version_string() says $lib_version, the archive $archive_version"
# shellcheck disable=SC2086
cc -std=c99 -o "$work/generate" "$root/share/moemamba/samples/c_generate/generate.c" $cflags_libs -Wl,-rpath,"$libdir"
bundle="$root/share/moemamba/models/demo-moe-mamba.mmb"
text=$("$work/generate" "$bundle" "The old man")
[ "$(echo "$text" | wc -w)" -ge 5 ] || fail "the C sample streamed too little: $text"
text=$("$root/bin/mmb" generate "$bundle" --prompt "The old man" --max-tokens 24 --seed 3 2>/dev/null)
[ "$(echo "$text" | wc -w)" -ge 5 ] || fail "the archive's mmb streamed too little: $text"
echo "release_archive: version $archive_version everywhere; the C sample and mmb streamed text from the archive"
