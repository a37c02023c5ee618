// What the grammar fuzz targets share: compiling a grammar through the C API for the
// small BPE model and, when it compiles, walking it a few tokens. Each step takes the
// mask, accepts an allowed token picked by the input's bytes, and checks what the API
// promises: some token is always allowed (a compiled grammar can always be finished,
// and the byte tokens spell any text), stop tokens exactly where the grammar may end,
// a refused token changes nothing, a clone and a saved-and-loaded state give the same
// masks, and a damaged saved state is either loaded or refused with nothing changed.
// A broken promise aborts (a finding), as does an unexpected status.
#pragma once

#include "fuzz_models.hpp"

#include <moemamba/moemamba.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace mmb::fuzz {

struct GrammarDeleter { void operator()(mmb_grammar* g) const { mmb_grammar_destroy(g); } };
struct GrammarStateDeleter { void operator()(mmb_grammar_state* s) const { mmb_grammar_state_destroy(s); } };
using GrammarPtr = std::unique_ptr<mmb_grammar, GrammarDeleter>;
using GrammarStatePtr = std::unique_ptr<mmb_grammar_state, GrammarStateDeleter>;

[[noreturn]] inline void grammar_finding(const char* what, mmb_status status = MMB_OK) {
  std::fprintf(stderr, "grammar walk: %s (status %d: %s)\n", what, int(status), mmb_last_error());
  std::abort();
}

inline void grammar_check(mmb_status status, const char* what) {
  if (status != MMB_OK) grammar_finding(what, status);
}

// The model every grammar target compiles for: byte-level BPE with multi-byte pieces,
// an added token of two spaces and "<|endoftext|>" as eos (264 tokens).
struct GrammarFuzzModel {
  RuntimePtr runtime = single_thread_runtime();
  ModelPtr model = load_valid(runtime.get(), bpe_bundle());
  int32_t vocab_size = 0;
  int32_t eos_id = -1;
  std::vector<int32_t> stops;  // eos and the model's other stop tokens
  GrammarFuzzModel() {
    mmb_model_info info{};
    info.struct_size = sizeof info;
    grammar_check(mmb_model_get_info(model.get(), &info), "model info");
    vocab_size = info.vocab_size;
    eos_id = info.eos_id;
    if (eos_id >= 0) stops.push_back(eos_id);
    size_t n = 0;
    std::vector<int32_t> extra(64);
    grammar_check(mmb_model_get_stop_tokens(model.get(), extra.data(), extra.size(), &n), "stop tokens");
    stops.insert(stops.end(), extra.begin(), extra.begin() + std::ptrdiff_t(n));
  }
  bool is_stop(int32_t t) const {
    for (int32_t s : stops)
      if (s == t) return true;
    return false;
  }
};

inline const GrammarFuzzModel& grammar_fuzz_model() {
  static const GrammarFuzzModel model;
  return model;
}

inline std::vector<uint32_t> grammar_mask(mmb_grammar_state* state, int32_t vocab_size) {
  std::vector<uint32_t> words((size_t(vocab_size) + 31) / 32);
  grammar_check(mmb_grammar_state_get_mask(state, words.data(), words.size()), "get_mask");
  return words;
}

// The one documented way for a mask to fail: more parses than the matcher follows
// (moemamba.h, MMB_ERR_GRAMMAR). Returns false there; any other failure is a finding.
inline bool grammar_mask_within_limit(mmb_grammar_state* state, std::vector<uint32_t>& words) {
  const mmb_status status = mmb_grammar_state_get_mask(state, words.data(), words.size());
  if (status == MMB_ERR_GRAMMAR && std::strstr(mmb_last_error(), "too ambiguous") != nullptr) return false;
  grammar_check(status, "get_mask");
  return true;
}

inline std::vector<uint8_t> grammar_save(const mmb_grammar_state* state) {
  size_t size = 0;
  grammar_check(mmb_grammar_state_size(state, &size), "state_size");
  std::vector<uint8_t> blob(size);
  size_t len = 0;
  grammar_check(mmb_grammar_state_save(state, blob.data(), blob.size(), &len), "state_save");
  if (len != size) grammar_finding("state_save wrote another size than state_size said");
  return blob;
}

