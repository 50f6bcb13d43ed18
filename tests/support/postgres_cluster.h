#pragma once
// A throwaway PostgreSQL cluster for tests: `initdb` into a fresh folder under /tmp, the server on
// 127.0.0.1 at a free port with its unix socket in that folder, a password login for a test user;
// stopped and removed by stop(). PostgreSQL refuses to run as root, so as root the server runs as
// the `postgres` account (Debian's postgresql package makes it), else `nobody`.
//
// One cluster serves a whole test run: ctest starts it once (`pg_test_cluster start STATE`, a
// FIXTURES_SETUP test) and the tests read its URL from the state file that
// IA_TEST_POSTGRES_STATE names; a test binary run by hand starts its own on first use
// (shared_test_postgres) and stops it when it exits.
#include <optional>
#include <string>

namespace ia::test {

struct PostgresCluster {
  std::string dir;      // the folder: data/, the socket, logs
  std::string bin_dir;  // where initdb and pg_ctl are
  std::string run_as;   // the account the server runs as ("" for this process's own)
  std::string user, password;
  int port = 0;
  // postgresql://USER:PASSWORD@127.0.0.1:PORT/DATABASE
  std::string url(const std::string& database = "postgres") const;
};

// A running cluster, or nullopt with `why` saying what is missing or what failed (the server's
// log tail included).
std::optional<PostgresCluster> start_postgres_cluster(std::string* why);
// Stops the server (immediate shutdown: nothing in it is kept) and removes the folder.
void stop_postgres_cluster(const PostgresCluster& cluster);

// The state file: the cluster's fields, or "skip" and the reason it could not start.
void write_postgres_state(const std::string& path, const std::optional<PostgresCluster>& cluster,
                          const std::string& why);
std::optional<PostgresCluster> read_postgres_state(const std::string& path, std::string* why);

// The cluster of this test run: the fixture's (IA_TEST_POSTGRES_STATE) or one started on first use
// and stopped at exit. nullopt with the reason where there is none.
const PostgresCluster* shared_test_postgres(std::string* why);

}  // namespace ia::test
