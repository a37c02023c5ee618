// The CPU forward pass over a set of rows. A row is one token of one session: a
// decode batch has one row per session, a prefill chunk one row per token of a
// single session (in order). Projections run over all rows at once (weights read
// once); the recurrent parts (conv window, selective scan) run per channel, over
// the rows in order, so rows sharing a state see each other's updates exactly as
// successive single steps would.
#pragma once

#include "base/host_allocator.hpp"
#include "base/thread_pool.hpp"
#include "model/model.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

// Per-row working memory, carved from one buffer sized by the model at session creation.
struct RowScratch {
  float* residual;  // d_model
  float* normed;    // d_model
  float* xz;        // 2 d_inner; Mamba-2: in_proj's output [z | xBC | dt]
  float* xc;        // d_inner: conv output after SiLU; Mamba-2: conv_channels
  float* dbc;       // dt_rank + 2 d_state
  float* dt;        // d_inner
  float* y;         // d_inner
  float* out;       // d_model: a layer's output
  float* scores;    // n_experts
  float* gates;     // n_experts: gate of each selected expert, 0 elsewhere
  float* keys;      // n_experts: selection keys (probability + selection bias)
  float* ff1;       // d_ff
  float* ff3;       // d_ff
  float* ff_out;    // d_model
  float* moe_acc;   // d_model
  float* proj;      // max(d_model, d_inner): one projection expert's output
  float* mamba_out; // d_model: a parallel layer's Mamba part, while its MoE part runs
  float* gram;      // Mamba-2 groups x kMaxLinearBatch: C of this row . B of the chunk's rows
  float* q;         // attention: the query heads [n_heads][head_dim]
  float* kv;        // attention: this token's keys then values, 2 x [n_kv_heads][head_dim]
  float* attn;      // attention: the query heads' outputs [n_heads][head_dim]
  float* softmax;   // attention: each query head's running max, then running sum
  float* attn_weights;  // attention: each query head's weights over a block of 64 tokens
};

// Floats of scratch one row needs for this model.
size_t row_scratch_floats(const Model& model);
// Lays out a RowScratch over `floats` (row_scratch_floats(model) of them, 64-byte aligned).
RowScratch carve_row_scratch(const Model& model, float* floats);

class KvCache;

struct Row {
  int32_t token;
  float* state;         // the session's recurrent state (Model::state_floats() floats)
  RowScratch* scratch;
  float* logits;        // vocab_size floats, or nullptr to skip the head
  KvCache* kv = nullptr;  // the session's KV cache (attention models), pages reserved
  uint64_t position = 0;  // tokens the session consumed before this one
};

// Runs rows [0, n), n <= kMaxLinearBatch. Rows that share a state must be listed in
// time order, at consecutive positions. Never allocates (KV pages are reserved first).
void forward(const Model& model, ThreadPool& pool, Row* rows, size_t n);

// The same pass in stages, so that work may stop between two (a frame's budget):
// stage i runs layer i (stage 0 embeds the tokens first), the stages after the layers
// the final norm and the head (a large vocabulary's head in several parts). Between calls the rows' residuals wait in their scratch, and the
// layers' states hold the stages already run. forward() runs them all in one call.
size_t forward_stage_count(const Model& model);
// Runs stages [first, last) over the same rows as the call before (same tokens,
// states, scratch and positions).
void forward_stages(const Model& model, ThreadPool& pool, Row* rows, size_t n, size_t first, size_t last);

}  // namespace mmb::cpu
