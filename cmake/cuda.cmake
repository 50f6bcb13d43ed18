# The CUDA backend library, libipfs_accelerate_cuda.so: built whenever nvcc is found
# (IA_CUDA=AUTO, the default; ON requires it, OFF skips it) and loaded by the program with dlopen
# the first time a CUDA device is asked for (src/backends/cuda_library.cpp), so the same binary
# runs on machines without CUDA. Kernels are compiled for Hopper (sm_90a machine code) plus
# compute_90 PTX, which the driver compiles for newer cards.
#
# The library uses the program's own ia:: symbols (Tensor, errors) rather than a second copy of
# them, so every executable exports its symbols (CMAKE_ENABLE_EXPORTS, set before the targets).
set(IA_CUDA "AUTO" CACHE STRING "Build the CUDA backend library: AUTO (when nvcc is found), ON, OFF")
set_property(CACHE IA_CUDA PROPERTY STRINGS AUTO ON OFF)
set(IA_CUDA_BUILT OFF)

if(NOT IA_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # nvcc's host compiler is the C++ compiler of the rest of the build where that is GCC;
    # under clang (the fuzz and sanitizer builds) nvcc keeps its default, g++.
    if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
    endif()
    enable_language(CUDA)
    # CMake 3.25 (Debian 12) predates nvcc's C++20 support and would refuse CUDA_STANDARD 20.
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION OR CMAKE_CUDA20_STANDARD_COMPILE_OPTION STREQUAL "")
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    find_package(CUDAToolkit)
  endif()
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublasLt)
    set(IA_CUDA_BUILT ON)
  elseif(IA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "IA_CUDA=ON but nvcc or cuBLASLt was not found (looked in /usr/local/cuda and CUDACXX)")
  else()
    message(STATUS "CUDA backend: not built (no nvcc found; set CUDACXX or install the CUDA toolkit)")
  endif()
endif()

if(IA_CUDA_BUILT)
  message(STATUS "CUDA backend: building libipfs_accelerate_cuda.so with ${CMAKE_CUDA_COMPILER} "
                 "(CUDA ${CUDAToolkit_VERSION})")
  file(GLOB ia_cuda_cpp CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/backends/cuda/*.cpp)
  file(GLOB ia_cuda_cu CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/backends/cuda/*.cu)
  add_library(ipfs_accelerate_cuda MODULE ${ia_cuda_cpp} ${ia_cuda_cu})
  # Beside the executables (build/bin), where the loader looks first.
  set_target_properties(ipfs_accelerate_cuda PROPERTIES
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin
    CUDA_ARCHITECTURES OFF
    CUDA_STANDARD 20
    CUDA_STANDARD_REQUIRED ON
    CUDA_EXTENSIONS OFF
    CUDA_SEPARABLE_COMPILATION OFF
    INSTALL_RPATH "\$ORIGIN;${CUDAToolkit_LIBRARY_DIR}")
  target_include_directories(ipfs_accelerate_cuda PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_include_directories(ipfs_accelerate_cuda SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  # Only the interface headers of the layers below: their code comes from the program at load.
  target_include_directories(ipfs_accelerate_cuda PRIVATE $<TARGET_PROPERTY:fmt::fmt,INTERFACE_INCLUDE_DIRECTORIES>)
  target_compile_options(ipfs_accelerate_cuda PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${IA_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CUDA>:-gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90
      -Xcompiler=-Wall,-Wextra -Werror=all-warnings --expt-relaxed-constexpr>)
  if(IA_WERROR)
    target_compile_options(ipfs_accelerate_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Werror>)
  endif()
  # cudart statically (the GPU machine's driver is all it needs), cuBLASLt from the toolkit.
  target_link_libraries(ipfs_accelerate_cuda PRIVATE CUDA::cudart_static CUDA::cublasLt fmt::fmt)
  if(NOT CMAKE_CUDA_COMPILER_LAUNCHER AND CCACHE_PROGRAM)
    set_target_properties(ipfs_accelerate_cuda PROPERTIES CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  endif()
endif()
