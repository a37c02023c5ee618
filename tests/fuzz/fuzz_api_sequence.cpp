// The session API driven by fuzz bytes: each input byte picks an operation (create,
// step, prefill, batch step, save, load, fork, reset, destroy) on up to four sessions of
// one tiny model, with operands from the following bytes. Every call must return a
// status; afterwards every live session must still step.
#include "fuzz_models.hpp"

#include <array>
#include <cstdlib>

using namespace mmb::fuzz;

namespace {

constexpr size_t kSlots = 4;
constexpr size_t kVocab = 256;

int32_t token_from(FuzzReader& in) {
  const uint8_t b = in.byte();
  // Mostly valid ids, sometimes just outside the range.
  if (b < 250) return b;
  return b == 250 ? -1 : b == 251 ? int32_t(kVocab) : b == 252 ? INT32_MIN : int32_t(kVocab) + b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RuntimePtr runtime = single_thread_runtime();
  static ModelPtr model = load_valid(runtime.get(), tiny_bundle(true));

  FuzzReader in(data, size);
  std::array<mmb_session*, kSlots> slots{};
  std::vector<uint8_t> saved;  // the last state blob saved, possibly altered
  std::vector<float> logits(kVocab);
  for (int op = 0; op < 64 && !in.empty(); ++op) {
    const uint8_t code = in.byte();
    mmb_session*& s = slots[(code >> 4) % kSlots];
    switch (code & 15) {
      case 0:
        if (!s) mmb_session_create(model.get(), nullptr, &s);
        break;
      case 1:
        mmb_session_destroy(s);
        s = nullptr;
        break;
      case 2:
      case 3:
        mmb_session_step(s, token_from(in), logits.data(), in.byte() == 0 ? kVocab - 1 : kVocab);
        break;
      case 4: {
        std::vector<int32_t> tokens(in.byte() % 40);
        for (int32_t& t : tokens) t = token_from(in);
        mmb_session_prefill(s, tokens.data(), tokens.size(), in.byte() & 1 ? logits.data() : nullptr,
                            in.byte() & 1 ? kVocab : 0);
        break;
      }
      case 5: {
        size_t bytes = 0;
        if (mmb_session_state_size(s, &bytes) != MMB_OK) break;
        saved.assign(bytes, 0);
        size_t written = 0;
        const size_t cap = in.byte() == 0 ? bytes / 2 : bytes;
        if (mmb_session_state_save(s, saved.data(), cap, &written) != MMB_OK) saved.clear();
        break;
      }
      case 6:
        mmb_session_state_load(s, saved.data(), saved.size());
        break;
      case 7:
        if (!saved.empty()) {  // flip one byte, or cut the blob short
          const uint32_t at = in.u32();
          if (at & 1) saved.resize(at % saved.size());
          else saved[at % saved.size()] ^= uint8_t(1 + in.byte() % 255);
        }
        break;
      case 8: {
        mmb_session*& target = slots[(code >> 6) % kSlots];
        if (!target && s) mmb_session_fork(s, &target);
        break;
      }
      case 9:
        mmb_session_reset(s);
        break;
      case 10: {
        std::vector<mmb_session*> batch;
        std::vector<int32_t> tokens;
        for (mmb_session* each : slots) {
          if (each && (in.byte() & 1)) {
            batch.push_back(each);
            tokens.push_back(token_from(in));
          }
        }
        std::vector<float> out(kVocab * batch.size());
        mmb_step_batch(batch.data(), tokens.data(), batch.size(), out.data(), kVocab);
        break;
      }
      default: {
        uint64_t position = 0;
        mmb_session_get_position(s, &position);
        break;
      }
    }
  }
  for (mmb_session*& s : slots) {
    if (s && mmb_session_step(s, 1, logits.data(), logits.size()) != MMB_OK) std::abort();
    mmb_session_destroy(s);
  }
  return 0;
}
