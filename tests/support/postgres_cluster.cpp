#include "support/postgres_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

namespace ia::test {

namespace {

namespace fs = std::filesystem;

// The folder holding initdb, pg_ctl and postgres: the one `initdb` on PATH resolves to (Debian
// keeps them in /usr/lib/postgresql/VERSION/bin and links few onto PATH), else the newest
// /usr/lib/postgresql/*/bin.
std::string find_bin_dir() {
  auto complete = [](const fs::path& d) {
    std::error_code ec;
    return fs::exists(d / "initdb", ec) && fs::exists(d / "pg_ctl", ec) && fs::exists(d / "postgres", ec);
  };
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string d; std::getline(dirs, d, ':');) {
      std::error_code ec;
      const fs::path initdb = fs::path(d) / "initdb";
      if (!fs::exists(initdb, ec)) continue;
      const fs::path real = fs::canonical(initdb, ec).parent_path();
      if (!ec && complete(real)) return real.string();
    }
  }
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (complete(e.path() / "bin")) found.push_back(e.path() / "bin");
  if (found.empty()) return "";
  // "9.6" < "15": by the number before the dot.
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::atof(a.parent_path().filename().c_str()) < std::atof(b.parent_path().filename().c_str());
  });
  return found.back().string();
}

std::string tail_of(const std::string& path, size_t bytes = 600) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text;
}

// Runs argv (as `user` when given: this process is root) with its output appended to `log`;
// the exit status, or -1 when it could not run.
int run(const std::vector<std::string>& argv, const std::string& user, const std::string& cwd, const std::string& log) {
  uid_t uid = 0;
  gid_t gid = 0;
  if (!user.empty()) {
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) return -1;
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int null_in = open("/dev/null", O_RDONLY);
    if (null_in >= 0) dup2(null_in, 0);
    if (!user.empty() && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string random_hex(size_t n) {
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < n; ++i) out += "0123456789abcdef"[rd() % 16];
  return out;
}

bool give_to(const std::string& path, const std::string& user) {
  if (user.empty()) return true;
  const passwd* pw = getpwnam(user.c_str());
  return pw && chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0;
}

}  // namespace

std::string PostgresCluster::url(const std::string& database) const {
  return "postgresql://" + user + ":" + password + "@127.0.0.1:" + std::to_string(port) + "/" + database;
}

std::optional<PostgresCluster> start_postgres_cluster(std::string* why) {
  PostgresCluster c;
  c.bin_dir = find_bin_dir();
  if (c.bin_dir.empty()) {
    *why =
        "no PostgreSQL server programs (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin "
        "(Debian: apt-get install postgresql)";
    return std::nullopt;
  }
  if (geteuid() == 0) {
    for (const char* account : {"postgres", "nobody"})
      if (getpwnam(account)) {
        c.run_as = account;
        break;
      }
    if (c.run_as.empty()) {
      *why = "running as root, and neither a postgres nor a nobody account exists for the server to run as";
      return std::nullopt;
    }
  }
  // Under /tmp, not $TMPDIR: the server's account must reach it, and a unix socket's path is short.
  std::string templ = "/tmp/ia-pg-XXXXXX";
  if (!mkdtemp(templ.data())) {
    *why = "cannot make a folder under /tmp";
    return std::nullopt;
  }
  c.dir = templ;
  c.user = "ia_test";
  c.password = random_hex(20);
  const std::string pwfile = c.dir + "/password";
  std::ofstream(pwfile) << c.password << "\n";
  chmod(pwfile.c_str(), 0600);
  if (!give_to(c.dir, c.run_as) || !give_to(pwfile, c.run_as)) {
    *why = "cannot hand " + c.dir + " to the " + c.run_as + " account";
    fs::remove_all(c.dir);
    return std::nullopt;
  }
  // initdb's and pg_ctl's output go to files this process opens; the server's log is the one pg_ctl
  // opens as the server's account.
  const std::string data = c.dir + "/data", log = c.dir + "/server.log", initdb_log = c.dir + "/initdb.log";
  // TCP logins need the password (scram-sha-256); the unix socket in the folder trusts its owner.
  if (run({c.bin_dir + "/initdb", "-D", data, "-U", c.user, "--pwfile=" + pwfile, "--auth-host=scram-sha-256",
           "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync"},
          c.run_as, c.dir, initdb_log) != 0) {
    *why = "initdb failed: " + tail_of(initdb_log);
    fs::remove_all(c.dir);
    return std::nullopt;
  }
  // A free port can be taken between asking and binding: a few tries.
  for (int attempt = 0; attempt < 3; ++attempt) {
    c.port = free_loopback_port();
    const std::string options = "-h 127.0.0.1 -p " + std::to_string(c.port) + " -k " + c.dir +
                                " -F -c full_page_writes=off -c max_connections=50 -c shared_buffers=16MB";
    if (run({c.bin_dir + "/pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start"}, c.run_as, c.dir,
            c.dir + "/pg_ctl.log") == 0)
      return c;
  }
  *why = "the server did not start: " + tail_of(c.dir + "/pg_ctl.log", 300) + " " + tail_of(log);
  fs::remove_all(c.dir);
  return std::nullopt;
}

