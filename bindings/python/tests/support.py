"""Shared by the tests: the real CLI and a real bundle made with it."""
import atexit
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_bundle = None
_hybrid_bundle = None
_chat_bundles = {}

# ChatML, as Qwen-style instruct models write it.
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# A second, named template of the ChatML bundle ("plain").
PLAIN = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
         "{% if add_generation_prompt %}assistant:{% endif %}")
# A template that refuses every conversation.
REFUSING = "{{ raise_exception('roles must alternate') }}"


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


def demo_bundle():
    """The demo model: MOEMAMBA_DEMO_BUNDLE, else this repository's models/demo-moe-mamba.mmb."""
    return os.environ.get("MOEMAMBA_DEMO_BUNDLE") or os.path.normpath(
        os.path.join(HERE, "..", "..", "..", "models", "demo-moe-mamba.mmb"))


def pack_with_template(name, template, named=()):
    """The demo bundle packed again with `template` as its chat template and the `named`
    (name, template) ones beside it, once per run:
    `mmb pack DEMO -o NAME.mmb --chat-template NAME.jinja [--chat-template OTHER=FILE]...`."""
    if name not in _chat_bundles:
        folder = tempfile.mkdtemp(prefix="moemamba-py-chat-")
        atexit.register(shutil.rmtree, folder, True)
        jinja = os.path.join(folder, name + ".jinja")
        bundle_path = os.path.join(folder, name + ".mmb")
        with open(jinja, "w", encoding="utf-8") as f:
            f.write(template)
        command = [mmb(), "pack", demo_bundle(), "-o", bundle_path, "--chat-template", jinja, "--quiet"]
        for other, text in named:
            path = os.path.join(folder, other + ".jinja")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            command += ["--chat-template", f"{other}={path}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("mmb pack --chat-template failed: " + done.stderr)
        _chat_bundles[name] = bundle_path
    return _chat_bundles[name]


def chat_bundle():
    """The demo bundle with the ChatML template, and "plain"."""
    return pack_with_template("chatml", CHATML, [("plain", PLAIN)])


def refusing_bundle():
    """The demo bundle with a template that always refuses."""
    return pack_with_template("refusing", REFUSING)


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
