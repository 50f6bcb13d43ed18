// A mapped weights file truncated under the running process: the read that
// faults ends the process with one clear line and exit status 2, not SIGBUS.
// Run in a forked child, its stderr captured through a pipe.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/storage.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

TEST(MappedFileTruncation, FaultInAMappedFileIsAClearErrorWithStatus2) {
  std::string templ = (fs::temp_directory_path() / "ia-mmap-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  const fs::path file = fs::path(templ) / "model.safetensors";
  std::ofstream(file, std::ios::binary) << std::string(1 << 20, 'w');
  int err[2];
  ASSERT_EQ(::pipe(err), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(err[1], 2);
    ::close(err[0]);
    auto mapped = MappedFile::open(file.string());
    volatile unsigned char sum = mapped->data()[100];  // readable while whole
    fs::resize_file(file, 0);                          // truncated by someone else
    sum = static_cast<unsigned char>(sum + mapped->data()[(1 << 20) - 1]);
    ::_exit(sum == 0 ? 10 : 11);  // reached only when the fault was not caught
  }
  ::close(err[1]);
  std::string stderr_text;
  char buf[4096];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) stderr_text.append(buf, static_cast<size_t>(n));
  ::close(err[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_EQ(stderr_text, "ipfs-accelerate: error: " + file.string() +
                             " was truncated or removed while its weights were in use; reload the model\n");
  fs::remove_all(templ);
}

}  // namespace
}  // namespace ia
