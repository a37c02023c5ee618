"""Random weights for parity tests: every tensor drawn so that each one matters."""
import torch


def randomize(module, seed, bias_scale=0.2):
    """Every tensor random (norm gains, biases, padding rows too), so each one matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.rand(p.shape, generator=g) * 2.5 - 0.5)
            elif name.endswith("dt_proj.bias"):
                p.copy_(torch.rand(p.shape, generator=g) * 3 - 4)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=g) * bias_scale)
            else:
                fan_in = p.shape[1] if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=g) * fan_in ** -0.5)
