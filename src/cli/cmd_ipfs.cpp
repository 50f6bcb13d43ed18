// `ipfs …`: content-addressed files without a daemon. add/cat/get, CIDs,
// blocks, pins, the repo and CAR files, on the local blockstore under
// $IPFS_ACCELERATE_HOME. Output follows kubo's text form; --json gives one JSON
// object per line instead.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "core/error.h"
#include "hub/cache.h"
#include "ipfs/car.h"
#include "ipfs/dag.h"
#include "ipfs/exporter.h"
#include "ipfs/gateway_client.h"
#include "ipfs/gateway_server.h"
#include "ipfs/importer.h"
#include "ipfs/repo.h"

namespace ia::cli {

namespace {

namespace fs = std::filesystem;
using namespace ia::ipfs;

struct IpfsArgs {
  bool json = false;
  // add
  std::vector<std::string> paths;
  bool recursive = false, raw_leaves = false, hidden = false, only_hash = false, quiet = false, quieter = false;
  bool no_pin = false, dereference_symlinks = false;
  uint64_t cid_version = 0;
  std::string chunker = "size-262144";
  // shared positional / options
  std::string target, output, base, format = "raw", codec;
  int version = -1;
  // serve / fetch
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> gateways;
  bool no_car = false;
  uint64_t max_fetch_bytes = 0;
  long idle_timeout_s = 60;
  // cat / get
  std::string max_size;  // bytes; default: $IPFS_ACCELERATE_MAX_OUTPUT, else ExportLimits' default
  uint64_t max_entries = ExportLimits::kDefaultMaxEntries;
};

// The output limits of cat/get: --max-size, else IPFS_ACCELERATE_MAX_OUTPUT, else the default.
ExportLimits export_limits(const IpfsArgs& a) {
  ExportLimits l;
  l.max_entries = a.max_entries;
  std::string text = a.max_size;
  if (text.empty()) {
    if (const char* env = std::getenv("IPFS_ACCELERATE_MAX_OUTPUT"); env && *env) text = env;
  }
  if (!text.empty()) {
    size_t used = 0;
    try {
      l.max_bytes = std::stoull(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || text[0] == '-')
      ia::fail(ErrorKind::InvalidArgument, "output size limit \"{}\" is not a number of bytes", text);
  }
  return l;
}

void print_json(const nlohmann::json& j) {
  std::cout << json_text(j) << "\n";
}

Cid cid_arg(const std::string& s) {
  return parse_ipfs_path(s).root;
}

// Resolves CID[/path] against the repo.
Cid resolve_arg(Repo& repo, const std::string& s) {
  IpfsPath p = parse_ipfs_path(s);
  return resolve_path(repo.blocks(), p.root, p.path);
}

// At most `cap` bytes of FILE or stdin; InvalidArgument when there are more
// (read no further than cap + 1, so /dev/zero costs nothing).
Bytes read_input_capped(const std::string& path, size_t cap) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!path.empty() && path != "-") {
    file.open(path, std::ios::binary);
    if (!file) ia::fail(ErrorKind::NotFound, "{}: cannot open", path);
    in = &file;
  }
  Bytes out(cap + 1, '\0');
  in->read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in->gcount()));
  if (in->bad()) ia::fail(ErrorKind::Unavailable, "{}: read error", path.empty() ? "stdin" : path);
  if (out.size() > cap)
    ia::fail(ErrorKind::InvalidArgument, "{} is larger than the block size limit of {} bytes",
             path.empty() || path == "-" ? "stdin" : path, cap);
  return out;
}