void stop_postgres_cluster(const PostgresCluster& c) {
  if (c.dir.empty()) return;
  run({c.bin_dir + "/pg_ctl", "-D", c.dir + "/data", "-m", "immediate", "-w", "-t", "30", "stop"}, c.run_as, c.dir,
      c.dir + "/pg_ctl.log");
  std::error_code ec;
  fs::remove_all(c.dir, ec);
}

void write_postgres_state(const std::string& path, const std::optional<PostgresCluster>& c, const std::string& why) {
  std::ofstream out(path, std::ios::trunc);
  if (!c) {
    out << "skip " << why << "\n";
    return;
  }
  out << "dir " << c->dir << "\nbin_dir " << c->bin_dir << "\nrun_as " << c->run_as << "\nuser " << c->user
      << "\npassword " << c->password << "\nport " << c->port << "\n";
}

std::optional<PostgresCluster> read_postgres_state(const std::string& path, std::string* why) {
  std::ifstream in(path);
  if (!in) {
    *why = "no cluster state at " + path + " (the postgres_cluster_start test did not run)";
    return std::nullopt;
  }
  PostgresCluster c;
  for (std::string line; std::getline(in, line);) {
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space), value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "skip") {
      *why = value;
      return std::nullopt;
    }
    if (key == "dir") c.dir = value;
    if (key == "bin_dir") c.bin_dir = value;
    if (key == "run_as") c.run_as = value;
    if (key == "user") c.user = value;
    if (key == "password") c.password = value;
    if (key == "port") c.port = std::atoi(value.c_str());
  }
  if (c.dir.empty() || c.port == 0) {
    *why = "the cluster state at " + path + " is incomplete";
    return std::nullopt;
  }
  return c;
}

namespace {

// Started on first use by a test binary run without the ctest fixture; stopped at exit.
struct OwnCluster {
  std::optional<PostgresCluster> cluster;
  std::string why;
  OwnCluster() { cluster = start_postgres_cluster(&why); }
  ~OwnCluster() {
    if (cluster) stop_postgres_cluster(*cluster);
  }
};

}  // namespace

const PostgresCluster* shared_test_postgres(std::string* why) {
  if (const char* state = std::getenv("IA_TEST_POSTGRES_STATE"); state && *state) {
    static const auto fixture = [&] {
      std::pair<std::optional<PostgresCluster>, std::string> r;
      r.first = read_postgres_state(state, &r.second);
      return r;
    }();
    *why = fixture.second;
    return fixture.first ? &*fixture.first : nullptr;
  }
  static OwnCluster own;
  *why = own.why;
  return own.cluster ? &*own.cluster : nullptr;
}

}  // namespace ia::test
