// What the job and frame tests share (moemamba.h section 7): an owning job handle, a
// sampling sampler, submitting a prompt and reading a job back.
#pragma once

#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mmb::testing {

struct JobDeleter { void operator()(mmb_job* p) const { mmb_job_destroy(p); } };
using JobPtr = std::unique_ptr<mmb_job, JobDeleter>;

// Plain sampling at temperature 1 (no top-k, top-p or min-p) from `seed`.
SamplerPtr sampler(uint64_t seed);

// Options that run max_tokens tokens whatever comes (no stop at end of text), with the
// text tokenized without special tokens.
mmb_job_options job_options(int32_t max_tokens);

// A submitted job (the test fails on any status but MMB_OK, printing the last error).
JobPtr submit(mmb_session* session, mmb_sampler* s, const std::vector<int32_t>& prompt, int32_t max_tokens);
JobPtr submit(mmb_session* session, mmb_sampler* s, const std::string& prompt, const mmb_job_options& o);

// The tokens a job has produced so far.
std::vector<int32_t> tokens_of(mmb_job* job);

// A job's state (MMB_JOB_*), and its result where `result` is given.
int32_t state_of(mmb_job* job, mmb_status* result = nullptr);

}  // namespace mmb::testing
