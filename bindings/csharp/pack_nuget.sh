#!/usr/bin/env bash
# Packs the C# binding and an installed libmoemamba into a NuGet package, offline, with
# mono's mcs and zip (no nuget.exe, no dotnet, no network):
#   Moemamba.nuspec, [Content_Types].xml, _rels/.rels     what nuget.exe would write
#   lib/netstandard2.0/Moemamba.dll (+ Moemamba.xml)       this folder's src/*.cs
#   runtimes/linux-x64/native/libmoemamba.so               PREFIX/lib/libmoemamba.so
# Usage: pack_nuget.sh PREFIX OUT_DIR    (PREFIX: what `cmake --install BUILD --prefix P`
# made). Prints the path of OUT_DIR/Moemamba.<version>.nupkg, the version being the
# library's (MMB_VERSION_* in PREFIX/include/moemamba/moemamba.h).
# The assembly is C# 7.2 (Debian's mcs accepts no later) compiled against Mono's class
# library (mscorlib 4.x), which .NET and Unity load through their mscorlib facade.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PREFIX OUT_DIR" >&2; exit 2; }
prefix=$1 out=$2
src=$(cd "$(dirname "$0")" && pwd)/src
header=$prefix/include/moemamba/moemamba.h
native=$prefix/lib/libmoemamba.so
for f in "$header" "$native"; do
  [ -e "$f" ] || { echo "$f not found: is $prefix an installed moemamba prefix?" >&2; exit 1; }
done
command -v mcs >/dev/null || { echo "mcs not found (Debian: mono-mcs)" >&2; exit 1; }
command -v zip >/dev/null || { echo "zip not found (Debian: zip)" >&2; exit 1; }
part() { sed -n "s/^#define MMB_VERSION_$1 \([0-9]*\).*/\1/p" "$header"; }
version=$(part MAJOR).$(part MINOR).$(part PATCH)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/netstandard2.0" "$stage/runtimes/linux-x64/native" "$stage/_rels"
cat >"$stage/AssemblyInfo.cs" <<EOF
using System.Reflection;
[assembly: AssemblyTitle("Moemamba")]
[assembly: AssemblyDescription("C# binding of libmoemamba")]
[assembly: AssemblyVersion("$version.0")]
[assembly: AssemblyInformationalVersion("$version")]
EOF
# 1591: members without a doc comment (the xml is for IDE tooltips, not a lint).
mcs -target:library -langversion:7.2 -nologo -warnaserror -optimize -nowarn:1591 \
  -doc:"$stage/lib/netstandard2.0/Moemamba.xml" -out:"$stage/lib/netstandard2.0/Moemamba.dll" \
  "$src"/*.cs "$stage/AssemblyInfo.cs"
rm "$stage/AssemblyInfo.cs"
cp -L "$native" "$stage/runtimes/linux-x64/native/libmoemamba.so"

cat >"$stage/Moemamba.nuspec" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Moemamba</id>
    <version>$version</version>
    <authors>moemamba</authors>
    <license type="expression">MIT</license>
    <description>Run MoE-Mamba language models token by token inside your program: the C# binding of libmoemamba $version with the native library for linux-x64.</description>
    <tags>moe mamba llm native</tags>
    <dependencies>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
  </metadata>
</package>
EOF
cat >"$stage/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="xml" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
</Types>
EOF
cat >"$stage/_rels/.rels" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/Moemamba.nuspec" Id="R0" />
</Relationships>
EOF

mkdir -p "$out"
package=$(cd "$out" && pwd)/Moemamba.$version.nupkg
rm -f "$package"
# -D: no folder entries, as nuget.exe writes; -X: no extra file attributes; -nw: the
# brackets of [Content_Types].xml are no wildcard.
(cd "$stage" && zip -q -r -D -X -nw "$package" Moemamba.nuspec '[Content_Types].xml' _rels lib runtimes)
echo "$package"
