"""The chunked selective scan equals the sequential recurrence (float64), and the
Mamba layer gives the same output with either; the same for Mamba-2's chunked SSD form
(groups of heads, lengths not a multiple of the chunk, gradients, float32 stability)."""
import sys
import unittest

import torch

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit.model import MoEMamba  # noqa: E402
from moemamba_kit.scan import (selective_scan_chunked, selective_scan_sequential, ssd_chunked,  # noqa: E402
                               ssd_sequential)


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


def ssd_inputs(seed, b, L, H, P, G, N, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, L, H, P, generator=g, dtype=dtype),
            torch.nn.functional.softplus(torch.randn(b, L, H, generator=g, dtype=dtype)),
            -torch.exp(torch.randn(H, generator=g, dtype=dtype)),
            torch.randn(b, L, G, N, generator=g, dtype=dtype),
            torch.randn(b, L, G, N, generator=g, dtype=dtype)]


class SSDTest(unittest.TestCase):
    def test_chunked_equals_sequential(self):
        # L = 53 is a multiple of no chunk tried but 1; chunk 64 > L is one padded chunk.
        for H, G in ((6, 3), (4, 1), (4, 4)):
            args = ssd_inputs(1, 2, 53, H, 5, G, 7)
            ref = ssd_sequential(*args)
            for chunk in (1, 4, 7, 16, 64):
                got = ssd_chunked(*args, chunk=chunk)
                self.assertEqual(got.shape, ref.shape)
                self.assertLess((got - ref).abs().max().item(), 1e-10 * max(1.0, ref.abs().max().item()),
                                (H, G, chunk))

    def test_groups_read_by_their_heads(self):
        # Head h reads group h // (H / G): swapping the two groups' B must change heads 0-2
        # and 3-5 (a mapping h % G would mix them).
        x, dt, A, B, C = ssd_inputs(2, 1, 9, 6, 2, 2, 3)
        ref = ssd_chunked(x, dt, A, B, C, chunk=4)
        B2 = B.clone()
        B2[:, :, 1] = B[:, :, 1] * 2
        got = ssd_chunked(x, dt, A, B2, C, chunk=4)
        self.assertLess((got[:, :, :3] - ref[:, :, :3]).abs().max().item(), 1e-12)
        self.assertGreater((got[:, :, 3:] - ref[:, :, 3:]).abs().max().item(), 1e-3)

    def test_large_decay_stays_finite_in_float32(self):
        # Every exponent of the SSD form is a sum of dt * A <= 0: no overflow for any decay.
        x, dt, A, B, C = ssd_inputs(3, 2, 40, 4, 3, 2, 5, torch.float32)
        dt = dt * 20
        A = A * 30
        ref = ssd_sequential(*(t.double() for t in (x, dt, A, B, C)))
        got = ssd_chunked(x, dt, A, B, C, chunk=16)
        self.assertTrue(torch.isfinite(got).all().item())
        self.assertLess((got.double() - ref).abs().max().item(), 1e-4 * max(1.0, ref.abs().max().item()))

    def test_gradients_match(self):
        args = ssd_inputs(4, 1, 21, 4, 3, 2, 4)
        grads = []
        for scan in (ssd_sequential, lambda *a: ssd_chunked(*a, chunk=8)):
            leaves = [a.clone().requires_grad_() for a in args]
            scan(*leaves).pow(2).sum().backward()
            grads.append([l.grad for l in leaves])
        for a, b_ in zip(*grads):
            self.assertLess((a - b_).abs().max().item(), 1e-9)

    def test_model_same_with_either_form(self):
        torch.manual_seed(5)
        m = MoEMamba({"d_model": 16, "vocab_size": 50, "layers": [
            {"kind": "mamba2", "n_heads": 4, "d_state": 6, "n_groups": 2},
            {"kind": "moe", "n_experts": 3, "d_ff": 8, "expert": "relu"},
            {"kind": "mamba2", "d_inner": 24, "n_heads": 3, "d_state": 4}]}).double()
        tokens = torch.randint(0, 50, (2, 37))
        chunked = m(tokens)
        for layer in m.layers:
            if layer.kind == "mamba2":
                layer.mamba2.ssd = ssd_sequential
        sequential = m(tokens)
        self.assertLess((chunked - sequential).abs().max().item(), 1e-10)


if __name__ == "__main__":
    unittest.main()
