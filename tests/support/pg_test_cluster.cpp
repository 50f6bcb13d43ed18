// ctest's fixture around the tests that need PostgreSQL: one throwaway cluster for the whole run.
//
//   pg_test_cluster start STATE   starts one (after stopping any a previous run left in STATE) and
//                                 writes its URL parts to STATE, or why it could not start: the
//                                 tests then skip with that reason, so this always exits 0
//   pg_test_cluster stop STATE    stops it and removes its folder and STATE
#include <cstdio>
#include <filesystem>
#include <string>

#include "support/postgres_cluster.h"

int main(int argc, char** argv) {
  using namespace ia::test;
  if (argc != 3 || (std::string(argv[1]) != "start" && std::string(argv[1]) != "stop")) {
    std::fprintf(stderr, "usage: pg_test_cluster start|stop STATE_FILE\n");
    return 2;
  }
  const std::string command = argv[1], state = argv[2];
  std::string why;
  if (auto stale = read_postgres_state(state, &why)) stop_postgres_cluster(*stale);
  std::error_code ec;
  std::filesystem::remove(state, ec);
  if (command == "stop") return 0;
  const auto cluster = start_postgres_cluster(&why);
  write_postgres_state(state, cluster, why);
  if (cluster)
    std::printf("PostgreSQL test cluster on 127.0.0.1:%d (%s, server as %s)\n", cluster->port, cluster->dir.c_str(),
                cluster->run_as.empty() ? "this user" : cluster->run_as.c_str());
  else
    std::printf("no PostgreSQL test cluster: %s\n", why.c_str());
  return 0;
}
