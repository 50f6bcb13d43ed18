# The git commit the benchmark layer records with every result (src/benchmarks/build_commit.h),
# refreshed at every build rather than only at configure time, so results name the commit that
# really produced them.
set(IA_BUILD_COMMIT_CPP ${PROJECT_BINARY_DIR}/generated/build_commit.cpp)
set(ia_build_commit_args -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT=${IA_BUILD_COMMIT_CPP} -P
                         ${PROJECT_SOURCE_DIR}/cmake/write_build_commit.cmake)
execute_process(COMMAND ${CMAKE_COMMAND} ${ia_build_commit_args})
add_custom_target(ia_build_commit COMMAND ${CMAKE_COMMAND} ${ia_build_commit_args} BYPRODUCTS ${IA_BUILD_COMMIT_CPP}
                  COMMENT "Recording the git commit")
target_sources(ia_benchmarks PRIVATE ${IA_BUILD_COMMIT_CPP})
add_dependencies(ia_benchmarks ia_build_commit)
target_compile_definitions(ia_benchmarks PRIVATE IA_VERSION="${PROJECT_VERSION}")