void register_add(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* sub = ipfs->add_subcommand("add", "Import files or folders; prints their CIDs as kubo's `ipfs add` does");
  sub->add_option("path", a->paths, "File or folder (folders need -r)")->required();
  sub->add_flag("-r,--recursive", a->recursive, "Add folders recursively");
  sub->add_option("--cid-version", a->cid_version, "CID version: 0 (default) or 1 (implies --raw-leaves)");
  sub->add_flag("--raw-leaves", a->raw_leaves, "Leaves as raw blocks instead of UnixFS nodes");
  sub->add_option("--chunker", a->chunker, "Chunker: size-N (default size-262144)");
  sub->add_flag("-H,--hidden", a->hidden, "Include files whose name starts with a dot");
  sub->add_flag("-n,--only-hash", a->only_hash, "Compute the CIDs only; store nothing");
  sub->add_flag("-q,--quiet", a->quiet, "Print only the CIDs");
  sub->add_flag("-Q,--quieter", a->quieter, "Print only the final root CID");
  sub->add_flag("--no-pin", a->no_pin, "Do not pin the added roots");
  sub->add_flag("--dereference-symlinks", a->dereference_symlinks,
                "Store the files symlinks point to, not the links (always so inside a Hugging Face cache snapshot)");
  sub->add_flag("--json", a->json, "One JSON object per entry: {Name, Hash, Size}");
  sub->callback([a, sub, &action] {
    action = [a, sub] {
      if (a->quiet || a->quieter) install_progress_reporter(ProgressStyle::None);  // as kubo's add -q: no bar
      ImportOptions o;
      o.cid_version = a->cid_version;
      if (sub->count("--raw-leaves")) o.raw_leaves = a->raw_leaves;
      o.chunk_size = parse_chunker(a->chunker);
      o.hidden = a->hidden;
      o.validate();
      std::unique_ptr<Repo> repo;
      NullSink null;
      BlockSink* sink = &null;
      if (!a->only_hash) {
        repo = std::make_unique<Repo>();
        sink = &repo->blocks();
      }
      // The lines are printed once every path is added and pinned: a command
      // that fails prints nothing on stdout (no CID a script could take as stored).
      std::string lines;
      for (const auto& path : a->paths) {
        // A snapshot's files are links into ../../blobs, which would dangle wherever the DAG is fetched.
        o.dereference_symlinks = a->dereference_symlinks || hub::in_cache_snapshot(path);
        BuiltNode root = import_path(path, *sink, o, a->recursive, [&](const AddedEntry& e) {
          if (a->quieter) return;
          if (a->json)
            lines += json_text(nlohmann::json{
                         {"Name", e.path}, {"Hash", e.cid.to_string()}, {"Size", std::to_string(e.size)}}) +
                     "\n";
          else if (a->quiet)
            lines += e.cid.to_string() + "\n";
          else
            lines += "added " + e.cid.to_string() + " " + e.path + "\n";
        });
        if (repo) repo->blocks().sync();  // the commit point before the CID is printed as stored
        if (a->quieter) lines += root.cid.to_string() + "\n";
        // Every block was just written, and the repository's GC lock (held
        // since the first write) kept gc from collecting any of them.
        if (repo && !a->no_pin) repo->pin_add(root.cid, true);
      }
      std::cout << lines << std::flush;
      return 0;
    };
  });
}

void register_cat_get(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* cat = ipfs->add_subcommand("cat", "Write a file's bytes to stdout (CID[/path])");
  cat->add_option("cid", a->target, "CID or CID/path")->required();
  cat->add_option("--max-size", a->max_size,
                  "Refuse a file larger than this many bytes (default: $IPFS_ACCELERATE_MAX_OUTPUT, else 256 GiB)");
  cat->callback([a, &action] {
    action = [a] {
      Repo repo;
      ExportLimits limits = export_limits(*a);
      std::ios::sync_with_stdio(false);
      cat_file(repo.blocks(), resolve_arg(repo, a->target), std::cout, limits);
      std::cout.flush();
      return 0;
    };
  });
  CLI::App* get = ipfs->add_subcommand("get", "Write a file or folder (CID[/path]) to disk");
  get->add_option("cid", a->target, "CID or CID/path")->required();
  get->add_option("-o,--output", a->output, "Destination (must not exist; default: the CID or last path name)");
  get->add_flag("--json", a->json, "Print {Path, Hash} as JSON");
  get->add_option("--max-size", a->max_size,
                  "Refuse a DAG declaring more file bytes than this (default: $IPFS_ACCELERATE_MAX_OUTPUT, else 256 "
                  "GiB)");
  get->add_option("--max-entries", a->max_entries, "Refuse a DAG of more files, folders and symlinks than this");
  get->callback([a, &action] {
    action = [a] {
      ExportLimits limits = export_limits(*a);
      Repo repo;
      IpfsPath p = parse_ipfs_path(a->target);
      Cid cid = resolve_path(repo.blocks(), p.root, p.path);
      std::string out = a->output;
      if (out.empty()) {
        out = p.path.empty() ? p.root.to_string() : fs::path(p.path).filename().string();
        if (!is_safe_entry_name(out)) ia::fail(ErrorKind::InvalidArgument, "give a destination with -o");
      }
      export_to_path(repo.blocks(), cid, out, limits);
      if (a->json)
        print_json({{"Path", out}, {"Hash", cid.to_string()}});
      else
        std::cout << "Saved " << cid.to_string() << " to " << out << "\n";
      return 0;
    };
  });
}

