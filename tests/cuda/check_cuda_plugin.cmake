# libmoemamba_cuda.so: cuBLAS from the loader (libcublas.so.13), the CUDA runtime linked
# in statically (no libcudart.so), otherwise only the C/C++ runtime; and one exported
# symbol, mmb_cuda_plugin_table.
cmake_policy(SET CMP0057 NEW)  # IN_LIST in script mode

execute_process(COMMAND readelf -d --wide "${LIB}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d failed on ${LIB}")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[([^]]+)\\]" needed_lines "${dyn}")
set(allowed "libcublas.so.13;libcublasLt.so.13;libc.so.6;libm.so.6;libstdc++.so.6;libgcc_s.so.1;libpthread.so.0;libdl.so.2;librt.so.1;ld-linux-x86-64.so.2;ld-linux-aarch64.so.1")
set(needed)
foreach(line IN LISTS needed_lines)
  string(REGEX REPLACE ".*\\[([^]]+)\\]" "\\1" lib "${line}")
  list(APPEND needed "${lib}")
  if(lib MATCHES "^libcudart")
    message(FATAL_ERROR "libmoemamba_cuda.so needs ${lib}; the CUDA runtime must be linked statically")
  endif()
  if(NOT lib IN_LIST allowed)
    message(FATAL_ERROR "libmoemamba_cuda.so needs ${lib}; allowed: cuBLAS 13 and the C/C++ runtime")
  endif()
endforeach()
if(NOT "libcublas.so.13" IN_LIST needed)
  message(FATAL_ERROR "libmoemamba_cuda.so does not need libcublas.so.13 (NEEDED: ${needed})")
endif()

execute_process(COMMAND readelf --dyn-syms --wide "${LIB}" OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
string(REPLACE "\n" ";" lines "${syms}")
set(exported)
foreach(line IN LISTS lines)
  # Defined (section index not UND), global or weak, default visibility.
  if(line MATCHES "^ *[0-9]+: [0-9a-f]+ +[0-9]+ +(FUNC|OBJECT|IFUNC) +(GLOBAL|WEAK) +DEFAULT +[0-9]+ +([^ @]+)")
    list(APPEND exported "${CMAKE_MATCH_3}")
  endif()
endforeach()
if(NOT exported STREQUAL "mmb_cuda_plugin_table")
  message(FATAL_ERROR "libmoemamba_cuda.so must export exactly mmb_cuda_plugin_table; it exports: ${exported}")
endif()
message(STATUS "libmoemamba_cuda.so: NEEDED ${needed}; exports ${exported}")
