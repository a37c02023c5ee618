"""Shared by the tests: the real CLI and a real bundle made with it."""
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_bundle = None
_hybrid_bundle = None


def mmb():
    """The mmb CLI: MOEMAMBA_MMB, else this repository's release build."""
    return os.environ.get("MOEMAMBA_MMB") or os.path.normpath(
        os.path.join(HERE, "..", "..", "..", "build", "release", "sdk", "tools", "mmb"))


def bundle():
    """A tiny bundle (byte vocabulary of 256, every layer kind): MOEMAMBA_TEST_BUNDLE
    (ctest makes it), else written once with `mmb synth --shape tiny --seed 3`."""
    global _bundle
    if _bundle is None:
        _bundle = os.environ.get("MOEMAMBA_TEST_BUNDLE")
        if not _bundle:
            _bundle = os.path.join(tempfile.mkdtemp(prefix="moemamba-py-"), "tiny-seed3.mmb")
            subprocess.run([mmb(), "synth", "--shape", "tiny", "--seed", "3", "-o", _bundle],
                           check=True, capture_output=True)
    return _bundle


def hybrid_bundle():
    """A small hybrid bundle (attention, Mamba-2 and MoE layers; a default context of 2048
    tokens): MOEMAMBA_TEST_HYBRID_BUNDLE (ctest makes it), else written once with
    `mmb synth --shape small-hybrid`."""
    global _hybrid_bundle
    if _hybrid_bundle is None:
        _hybrid_bundle = os.environ.get("MOEMAMBA_TEST_HYBRID_BUNDLE")
        if not _hybrid_bundle:
            _hybrid_bundle = os.path.join(tempfile.mkdtemp(prefix="moemamba-py-"), "small-hybrid.mmb")
            subprocess.run([mmb(), "synth", "--shape", "small-hybrid", "--quiet", "-o", _hybrid_bundle],
                           check=True, capture_output=True)
    return _hybrid_bundle


def argmax(values):
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def assert_close(test, a, b, rel):
    a, b = list(a), list(b)
    test.assertEqual(len(a), len(b))
    scale = max(max(abs(x) for x in a), 1e-30)
    for i, (x, y) in enumerate(zip(a, b)):
        test.assertLessEqual(abs(x - y), rel * scale, f"logit {i}: {x} vs {y}")
