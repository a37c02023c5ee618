// selective_scan against the CPU backend's loop in double: y within 1e-5 relative +
// 1e-6, the scan state within 1e-5 relative + 1e-7. A batch of distinct states, one
// state walked through a chunk (sequential), and the chunk against the same tokens as
// single-row launches (prefill == stepping; identical operations, so equal to 1e-7).
#include "cuda_test_support.hpp"
#include "selective_scan.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

struct ScanCase {
  int d_inner, d_state, dt_rank;
  size_t offset;
  int dbc() const { return dt_rank + 2 * d_state; }
  size_t state_floats() const { return offset + size_t(d_inner) * d_state + 3; }
};

struct ScanInputs {
  std::vector<float> dt, xc, dbc, z, A, D;
  int ldz;
};

ScanInputs make_inputs(const ScanCase& c, int n, Rng& rng) {
  ScanInputs in;
  in.ldz = c.d_inner + 4;
  in.dt = rng.values(size_t(n) * c.d_inner, -4.0f, 1.0f);
  in.xc = rng.values(size_t(n) * c.d_inner);
  in.dbc = rng.values(size_t(n) * c.dbc());
  in.z = rng.values(size_t(n) * in.ldz);
  in.A = rng.values(size_t(c.d_inner) * c.d_state, -8.0f, -0.5f);
  in.D = rng.values(c.d_inner);
  return in;
}

void scan_reference(const ScanCase& c, const ScanInputs& in, int r, std::vector<double>& state, double* y) {
  for (int ch = 0; ch < c.d_inner; ++ch) {
    const double raw = in.dt[size_t(r) * c.d_inner + ch];
    const double dt = raw > 20.0 ? raw : std::log1p(std::exp(raw));
    const double x = in.xc[size_t(r) * c.d_inner + ch];
    const float* B = in.dbc.data() + size_t(r) * c.dbc() + c.dt_rank;
    const float* C = B + c.d_state;
    double acc = 0;
    for (int k = 0; k < c.d_state; ++k) {
      double& s = state[c.offset + size_t(ch) * c.d_state + k];
      s = s * std::exp(dt * in.A[size_t(ch) * c.d_state + k]) + dt * x * B[k];
      acc += s * C[k];
    }
    const double z = in.z[size_t(r) * in.ldz + ch];
    y[ch] = (acc + in.D[ch] * x) * (z / (1.0 + std::exp(-z)));
  }
}

struct DeviceScan {
  DeviceArray<float> dt, xc, dbc, z, A, D, y;
  DeviceScan(const ScanInputs& in, int n, int d_inner)
      : dt(in.dt), xc(in.xc), dbc(in.dbc), z(in.z), A(in.A), D(in.D), y(size_t(n) * d_inner) {}
  ScanArgs args(const ScanCase& c, int ldz, float* const* states, int row) const {
    const size_t di = c.d_inner;
    return ScanArgs{dt.get() + row * di, xc.get() + row * di, dbc.get() + size_t(row) * c.dbc(),
                    z.get() + size_t(row) * ldz, ldz, A.get(), D.get(), states, c.offset, y.get() + row * di,
                    c.d_inner, c.d_state, c.dt_rank};
  }
};

}  // namespace

TEST_CASE("selective_scan: batch of states and a sequential chunk", "[cuda][mamba]") {
  // d_state 16 and 5: a thread per (channel, entry); 40: a thread per channel.
  for (ScanCase c : {ScanCase{37, 16, 3, 11}, ScanCase{64, 5, 1, 0}, ScanCase{24, 40, 2, 0}}) {
    for (bool sequential : {false, true}) {
      INFO("d_inner " << c.d_inner << " d_state " << c.d_state << " sequential " << sequential);
      const int n = 6, n_states = sequential ? 1 : n;
      Rng rng(uint64_t(c.d_inner) + 17 * sequential);
      const ScanInputs in = make_inputs(c, n, rng);
      std::vector<std::vector<float>> initial;
      std::vector<std::unique_ptr<DeviceArray<float>>> states;
      std::vector<float*> row_states(n);
      for (int s = 0; s < n_states; ++s) {
        initial.push_back(rng.values(c.state_floats(), -0.5f, 0.5f));
        states.push_back(std::make_unique<DeviceArray<float>>(initial.back()));
      }
      for (int r = 0; r < n; ++r) row_states[r] = states[sequential ? 0 : r]->get();
      DeviceArray<float*> dstates(row_states);
      DeviceScan dev(in, n, c.d_inner);
      selective_scan(nullptr, dev.args(c, in.ldz, dstates.get(), 0), n, sequential);

      std::vector<std::vector<double>> expected_states;
      for (const auto& s : initial) expected_states.emplace_back(s.begin(), s.end());
      std::vector<double> expected_y(size_t(n) * c.d_inner);
      for (int r = 0; r < n; ++r)
        scan_reference(c, in, r, expected_states[sequential ? 0 : r], expected_y.data() + size_t(r) * c.d_inner);
      check_close(dev.y.read(), expected_y, 1e-6, 1e-5);
      for (int s = 0; s < n_states; ++s) check_close(states[s]->read(), expected_states[s], 1e-7, 1e-5);
    }
  }
}

TEST_CASE("selective_scan: a sequential chunk equals single steps", "[cuda][mamba][prefill]") {
  const ScanCase c{48, 16, 2, 3};
  const int n = 9;
  Rng rng(99);
  const ScanInputs in = make_inputs(c, n, rng);
  const std::vector<float> initial = rng.values(c.state_floats(), -0.5f, 0.5f);
  DeviceArray<float> chunk_state(initial), step_state(initial);
  std::vector<float*> chunk_rows(n, chunk_state.get());
  float* step_row = step_state.get();
  DeviceArray<float*> dchunk(chunk_rows), dstep(std::vector<float*>{step_row});
  DeviceScan chunk(in, n, c.d_inner), steps(in, n, c.d_inner);
  selective_scan(nullptr, chunk.args(c, in.ldz, dchunk.get(), 0), n, true);
  for (int r = 0; r < n; ++r) selective_scan(nullptr, steps.args(c, in.ldz, dstep.get(), r), 1, false);
  const std::vector<float> y_chunk = chunk.y.read(), y_steps = steps.y.read();
  check_close(y_chunk, std::vector<double>(y_steps.begin(), y_steps.end()), 1e-7, 0.0);
  const std::vector<float> s_chunk = chunk_state.read(), s_steps = step_state.read();
  check_close(s_chunk, std::vector<double>(s_steps.begin(), s_steps.end()), 1e-7, 0.0);
}
