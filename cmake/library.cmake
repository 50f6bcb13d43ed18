# The C++ library as users link it: libipfs_accelerate.so (target ipfs_accelerate) and
# libipfs_accelerate.a (target ipfs_accelerate_static), each made of every layer's objects. The
# objects are compiled once, by the per-folder static libraries the CLI and the tests link, and
# are position-independent (CMAKE_POSITION_INDEPENDENT_CODE), so the two libraries only add a
# link and an archive step. The public headers are include/ alone.
#
#   installed: find_package(ipfs_accelerate) gives ipfs_accelerate::ipfs_accelerate (shared);
#              find_package(ipfs_accelerate COMPONENTS static) also ipfs_accelerate::ipfs_accelerate_static;
#              pkg-config --cflags --libs ipfs_accelerate
#   add_subdirectory / FetchContent: the same two ipfs_accelerate:: names, as aliases.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Every external library a layer links, and how a user of the static library finds it: the
# package find_dependency loads (cmake/ipfs_accelerateConfig.cmake.in loads the same list) and the
# flags pkg-config prints for `--static`. A layer linking a library missing here stops the
# configure step, so the installed packages cannot silently lose a dependency.
set(IA_EXTERNAL_DEPS
  "Threads::Threads|-pthread"
  "OpenMP::OpenMP_CXX|-fopenmp"
  "fmt::fmt|-lfmt"
  "spdlog::spdlog|-lspdlog"
  "DNNL::dnnl|-ldnnl"
  "PkgConfig::UTF8PROC|-lutf8proc"
  "PkgConfig::ONIG|-lonig"
  "PkgConfig::SENTENCEPIECE|-lsentencepiece"
  "PkgConfig::HTTPLIB|-lcpp-httplib"
  "PkgConfig::SNDFILE|-lsndfile"
  "PkgConfig::SAMPLERATE|-lsamplerate"
  "PkgConfig::ZLIB|-lz"
  "PkgConfig::SQLITE3|-lsqlite3"
  "PkgConfig::LIBPQ|-lpq"
  "PkgConfig::PNG|-lpng16"
  "PkgConfig::JPEG|-ljpeg"
  "PkgConfig::WEBP|-lwebp"
  "PkgConfig::WEBPDEMUX|-lwebpdemux"
  "GIF::GIF|-lgif"
  "OpenSSL::Crypto|-lcrypto"
  "CURL::libcurl|-lcurl"
  "${CMAKE_DL_LIBS}|-l${CMAKE_DL_LIBS}")
# Header-only: nothing to link, and no public header includes it.
set(IA_HEADER_ONLY_DEPS nlohmann_json::nlohmann_json)

get_property(ia_layers GLOBAL PROPERTY IA_LAYERS)
set(ia_objects)
set(ia_link_deps)
foreach(layer IN LISTS ia_layers)
  list(APPEND ia_objects $<TARGET_OBJECTS:${layer}>)
  get_target_property(layer_deps ${layer} INTERFACE_LINK_LIBRARIES)
  foreach(dep IN LISTS layer_deps)
    if(NOT dep IN_LIST ia_layers)
      list(APPEND ia_link_deps ${dep})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES ia_link_deps)
# Header-only layers (INTERFACE libraries) are not in IA_LAYERS; their names are not external either.
list(FILTER ia_link_deps EXCLUDE REGEX "^ia_")
list(REMOVE_ITEM ia_link_deps ${IA_HEADER_ONLY_DEPS})

set(ia_pc_libs_private)
foreach(entry IN LISTS IA_EXTERNAL_DEPS)
  string(REPLACE "|" ";" entry "${entry}")
  list(GET entry 0 dep)
  list(GET entry 1 flag)
  list(APPEND ia_known_deps ${dep})
  if(dep IN_LIST ia_link_deps)
    string(APPEND ia_pc_libs_private " ${flag}")
  endif()
