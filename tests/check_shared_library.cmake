# libmoemamba.so ships as one file: it may need only the C/C++ runtime, and it may
# export only mmb_* symbols (zstd, xxhash, utf8proc and C++ internals stay hidden).
cmake_policy(SET CMP0057 NEW)  # IN_LIST in script mode
include("${CMAKE_CURRENT_LIST_DIR}/dynamic_section.cmake")

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
