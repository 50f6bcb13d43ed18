#pragma once
// `--model s3://bucket/prefix`: a model folder kept in an S3-compatible store (AWS, MinIO, Ceph,
// R2), read with the credentials and endpoint of the AWS environment variables
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL[_S3]),
// or from several endpoints at once (set_s3_endpoints: the CLI's --s3-endpoint and
// --s3-providers). The objects under the prefix are downloaded, each size checked against the
// listing, into a temporary folder that is renamed to $IPFS_ACCELERATE_HOME/models/s3/<bucket>/<prefix>
// only when complete; a later run lists the prefix again and reuses the folder while every key,
// size and ETag is unchanged (one LIST), and downloads it anew otherwise.
//
// When the prefix holds a manifest (`models push` writes `.ipfs-accelerate-manifest.json` last,
// ipfs/folder_manifest.h), only the files it lists are downloaded, and each one's size and sha256
// and the folder's CID must be the manifest's: a difference is Corrupt and nothing is kept.
#include <string>
#include <utility>
#include <vector>

#include "providers/provider_config.h"
#include "providers/s3_client.h"

namespace ia::router {

bool is_s3_model_url(const std::string& model);

// s3://bucket/prefix → bucket, prefix (no trailing '/'). InvalidArgument for anything else, an
// empty prefix, or a prefix with `.` or `..` segments.
std::pair<std::string, std::string> parse_s3_model_url(const std::string& url);

// Where the endpoints `--model s3://…` and `models push` use come from: endpoint URLs (the CLI's
// --s3-endpoint / --endpoint) and a providers file with an "s3" section (--s3-providers /
// --providers). s3_pool_config() reads them when S3 is first used (so a bad file only matters to
// a command that uses S3): s3_pool_config_from(urls, file, the process's environment).
void set_s3_endpoints(std::vector<std::string> urls, std::string providers_file);
providers::S3PoolConfig s3_pool_config();

// The endpoints of a providers file's "s3" section (when `providers_file` is not empty) and of
// `urls` (each with the AWS variables' credentials and region), in that order; with neither, the
// AWS environment's one endpoint. NotFound for a missing file, InvalidArgument for a malformed one
// or a file without an "s3" section.
providers::S3PoolConfig s3_pool_config_from(const std::vector<std::string>& urls, const std::string& providers_file,
                                            const providers::EnvLookup& env);

// The local folder of `url` (s3://bucket/prefix), downloaded when missing or changed.
// InvalidArgument for a malformed URL, NotFound for an empty prefix, Corrupt for a download that
// differs from the prefix's manifest, the store's errors otherwise.
std::string resolve_s3_model(const std::string& url);

}  // namespace ia::router
