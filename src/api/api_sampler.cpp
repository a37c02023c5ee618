// C entry points of the sampler (moemamba.h section 6).
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

void mmb::api::Extensible<mmb_sampler_params>::set_defaults(mmb_sampler_params& p) {
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repetition_penalty = 1.0f;
  p.penalty_window = 64;
}

extern "C" {

MMB_API mmb_status mmb_sampler_params_init(mmb_sampler_params* params, size_t struct_size) {
  return mmb::api::init_struct(params, struct_size);
}

MMB_API mmb_status mmb_sampler_create(const mmb_sampler_params* params, mmb_sampler** out) {
  return mmb::api::guard([&] {
    mmb::api::require(out, "out");
    *out = new mmb_sampler{mmb::Sampler(mmb::api::read_struct(params))};
  });
}

MMB_API void mmb_sampler_destroy(mmb_sampler* sampler) { delete sampler; }

MMB_API mmb_status mmb_sampler_reset(mmb_sampler* sampler) {
  return mmb::api::guard([&] {
    mmb::api::require(sampler, "sampler");
    sampler->impl.reset();
  });
}

MMB_API mmb_status mmb_sampler_accept(mmb_sampler* sampler, int32_t token) {
  return mmb::api::guard([&] {
    mmb::api::require(sampler, "sampler");
    sampler->impl.accept(token);
  });
}

MMB_API mmb_status mmb_sampler_sample(mmb_sampler* sampler, const float* logits, size_t n, int32_t* token) {
  return mmb::api::guard([&] {
    mmb::api::require(sampler, "sampler");
    mmb::api::require(logits, "logits");
    mmb::api::require(token, "token");
    *token = sampler->impl.sample(logits, n);
  });
}

}  // extern "C"
