// Embeds two sentences with the public C++ API and prints their cosine similarity.
//   embed_example MODEL_DIR
#include <cmath>
#include <cstdio>

#include "ipfs_accelerate/accelerator.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  try {
    ipfs_accelerate::Accelerator acc;
    auto r = acc.embed(argv[1], {"A man is eating food.", "A man is eating a piece of bread."});
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < r.dimensions; ++i) {
      dot += r.embeddings[0][i] * r.embeddings[1][i];
      na += r.embeddings[0][i] * r.embeddings[0][i];
      nb += r.embeddings[1][i] * r.embeddings[1][i];
    }
    std::printf("%d-dimensional embeddings on %s, cosine similarity %.4f\n", r.dimensions, r.device.c_str(),
                dot / std::sqrt(na * nb));
    return 0;
  } catch (const ipfs_accelerate::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.is_user_error() ? 2 : 1;
  }
}
