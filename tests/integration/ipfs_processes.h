#pragma once
// Helpers for the IPFS integration tests: background processes (servers, a
// fetch to kill), free loopback ports, shell commands, and the reference peer
// (../shared/tools/ipfs-ref-gateway) installed into a temporary folder.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "unit/ipfs/fixtures.h"

namespace ia::test {

// The fixtures' xorshift32 stream: one implementation, shared with the unit tests.
using ipfs::test::xorshift_bytes;

// A background process (stdout and stderr to `log`, extra environment
// variables set in the child), killed by pid when this goes out of scope.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log, const std::string& cwd = "",
          const std::vector<std::pair<std::string, std::string>>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  // Sends `sig` and reaps the process: its exit status (128 + N when signal N ended it), -1 when none is left.
  int kill(int sig);

 private:
  pid_t pid_ = -1;
};

// Waits until `log` contains `needle`; returns the log.
std::string wait_for(const std::string& log, const std::string& needle, int seconds = 30);
int free_port();
// Runs a shell command; returns {status, stdout}.
std::pair<int, std::string> sh(const std::string& cmd);
// Starts `ipfs-accelerate ipfs serve --port 0` over `home`; returns its URL ("" on failure).
std::string start_our_gateway(const std::string& home, const std::string& log, std::unique_ptr<Process>& proc);

// The reference peer copied to `dir` with `npm ci` run there; "" when ready, else why it cannot run.
std::string install_reference_peer(const std::string& dir);

}  // namespace ia::test
