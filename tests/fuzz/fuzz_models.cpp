#include "fuzz_models.hpp"

#include "bundle/bundle_writer.hpp"
#include "synthetic_model.hpp"

#include <cstdio>
#include <cstdlib>

namespace mmb::fuzz {
namespace {

ModelConfig narrow_config(uint32_t vocab_size) {
  ModelConfig c;
  c.d_model = 8;
  c.vocab_size = vocab_size;
  LayerConfig mamba;
  mamba.kind = LayerKind::Mamba;
  mamba.mamba.d_inner = 16;
  mamba.mamba.d_state = 4;
  mamba.mamba.d_conv = 4;
  mamba.mamba.dt_rank = 2;
  LayerConfig moe;
  moe.kind = LayerKind::MoE;
  moe.moe.n_experts = 3;
  moe.moe.top_k = 2;
  moe.moe.expert.d_ff = 8;
  moe.moe.expert.act = ExpertAct::SwiGLU;
  LayerConfig mlp;
  mlp.kind = LayerKind::MLP;
  mlp.mlp.d_ff = 8;
  mlp.mlp.act = ExpertAct::GELU;
  c.layers = {mamba, moe, mlp};
  return c;
}

ModelConfig hybrid_config() {
  ModelConfig c = narrow_config(256);
  LayerConfig rope = attention_layer(4, 2, 4, 2);
  rope.attention.qkv_bias = true;
  rope.attention.out_bias = true;
  LayerConfig nope = attention_layer(2, 1, 8);
  nope.attention.scale = 0.125f;
  LayerConfig mamba2;
  mamba2.kind = LayerKind::Mamba2;
  mamba2.mamba2.d_inner = 16;
  mamba2.mamba2.d_state = 4;
  mamba2.mamba2.n_heads = 4;
  mamba2.mamba2.n_groups = 2;
  LayerConfig moe = c.layers[1];
  moe.moe.n_experts = 4;
  moe.moe.expert.act = ExpertAct::ReLU2;
  moe.moe.router = RouterAct::Sigmoid;
  moe.moe.sel_bias = true;
  moe.moe.n_groups = 2;
  moe.moe.topk_groups = 1;
  c.layers = {rope, mamba2, moe, nope, c.layers[2]};
  c.embedding_scale = 2.0f;
  c.residual_scale = 0.5f;
  c.logits_divisor = 4.0f;
  c.context_length = uint32_t(kHybridContext);
  return c;
}

std::vector<std::byte> write(SyntheticModel& m, bool compressed) {
  WriterOptions options;
  options.codec = compressed ? Codec::Zstd : Codec::None;
  return write_bundle_to_memory(m.contents, options);
}

}  // namespace

std::vector<std::byte> tiny_bundle(bool compressed) {
  SyntheticModel m = make_synthetic_model(narrow_config(256), {7, DType::F16});
  return write(m, compressed);
}

std::vector<std::byte> q8_bundle(bool compressed) {
  SyntheticModel m = make_synthetic_model(narrow_config(256), {13, DType::Q8});
  return write(m, compressed);
}

std::vector<std::byte> q4_bundle(bool compressed) {
  SyntheticModel m = make_synthetic_model(narrow_config(256), {19, DType::Q4});
  return write(m, compressed);
}

std::vector<std::byte> hybrid_bundle() {
  SyntheticModel m = make_synthetic_model(hybrid_config(), {17, DType::F16});
  return write(m, false);
}

std::vector<std::byte> bpe_bundle() {
  TokenizerData t = TokenizerData::bytes();
  t.kind = TokenizerKind::ByteBPE;
  for (const char* p : {"ab", "abc", "bc", "aa", " t", " th"}) t.pieces.emplace_back(p);
  t.merges = {{'a', 'b'}, {256, 'c'}, {'b', 'c'}, {'a', 'a'}, {' ', 't'}, {260, 'h'}};
  const int32_t eot = int32_t(t.pieces.size());
  t.pieces.emplace_back("<|endoftext|>");
  t.specials.push_back({eot, "<|endoftext|>"});
  t.eos_id = eot;
  const int32_t spaces = int32_t(t.pieces.size());
  t.pieces.emplace_back("  ");
  t.added.push_back({spaces, "  "});
  SyntheticModel m = make_synthetic_model(narrow_config(uint32_t(t.pieces.size())), {11, DType::F16});
  m.contents.tokenizer = t;
  return write(m, false);
}

RuntimePtr single_thread_runtime() {
  mmb_runtime_options options;
  if (mmb_runtime_options_init(&options, sizeof options) != MMB_OK) {
    std::fprintf(stderr, "runtime options: %s\n", mmb_last_error());
    std::abort();
  }
  options.n_threads = 1;
  options.backend = MMB_BACKEND_CPU;
  mmb_runtime* runtime = nullptr;
  if (mmb_runtime_create(&options, &runtime) != MMB_OK) {
    std::fprintf(stderr, "runtime: %s\n", mmb_last_error());
    std::abort();
  }
  return RuntimePtr(runtime);
}

ModelPtr load_valid(mmb_runtime* runtime, const std::vector<std::byte>& bundle) {
  mmb_load_options options;
  if (mmb_load_options_init(&options, sizeof options) != MMB_OK) {
    std::fprintf(stderr, "load options: %s\n", mmb_last_error());
    std::abort();
  }
  options.flags = MMB_LOAD_COPY_MEMORY;
  mmb_model* model = nullptr;
  if (mmb_model_load_memory(runtime, bundle.data(), bundle.size(), &options, &model) != MMB_OK) {
    std::fprintf(stderr, "fixture bundle: %s\n", mmb_last_error());
    std::abort();
  }
  return ModelPtr(model);
}

}  // namespace mmb::fuzz
