# libmoemamba_cuda.so: cuBLAS from the loader (libcublas.so.13), the CUDA runtime linked
# in statically (no libcudart.so), otherwise only the C/C++ runtime; and one exported
# symbol, mmb_cuda_plugin_table.
cmake_policy(SET CMP0057 NEW)  # IN_LIST in script mode
include("${CMAKE_CURRENT_LIST_DIR}/../dynamic_section.cmake")

mmb_read_needed("${LIB}" needed)
foreach(lib IN LISTS needed)
  if(lib MATCHES "^libcudart")
    message(FATAL_ERROR "libmoemamba_cuda.so needs ${lib}; the CUDA runtime must be linked statically")
  endif()
  if(NOT lib IN_LIST MMB_RUNTIME_LIBRARIES AND NOT lib MATCHES "^libcublas(Lt)?\\.so\\.13$")
    message(FATAL_ERROR "libmoemamba_cuda.so needs ${lib}; allowed: cuBLAS 13 and the C/C++ runtime")
  endif()
endforeach()
if(NOT "libcublas.so.13" IN_LIST needed)
  message(FATAL_ERROR "libmoemamba_cuda.so does not need libcublas.so.13 (NEEDED: ${needed})")
endif()

mmb_read_exports("${LIB}" exported)
if(NOT exported STREQUAL "mmb_cuda_plugin_table")
  message(FATAL_ERROR "libmoemamba_cuda.so must export exactly mmb_cuda_plugin_table; it exports: ${exported}")
endif()
message(STATUS "libmoemamba_cuda.so: NEEDED ${needed}; exports ${exported}")
