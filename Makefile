# The two set-up commands are `make run` and `make test`; both install what is
# missing, configure and build first.
BUILD_DIR ?= build
FUZZ_DIR ?= build-fuzz
ASAN_DIR ?= build-asan
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
# Seconds per fuzz target in `make test` (CI's 40 minutes on 2 cores; docs/testing.md).
FUZZ_SECONDS ?= 10
CMAKE_FLAGS ?=

.PHONY: all deps configure build test test-asan run serve bench bench-serve bench-gateway fuzz format format-check clean gpu-bundle

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DIA_WERROR=ON $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory fuzz

# Everything again under AddressSanitizer + UndefinedBehaviorSanitizer (clang,
# its own build tree): the whole ctest suite, then every fuzz seed replayed.
test-asan: deps
	@bash scripts/run-asan.sh $(ASAN_DIR) $(JOBS)

# Embeds a few sentences with the bundled BERT model and prints the result and the time taken.
run: build
	@bash scripts/run-demo.sh $(BUILD_DIR)/bin/ipfs-accelerate

# The HTTP server (docs/server.md) with the bundled llama (chat) and bert (embeddings) models.
SERVE_PORT ?= 8080
serve: build
	$(BUILD_DIR)/bin/ipfs-accelerate serve -m tests/fixtures/models/llama -m tests/fixtures/models/bert --port $(SERVE_PORT)

bench: build
	@bash scripts/run-bench.sh $(BUILD_DIR)

# The serving benchmark: `serve` on a random-weight model under bench_serve_load, beside the
# engine's own batch rate (scripts/bench-serve.sh; LIKE, LAYERS, CONCURRENCY, ... as it says).
bench-serve: build
	@bash scripts/bench-serve.sh $(BUILD_DIR)

# The gateway benchmark: streamed requests at concurrency 1, 100 and 1,000 through `serve
# --providers` to a loopback fake OpenAI-compatible provider, beside the same run sent to the
# fake directly (scripts/bench-gateway.sh; CONCURRENCY, OUTPUT_TOKENS, TOKEN_DELAY_MS, ...).
bench-gateway: build
	@bash scripts/bench-gateway.sh $(BUILD_DIR)

# The CLI and the CUDA backend with their Debian libraries, for a GPU machine without them
# (scripts/gpu/make_bundle.sh; docs/gpu.md). Also carries the tests and benchmarks the GPU
# script (scripts/gpu/run.sh) runs there.
GPU_BUNDLE ?= build-bundle/gpu-bundle.tar.xz
gpu-bundle: build
	@mkdir -p $(dir $(GPU_BUNDLE))
	@bash scripts/gpu/make_bundle.sh $(BUILD_DIR) $(GPU_BUNDLE) $(BUILD_DIR)/bin/test_unit_ops \
		$(BUILD_DIR)/bin/test_parity $(BUILD_DIR)/bin/test_integration $(BUILD_DIR)/bin/bench_decode \
		$(BUILD_DIR)/bin/bench_encoder

# libFuzzer targets (clang), each run for a bounded time.
fuzz: deps
	@bash scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR)
