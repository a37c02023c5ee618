# Cross build for Windows x64 (the windows-x64 preset) with Debian's mingw-w64 compiler,
# posix-threads flavour (std::thread and std::mutex over winpthreads). Programs run
# under wine64 through sdk/scripts/wine_run.sh, so ctest and Catch's test discovery
# work as on a native build.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/../../sdk/scripts/wine_run.sh")

# Libraries only from the target's tree; programs (flatc) from the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# The header-only parts (FlatBuffers, xxhash, Catch2, nlohmann-json) are the build
# machine's, searched after mingw's own headers (-idirafter) as in the arm64 toolchain.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_C_FLAGS_INIT "-idirafter /usr/include")
set(CMAKE_CXX_FLAGS_INIT "-idirafter /usr/include")
# The C and C++ runtimes (libgcc, libstdc++, winpthreads) linked in statically: the DLL
# and the programs then need only Windows' own DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static")
