# Reading a shared library's dynamic section in script mode (readelf), for the checks
# of what libmoemamba.so and libmoemamba_cuda.so need and export.

# The NEEDED entries of `lib`, as a list, into `out`.
function(mmb_read_needed lib out)
  execute_process(COMMAND readelf -d --wide "${lib}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readelf -d failed on ${lib}")
  endif()
  string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[([^]]+)\\]" needed_lines "${dyn}")
  set(needed)
  foreach(line IN LISTS needed_lines)
    string(REGEX REPLACE ".*\\[([^]]+)\\]" "\\1" name "${line}")
    list(APPEND needed "${name}")
  endforeach()
  if(NOT needed)
    message(FATAL_ERROR "no NEEDED entries parsed from readelf output of ${lib}:\n${dyn}")
  endif()
  set(${out} "${needed}" PARENT_SCOPE)
endfunction()

# The symbols `lib` exports (defined, global or weak, default visibility) into `out`.
function(mmb_read_exports lib out)
  execute_process(COMMAND readelf --dyn-syms --wide "${lib}" OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readelf --dyn-syms failed on ${lib}")
  endif()
  string(REPLACE "\n" ";" lines "${syms}")
  set(exported)
  foreach(line IN LISTS lines)
    if(line MATCHES "^ *[0-9]+: [0-9a-f]+ +[0-9]+ +(FUNC|OBJECT|IFUNC) +(GLOBAL|WEAK) +DEFAULT +[0-9]+ +([^ @]+)")
      list(APPEND exported "${CMAKE_MATCH_3}")
    endif()
  endforeach()
  set(${out} "${exported}" PARENT_SCOPE)
endfunction()

# What the C/C++ runtime may bring, on x86-64 and arm64.
set(MMB_RUNTIME_LIBRARIES
    "libc.so.6;libm.so.6;libstdc++.so.6;libgcc_s.so.1;libpthread.so.0;libdl.so.2;librt.so.1;ld-linux-x86-64.so.2;ld-linux-aarch64.so.1")
