"""Reads pickled PyTorch checkpoints without running code from them.

torch.load(..., weights_only=True) rebuilds only tensors and plain containers (dict,
OrderedDict, list, tuple, str, numbers); any other object in the pickle (a class
instance, a function, an argparse.Namespace) is refused before it is created.

torch 1.13's weights-only unpickler (a Python loop over opcodes) also lacks some
harmless opcodes: BINFLOAT, which every float in a pickle uses (the learning rates and
betas of a saved optimizer), among them. When it stops on such an opcode, and only then,
the file is read again by torch's readers over the standard unpickler restricted to the
same allow-list of globals: code in a pickle runs only through globals, so the
guarantee is the same.
"""
import pickle

from .errors import ConvertError

_REFUSED = ("refused: the pickle holds something other than tensors and plain containers ({detail}); "
            "re-save the checkpoint as a state dict or as safetensors")


def _allowed_globals():
    import torch

    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = dict(_get_allowed_globals())
    except ImportError:  # newer torch reads these files itself; keep the essentials
        allowed = {"collections.OrderedDict": __import__("collections").OrderedDict,
                   "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
                   "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter}
    for dtype in (torch.bfloat16, torch.bool, torch.uint8):
        allowed[str(dtype)] = dtype
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    allowed = None

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full not in self.allowed:
            raise pickle.UnpicklingError(f"Unsupported class {full}")
        return self.allowed[full]


class _RestrictedPickle:
    """What torch.load(pickle_module=...) needs: Unpickler and load."""
    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(f, **kwargs):
        return _RestrictedUnpickler(f, **kwargs).load()


def _first_line(e):
    text = str(e)
    return (text.rsplit("WeightsUnpickler error: ", 1)[-1] or text).splitlines()[0]


def load_pickle(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported operand" not in str(e):
            raise ConvertError(f"{path}: " + _REFUSED.format(detail=f"torch.load weights_only=True: {_first_line(e)}")) from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint: {_first_line(e)}") from None
    _RestrictedUnpickler.allowed = _allowed_globals()
    try:
        return _load_restricted(path)
    except pickle.UnpicklingError as e:
        raise ConvertError(f"{path}: " + _REFUSED.format(detail=_first_line(e))) from None
    except (OSError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as e:
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint: {_first_line(e)}") from None


def _load_restricted(path):
    """torch.load's own readers with _RestrictedPickle. Not torch.load(pickle_module=...):
    torch 1.13 replaces that argument by the unrestricted pickle module when
    weights_only is False."""
    import torch.serialization as ts

    for name in ("_open_file_like", "_is_zipfile", "_open_zipfile_reader", "_load", "_legacy_load"):
        if not hasattr(ts, name):
            raise pickle.UnpicklingError(f"this torch ({ts.torch.__version__}) lacks {name}: cannot read the file safely")
    with ts._open_file_like(path, "rb") as f:
        if ts._is_zipfile(f):
            with ts._open_zipfile_reader(f) as z:
                return ts._load(z, "cpu", _RestrictedPickle)
        return ts._legacy_load(f, "cpu", _RestrictedPickle)


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
