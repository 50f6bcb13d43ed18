#pragma once
// Debian's headless Chromium driven from a test: a page loaded in a fresh profile, its screenshot
// and its DOM as the browser built it, and every request the browser made to the network.
//
// Requests are seen through a proxy the test runs: Chromium is pointed at it for every URL (and,
// for a file:// page, for loopback too), and it answers each request with 403 after writing down
// its first line (`GET http://host/path ...` or `CONNECT host:443 ...`). Chromium makes a few
// requests of its own on start (its clock, component updates, the account service) whatever the
// flags say; those go to Google's service hosts and are told apart by page_requests().
#include <string>
#include <vector>

namespace ia::test {

// The Chromium to run: $IA_CHROMIUM, else chromium or chromium-browser on PATH; "" when none.
std::string find_chromium();

struct ChromiumRun {
  int status = -1;                    // exit status (-1: did not finish in time)
  std::string out;                    // stdout: the DOM with --dump-dom
  std::string err;                    // stderr
  std::vector<std::string> requests;  // the first line of every request the proxy received
  // The requests not addressed to Chromium's own service hosts (*.google.com, *.googleapis.com,
  // *.gvt1.com): what the page asked for.
  std::vector<std::string> page_requests() const;
};

// Loads `url` in `chromium` with --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
// --disable-background-networking --disable-component-update --disable-sync
// --disable-dev-shm-usage, a new --user-data-dir, the proxy, and `args` (--screenshot=FILE --window-size=W,H,
// --dump-dom). `proxy_loopback`: send 127.0.0.1 through the proxy too (for a file:// page; a page served from loopback
// needs it direct).
ChromiumRun run_chromium(const std::string& chromium, const std::string& url, const std::vector<std::string>& args,
                         bool proxy_loopback, int timeout_s = 90);

}  // namespace ia::test
