#pragma once
// The first GenerationService: one worker per model taking requests from a
// bounded queue and running each through Generator::generate_ids. A request's
// sequences run as one batch when they are greedy (identical sampling); sampled
// ones run one after another, each with its own seed, because generate_ids
// seeds every sequence of a call alike.
#include <chrono>
#include <memory>

#include "server/generation_service.h"

namespace ia::server {

// `max_queue`: requests waiting behind the running one; `token_delay`: test instrumentation
// (a sleep per streamed delta, see ServeOptions::test_token_delay).
std::unique_ptr<GenerationService> make_queued_generation_service(std::shared_ptr<const Generator> generator,
                                                                  size_t max_queue,
                                                                  std::chrono::milliseconds token_delay = {});

}  // namespace ia::server
