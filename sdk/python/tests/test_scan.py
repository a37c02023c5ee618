"""The chunked selective scan equals the sequential recurrence (float64), and the
Mamba layer gives the same output with either."""
import sys
import unittest

import torch

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit.model import MoEMamba  # noqa: E402
from moemamba_kit.scan import selective_scan_chunked, selective_scan_sequential  # noqa: E402


class ScanTest(unittest.TestCase):
    def test_chunked_equals_sequential(self):
        g = torch.Generator().manual_seed(1)
        b, L, d, n = 2, 53, 6, 5  # L not a multiple of any chunk tried
        x = torch.randn(b, L, d, generator=g, dtype=torch.float64)
        dt = torch.nn.functional.softplus(torch.randn(b, L, d, generator=g, dtype=torch.float64))
        A = -torch.exp(torch.randn(d, n, generator=g, dtype=torch.float64))
        B = torch.randn(b, L, n, generator=g, dtype=torch.float64)
        C = torch.randn(b, L, n, generator=g, dtype=torch.float64)
        ref = selective_scan_sequential(x, dt, A, B, C)
        for chunk in (1, 4, 16, 64):
            got = selective_scan_chunked(x, dt, A, B, C, chunk=chunk)
            self.assertLess((got - ref).abs().max().item(), 1e-10 * max(1.0, ref.abs().max().item()), chunk)

    def test_large_decay_stays_finite_in_float32(self):
        # dt * |A| summed over a chunk far beyond float32's exp range: the parallel form
        # alone would give inf * 0 = nan; the result must still be the recurrence's.
        g = torch.Generator().manual_seed(4)
        b, L, d, n = 2, 40, 4, 3
        x = torch.randn(b, L, d, generator=g)
        dt = torch.rand(b, L, d, generator=g) * 6.0
        dt[0, :20] = 0.01  # one quiet stretch keeps the fast path in use too
        A = -torch.linspace(1.0, 16.0, d * n).reshape(d, n)
        B = torch.randn(b, L, n, generator=g)
        C = torch.randn(b, L, n, generator=g)
        ref = selective_scan_sequential(x.double(), dt.double(), A.double(), B.double(), C.double())
        got = selective_scan_chunked(x, dt, A, B, C, chunk=16)
        self.assertTrue(torch.isfinite(got).all().item())
        self.assertLess((got.double() - ref).abs().max().item(), 1e-4 * max(1.0, ref.abs().max().item()))

    def test_gradients_match(self):
        g = torch.Generator().manual_seed(2)
        b, L, d, n = 1, 20, 3, 4
        args = [torch.randn(b, L, d, generator=g, dtype=torch.float64),
                torch.rand(b, L, d, generator=g, dtype=torch.float64) * 0.5,
                -torch.rand(d, n, generator=g, dtype=torch.float64) - 0.1,
                torch.randn(b, L, n, generator=g, dtype=torch.float64),
                torch.randn(b, L, n, generator=g, dtype=torch.float64)]
        grads = []
        for scan in (selective_scan_sequential, lambda *a: selective_scan_chunked(*a, chunk=8)):
            leaves = [a.clone().requires_grad_() for a in args]
            scan(*leaves).pow(2).sum().backward()
            grads.append([l.grad for l in leaves])
        for a, b_ in zip(*grads):
            self.assertLess((a - b_).abs().max().item(), 1e-9)

    def test_model_same_with_either_scan(self):
        torch.manual_seed(3)
        m = MoEMamba({"d_model": 16, "vocab_size": 50, "layers": [{"kind": "mamba", "d_state": 4}] * 2}).double()
        tokens = torch.randint(0, 50, (2, 37))
        a = m(tokens, scan=selective_scan_sequential)
        b = m(tokens)
        self.assertLess((a - b).abs().max().item(), 1e-10)


if __name__ == "__main__":
    unittest.main()