void register_cid(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* cid = ipfs->add_subcommand("cid", "Convert CIDs between versions and bases");
  cid->require_subcommand(1);
  CLI::App* format = cid->add_subcommand("format", "Print a CID in another version or base");
  format->add_option("cid", a->target, "CID")->required();
  format->add_option("-b,--base", a->base, "base58btc, base32, base36, base16, base64, base64url");
  format->add_option("-v,--version", a->version, "CID version 0 or 1");
  format->add_option("--codec", a->codec, "Replace the codec: raw, dag-pb, dag-cbor");
  format->callback([a, &action] {
    action = [a] {
      Cid c = Cid::parse(a->target);
      if (!a->codec.empty()) c = Cid{1, codec_from_name(a->codec), c.hash};
      if (a->version == 0)
        c = c.to_v0();
      else if (a->version == 1)
        c = c.to_v1();
      else if (a->version != -1)
        ia::fail(ErrorKind::InvalidArgument, "--version must be 0 or 1");
      if (!a->base.empty()) {
        Multibase b = multibase_from_name(a->base);
        if (c.version == 0 && b != Multibase::Base58Btc) {
          ia::fail(ErrorKind::InvalidArgument, "a CIDv0 can only be written in base58btc (add -v 1)");
        }
        std::cout << c.to_string(b) << "\n";
      } else {
        std::cout << c.to_string() << "\n";
      }
      return 0;
    };
  });
  CLI::App* b32 = cid->add_subcommand("base32", "Print a CID as CIDv1 in base32");
  b32->add_option("cid", a->target, "CID")->required();
  b32->callback([a, &action] {
    action = [a] {
      std::cout << Cid::parse(a->target).to_v1().to_string() << "\n";
      return 0;
    };
  });
}

void register_block(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* block = ipfs->add_subcommand("block", "Raw blocks in the local blockstore");
  block->require_subcommand(1);
  CLI::App* get = block->add_subcommand("get", "Write a block's bytes to stdout");
  get->add_option("cid", a->target, "CID")->required();
  get->callback([a, &action] {
    action = [a] {
      Repo repo;
      Bytes b = load_block(repo.blocks(), cid_arg(a->target));
      std::cout.write(b.data(), static_cast<std::streamsize>(b.size()));
      std::cout.flush();
      return 0;
    };
  });
  CLI::App* put = block->add_subcommand("put", "Store a block read from FILE (or stdin); prints its CID");
  put->add_option("file", a->target, "File, or - for stdin");
  put->add_option("--format,--cid-codec", a->format, "Codec: raw (default), dag-pb");
  put->add_option("--cid-version", a->version, "CID version (default 1; 0 only for dag-pb)");
  put->add_flag("--json", a->json, "Print {Key, Size}");
  put->callback([a, &action] {
    action = [a] {
      Bytes data = read_input_capped(a->target, kMaxBlockSize);
      uint64_t codec = codec_from_name(a->format);
      if (codec == kCodecDagCbor) ia::fail(ErrorKind::Unsupported, "dag-cbor blocks are not supported yet");
      if (codec == kCodecDagPb) decode_pb_node(data);  // refuse malformed dag-pb
      int v = a->version == -1 ? (codec == kCodecDagPb ? 0 : 1) : a->version;
      if (v != 0 && v != 1) ia::fail(ErrorKind::InvalidArgument, "--cid-version must be 0 or 1");
      Cid cid = Cid::of(static_cast<uint64_t>(v), codec, data);
      Repo repo;
      repo.blocks().put(cid, data);
      if (a->json)
        print_json({{"Key", cid.to_string()}, {"Size", data.size()}});
      else
        std::cout << cid.to_string() << "\n";
      return 0;
    };
  });
  CLI::App* stat = block->add_subcommand("stat", "Print a block's CID and size");
  stat->add_option("cid", a->target, "CID")->required();
  stat->add_flag("--json", a->json, "Print {Key, Size}");
  stat->callback([a, &action] {
    action = [a] {
      Repo repo;
      Cid cid = cid_arg(a->target);
      Bytes b = load_block(repo.blocks(), cid);
      if (a->json)
        print_json({{"Key", cid.to_string()}, {"Size", b.size()}});
      else
        std::cout << "Key: " << cid.to_string() << "\nSize: " << b.size() << "\n";
      return 0;
    };
  });
  CLI::App* rm = block->add_subcommand("rm", "Remove a block");
  rm->add_option("cid", a->target, "CID")->required();
  rm->callback([a, &action] {
    action = [a] {
      Repo repo;
      Cid cid = cid_arg(a->target);
      if (!repo.blocks().remove(cid.hash))
        ia::fail(ErrorKind::NotFound, "block {} not found in the blockstore", cid.to_string());
      std::cout << "removed " << cid.to_string() << "\n";
      return 0;
    };
  });
}