endforeach()
foreach(dep IN LISTS ia_link_deps)
  if(NOT dep IN_LIST ia_known_deps)
    message(FATAL_ERROR "A layer links ${dep}, which cmake/library.cmake does not know: add it to IA_EXTERNAL_DEPS "
                        "and to cmake/ipfs_accelerateConfig.cmake.in, so the installed packages carry it.")
  endif()
endforeach()

set(ia_public_include $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

# Shared: links its dependencies itself, so a user needs only the header and -lipfs_accelerate.
add_library(ipfs_accelerate SHARED ${ia_objects})
target_link_libraries(ipfs_accelerate PRIVATE ${ia_link_deps})
target_include_directories(ipfs_accelerate INTERFACE ${ia_public_include})
target_compile_features(ipfs_accelerate INTERFACE cxx_std_17)
set_target_properties(ipfs_accelerate PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
# Every symbol resolved here or in a dependency (not under sanitizers: their runtime comes with the executable).
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
  target_link_options(ipfs_accelerate PRIVATE LINKER:--no-undefined)
endif()

# Static: the same objects; a user links the dependencies too (LINK_ONLY: none of their headers
# or compile flags reach the user's code).
add_library(ipfs_accelerate_static STATIC ${ia_objects})
target_link_libraries(ipfs_accelerate_static PRIVATE ${ia_link_deps})
target_include_directories(ipfs_accelerate_static INTERFACE ${ia_public_include})
target_compile_features(ipfs_accelerate_static INTERFACE cxx_std_17)
set_target_properties(ipfs_accelerate_static PROPERTIES OUTPUT_NAME ipfs_accelerate)

# add_subdirectory / FetchContent users link the names an installed package gives.
add_library(ipfs_accelerate::ipfs_accelerate ALIAS ipfs_accelerate)
add_library(ipfs_accelerate::ipfs_accelerate_static ALIAS ipfs_accelerate_static)

if(NOT PROJECT_IS_TOP_LEVEL)
  # As a subproject, the parent's `all` builds only what the parent links.
  foreach(target ipfs-accelerate embed_example ipfs_accelerate ipfs_accelerate_static)
    if(TARGET ${target})
      set_target_properties(${target} PROPERTIES EXCLUDE_FROM_ALL ON)
    endif()
  endforeach()
endif()

if(NOT IA_INSTALL)
  return()
endif()

set(ia_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ipfs_accelerate)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(TARGETS ipfs_accelerate EXPORT ipfs_accelerateTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ipfs_accelerate_static EXPORT ipfs_accelerateStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET ipfs-accelerate)
  install(TARGETS ipfs-accelerate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# Beside libipfs_accelerate.so, where the loader finds it from the library and from bin/../lib.
if(TARGET ipfs_accelerate_cuda)
  install(TARGETS ipfs_accelerate_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

install(EXPORT ipfs_accelerateTargets NAMESPACE ipfs_accelerate:: DESTINATION ${ia_cmake_dir})
install(EXPORT ipfs_accelerateStaticTargets NAMESPACE ipfs_accelerate:: DESTINATION ${ia_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ipfs_accelerateConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/ipfs_accelerateConfig.cmake INSTALL_DESTINATION ${ia_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ipfs_accelerateConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ipfs_accelerateConfig.cmake ${PROJECT_BINARY_DIR}/ipfs_accelerateConfigVersion.cmake
        DESTINATION ${ia_cmake_dir})

# pkg-config: prefix relative to the .pc file, so `cmake --install --prefix DIR` and moving the
# tree both keep it right.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(IA_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH ia_pc_up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" ia_pc_up "${ia_pc_up}")
  set(IA_PC_PREFIX "\${pcfiledir}/${ia_pc_up}")
endif()
string(STRIP "${ia_pc_libs_private}" IA_PC_LIBS_PRIVATE)
configure_file(${CMAKE_CURRENT_LIST_DIR}/ipfs_accelerate.pc.in ${PROJECT_BINARY_DIR}/ipfs_accelerate.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ipfs_accelerate.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
