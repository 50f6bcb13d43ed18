#pragma once
// `--model s3://bucket/prefix`: a model folder kept in an S3-compatible store (AWS, MinIO, Ceph,
// R2), read with the credentials and endpoint of the AWS environment variables
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL[_S3]).
// The objects under the prefix are downloaded, each size checked against the listing, into a
// temporary folder that is renamed to $IPFS_ACCELERATE_HOME/models/s3/<bucket>/<prefix> only when
// complete; a later run lists the prefix again and reuses the folder while every key, size and
// ETag is unchanged (one LIST), and downloads it anew otherwise.
#include <string>

namespace ia::router {

bool is_s3_model_url(const std::string& model);

// The local folder of `url` (s3://bucket/prefix), downloaded when missing or changed.
// InvalidArgument for a malformed URL, NotFound for an empty prefix, the store's errors otherwise.
std::string resolve_s3_model(const std::string& url);

}  // namespace ia::router
