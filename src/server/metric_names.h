#pragma once
// The metric families the server exports (declared by ServerState's constructor):
// the routes' request figures and the batch engines' step and pool figures.
namespace ia::server::metric {

inline constexpr const char* kRequests = "ia_http_requests_total";
inline constexpr const char* kQueueSeconds = "ia_request_queue_seconds";
inline constexpr const char* kTokenizeSeconds = "ia_request_tokenize_seconds";
inline constexpr const char* kInferenceSeconds = "ia_request_inference_seconds";
inline constexpr const char* kTimeToFirstToken = "ia_time_to_first_token_seconds";
inline constexpr const char* kTimePerOutputToken = "ia_time_per_output_token_seconds";
inline constexpr const char* kPromptTokens = "ia_prompt_tokens_total";
inline constexpr const char* kGenerationTokens = "ia_generation_tokens_total";
inline constexpr const char* kCancelled = "ia_requests_cancelled_total";
inline constexpr const char* kRunning = "ia_num_requests_running";
inline constexpr const char* kWaiting = "ia_num_requests_waiting";
// Continuous batching (decoder models).
inline constexpr const char* kBatchSize = "ia_batch_size";                      // sequences per engine step
inline constexpr const char* kBatchTokens = "ia_batch_tokens";                  // tokens per engine step
inline constexpr const char* kStepSeconds = "ia_step_seconds";                  // the model's step + sampling
inline constexpr const char* kStepHostSeconds = "ia_step_host_seconds";         // the engine's host work around it
inline constexpr const char* kKvBlocksUsed = "ia_kv_blocks_used";               // held by sequences
inline constexpr const char* kKvBlocksTotal = "ia_kv_blocks_total";             // in the model's pool
inline constexpr const char* kKvBlocksCached = "ia_kv_blocks_cached";           // in the prefix cache
inline constexpr const char* kPrefixQueries = "ia_prefix_cache_queries_total";  // prompt tokens looked up
inline constexpr const char* kPrefixHits = "ia_prefix_cache_hits_total";        // of them found cached
inline constexpr const char* kPreemptions = "ia_preemptions_total";

}  // namespace ia::server::metric
