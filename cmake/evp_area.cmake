# evp_area(NAME <area> [DEPENDS <areas below it>...] [EXPORTS <headers>...]
#          [LIBS <third-party targets>...])
#
# One area of libevpipe (src/<area>/): an OBJECT library built from the
# area's *.c files. Other areas see only the headers it EXPORTS, as
# "<area>/<header>": they are linked one by one into
# ${PROJECT_BINARY_DIR}/areas/<area>/<area>/, the only include directory
# the area gives to its users. The area itself also sees its own internal
# headers (through areas-private/<area>). Including another area's internal
# header, or a header of an area not listed in DEPENDS, therefore does not
# compile; scripts/check-layers checks the same rules (and the order of
# EVP_AREAS) without building. Dependencies are linked PRIVATE unless an
# exported header needs them.
function(evp_area)
  cmake_parse_arguments(A "" "NAME" "DEPENDS;EXPORTS;LIBS" ${ARGN})
  set(name ${A_NAME})
  list(FIND EVP_AREAS ${name} self_rank)
  if(self_rank LESS 0)
    message(FATAL_ERROR "area '${name}' is not listed in EVP_AREAS (CMakeLists.txt)")
  endif()
  foreach(dep IN LISTS A_DEPENDS)
    list(FIND EVP_AREAS ${dep} dep_rank)
    if(dep_rank LESS 0 OR NOT dep_rank LESS self_rank)
      message(FATAL_ERROR "area '${name}' depends on '${dep}', which is not below it in EVP_AREAS")
    endif()
  endforeach()

  set(pub ${PROJECT_BINARY_DIR}/areas/${name})
  set(priv ${PROJECT_BINARY_DIR}/areas-private/${name})
  file(REMOVE_RECURSE ${pub})
  file(MAKE_DIRECTORY ${pub}/${name} ${priv})
  foreach(h IN LISTS A_EXPORTS)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${h})
      message(FATAL_ERROR "area '${name}' exports ${h}, which does not exist")
    endif()
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${h} ${pub}/${name}/${h} SYMBOLIC)
  endforeach()
  if(NOT EXISTS ${priv}/${name})
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${priv}/${name} SYMBOLIC)
  endif()

  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  add_library(evp_${name} OBJECT ${srcs})
  set_target_properties(evp_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_compile_definitions(evp_${name} PRIVATE EVP_BUILDING=1)
  # One section per function and object: libevpipe.so links with
  # --gc-sections, and an embedder linking libevpipe.a with it too, so code
  # and data nothing reaches (the configuration reference's text, helpers
  # only the CLI uses) are left out (docs/embedded.md, Footprint).
  target_compile_options(evp_${name} PRIVATE -ffunction-sections -fdata-sections)
  target_include_directories(evp_${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include ${pub}
    PRIVATE ${priv})
  # A dependency whose headers the exported headers include is PUBLIC (a
  # user of this area must be able to compile them); every other one is
  # PRIVATE, so it does not leak to this area's users.
  set(header_deps "")
  foreach(h IN LISTS A_EXPORTS)
    file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/${h} incs REGEX "^#include \"[a-z_]+/")
    foreach(l IN LISTS incs)
      string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" a "${l}")
      list(APPEND header_deps ${a})
    endforeach()
  endforeach()
  foreach(dep IN LISTS A_DEPENDS)
    if(dep IN_LIST header_deps)
      target_link_libraries(evp_${name} PUBLIC evp_${dep})
    else()
      target_link_libraries(evp_${name} PRIVATE evp_${dep})
    endif()
  endforeach()
  target_link_libraries(evp_${name} PUBLIC ${A_LIBS})
  set_property(GLOBAL APPEND PROPERTY EVP_AREA_TARGETS evp_${name})
endfunction()

# The objects of @p areas, for the libraries that bundle them.
function(evp_area_objects out)
  set(objs "")
  foreach(a IN LISTS ARGN)
    list(APPEND objs $<TARGET_OBJECTS:evp_${a}>)
  endforeach()
  set(${out} ${objs} PARENT_SCOPE)
endfunction()
