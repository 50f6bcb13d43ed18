#include "core/error_outcome.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <new>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ipfs_accelerate/accelerator.h"

namespace ia {
namespace {

template <typename E>
ErrorOutcome outcome_of(const E& e) {
  try {
    throw e;
  } catch (...) {
    return current_error_outcome();
  }
}

TEST(ErrorOutcome, KindNamesRoundTrip) {
  for (ErrorKind k : {ErrorKind::InvalidArgument, ErrorKind::NotFound, ErrorKind::Corrupt, ErrorKind::Unsupported,
                      ErrorKind::Unavailable, ErrorKind::Internal}) {
    EXPECT_EQ(error_kind_from_name(error_kind_name(k)), k) << error_kind_name(k);
  }
  EXPECT_EQ(error_kind_from_name("not_found"), ErrorKind::NotFound);
  EXPECT_EQ(error_kind_from_name("no_such_kind"), ErrorKind::Internal);
  EXPECT_EQ(error_kind_from_name(""), ErrorKind::Internal);
}

TEST(ErrorOutcome, ClassifiesEachExceptionType) {
  ErrorOutcome o = outcome_of(Error(ErrorKind::Corrupt, "bad\nfile"));
  EXPECT_EQ(o.kind, ErrorKind::Corrupt);
  EXPECT_EQ(o.message, "bad file");  // one line

  o = outcome_of(ipfs_accelerate::Error("unsupported", "model_type xyz"));
  EXPECT_EQ(o.kind, ErrorKind::Unsupported);
  EXPECT_EQ(o.message, "model_type xyz");
  EXPECT_EQ(outcome_of(ipfs_accelerate::Error("internal", "bug")).kind, ErrorKind::Internal);

  o = outcome_of(
      std::filesystem::filesystem_error("cannot create", std::make_error_code(std::errc::read_only_file_system)));
  EXPECT_EQ(o.kind, ErrorKind::Unavailable);
  EXPECT_NE(o.message.find("cannot create"), std::string::npos);

  o = outcome_of(std::bad_alloc());
  EXPECT_EQ(o.kind, ErrorKind::Unavailable);
  EXPECT_EQ(o.message, "out of memory");

  o = outcome_of(std::logic_error("vector::at"));
  EXPECT_EQ(o.kind, ErrorKind::Internal);
  EXPECT_FALSE(o.is_user_error());
  EXPECT_EQ(outcome_of(42).kind, ErrorKind::Internal);
}

TEST(ErrorOutcome, CliStatusAndLine) {
  EXPECT_EQ(cli_exit_status(ErrorKind::InvalidArgument), 2);
  EXPECT_EQ(cli_exit_status(ErrorKind::NotFound), 2);
  EXPECT_EQ(cli_exit_status(ErrorKind::Corrupt), 2);
  EXPECT_EQ(cli_exit_status(ErrorKind::Unsupported), 2);
  EXPECT_EQ(cli_exit_status(ErrorKind::Unavailable), 2);
  EXPECT_EQ(cli_exit_status(ErrorKind::Internal), 1);
  EXPECT_EQ(cli_error_line({ErrorKind::NotFound, "x: model folder\ndoes not exist"}),
            "ipfs-accelerate: error: x: model folder does not exist");
  EXPECT_EQ(cli_error_line({ErrorKind::Internal, "shape mismatch"}), "ipfs-accelerate: internal error: shape mismatch");
}

TEST(ErrorOutcome, HttpStatusAndOpenAiBody) {
  EXPECT_EQ(http_status(ErrorKind::InvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorKind::NotFound), 404);
  EXPECT_EQ(http_status(ErrorKind::Corrupt), 502);
  EXPECT_EQ(http_status(ErrorKind::Unsupported), 501);
  EXPECT_EQ(http_status(ErrorKind::Unavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::Internal), 500);

  EXPECT_EQ(http_error_body({ErrorKind::InvalidArgument, "temperature must be in [0, 2]"}, "temperature"),
            R"({"error":{"message":"temperature must be in [0, 2]","type":"invalid_request_error",)"
            R"("param":"temperature","code":"invalid_argument"}})");
  auto body = nlohmann::json::parse(http_error_body({ErrorKind::NotFound, "model m not found"}));
  EXPECT_EQ(body["error"]["type"], "not_found_error");
  EXPECT_TRUE(body["error"]["param"].is_null());
  EXPECT_EQ(body["error"]["code"], "not_found");
  EXPECT_EQ(nlohmann::json::parse(http_error_body({ErrorKind::Unsupported, "n > 1"}))["error"]["type"],
            "not_supported_error");
  EXPECT_EQ(nlohmann::json::parse(http_error_body({ErrorKind::Unavailable, "no CUDA"}))["error"]["type"],
            "unavailable_error");

  // A bug's message may name local files: the body does not carry it.
  body = nlohmann::json::parse(http_error_body({ErrorKind::Internal, "/home/me/models/x/config.json: bad shape"}));
  EXPECT_EQ(body["error"]["message"], "internal error");
  EXPECT_EQ(body["error"]["type"], "server_error");
  EXPECT_EQ(body["error"]["code"], "internal");

  // Invalid UTF-8 quoted from a request is replaced, not thrown on.
  body = nlohmann::json::parse(http_error_body({ErrorKind::InvalidArgument, "bad text \xff"}));
  EXPECT_EQ(body["error"]["message"], "bad text \xEF\xBF\xBD");
}

}  // namespace
}  // namespace ia
