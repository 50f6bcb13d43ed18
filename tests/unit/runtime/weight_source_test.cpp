// Stacked matrices (Q|K|V, gate|up) from a mapped checkpoint: parts stored back to back, whole
// and in order, become one tensor over the mapping (no copy, nothing resident twice); any other
// order is copied. Either way the values are the parts' rows, stacked.
#include "models/layers/weight_source.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "core/storage.h"
#include "formats/safetensors.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

Tensor filled(int64_t rows, int64_t cols, float start) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
  return Tensor::from_vector(v, {rows, cols});
}

void expect_rows(const Tensor& t, const std::vector<Tensor>& parts) {
  int64_t r = 0;
  for (const Tensor& p : parts)
    for (int64_t i = 0; i < p.size(0); ++i, ++r)
      for (int64_t j = 0; j < p.size(1); ++j)
        ASSERT_EQ(t.data<float>()[r * t.size(1) + j], p.data<float>()[i * p.size(1) + j]) << r << "," << j;
  EXPECT_EQ(r, t.size(0));
}

TEST(WeightSource, BackToBackPartsStackWithoutACopy) {
  test::TempDir dir;
  Tensor gate = filled(3, 4, 0), up = filled(2, 4, 100), other = filled(1, 4, 500);
  // Written in this order: gate and up back to back, other after them.
  write_safetensors(dir.file("model.safetensors"), {{"gate", gate}, {"up", up}, {"other", other}});
  auto store = WeightStore::open(dir.path());
  WeightSource w(*store, "", DType::F32, Device::cpu());

  Tensor in_place = w.stacked_matrices({"gate", "up"}, {3, 2}, 4);
  EXPECT_NE(std::dynamic_pointer_cast<MappedStorage>(in_place.storage()), nullptr) << "copied";
  expect_rows(in_place, {gate, up});

  Tensor reordered = w.stacked_matrices({"up", "gate"}, {2, 3}, 4);  // not in file order
  EXPECT_EQ(std::dynamic_pointer_cast<MappedStorage>(reordered.storage()), nullptr);
  expect_rows(reordered, {up, gate});
  Tensor gap = w.stacked_matrices({"gate", "other"}, {3, 1}, 4);  // up lies between them
  EXPECT_EQ(std::dynamic_pointer_cast<MappedStorage>(gap.storage()), nullptr);
  expect_rows(gap, {gate, other});
  EXPECT_EQ(w.matrix_bytes(), (5 + 5 + 4) * 4 * 4);
}

}  // namespace
}  // namespace ia
