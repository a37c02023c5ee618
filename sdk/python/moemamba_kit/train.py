"""Trains a MoE-Mamba language model on token data.

python3 -m moemamba_kit.train --config model.json --data train.txt --valid valid.txt
    --tokenizer tokenizer.json --out run/ [--steps N --batch B --seq L --lr 3e-3 ...]

Switch-style routing while training (capacity factor, optional noise), load-balancing
auxiliary loss (alpha 0.01), optional router z-loss; AdamW, linear warm-up then cosine
decay, gradient clipping; checkpoints every --save-every steps and at the end
(run/checkpoint.pt), resumed automatically; a progress line with loss and tokens/s and
the per-expert load fractions of each MoE layer.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

from .bpe import Tokenizer
from .model import MoEMamba, RoutingOptions


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    progress = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * progress))


def load_tokens(path, tokenizer, cache_dir):
    """Token ids of a text file (cached as .npy beside the run)."""
    cache = os.path.join(cache_dir, os.path.basename(path) + ".tokens.npy")
    if os.path.exists(cache):
        return np.load(cache)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ids = []
    eos = tokenizer.eos_id
    for doc in text.split("\n\n\n"):
        ids.extend(tokenizer.encode(doc))
        if eos is not None:
            ids.append(eos)
    arr = np.array(ids, dtype=np.int32)
    np.save(cache, arr)
    return arr


def batches(tokens, batch, seq, gen):
    """Random windows of seq+1 tokens."""
    starts = torch.randint(0, len(tokens) - seq - 1, (batch,), generator=gen).numpy()
    w = np.stack([tokens[s:s + seq + 1] for s in starts]).astype(np.int64)
    return torch.from_numpy(w[:, :-1]), torch.from_numpy(w[:, 1:])


@torch.no_grad()
def evaluate(model, tokens, seq, batch, max_batches=None):
    """Mean next-token loss over consecutive windows of the validation tokens."""
    model.eval()
    n = (len(tokens) - 1) // seq
    if max_batches:
        n = min(n, max_batches * batch)
    total, count = 0.0, 0
    for i in range(0, n, batch):
        idx = range(i, min(n, i + batch))
        x = torch.from_numpy(np.stack([tokens[j * seq:j * seq + seq] for j in idx]).astype(np.int64))
        y = torch.from_numpy(np.stack([tokens[j * seq + 1:j * seq + seq + 1] for j in idx]).astype(np.int64))
        logits = model(x)
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                   reduction="sum").item()
        count += y.numel()
    model.train()
    return total / max(1, count)


def add_training_args(ap):
    """The optimisation and routing options, shared with moemamba_kit.experiment."""
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--capacity-factor", type=float, default=1.25, help="0: no limit")
    ap.add_argument("--aux-alpha", type=float, default=0.01, help="load-balancing loss weight")
    ap.add_argument("--z-loss", type=float, default=0.0, help="router z-loss weight")
    ap.add_argument("--router-noise", type=float, default=0.0, help="std of router logit noise")
    ap.add_argument("--expert-init-scale", type=float, default=0.1 ** 0.5, help="Switch's small expert init")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="native-dialect model config (JSON file)")
    ap.add_argument("--data", required=True, help="training text file")
    ap.add_argument("--valid", help="validation text file")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json (moemamba_kit.bpe)")
    ap.add_argument("--out", required=True, help="run directory (checkpoint, log)")
    ap.add_argument("--steps", type=int, default=1000)
    add_training_args(ap)
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-batches", type=int, default=20)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (and save) after this long; 0: no limit")
    return ap.parse_args(argv)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(config, a):
    """The model with the run's expert init and training-time routing options."""
    model = MoEMamba(config, expert_init_scale=a.expert_init_scale)
    model.set_routing(RoutingOptions(a.capacity_factor, a.router_noise, a.z_loss))
    return model


def make_optimizer(model, a):
    """AdamW; weight decay on matrices only."""
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))


def train_step(model, opt, x, y, step, a):
    """One optimisation step at schedule position `step`: cross-entropy plus every
    router's load-balancing and z-loss, clipped gradients. Returns (cross-entropy, grad norm)."""
    for g in opt.param_groups:
        g["lr"] = lr_at(step, a)
    logits = model(x)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss = ce
    for m in model.routed_layers():
        loss = loss + a.aux_alpha * m.aux_loss + m.z_loss
    if not torch.isfinite(loss):
        # Stop with the last good checkpoint on disk rather than train on garbage.
        raise SystemExit(f"step {step + 1}: loss is {loss.item()}; lower --lr or resume from the checkpoint")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip).item()
    opt.step()
    return ce.item(), gnorm


def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    seed_everything(a.seed)
    with open(a.config) as f:
        config = json.load(f)
    tokenizer = Tokenizer.load(a.tokenizer)
    train_tokens = load_tokens(a.data, tokenizer, a.out)
    valid_tokens = load_tokens(a.valid, tokenizer, a.out) if a.valid else None

    model = build_model(config, a)
    opt = make_optimizer(model, a)
    gen = torch.Generator().manual_seed(a.seed)
    step, tokens_seen, train_seconds, history = 0, 0, 0.0, []
    ckpt_path = os.path.join(a.out, "checkpoint.pt")
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        step, tokens_seen, train_seconds, history = ck["step"], ck["tokens"], ck["seconds"], ck["history"]
        print(f"resumed from {ckpt_path} at step {step}", flush=True)

    def save():
        torch.save({"config": model.config, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                    "tokens": tokens_seen, "seconds": train_seconds, "history": history,
                    "args": vars(a)}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    log = open(os.path.join(a.out, "log.jsonl"), "a")
    model.train()
    started = run_start = time.time()
    window_tokens, window_start = 0, time.time()
    while step < a.steps:
        x, y = batches(train_tokens, a.batch, a.seq, gen)
        ce, gnorm = train_step(model, opt, x, y, step, a)
        step += 1
        tokens_seen += x.numel()
        window_tokens += x.numel()
        record = {"step": step, "loss": ce, "lr": opt.param_groups[0]["lr"], "grad_norm": gnorm}
        if step % a.log_every == 0 or step == a.steps:
            now = time.time()
            record["tokens_per_s"] = window_tokens / (now - window_start)
            record["load"] = [[round(v, 3) for v in m.load.tolist()] for m in model.routed_layers()]
            window_tokens, window_start = 0, now
            bar = "#" * int(20 * step / a.steps)
            print(f"[{bar:<20}] step {step}/{a.steps} loss {ce:.4f} lr {record['lr']:.2e} "
                  f"{record['tokens_per_s']:.0f} tok/s load {record['load']}", flush=True)
        if valid_tokens is not None and (step % a.eval_every == 0 or step == a.steps):
            record["valid_loss"] = evaluate(model, valid_tokens, a.seq, a.batch, a.eval_batches)
            print(f"step {step}: validation loss {record['valid_loss']:.4f} "
                  f"(perplexity {math.exp(record['valid_loss']):.1f})", flush=True)
        history.append(record)
        log.write(json.dumps(record) + "\n")
        log.flush()
        out_of_time = a.max_minutes and (time.time() - run_start) / 60 >= a.max_minutes
        if step % a.save_every == 0 or step == a.steps or out_of_time:
            train_seconds += time.time() - started
            started = time.time()
            save()
        if out_of_time:
            print(f"stopping at step {step}: --max-minutes reached", flush=True)
            break
    log.close()
    return history


if __name__ == "__main__":
    main(sys.argv[1:])
