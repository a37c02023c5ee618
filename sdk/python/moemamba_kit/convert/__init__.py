"""Public checkpoint families -> a directory `mmb pack` reads (docs/converting.md).

convert(INPUT, OUT_DIR) reads a pickled PyTorch checkpoint safely (safe_load.py),
detects its family from config.json and the tensor names, and writes OUT_DIR/
model.safetensors + config.json (+ the tokenizer files found beside the input):
  hf-mamba, hf-mamba2, hf-falcon-mamba, mamba_ssm   same names and config, new container (mamba.py)
  BlackMamba            the native dialect (blackmamba.py)
  llm-random            the native dialect (llm_random.py)
Tensors keep their dtype (bf16 stays bf16); every tensor is accounted for, so a
checkpoint with more or fewer tensors than its family has is an error, not a guess.
"""
import json
import os
import shutil

from . import blackmamba, llm_random, mamba
from .errors import ConvertError
from .safe_load import load_pickle, state_dict_of
from .tensors import strip_wrappers

__all__ = ["convert", "ConvertError"]

_CHECKPOINT_NAMES = ("pytorch_model.bin", "model.pt", "model.pth", "consolidated.pt")
_CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_SHARD_INDEX = "pytorch_model.bin.index.json"  # transformers' sharded pickles
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")

_EXPECTED = ("expected one of: a Hugging Face Mamba config.json (\"model_type\": \"mamba\", \"mamba2\" or "
             "\"falcon_mamba\"), a mamba_ssm "
             "config.json (\"d_model\" and \"n_layer\"), a BlackMamba config.json (\"mamba_moe_layers\"), or an "
             "llm-random checkpoint (tensors \"embedding_layer.layers.0.weight\", "
             "\"encoder.blocks.block_N.block.residual_NAME.layer.*\")")


def find_checkpoint(path):
    """(checkpoint file, directory of config.json) for a file or a directory."""
    if os.path.isfile(path):
        return path, os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(path):
        raise ConvertError(f"{path}: no such file or directory")
    for name in _CHECKPOINT_NAMES + (_SHARD_INDEX,):
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name), path
    found = sorted(n for n in os.listdir(path) if n.endswith(_CHECKPOINT_SUFFIXES) and "-of-" not in n)
    if len(found) == 1:
        return os.path.join(path, found[0]), path
    if len(found) > 1:
        raise ConvertError(f"{path}: several checkpoints ({', '.join(found)}); name the one to convert")
    raise ConvertError(f"{path}: no PyTorch checkpoint (pytorch_model.bin, *.pt, *.pth, *.bin) in the directory")


def _family(config, state):
    if config is not None:
        family = mamba.family_of(config)
        if family:
            return family
        if blackmamba.is_config(config):
            return "blackmamba"
    if llm_random.is_state(state):
        return "llm-random"
    return None


def _load_state(checkpoint):
    """The state dict of one pickle, or of every shard a pytorch_model.bin.index.json names."""
    if not checkpoint.endswith(".index.json"):
        return state_dict_of(load_pickle(checkpoint), checkpoint)
    index = _read_config(checkpoint)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ConvertError(f"{checkpoint}: expected a \"weight_map\" object (tensor name -> shard file)")
    state = {}
    for shard in sorted(set(weight_map.values())):
        path = os.path.join(os.path.dirname(checkpoint), shard)
        part = state_dict_of(load_pickle(path), path)
        twice = sorted(set(part) & set(state))
        if twice:
            raise ConvertError(f"{path}: tensor \"{twice[0]}\" is also in another shard")
        state.update(part)
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise ConvertError(f"{checkpoint}: tensor \"{missing[0]}\" is not in the shard the index names")
    return state


def _read_config(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(f"{path}: {e}") from None


def convert(path, out_dir):
    """Converts the checkpoint at `path`; returns the family's name. Raises ConvertError."""
    from ..export import write_safetensors

    checkpoint, config_dir = find_checkpoint(path)
    state = strip_wrappers(_load_state(checkpoint))
    config_path = os.path.join(config_dir, "config.json")
    config = _read_config(config_path) if os.path.isfile(config_path) else None
    if config is not None and not isinstance(config, dict):
        raise ConvertError(f"{config_path}: expected a JSON object")
    family = _family(config, state)
    if family is None:
        keys = ", ".join(sorted(state)[:5])
        where = f"{config_path} has keys {sorted(config)[:8]}" if config is not None else "no config.json"
        raise ConvertError(f"{checkpoint}: unknown checkpoint family ({where}; tensors {keys}, ...): {_EXPECTED}")
    if family in ("hf-mamba", "hf-mamba2", "hf-falcon-mamba", "mamba_ssm"):
        tensors, out_config = mamba.convert(state, config, family, checkpoint)
    elif family == "blackmamba":
        tensors, out_config = blackmamba.convert(state, config, checkpoint)
    else:
        tensors, out_config = llm_random.convert(state, checkpoint)
    if out_config.get("format") == "moemamba":
        out_config["metadata"] = {"converted_from": family, "source": os.path.basename(checkpoint)}

    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, keep_dtype=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(out_config, f, indent=1)
    for name in _TOKENIZER_FILES:
        src = os.path.join(config_dir, name)
        if os.path.isfile(src) and os.path.abspath(src) != os.path.abspath(os.path.join(out_dir, name)):
            shutil.copyfile(src, os.path.join(out_dir, name))
    return family
