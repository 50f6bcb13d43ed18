#pragma once
// The git commit this binary was built from, written at every build by
// cmake/write_build_commit.cmake: the full hash, with "+dirty" when the tree had changes; "unknown"
// outside a git checkout.
namespace ia::benchmarks {
extern const char* const kBuildCommit;
}  // namespace ia::benchmarks
