"""The reproduction script (sdk/scripts/reproduce.sh --smoke) end to end: every model of
the three comparisons (Mamba: the paper's set and the designs; Mamba-2: Mamba-2,
Mamba-2-MLP, MoE-Mamba-2; hybrid: MoE-Mamba-2 with an attention layer) trains on the
Brown corpus, every PNG, results table and curves file is written and names every model;
plus the table's interpolation on a hand-made curve.

Usage: test_experiment.py
"""
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

KIT = __file__.rsplit("/tests/", 1)[0]
sys.path.insert(0, KIT)
REPRODUCE = os.path.join(KIT, "..", "scripts", "reproduce.sh")
from moemamba_kit import experiment  # noqa: E402


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


class StepsToReach(unittest.TestCase):
    def test_interpolates_between_evaluations(self):
        curve = [(0, 6.0), (10, 5.0), (20, 4.0), (30, 4.2)]
        self.assertAlmostEqual(experiment.steps_to_reach(curve, 4.5), 15.0)
        self.assertAlmostEqual(experiment.steps_to_reach(curve, 5.0), 10.0)
        self.assertAlmostEqual(experiment.steps_to_reach(curve, 7.0), 0.0)
        self.assertIsNone(experiment.steps_to_reach(curve, 3.9))


class SmokeRun(unittest.TestCase):
    def test_writes_figures_and_table_for_every_model(self):
        with tempfile.TemporaryDirectory() as tmp:
            work = os.path.join(tmp, "work")
            subprocess.run(["bash", REPRODUCE, work, "--smoke"], check=True)
            out = os.path.join(work, "out")  # a smoke run's outputs stay out of docs/
            configs = experiment.model_configs(dict(experiment.SMOKE), 8)
            steps = int(experiment.SMOKE["steps"])
            records = {}
            # Every comparison (Mamba, Mamba-2, hybrid), each with its figures, table and curves.
            for sets, results_file, curves_file in experiment.COMPARISONS.values():
                sets = [(fig, heading, [n.format(E=8) for n in order]) for fig, heading, _, order in sets]
                for _, _, order in sets:
                    for name in order:
                        with open(os.path.join(work, f"{name}.json")) as f:
                            records[name] = json.load(f)

                for fig, _, _ in sets:
                    size = png_size(os.path.join(out, fig))
                    self.assertIsNotNone(size, f"{fig} is not a PNG")
                    self.assertGreater(size[0], 400)
                    self.assertGreater(size[1], 300)

                with open(os.path.join(out, results_file)) as f:
                    table = f.read()
                for fig, heading, order in sets:
                    part = table.split(f"## {heading}\n")[1].split("\n## ")[0]
                    for name in order:
                        rows = [l for l in part.splitlines() if l.startswith(f"| {configs[name][0]} |")]
                        self.assertEqual(len(rows), 1, f"{configs[name][0]} in {heading}")
                        reach = rows[0].split("|")[4].strip()
                        self.assertTrue(reach == "not reached" or float(reach) >= 0, rows[0])
                    # The set's first model is its base: it reaches its own final loss at 1.00.
                    base_row = next(l for l in part.splitlines() if l.startswith(f"| {configs[order[0]][0]} |"))
                    self.assertEqual(base_row.split("|")[5].strip(), "1.00")

                with open(os.path.join(out, curves_file)) as f:
                    rows = list(csv.DictReader(f))
                for _, _, order in sets:
                    for name in order:
                        curve = [(int(r["step"]), float(r["valid_loss"])) for r in rows if r["model"] == name]
                        self.assertEqual(curve[0][0], 0, name)
                        self.assertEqual(curve[-1][0], steps, name)
                        # Every model learns something in the smoke run's few steps.
                        self.assertLess(curve[-1][1], curve[0][1] - 0.2, name)

            # Equal active parameters up to routers and norms, which weigh more at the
            # smoke's d_model 32 than at the full size (checked below).
            base = records["mamba"]["params_active"]
            for name, r in records.items():
                self.assertLess(abs(r["params_active"] - base) / base, 0.1, name)
                print(f"{name}: {r['params_active']} active of {r['params_total']}, "
                      f"{r['seconds_per_step'] * 1000:.0f} ms/step, final valid {r['curve'][-1][1]:.3f}")


class FullSize(unittest.TestCase):
    def test_equal_active_parameters(self):
        from moemamba_kit.model import MoEMamba
        sizes = dict(experiment.FULL)
        counts = {name: MoEMamba(config).param_counts() for name, (_, config) in
                  experiment.model_configs(sizes, 8).items()}
        base = counts["mamba"][1]
        for name, (total, active) in counts.items():
            print(f"full size {name}: {active} active of {total}")
            self.assertLess(abs(active - base) / base, 0.02, name)
        self.assertGreater(counts["moe_mamba_32"][0], 3 * base)  # the experts are there
        self.assertGreater(counts["moe_mamba2_8"][0], 3 * base)
        hybrid = MoEMamba(experiment.model_configs(sizes, 8)["hybrid_moe_mamba2_8"][1]).config["layers"]
        self.assertEqual([l["kind"] for l in hybrid].count("attention"), 1)


if __name__ == "__main__":
    unittest.main()
