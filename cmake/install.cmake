# What `cmake --install BUILD --prefix P` lays out, and the release archive CPack makes
# of it (`cmake --build BUILD --target package`):
#   P/include/moemamba/moemamba.h
#   P/lib/libmoemamba.so.X.Y.Z (+ the SONAME and development links), libmoemamba_cuda.so when built
#   P/lib/cmake/moemamba/   find_package(moemamba 0.4): the imported target moemamba::moemamba
#   P/lib/pkgconfig/moemamba.pc
#   P/bin/mmb
#   P/share/doc/moemamba/   README and the guides
#   P/share/moemamba/       the bindings' sources, the samples and the demo bundle
# Every path inside the package is relative, so a prefix can be moved or unpacked anywhere.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MMB_CMAKE_PACKAGE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/moemamba")

install(TARGETS moemamba EXPORT moemambaTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" NAMELINK_COMPONENT Development
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/include/moemamba/moemamba.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/moemamba")
# The CLI links the core statically; its run path ($ORIGIN/../lib) finds the CUDA plugin.
install(TARGETS mmb RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
if(TARGET moemamba_cuda)
  # OPTIONAL: a build of the library and the CLI only (the release-lean preset) skips it.
  install(TARGETS moemamba_cuda LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" OPTIONAL)
endif()

install(EXPORT moemambaTargets NAMESPACE moemamba:: DESTINATION "${MMB_CMAKE_PACKAGE_DIR}")
configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/moemambaConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/package/moemambaConfig.cmake" INSTALL_DESTINATION "${MMB_CMAKE_PACKAGE_DIR}")
# Before 1.0 a minor version may change the ABI (docs/abi.md): 0.4 accepts 0.4.x only.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/package/moemambaConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/package/moemambaConfig.cmake"
              "${PROJECT_BINARY_DIR}/package/moemambaConfigVersion.cmake"
        DESTINATION "${MMB_CMAKE_PACKAGE_DIR}")

# pkg-config: prefix from the .pc file's own place, so a moved prefix still works.
file(RELATIVE_PATH mmb_pc_to_prefix "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file("${CMAKE_CURRENT_LIST_DIR}/moemamba.pc.in" "${PROJECT_BINARY_DIR}/package/moemamba.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/package/moemamba.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/" DESTINATION "${CMAKE_INSTALL_DOCDIR}"
  FILES_MATCHING PATTERN "*.md" PATTERN "*.png" PATTERN "*.svg")

# Sources a user builds against the installed library: the bindings (without their
# CMake test registration), the samples, and the demo bundle the README runs.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/bindings/" DESTINATION "${CMAKE_INSTALL_DATADIR}/moemamba/bindings"
  PATTERN "CMakeLists.txt" EXCLUDE PATTERN "__pycache__" EXCLUDE PATTERN "target" EXCLUDE
  PATTERN "*.egg-info" EXCLUDE PATTERN "bin" EXCLUDE PATTERN "obj" EXCLUDE PATTERN "build" EXCLUDE)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/samples/" DESTINATION "${CMAKE_INSTALL_DATADIR}/moemamba/samples"
  PATTERN "CMakeLists.txt" EXCLUDE PATTERN "target" EXCLUDE)
if(EXISTS "${PROJECT_SOURCE_DIR}/models/demo-moe-mamba.mmb")
  install(FILES "${PROJECT_SOURCE_DIR}/models/demo-moe-mamba.mmb" "${PROJECT_SOURCE_DIR}/models/README.md"
          DESTINATION "${CMAKE_INSTALL_DATADIR}/moemamba/models")
endif()

# The release archive: moemamba-<version>-linux-<arch>.tar.gz, the installed layout under
# one top folder of the same name.
string(TOLOWER "${CMAKE_SYSTEM_NAME}-${CMAKE_SYSTEM_PROCESSOR}" mmb_platform)
set(CPACK_GENERATOR TGZ)
set(CPACK_PACKAGE_NAME moemamba)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_FILE_NAME "moemamba-${PROJECT_VERSION}-${mmb_platform}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Run MoE-Mamba language models token by token inside your program")
set(CPACK_INCLUDE_TOPLEVEL_DIRECTORY ON)
set(CPACK_STRIP_FILES OFF)  # the API layer's debug info is what the ABI check reads
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/dist")
include(CPack)
