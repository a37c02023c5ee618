# libmoemamba.so ships as one file: it may need only the C/C++ runtime, and it may
# export only mmb_* symbols (zstd, xxhash, utf8proc and C++ internals stay hidden).
# MACHINE (optional): the architecture readelf must report (a cross build's check).
cmake_policy(SET CMP0057 NEW)  # IN_LIST in script mode
include("${CMAKE_CURRENT_LIST_DIR}/dynamic_section.cmake")

if(MACHINE)
  execute_process(COMMAND readelf -h --wide "${LIB}" OUTPUT_VARIABLE header RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT header MATCHES "Machine: +${MACHINE}\n")
    message(FATAL_ERROR "${LIB} is not built for ${MACHINE}:\n${header}")
  endif()
endif()

mmb_read_needed("${LIB}" needed)
foreach(lib IN LISTS needed)
  if(NOT lib IN_LIST MMB_RUNTIME_LIBRARIES)
    message(FATAL_ERROR "libmoemamba.so needs ${lib}; only the C/C++ runtime is allowed")
  endif()
endforeach()

mmb_read_exports("${LIB}" exported)
foreach(name IN LISTS exported)
  if(NOT name MATCHES "^mmb_")
    message(FATAL_ERROR "libmoemamba.so exports '${name}'; only mmb_* may be exported")
  endif()
endforeach()
# Every function of moemamba.h must be exported: 58 as of the backend description.
list(LENGTH exported count)
if(count LESS 58)
  message(FATAL_ERROR "only ${count} mmb_* symbols exported; expected the whole C API")
endif()
message(STATUS "libmoemamba.so: NEEDED ${needed}; ${count} exported mmb_* symbols")
