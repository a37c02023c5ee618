# WebAssembly build (the wasm preset) with Debian's emscripten package: the library
# compiled to wasm32 and linked, with the JavaScript binding's glue, into
# moemamba.wasm (bindings/js/CMakeLists.txt). Tests run under Node.js.
#
# The header-only parts (FlatBuffers, xxhash) are the build machine's, searched after
# emscripten's own sysroot (-idirafter) as in the other cross toolchains; the compiled
# parts (zstd, PCRE2, utf8proc) come from the sources sdk/scripts/setup.sh fetched.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
include(/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake)
set(CMAKE_C_FLAGS_INIT "-idirafter /usr/include")
# WebAssembly exception handling (the library throws inside and catches at its C
# boundary): faster than emscripten's JavaScript emulation, and in every current browser.
set(CMAKE_CXX_FLAGS_INIT "-isystem ${CMAKE_CURRENT_LIST_DIR}/wasm32-include -idirafter /usr/include -fwasm-exceptions")
# emcc's link step runs Node.js scripts that need acorn: Debian installs it under
# /usr/share/nodejs, which a Node.js from elsewhere (NodeSource) does not search.
set(CMAKE_C_LINKER_LAUNCHER env NODE_PATH=/usr/share/nodejs)
set(CMAKE_CXX_LINKER_LAUNCHER env NODE_PATH=/usr/share/nodejs)
# find_path() looks in the build machine's /usr/include for those headers.
list(APPEND CMAKE_SYSTEM_INCLUDE_PATH /usr/include)
# ... and, like the compiler's own folders, never passes it as -I (it would come before
# emscripten's C library headers): the -idirafter above is what reaches it.
list(APPEND CMAKE_C_IMPLICIT_INCLUDE_DIRECTORIES /usr/include)
list(APPEND CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES /usr/include)
