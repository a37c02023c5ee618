# libmoemamba.so ships as one file: it may need only the C/C++ runtime, and it may
# export only mmb_* symbols (zstd, xxhash, utf8proc and C++ internals stay hidden).
# MACHINE (optional): the architecture readelf must report (a cross build's check).
cmake_policy(SET CMP0057 NEW)  # IN_LIST in script mode

if(MACHINE)
  execute_process(COMMAND readelf -h --wide "${LIB}" OUTPUT_VARIABLE header RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT header MATCHES "Machine: +${MACHINE}\n")
    message(FATAL_ERROR "${LIB} is not built for ${MACHINE}:\n${header}")
  endif()
endif()

execute_process(COMMAND readelf -d --wide "${LIB}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d failed on ${LIB}")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[([^]]+)\\]" needed_lines "${dyn}")
set(allowed "libc.so.6;libm.so.6;libstdc++.so.6;libgcc_s.so.1;libpthread.so.0;libdl.so.2;ld-linux-x86-64.so.2;ld-linux-aarch64.so.1")
set(count 0)
foreach(line IN LISTS needed_lines)
  string(REGEX REPLACE ".*\\[([^]]+)\\]" "\\1" lib "${line}")
  math(EXPR count "${count} + 1")
  if(NOT lib IN_LIST allowed)
    message(FATAL_ERROR "libmoemamba.so needs ${lib}; only the C/C++ runtime is allowed")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "no NEEDED entries parsed from readelf output:\n${dyn}")
endif()

execute_process(COMMAND readelf --dyn-syms --wide "${LIB}" OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
string(REPLACE "\n" ";" lines "${syms}")
set(exported 0)
foreach(line IN LISTS lines)
  # Defined (section index not UND), global or weak, default visibility.
  if(line MATCHES "^ *[0-9]+: [0-9a-f]+ +[0-9]+ +(FUNC|OBJECT|IFUNC) +(GLOBAL|WEAK) +DEFAULT +[0-9]+ +([^ @]+)")
    set(name "${CMAKE_MATCH_3}")
    if(NOT name MATCHES "^mmb_")
      message(FATAL_ERROR "libmoemamba.so exports '${name}'; only mmb_* may be exported")
    endif()
    math(EXPR exported "${exported} + 1")
  endif()
endforeach()
# Every function of moemamba.h must be exported: 58 as of the backend description.
if(exported LESS 58)
  message(FATAL_ERROR "only ${exported} mmb_* symbols exported; expected the whole C API")
endif()
message(STATUS "libmoemamba.so: ${count} NEEDED entries, ${exported} exported mmb_* symbols")