void register_pin(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* pin = ipfs->add_subcommand("pin", "Keep DAGs from garbage collection (recursive pins)");
  pin->require_subcommand(1);
  CLI::App* add = pin->add_subcommand("add", "Pin a DAG (every block must be present)");
  add->add_option("cid", a->target, "CID")->required();
  add->callback([a, &action] {
    action = [a] {
      Repo repo;
      Cid cid = resolve_arg(repo, a->target);
      repo.pin_add(cid);
      std::cout << "pinned " << cid.to_string() << " recursively\n";
      return 0;
    };
  });
  CLI::App* rm = pin->add_subcommand("rm", "Unpin a DAG");
  rm->add_option("cid", a->target, "CID")->required();
  rm->callback([a, &action] {
    action = [a] {
      Repo repo;
      Cid cid = cid_arg(a->target);
      if (!repo.pin_rm(cid)) ia::fail(ErrorKind::NotFound, "{} is not pinned", cid.to_string());
      std::cout << "unpinned " << cid.to_string() << "\n";
      return 0;
    };
  });
  CLI::App* ls = pin->add_subcommand("ls", "List pins");
  ls->add_flag("--json", a->json, "One {Cid, Type} object per line");
  ls->callback([a, &action] {
    action = [a] {
      Repo repo;
      for (const Cid& c : repo.pins()) {
        if (a->json)
          print_json({{"Cid", c.to_string()}, {"Type", "recursive"}});
        else
          std::cout << c.to_string() << " recursive\n";
      }
      return 0;
    };
  });
}

void register_repo(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* r = ipfs->add_subcommand("repo", "The local blockstore");
  r->require_subcommand(1);
  CLI::App* gc = r->add_subcommand("gc", "Delete blocks no pin reaches");
  gc->add_flag("--json", a->json, "Print {Removed}");
  gc->callback([a, &action] {
    action = [a] {
      Repo repo;
      size_t n = repo.gc();
      if (a->json)
        print_json({{"Removed", n}});
      else
        std::cout << "removed " << n << " blocks\n";
      return 0;
    };
  });
  CLI::App* verify = r->add_subcommand("verify", "Re-hash every block; move corrupt ones to corrupt/");
  verify->add_flag("--json", a->json, "Print {Checked, Corrupt[]}");
  verify->callback([a, &action] {
    action = [a] {
      Repo repo;
      VerifyReport rep = repo.verify();
      if (a->json) {
        print_json({{"Checked", rep.checked}, {"Corrupt", rep.corrupt}});
      } else {
        for (const auto& c : rep.corrupt) std::cout << "corrupt block moved aside: " << c << "\n";
        std::cout << "verified " << rep.checked << " blocks, " << rep.corrupt.size() << " corrupt\n";
      }
      return rep.corrupt.empty() ? 0 : 2;
    };
  });
}

