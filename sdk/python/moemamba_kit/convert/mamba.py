"""Hugging Face MambaForCausalLM, Mamba2ForCausalLM and FalconMambaForCausalLM, and
mamba_ssm MambaLMHeadModel (Mamba1 or Mamba2 mixers) checkpoints.

`mmb pack` already reads these layouts from safetensors (docs/packing.md: the names,
"auto" dt_rank, tied or saved heads, padded vocab rows), so a pickled checkpoint only
changes container: the tensors keep their names and dtypes, config.json is copied.
"""
import json

from .errors import ConvertError

HF_EMBEDDING = "backbone.embeddings.weight"
MAMBA_SSM_EMBEDDING = "backbone.embedding.weight"


_HF_FAMILIES = {"mamba": "hf-mamba", "mamba2": "hf-mamba2", "falcon_mamba": "hf-falcon-mamba"}


def family_of(config):
    if config.get("model_type") in _HF_FAMILIES:
        return _HF_FAMILIES[config["model_type"]]
    if "d_model" in config and "n_layer" in config:
        return "mamba_ssm"
    return None


def convert(state, config, family, source):
    expected = MAMBA_SSM_EMBEDDING if family == "mamba_ssm" else HF_EMBEDDING
    if HF_EMBEDDING not in state and MAMBA_SSM_EMBEDDING not in state:
        raise ConvertError(f"{source}: missing tensor \"{expected}\" that a {family} checkpoint needs "
                           f"(the embedding; found {', '.join(sorted(state)[:6])})")
    for name in state:
        if not name.startswith("backbone.") and name != "lm_head.weight":
            raise ConvertError(f"{source}: tensor \"{name}\" is not part of a {family} checkpoint "
                               f"(expected backbone.* and lm_head.weight)")
    return state, json.loads(json.dumps(config))
