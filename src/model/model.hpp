// The immutable model: a verified bundle, its config, its bound weights and its
// tokenizer. Loaded once, shared by every session and thread.
#pragma once

#include "backend/backend.hpp"
#include "bundle/bundle_reader.hpp"
#include "chat/chat_template_set.hpp"
#include "model/model_config.hpp"
#include "model/model_weights.hpp"
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>
#include <string>

namespace mmb {

struct ModelSizes {
  uint64_t weight_bytes = 0;         // every weight as held in memory
  uint64_t active_weight_bytes = 0;  // read per token at batch 1 (top_k experts per MoE layer)
  uint64_t max_d_inner = 0, max_d_state = 0, max_d_conv = 0, max_dbc = 0, max_d_ff = 0, max_experts = 0;
  // Mamba-2 layers: the widest in_proj output and conv input, the most groups.
  uint64_t max_in_proj = 0, max_conv_channels = 0, max_groups = 0;
  // Attention layers: how many, the most query heads, the widest query and key/value
  // projections.
  uint64_t attention_layers = 0, max_attention_heads = 0, max_q_dim = 0, max_kv_dim = 0;
};

class Model {
 public:
  // The tokenizer's tables come from `memory` (the runtime's allocator hooks);
  // `backend` prepares the weights for stepping (backend/backend.hpp).
  Model(std::unique_ptr<LoadedBundle> bundle, std::pmr::memory_resource* memory, const Backend& backend);

  const ModelConfig& config() const { return bundle_->config(); }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ChatTemplateSet& chat_templates() const { return *chat_templates_; }
  // End-of-turn tokens besides EOS (generation_config.json's list), and whether
  // `token` ends a turn (EOS or one of those): generation stops there.
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }
  bool ends_turn(int32_t token) const {
    return token == tokenizer_->eos_id() || std::find(stop_tokens_.begin(), stop_tokens_.end(), token) != stop_tokens_.end();
  }
  const LoadedBundle& bundle() const { return *bundle_; }
  const ModelSizes& sizes() const { return sizes_; }
  // The model as its runtime's backend runs it; sessions step through it.
  const ModelCompute& compute() const { return *compute_; }
  uint64_t state_floats() const { return state_floats_; }
  // Key and value elements a token adds to a session's KV cache (0 without attention).
  uint64_t kv_values_per_token() const { return kv_values_per_token_; }
  uint64_t fingerprint() const { return fingerprint_; }
  const std::string& name() const { return name_; }
  // The metadata value for key, or nullptr.
  const std::string* meta(const std::string& key) const;

 private:
  std::unique_ptr<LoadedBundle> bundle_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplateSet> chat_templates_;
  std::vector<int32_t> stop_tokens_;
  ModelSizes sizes_;
  uint64_t state_floats_ = 0;
  uint64_t kv_values_per_token_ = 0;
  uint64_t fingerprint_ = 0;
  std::string name_;
  OwnedBy<ModelCompute> compute_;  // last: ends before the weights it reads
};

}  // namespace mmb
