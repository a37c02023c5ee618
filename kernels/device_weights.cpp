#include "device_weights.hpp"

#include "backend/cpu/weight_load.hpp"
#include "base/dtype.hpp"

#include <cstring>
#include <string>

namespace mmb::cuda {

namespace {

// A weight element as f32, read exactly as the CPU backend reads it.
float element(const Matrix& m, uint64_t i) { return cpu::load(m, i); }

class Uploader {
 public:
  Uploader(MemoryCounter* counter, DeviceWeights& out) : counter_(counter), out_(out) {}

  const void* copy(const void* host, size_t bytes, const char* what) {
    DeviceBuffer buffer(counter_, bytes, what);
    MMB_CUDA_CHECK(cudaMemcpy(buffer.get(), host, bytes, cudaMemcpyHostToDevice));
    out_.buffers.push_back(std::move(buffer));
    return out_.buffers.back().get();
  }

  // A weight matrix in its own dtype (q8 and q4: widened to f16).
  DeviceMatrix matrix(const Matrix& m, const char* what) {
    DeviceMatrix d;
    if (!m) return d;
    d.rows = uint32_t(m.rows);
    d.cols = uint32_t(m.cols);
    switch (m.dtype) {
      case DType::F32: d.type = WeightType::F32; d.data = copy(m.data, m.rows * m.cols * 4, what); break;
      case DType::F16: d.type = WeightType::F16; d.data = copy(m.data, m.rows * m.cols * 2, what); break;
      case DType::BF16: d.type = WeightType::BF16; d.data = copy(m.data, m.rows * m.cols * 2, what); break;
      case DType::Q8:
      case DType::Q4: {
        const std::vector<uint16_t> half = widen_quantized_to_f16(m);
        d.type = WeightType::F16;
        d.data = copy(half.data(), half.size() * 2, what);
        d.rounds_input = true;
        break;
      }
    }
    out_.any_16bit |= d.type != WeightType::F32;
    out_.any_rounded_input |= d.rounds_input;
    return d;
  }

  // Any vector or small table as f32.
  const float* vector(const Matrix& m, const char* what) {
    if (!m) return nullptr;
    const uint64_t count = m.rows * m.cols;
    std::vector<float> values(count);
    for (uint64_t i = 0; i < count; ++i) values[i] = element(m, i);
    return static_cast<const float*>(copy(values.data(), count * 4, what));
  }

  DeviceLinear linear(const LinearWeights& w, const char* what) { return {matrix(w.weight, what), vector(w.bias, what)}; }

  DeviceNorm norm(const NormWeights& w) {
    DeviceNorm n;
    n.type = NormType(uint8_t(w.kind));
    if (w.kind != NormKind::None) {
      n.weight = vector(w.weight, "a norm weight");
      n.bias = vector(w.bias, "a norm bias");
    }
    return n;
  }

  template <typename Get>
  DeviceExpertSet experts(size_t n, Get get, const char* what) {
    DeviceExpertSet set;
    if (n == 0) return set;
    std::vector<const void*> pointers(n);
    std::vector<const float*> biases(n);
    bool any_bias = false;
    for (size_t e = 0; e < n; ++e) {
      const LinearWeights& w = get(e);
      const DeviceMatrix m = matrix(w.weight, what);
      if (e == 0) set.shape = m;
      // One grouped launch reads every expert of the set with one element type.
      if (m.type != set.shape.type || m.rows != set.shape.rows || m.cols != set.shape.cols)
        throw PluginError(MMB_ERR_UNSUPPORTED, std::string("CUDA backend: the experts' ") + what +
                                                   " matrices differ in dtype (expert 0 and expert " +
                                                   std::to_string(e) + "); store them in one dtype");
      pointers[e] = m.data;
      biases[e] = vector(w.bias, what);
      any_bias |= biases[e] != nullptr;
    }
    set.weights = static_cast<const void* const*>(copy(pointers.data(), n * sizeof(void*), "expert pointers"));
    if (any_bias) set.biases = static_cast<const float* const*>(copy(biases.data(), n * sizeof(void*), "expert biases"));
    set.n = int(n);
    return set;
  }