void register_car(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* car = ipfs->add_subcommand("car", "CAR archives");
  car->require_subcommand(1);
  CLI::App* exp = car->add_subcommand("export", "Write a DAG as a CARv1 (depth-first, no duplicates)");
  exp->add_option("cid", a->target, "CID[/path]")->required();
  exp->add_option("-o,--output", a->output, "CAR file to write")->required();
  exp->callback([a, &action] {
    action = [a] {
      Repo repo;
      Cid cid = resolve_arg(repo, a->target);
      fs::path out(a->output), tmp(a->output + ".ia-partial");
      CarExportStats st;
      {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) ia::fail(ErrorKind::Unavailable, "{}: cannot create", tmp.string());
        try {
          st = write_car(repo.blocks(), cid, f);
          f.close();
          if (!f) ia::fail(ErrorKind::Unavailable, "{}: write error", tmp.string());
        } catch (...) {
          std::error_code ec;
          fs::remove(tmp, ec);
          throw;
        }
      }
      std::error_code rename_error, ignored;
      fs::rename(tmp, out, rename_error);
      if (rename_error) {
        fs::remove(tmp, ignored);  // nothing half-done is left behind
        ia::fail(ErrorKind::Unavailable, "{}: cannot rename the finished CAR into place: {}", out.string(),
                 rename_error.message());
      }
      std::cout << "exported " << cid.to_string() << " (" << st.blocks << " blocks, " << st.bytes << " bytes) to "
                << a->output << "\n";
      return 0;
    };
  });
  CLI::App* imp = car->add_subcommand("import", "Import a CARv1/CARv2; every block is re-hashed first");
  imp->add_option("file", a->target, "CAR file")->required();
  imp->add_flag("--no-pin", a->no_pin, "Do not pin the roots");
  imp->add_flag("--json", a->json, "Print {Roots, Blocks}");
  imp->callback([a, &action] {
    action = [a] {
      // Two passes: the whole file is verified before anything is stored, so a
      // bad CAR leaves the blockstore untouched.
      auto open = [&] {
        auto f = std::make_unique<std::ifstream>(a->target, std::ios::binary);
        if (!*f) ia::fail(ErrorKind::NotFound, "{}: cannot open", a->target);
        return f;
      };
      NullSink null;
      read_car(*open(), null);
      Repo repo;
      CarImportStats st = read_car(*open(), repo.blocks());
      std::vector<std::string> roots;
      for (const auto& r : st.roots) {
        roots.push_back(r.to_string());
        if (!a->no_pin) {
          try {
            repo.pin_add(r);
          } catch (const ia::Error& e) {
            if (e.kind() != ErrorKind::NotFound) throw;  // a partial DAG is imported but not pinned
          }
        }
      }
      if (a->json) {
        print_json({{"Roots", roots}, {"Blocks", st.blocks}, {"Version", st.version}});
      } else {
        for (const auto& r : roots) std::cout << "imported root " << r << "\n";
        std::cout << "imported " << st.blocks << " blocks\n";
      }
      return 0;
    };
  });
}

