# A kernel file built with instruction-set flags may define only its table
# accessor, edge::NAME_kernels(): anything else it exported (a weak inline or
# template function, such as a std::vector member) could be the one copy the
# linker keeps for every caller, extension instructions and all, and the
# generic code would fault on a CPU without them. boards/cross-test.sh checks
# the same on aarch64.
#
# cmake -DNM=nm -DLIB=libedge_engine.a -DVARIANTS=a,b -P check_kernel_exports.cmake
execute_process(COMMAND ${NM} --defined-only --extern-only ${LIB}
                OUTPUT_VARIABLE listing RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${NM} ${LIB} failed")
endif()
string(REPLACE "," ";" variants "${VARIANTS}")
string(REPLACE "\n" ";" lines "${listing}")
set(member "")
set(failures "")
set(seen "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_]+)\\.cpp\\.o:$")
    set(member ${CMAKE_MATCH_1})
  elseif(line MATCHES "^[0-9a-f]* *[A-Za-z] ([^ ]+)$" AND member IN_LIST variants)
    set(symbol ${CMAKE_MATCH_1})
    string(LENGTH "${member}_kernels" length)
    if(symbol STREQUAL "_ZN4edge${length}${member}_kernelsEv")
      list(APPEND seen ${member})
    else()
      list(APPEND failures "${member}.cpp.o exports ${symbol}")
    endif()
  endif()
endforeach()
foreach(variant IN LISTS variants)
  if(NOT variant IN_LIST seen)
    list(APPEND failures "${variant}.cpp.o does not define edge::${variant}_kernels()")
  endif()
endforeach()
if(failures)
  string(REPLACE ";" "\n  " failures "${failures}")
  message(FATAL_ERROR "kernel files export more than their tables:\n  ${failures}")
endif()
message(STATUS "ok: ${VARIANTS} export only their tables")