// Walks `grammar` for at most `max_steps` tokens, the choices taken from `choices`
// (read cyclically; the walk is deterministic for one input).
inline void grammar_walk(mmb_grammar* grammar, const uint8_t* choices, size_t n_choices, int max_steps) {
  const GrammarFuzzModel& m = grammar_fuzz_model();
  size_t at = 0;
  auto next = [&]() -> uint32_t {
    if (n_choices == 0) return 0;
    uint32_t v = choices[at % n_choices] | (uint32_t(choices[(at + 1) % n_choices]) << 8);
    at += 2;
    return v;
  };
  auto allowed = [](const std::vector<uint32_t>& mask, int32_t t) { return (mask[size_t(t) / 32] >> (t % 32)) & 1u; };

  mmb_grammar_state* raw = nullptr;
  grammar_check(mmb_grammar_state_create(grammar, &raw), "state_create");
  GrammarStatePtr state(raw);
  {
    uint32_t word = 0;
    if (m.vocab_size > 32 && mmb_grammar_state_get_mask(state.get(), &word, 1) != MMB_ERR_BUFFER_TOO_SMALL)
      grammar_finding("get_mask took a buffer that is too small");
  }
  for (int step = 0; step < max_steps; ++step) {
    std::vector<uint32_t> mask((size_t(m.vocab_size) + 31) / 32);
    if (!grammar_mask_within_limit(state.get(), mask)) return;  // the walk ends at the limit
    int32_t can_end = -1, must_end = -1;
    grammar_check(mmb_grammar_state_can_end(state.get(), &can_end, &must_end), "can_end");
    std::vector<int32_t> tokens;
    bool other_than_stop = false;
    for (int32_t t = 0; t < m.vocab_size; ++t) {
      if (!allowed(mask, t)) continue;
      tokens.push_back(t);
      if (!m.is_stop(t)) other_than_stop = true;
    }
    if (tokens.empty()) grammar_finding("a state of a compiled grammar allows no token");
    if (m.eos_id >= 0 && bool(allowed(mask, m.eos_id)) != bool(can_end))
      grammar_finding("eos is allowed where the grammar cannot end, or refused where it can");
    if (bool(must_end) != (can_end && !other_than_stop)) grammar_finding("must_end disagrees with the mask");
    if (must_end) break;

    const uint32_t choice = next();
    // Now and then a refused token: refused with MMB_ERR_GRAMMAR, nothing changes.
    if ((choice & 0x8000u) && tokens.size() < size_t(m.vocab_size)) {
      int32_t refused = int32_t(choice % uint32_t(m.vocab_size));
      while (allowed(mask, refused)) refused = (refused + 1) % m.vocab_size;
      const std::vector<uint8_t> before = grammar_save(state.get());
      const mmb_status st = mmb_grammar_state_accept(state.get(), refused);
      if (st != MMB_ERR_GRAMMAR) grammar_finding("a token outside the mask was not refused", st);
      if (grammar_save(state.get()) != before) grammar_finding("a refused token changed the state");
    }
    const int32_t token = tokens[choice % tokens.size()];
    const std::vector<uint8_t> before = grammar_save(state.get());
    const mmb_status st = mmb_grammar_state_accept(state.get(), token);
    if (st != MMB_OK) {
      // The documented limit of parses at once (docs/structured-output.md, "Limits"):
      // the mask does not foresee it, so an allowed token may be refused; nothing changes.
      if (st == MMB_ERR_GRAMMAR && std::strstr(mmb_last_error(), "too ambiguous") != nullptr) {
        if (grammar_save(state.get()) != before) grammar_finding("a refused token changed the state");
        break;
      }
      grammar_finding("a token in the mask was refused", st);
    }
    if (m.is_stop(token)) break;

    const uint32_t op = next();
    if (op % 4 == 0) {
      // A clone and a saved-and-loaded copy give the same mask as the state.
      mmb_grammar_state* c = nullptr;
      grammar_check(mmb_grammar_state_clone(state.get(), &c), "clone");
      GrammarStatePtr clone(c);
      const std::vector<uint8_t> blob = grammar_save(state.get());
      mmb_grammar_state* l = nullptr;
      grammar_check(mmb_grammar_state_create(grammar, &l), "state_create");
      GrammarStatePtr loaded(l);
      grammar_check(mmb_grammar_state_load(loaded.get(), blob.data(), blob.size()), "state_load of a saved state");
      std::vector<uint32_t> here((size_t(m.vocab_size) + 31) / 32);
      if (!grammar_mask_within_limit(state.get(), here)) return;  // this token led past the limit
      if (grammar_mask(clone.get(), m.vocab_size) != here) grammar_finding("a clone's mask differs");
      if (grammar_mask(loaded.get(), m.vocab_size) != here) grammar_finding("a loaded state's mask differs");
      if (grammar_save(loaded.get()) != blob) grammar_finding("a loaded state saves differently");
      // A damaged copy: loaded or refused, and a refusal changes nothing.
      if (!blob.empty()) {
        std::vector<uint8_t> damaged = blob;
        const uint32_t where = next();
        damaged[where % damaged.size()] ^= uint8_t(1u << (where >> 13));
        if (where & 0x1000) damaged.resize(where % damaged.size());
        const std::vector<uint8_t> before = grammar_save(clone.get());
        const mmb_status ls = mmb_grammar_state_load(clone.get(), damaged.data(), damaged.size());
        if (ls != MMB_OK) {
          if (ls != MMB_ERR_FORMAT && ls != MMB_ERR_STATE_MISMATCH)
            grammar_finding("a damaged state gave an unexpected status", ls);
          if (grammar_save(clone.get()) != before) grammar_finding("a refused load changed the state");
        } else {
          // Whatever loaded must be a state the walk can go on from.
          (void)grammar_mask(clone.get(), m.vocab_size);
          (void)grammar_save(clone.get());
        }
      }
      if (op & 0x100) state = std::move(loaded);
    } else if (op % 16 == 5) {
      grammar_check(mmb_grammar_state_reset(state.get()), "reset");
    }
  }
}

}  // namespace mmb::fuzz
