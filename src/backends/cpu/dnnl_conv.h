#pragma once
// conv2d through oneDNN's convolution primitive (direct / JIT kernels with AVX-512, AVX-512 BF16
// and AMX), on channels-last activations: what PyTorch runs a ResNet's convolutions on. The
// weights are reordered once into the layout the primitive prefers and cached while their
// storage lives (as dnnl_linear_prepacked does for linears).
#include <memory>

#include "backends/backend.h"
#include "core/tensor.h"

namespace ia::cpu {

// out = conv2d(x, w) + bias as Backend::conv2d specifies; with p.bf16_products, x and w are
// rounded to bf16 and the products accumulate in f32 (out stays f32). False when oneDNN has no
// implementation for the shape (the caller falls back to im2col).
// The epilogue (residual add, then activation) rides on the primitive's post-ops.
bool dnnl_conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out,
                 const ConvEpilogue& epilogue = {});

}  // namespace ia::cpu