void register_gateway(CLI::App* ipfs, std::shared_ptr<IpfsArgs> a, Action& action) {
  CLI::App* serve =
      ipfs->add_subcommand("serve", "Serve the blockstore as a trustless HTTP gateway (/ipfs/CID?format=raw|car)");
  serve->add_option("--port", a->port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  serve->add_option("--host", a->host, "Address to listen on (default 127.0.0.1)");
  // The gateway's bounds for a shared network (docs/ipfs.md, "Gateway limits").
  auto limits = std::make_shared<GatewayLimits>();
  auto request_timeout_s = std::make_shared<double>(10), keepalive_timeout_s = std::make_shared<double>(5),
       write_timeout_s = std::make_shared<double>(10);
  serve
      ->add_option("--max-connections", limits->max_connections,
                   "Connections served at once, each by its own thread; more get 503 (default 64)")
      ->check(CLI::Range(1, 4096));
  serve
      ->add_option("--max-connections-per-address", limits->max_connections_per_address,
                   "Connections one client address may hold at once; more get 503 (0: no limit; default 16)")
      ->check(CLI::Range(0, 4096));
  serve
      ->add_option("--request-timeout", *request_timeout_s,
                   "Seconds a request's line and headers may take to arrive; a slower client is cut off (default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  serve
      ->add_option("--keepalive-timeout", *keepalive_timeout_s,
                   "Seconds an idle keep-alive connection is kept open (default 5)")
      ->check(CLI::Range(0.1, 3600.0));
  serve
      ->add_option("--write-timeout", *write_timeout_s,
                   "Seconds a client may take to accept more of a response before it is cut off (default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  serve
      ->add_option("--max-ranges", limits->max_ranges, "Entries allowed in one Range header; more get 416 (default 32)")
      ->check(CLI::Range(1, 1000));
  serve->callback([a, &action, limits, request_timeout_s, keepalive_timeout_s, write_timeout_s] {
    auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
    limits->request_read_timeout = ms(*request_timeout_s);
    limits->idle_timeout = ms(*keepalive_timeout_s);
    limits->write_timeout = ms(*write_timeout_s);
    action = [a, limits] {
      Repo repo;
      GatewayServer server(repo.blocks(), *limits);
      int port = server.bind(a->host, a->port);
      std::cout << "ipfs gateway listening on http://" << a->host << ":" << port << std::endl;
      server.run();
      return 0;
    };
  });
  CLI::App* fetch = ipfs->add_subcommand("fetch", "Fetch a DAG from trustless gateways, verifying every block");
  fetch->add_option("cid", a->target, "CID or CID/path (then only what the path names)")->required();
  fetch->add_option("--gateway", a->gateways, "Gateway URL (repeatable, tried in order; default: $IPFS_GATEWAY)");
  fetch->add_flag("--no-car", a->no_car, "Fetch block by block (?format=raw) instead of one CAR");
  fetch->add_flag("--no-pin", a->no_pin, "Do not pin the fetched DAG");
  fetch->add_flag("--json", a->json, "Print {Cid, Blocks, Fetched, Bytes, Gateway}");
  fetch->add_option("--max-size", a->max_fetch_bytes,
                    "Stop after receiving this many bytes in all (default: no limit)");
  fetch->add_option("--idle-timeout", a->idle_timeout_s,
                    "Give up on a gateway that brings no new block for this many seconds (default 60)");
  fetch->callback([a, &action] {
    action = [a] {
      Repo repo;
      IpfsPath target = parse_ipfs_path(a->target);
      FetchOptions o;
      o.gateways = a->gateways.empty() ? gateways_from_env() : a->gateways;
      o.try_car = !a->no_car;
      o.max_bytes = a->max_fetch_bytes;
      o.idle_timeout_s = a->idle_timeout_s;
      FetchStats st;
      // CID/path: only what the path names (and the blocks proving the path).
      Cid root = fetch_path(target.root, target.path, repo.blocks(), o, &st);
      if (!a->no_pin) repo.pin_add(root, true);  // fetched: all verified and present
      if (a->json) {
        print_json({{"Cid", root.to_string()},
                    {"Blocks", st.blocks_total},
                    {"Fetched", st.blocks_fetched},
                    {"Bytes", st.bytes_fetched},
                    {"Gateway", st.gateway}});
      } else {
        std::cout << "fetched " << root.to_string() << " (" << st.blocks_total << " blocks, " << st.blocks_fetched
                  << " new, " << st.bytes_fetched << " bytes) from " << st.gateway << "\n";
      }
      return 0;
    };
  });
}

}  // namespace

void register_ipfs(CLI::App& app, Context& ctx, Action& action) {
  auto a = std::make_shared<IpfsArgs>();
  CLI::App* ipfs = app.add_subcommand("ipfs", "Content-addressed files: kubo-compatible CIDs, blockstore, CAR");
  ipfs->require_subcommand(1);
  register_add(ipfs, a, action);
  register_cat_get(ipfs, a, action);
  register_cid(ipfs, a, action);
  register_block(ipfs, a, action);
  register_pin(ipfs, a, action);
  register_repo(ipfs, a, action);
  register_car(ipfs, a, action);
  register_gateway(ipfs, a, action);
}

}  // namespace ia::cli
