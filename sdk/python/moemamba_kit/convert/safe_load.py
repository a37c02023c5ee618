"""Reads pickled PyTorch checkpoints without running code from them.

torch.load(..., weights_only=True) rebuilds only tensors and plain containers (dict,
OrderedDict, list, tuple, str, numbers); any other object in the pickle (a class
instance, a function, an argparse.Namespace) is refused before it is created.
"""
import pickle

from .errors import ConvertError


def load_pickle(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ConvertError(
            f"{path}: refused: the pickle holds something other than tensors and plain containers "
            f"(torch.load weights_only=True: {str(e).splitlines()[0]}); re-save the checkpoint as a "
            f"state dict or as safetensors") from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint: {str(e).splitlines()[0]}") from None


def state_dict_of(obj, path):
    """The tensor dict inside a loaded checkpoint: the object itself, or its "model" /
    "state_dict" entry (BlackMamba, llm-random and most trainers nest it so)."""
    import torch

    for key in (None, "model", "state_dict", "module"):
        candidate = obj if key is None else (obj.get(key) if isinstance(obj, dict) else None)
        if isinstance(candidate, dict) and candidate and all(isinstance(v, torch.Tensor) for v in candidate.values()):
            return dict(candidate)
    keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
    raise ConvertError(f"{path}: expected a state dict (name -> tensor), or a dict holding one under "
                       f"\"model\" or \"state_dict\"; found {keys}")
