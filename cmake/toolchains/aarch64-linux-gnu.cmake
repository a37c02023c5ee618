# Cross build for 64-bit Arm Linux (the arm64 preset) with Debian's cross compiler
# (g++-aarch64-linux-gnu); test programs run under user-mode emulation (qemu-user), so
# ctest and Catch's test discovery work as on a native build.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)

# Libraries only from the target's tree; programs (flatc) from the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# Headers and CMake packages from either: the header-only ones (FlatBuffers, xxhash,
# Catch2, nlohmann-json) are the build machine's. /usr/include is searched after the
# target's own C and C++ headers (-idirafter), so glibc and libstdc++ stay the
# target's; the compiler then reports it as a built-in directory and CMake never puts
# it on a command line as -I or -isystem, which would come first.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_C_FLAGS_INIT "-idirafter /usr/include")
set(CMAKE_CXX_FLAGS_INIT "-idirafter /usr/include")
