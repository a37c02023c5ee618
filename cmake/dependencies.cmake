# Third-party parts, all from Debian. zstd and PCRE2 are compiled from Debian's source
# packages (fetched by sdk/scripts/setup.sh) because Debian's static archives are not
# built as PIC and libmoemamba.so must carry them inside it, hidden. xxhash is header-only
# (XXH_INLINE_ALL); utf8proc's static archive is PIC. A cross build (the arm64 preset)
# takes the header-only parts from the build machine's /usr/include, after the
# target's own headers (cmake/toolchains).

find_program(FLATC flatc REQUIRED)
find_path(FLATBUFFERS_INCLUDE flatbuffers/flatbuffers.h REQUIRED)
find_path(XXHASH_INCLUDE xxhash.h REQUIRED)
if(CMAKE_CROSSCOMPILING)
  # Debian's libutf8proc.a is the build machine's architecture: a cross build compiles
  # the same version's source (fetched by sdk/scripts/setup.sh), hidden like zstd.
  set(UTF8PROC_INCLUDE "${MMB_DEPS_DIR}/utf8proc")
  if(NOT EXISTS "${UTF8PROC_INCLUDE}/utf8proc.c")
    message(FATAL_ERROR "utf8proc sources not found at ${UTF8PROC_INCLUDE}: run sdk/scripts/setup.sh")
  endif()
  add_library(mmb_utf8proc STATIC "${UTF8PROC_INCLUDE}/utf8proc.c")
  target_compile_definitions(mmb_utf8proc PRIVATE UTF8PROC_STATIC)
  target_compile_options(mmb_utf8proc PRIVATE -O2 -w)
  set(UTF8PROC_STATIC mmb_utf8proc)
else()
  find_path(UTF8PROC_INCLUDE utf8proc.h REQUIRED)
  find_library(UTF8PROC_STATIC NAMES libutf8proc.a REQUIRED)
endif()

set(MMB_ZSTD_DIR "${MMB_DEPS_DIR}/zstd/lib")
if(NOT EXISTS "${MMB_ZSTD_DIR}/zstd.h")
  message(FATAL_ERROR "zstd sources not found at ${MMB_ZSTD_DIR}: run sdk/scripts/setup.sh")
endif()
file(GLOB MMB_ZSTD_SOURCES
  "${MMB_ZSTD_DIR}/common/*.c" "${MMB_ZSTD_DIR}/compress/*.c" "${MMB_ZSTD_DIR}/decompress/*.c")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  list(APPEND MMB_ZSTD_SOURCES "${MMB_ZSTD_DIR}/decompress/huf_decompress_amd64.S")
endif()
add_library(mmb_zstd OBJECT ${MMB_ZSTD_SOURCES})
target_include_directories(mmb_zstd PUBLIC "${MMB_ZSTD_DIR}")
target_compile_definitions(mmb_zstd PRIVATE ZSTD_LEGACY_SUPPORT=0 ZSTD_MULTITHREAD=0 XXH_NAMESPACE=ZSTD_)
target_compile_options(mmb_zstd PRIVATE -O3 -w)
# zstd's own speed matters for load times even in debug builds.
set_target_properties(mmb_zstd PROPERTIES C_VISIBILITY_PRESET hidden)

# PCRE2 (the tokenizer's regexes) is compiled from Debian's source package like zstd:
# Debian's libpcre2-8.a is not PIC, and a host may load its own PCRE2 next to us. Its
# headers and tables come from the .generic/.dist files PCRE2 ships for builds without
# its own configure; the settings go on the command line instead of into config.h.
set(MMB_PCRE2_SOURCE_DIR "${MMB_DEPS_DIR}/pcre2/src")
if(NOT EXISTS "${MMB_PCRE2_SOURCE_DIR}/pcre2.h.generic")
  message(FATAL_ERROR "PCRE2 sources not found at ${MMB_PCRE2_SOURCE_DIR}: run sdk/scripts/setup.sh")
endif()
set(MMB_PCRE2_INCLUDE "${PROJECT_BINARY_DIR}/pcre2")
configure_file("${MMB_PCRE2_SOURCE_DIR}/pcre2.h.generic" "${MMB_PCRE2_INCLUDE}/pcre2.h" COPYONLY)
configure_file("${MMB_PCRE2_SOURCE_DIR}/config.h.generic" "${MMB_PCRE2_INCLUDE}/config.h" COPYONLY)
configure_file("${MMB_PCRE2_SOURCE_DIR}/pcre2_chartables.c.dist" "${MMB_PCRE2_INCLUDE}/pcre2_chartables.c" COPYONLY)
set(MMB_PCRE2_SOURCES "${MMB_PCRE2_INCLUDE}/pcre2_chartables.c")
foreach(name auto_possess compile config context convert dfa_match error extuni find_bracket
             jit_compile maketables match match_data newline ord2utf pattern_info script_run
             serialize string_utils study substitute substring tables ucd valid_utf xclass)
  list(APPEND MMB_PCRE2_SOURCES "${MMB_PCRE2_SOURCE_DIR}/pcre2_${name}.c")
endforeach()
add_library(mmb_pcre2 OBJECT ${MMB_PCRE2_SOURCES})
target_include_directories(mmb_pcre2 PRIVATE "${MMB_PCRE2_INCLUDE}" "${MMB_PCRE2_SOURCE_DIR}")
target_compile_definitions(mmb_pcre2 PRIVATE
  HAVE_CONFIG_H PCRE2_CODE_UNIT_WIDTH=8 PCRE2_STATIC SUPPORT_UNICODE
  HAVE_STDINT_H HAVE_INTTYPES_H HAVE_MEMMOVE HAVE_STRERROR HAVE_LIMITS_H)
# sljit, PCRE2's JIT, has back ends for both targets we build (x86-64 and aarch64);
# elsewhere the interpreter runs the patterns.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|aarch64|arm64")
  target_compile_definitions(mmb_pcre2 PRIVATE SUPPORT_JIT)
endif()
target_compile_options(mmb_pcre2 PRIVATE -O2 -w)
# Position-independent and hidden: its objects go into libmoemamba.so.
set_target_properties(mmb_pcre2 PROPERTIES C_VISIBILITY_PRESET hidden POSITION_INDEPENDENT_CODE ON)

# The sanitizer builds test this project's code, not zstd's or PCRE2's, and
# pcre2_match.c alone takes minutes to compile with ASan + UBSan: both build plain
# there (ASan still checks the heap they get through malloc). The fuzzing build keeps
# them instrumented, for coverage inside the regex engine and the decoder.
if(MMB_SANITIZE)
  target_compile_options(mmb_zstd PRIVATE -fno-sanitize=all)
  target_compile_options(mmb_pcre2 PRIVATE -fno-sanitize=all)
endif()

# Generated FlatBuffers code for the bundle manifest.
set(MMB_SCHEMA "${PROJECT_SOURCE_DIR}/sdk/schema/bundle.fbs")
set(MMB_GENERATED_DIR "${PROJECT_BINARY_DIR}/generated")
add_custom_command(
  OUTPUT "${MMB_GENERATED_DIR}/bundle_generated.h"
  COMMAND ${FLATC} --cpp --scoped-enums -o "${MMB_GENERATED_DIR}" "${MMB_SCHEMA}"
  DEPENDS "${MMB_SCHEMA}"
  COMMENT "flatc: generating the bundle manifest code")
add_custom_target(mmb_schema DEPENDS "${MMB_GENERATED_DIR}/bundle_generated.h")