  DeviceFeedForward feed_forward(const FeedForwardWeights& w) {
    return {linear(w.w1, "w1"), linear(w.w2, "w2"), linear(w.w3, "w3")};
  }

  DeviceProjection projection(const ProjectionWeights& w, const char* what) {
    DeviceProjection p;
    if (!w.router.weight) {
      p.plain = linear(w.plain, what);
      return p;
    }
    p.router = linear(w.router, "a projection router");
    p.sel_bias = vector(w.sel_bias, "a selection bias");
    p.experts = experts(w.experts.size(), [&](size_t e) -> const LinearWeights& { return w.experts[e]; }, what);
    return p;
  }

 private:
  MemoryCounter* counter_;
  DeviceWeights& out_;
};

}  // namespace

std::vector<uint16_t> widen_quantized_to_f16(const Matrix& m) {
  std::vector<uint16_t> out(m.rows * m.cols);
  for (uint64_t i = 0; i < out.size(); ++i) out[i] = f32_to_f16(element(m, i));
  return out;
}

void upload_weights(MemoryCounter* counter, const ModelConfig& config, const ModelWeights& weights,
                    DeviceWeights& out) {
  Uploader up(counter, out);
  out.embed = up.matrix(weights.embed, "embed.weight");
  out.layers.resize(config.layers.size());
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& lc = config.layers[i];
    const LayerWeights& lw = weights.layers[i];
    DeviceLayer& dl = out.layers[i];
    dl.norm = up.norm(lw.norm);
    dl.norm_moe = up.norm(lw.norm_moe);
    dl.state_offset = lw.state_offset;
    if (lc.has_mamba()) {
      const MambaWeights& w = lw.mamba;
      DeviceMamba& m = dl.mamba;
      if (lc.mamba.split_in_proj()) {
        m.x_in = up.projection(w.x_in, "in_proj (x)");
        m.z_in = up.projection(w.z_in, "in_proj (z)");
      } else {
        m.in_proj = up.linear(w.in_proj, "in_proj");
      }
      m.conv_weight = up.vector(w.conv_weight, "conv1d.weight");
      m.conv_bias = up.vector(w.conv_bias, "conv1d.bias");
      m.x_proj = up.matrix(w.x_proj, "x_proj");
      m.dt_proj = up.linear(w.dt_proj, "dt_proj");
      const std::pmr::vector<float>& A = weights.A[i];
      m.A = static_cast<const float*>(up.copy(A.data(), A.size() * 4, "A"));
      m.D = up.vector(w.D, "D");
      m.out_proj = up.projection(w.out_proj, "out_proj");
    }
    if (lc.has_moe()) {
      const MoEWeights& w = lw.moe;
      DeviceMoE& m = dl.moe;
      m.router = up.linear(w.router, "a router");
      m.sel_bias = up.vector(w.sel_bias, "a selection bias");
      const size_t E = w.experts.size();
      m.w1 = up.experts(E, [&](size_t e) -> const LinearWeights& { return w.experts[e].w1; }, "expert w1");
      m.w2 = up.experts(E, [&](size_t e) -> const LinearWeights& { return w.experts[e].w2; }, "expert w2");
      if (lc.moe.expert.gated())
        m.w3 = up.experts(E, [&](size_t e) -> const LinearWeights& { return w.experts[e].w3; }, "expert w3");
      for (const FeedForwardWeights& s : w.shared) m.shared.push_back(up.feed_forward(s));
    }
    if (lc.kind == LayerKind::MLP) dl.mlp = up.feed_forward(lw.mlp);
  }
  out.norm_f = up.norm(weights.norm_f);
  // A tied head is the embedding's first vocab rows: share its device copy.
  if (weights.head.data == weights.embed.data && weights.head.dtype == weights.embed.dtype) {
    out.head = out.embed;
    out.head.rows = uint32_t(weights.head.rows);
  } else {
    out.head = up.matrix(weights.head, "the head");
  }
}

}  // namespace mmb::cuda
