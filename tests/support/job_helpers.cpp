#include "support/job_helpers.hpp"

#include <catch2/catch.hpp>

namespace mmb::testing {

SamplerPtr sampler(uint64_t seed) {
  mmb_sampler_params p;
  REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
  p.seed = seed;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  mmb_sampler* s = nullptr;
  REQUIRE(mmb_sampler_create(&p, &s) == MMB_OK);
  return SamplerPtr(s);
}

mmb_job_options job_options(int32_t max_tokens) {
  mmb_job_options o;
  REQUIRE(mmb_job_options_init(&o, sizeof o) == MMB_OK);
  o.max_tokens = max_tokens;
  o.stop_at_eos = 0;
  o.tokenize_flags = 0;
  return o;
}

JobPtr submit(mmb_session* session, mmb_sampler* s, const std::vector<int32_t>& prompt, int32_t max_tokens) {
  const mmb_job_options o = job_options(max_tokens);
  mmb_job* job = nullptr;
  const mmb_status st = mmb_job_submit_tokens(session, s, prompt.data(), prompt.size(), &o, &job);
  INFO(mmb_last_error());
  REQUIRE(st == MMB_OK);
  return JobPtr(job);
}

JobPtr submit(mmb_session* session, mmb_sampler* s, const std::string& prompt, const mmb_job_options& o) {
  mmb_job* job = nullptr;
  const mmb_status st = mmb_job_submit_text(session, s, prompt.data(), prompt.size(), &o, &job);
  INFO(mmb_last_error());
  REQUIRE(st == MMB_OK);
  return JobPtr(job);
}

std::vector<int32_t> tokens_of(mmb_job* job) {
  size_t n = 0;
  mmb_job_read_tokens(job, nullptr, 0, &n);
  std::vector<int32_t> t(n);
  REQUIRE(mmb_job_read_tokens(job, t.data(), n, &n) == MMB_OK);
  t.resize(n);
  return t;
}

int32_t state_of(mmb_job* job, mmb_status* result) {
  int32_t state = -1;
  REQUIRE(mmb_job_poll(job, &state, result) == MMB_OK);
  return state;
}

}  // namespace mmb::testing
