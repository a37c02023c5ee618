// The small valid models the fuzz targets start from, built in memory (no files) so a
// target needs nothing but its own binary. Also used by make_seeds.cpp to write the
// seed corpora, so seeds and targets agree on the models.
#pragma once

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <memory>
#include <vector>

namespace mmb::fuzz {

// Every layer kind (Mamba, MoE, MLP) at width 8 with the byte tokenizer; `compressed`
// stores the tensors with zstd so the codec path is reachable too.
std::vector<std::byte> tiny_bundle(bool compressed);
// The same layers with a byte-level BPE tokenizer: a few merges, a special token
// "<|endoftext|>" (also EOS) and an added token of two spaces.
std::vector<std::byte> bpe_bundle();
// The tiny model with its matrices stored as q8 (int8 with f16 scales).
std::vector<std::byte> q8_bundle(bool compressed);
// The tiny model with its matrices stored as q4 (4-bit codes with f16 scales).
std::vector<std::byte> q4_bundle(bool compressed);
// A hybrid at width 8 with the byte tokenizer: GQA attention with partial RoPE and
// biases, Mamba-2, a group-limited MoE of ReLU^2 experts, attention without RoPE, and
// the embedding, residual and logits scales; a 64-token trained context (one KV page),
// so that sessions fill it quickly.
std::vector<std::byte> hybrid_bundle();
inline constexpr uint64_t kHybridContext = 64;

struct RuntimeDeleter { void operator()(mmb_runtime* r) const { mmb_runtime_destroy(r); } };
struct ModelDeleter { void operator()(mmb_model* m) const { mmb_model_destroy(m); } };
struct SessionDeleter { void operator()(mmb_session* s) const { mmb_session_destroy(s); } };
using RuntimePtr = std::unique_ptr<mmb_runtime, RuntimeDeleter>;
using ModelPtr = std::unique_ptr<mmb_model, ModelDeleter>;
using SessionPtr = std::unique_ptr<mmb_session, SessionDeleter>;

// One compute thread: fuzzing runs many processes side by side.
RuntimePtr single_thread_runtime();
// Loads bytes that must be valid (aborts otherwise: a broken fixture, not a finding).
ModelPtr load_valid(mmb_runtime* runtime, const std::vector<std::byte>& bundle);

// Reads the fuzz input front to back; past the end every read gives zero.
class FuzzReader {
 public:
  FuzzReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(byte()) << (8 * i);
    return v;
  }
  // Up to `max` of the remaining bytes.
  std::vector<uint8_t> bytes(size_t max) {
    const size_t n = std::min(max, size_ - std::min(at_, size_));
    std::vector<uint8_t> out(data_ + at_, data_ + at_ + n);
    at_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace mmb::fuzz
