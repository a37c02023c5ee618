// conv_update against the CPU backend's loop: outputs within 1e-6 relative + 1e-6,
// windows exactly; a batch of distinct states, and one state walked through a chunk of
// tokens (sequential), which must equal stepping token by token. d_conv 4, 3 and 1
// (no window).
#include "conv_update.cuh"
#include "cuda_test_support.hpp"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

struct ConvCase {
  int d_inner, d_conv;
  size_t offset;  // the layer's window inside a state
  size_t state_floats() const { return offset + size_t(d_inner) * (d_conv - 1) + 7; }
};

// One token for one state on the host.
void conv_reference(const ConvCase& c, const std::vector<float>& w, const std::vector<float>& b, float* state,
                    const float* x, double* xc) {
  const int len = c.d_conv - 1;
  for (int ch = 0; ch < c.d_inner; ++ch) {
    float* window = state + c.offset + size_t(ch) * len;
    float acc = b[ch];
    for (int k = 0; k < len; ++k) acc += w[ch * c.d_conv + k] * window[k];
    acc += w[ch * c.d_conv + len] * x[ch];
    for (int k = 0; k + 1 < len; ++k) window[k] = window[k + 1];
    if (len) window[len - 1] = x[ch];
    xc[ch] = acc / (1.0 + std::exp(-double(acc)));
  }
}

}  // namespace

TEST_CASE("conv_update: batch of states and a sequential chunk", "[cuda][mamba]") {
  for (ConvCase c : {ConvCase{37, 4, 5}, ConvCase{64, 3, 0}, ConvCase{33, 1, 9}}) {
    for (bool sequential : {false, true}) {
      INFO("d_inner " << c.d_inner << " d_conv " << c.d_conv << " sequential " << sequential);
      const int n = 5, ldx = 2 * c.d_inner;
      Rng rng(uint64_t(c.d_inner) * 3 + sequential);
      const std::vector<float> w = rng.values(size_t(c.d_inner) * c.d_conv), b = rng.values(c.d_inner);
      const std::vector<float> x = rng.values(size_t(n) * ldx);
      const int n_states = sequential ? 1 : n;
      std::vector<std::vector<float>> host_states;
      std::vector<std::unique_ptr<DeviceArray<float>>> states;
      std::vector<float*> pointers;
      for (int s = 0; s < n_states; ++s) {
        host_states.push_back(rng.values(c.state_floats()));
        states.push_back(std::make_unique<DeviceArray<float>>(host_states.back()));
        pointers.push_back(states.back()->get());
      }
      std::vector<float*> row_states(n);
      for (int r = 0; r < n; ++r) row_states[r] = pointers[sequential ? 0 : r];
      DeviceArray<float*> dstates(row_states);
      DeviceArray<float> dw(w), db(b), dx(x), dxc(size_t(n) * c.d_inner);
      conv_update(nullptr, ConvArgs{dx.get(), ldx, dw.get(), db.get(), dstates.get(), c.offset, dxc.get(), c.d_inner,
                                    c.d_conv},
                  n, sequential);
      std::vector<double> expected(size_t(n) * c.d_inner);
      for (int r = 0; r < n; ++r)
        conv_reference(c, w, b, host_states[sequential ? 0 : r].data(), x.data() + size_t(r) * ldx,
                       expected.data() + size_t(r) * c.d_inner);
      check_close(dxc.read(), expected, 1e-6, 1e-6);
      for (int s = 0; s < n_states; ++s) REQUIRE(states[s]->read() == host_states[s]);
    }
  }
}
