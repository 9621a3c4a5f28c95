# slurmvm_soname(<variable> <library file>): the SONAME of a shared library, read with
# objdump -p from the file the build found. Libraries the helpers open on first use
# (src/common/shared_library.hpp) are dlopen'ed by that name: the ABI the headers describe.
function(slurmvm_soname variable library)
  get_filename_component(real "${library}" REALPATH)
  if(NOT CMAKE_OBJDUMP)
    message(FATAL_ERROR "objdump (binutils) is needed to read the SONAME of ${real}")
  endif()
  execute_process(COMMAND "${CMAKE_OBJDUMP}" -p "${real}"
                  OUTPUT_VARIABLE dump RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0 OR NOT dump MATCHES "SONAME +([^ \t\r\n]+)")
    message(FATAL_ERROR "cannot read the SONAME of ${real} (objdump -p)")
  endif()
  set(${variable} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  message(STATUS "${variable}: ${CMAKE_MATCH_1}")
endfunction()
