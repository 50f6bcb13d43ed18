#pragma once
// `bench --suite server-load`: the OpenAI-compatible server, the code `serve` runs, started in this
// process on 127.0.0.1 at a free port with the model; for every concurrency level (the row's
// batch), each repetition sends that many requests at once (load_client.h) and times them from the
// first sent to the last answered. A generation model gets streamed chat completions (completions
// without a chat template) of `seq_len`-token prompt texts and exactly `new_tokens` tokens each
// (ignore_eos, greedy); an embedding model gets embeddings of `seq_len`-token texts. A row holds
// output tokens/s (sequences/s for embeddings) and requests/s at the median repetition, the spread
// of the time to first token and of the inter-token latency over every request that succeeded, and
// the requests that failed (an HTTP error, a broken stream, a usage that differs from what was
// asked) with the first one's message. The server stops when the suite is done.
//
// It lives here, not in the benchmarks layer, because the server depends on that layer: the
// program registers it (benchmarks/bench_suite.h) at start-up.
namespace ia::server {

// Adds the server-load suite to those `bench` takes. Call it once at start-up, before the suites'
// names are read (the CLI's main does); calling it again replaces it with the same.
void register_server_load_suite();

}  // namespace ia::server
