// llama.cpp doing what engine_decode does: load a GGUF model, prefill P tokens
// as one batch, then decode N tokens greedily, one at a time, on T threads.
//
//   llama_decode MODEL.gguf P N THREADS
//
// The context is the same size in every run (64 positions, batches of up to
// 64), so that two runs that differ only in P or N differ only by the cost of
// those tokens. Everything else is llama.cpp's default: its KV cache type,
// flash attention setting and Q4_0 weight repacking.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "llama.h"

namespace {

constexpr int kContext = 64;

void quiet(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: llama_decode MODEL.gguf PROMPT_TOKENS DECODE_TOKENS THREADS\n");
    return 2;
  }
  const char* path = argv[1];
  const int prompt = std::atoi(argv[2]), decode = std::atoi(argv[3]), threads = std::atoi(argv[4]);
  if (prompt < 1 || decode < 0 || threads < 1 || prompt + decode > kContext) {
    std::fprintf(stderr, "need 1 <= PROMPT_TOKENS, 0 <= DECODE_TOKENS, sum <= %d, THREADS >= 1\n",
                 kContext);
    return 2;
  }
  llama_log_set(quiet, nullptr);
  llama_backend_init();

  llama_model_params mp = llama_model_default_params();
  mp.progress_callback = [](float, void*) { return true; };  // no progress dots
  llama_model* model = llama_model_load_from_file(path, mp);
  if (!model) {
    std::fprintf(stderr, "error: cannot load %s\n", path);
    return 1;
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = kContext;
  cp.n_batch = kContext;
  cp.n_ubatch = kContext;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    std::fprintf(stderr, "error: cannot create a context\n");
    return 1;
  }
  std::printf("system: %s\n", llama_print_system_info());

  const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  // The same token ids as engine_decode's prompt would not matter: the cost
  // of a token does not depend on its id. These are fixed and varied.
  std::vector<llama_token> tokens(static_cast<size_t>(prompt));
  uint32_t s = 12345;
  for (llama_token& t : tokens) {
    s = s * 1664525u + 1013904223u;
    t = llama_token((s >> 8) % uint32_t(vocab));
  }
  if (llama_decode(ctx, llama_batch_get_one(tokens.data(), prompt)) != 0) {
    std::fprintf(stderr, "error: prefill failed\n");
    return 1;
  }
  llama_sampler* sampler = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(sampler, llama_sampler_init_greedy());
  std::printf("tokens:");
  for (int i = 0; i < decode; ++i) {
    llama_token next = llama_sampler_sample(sampler, ctx, -1);
    std::printf(" %d", next);
    if (llama_decode(ctx, llama_batch_get_one(&next, 1)) != 0) {
      std::fprintf(stderr, "error: decode failed\n");
      return 1;
    }
  }
  std::printf("\n");
  llama_sampler_free(sampler);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
