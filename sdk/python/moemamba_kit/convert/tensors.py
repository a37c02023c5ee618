"""Taking a checkpoint's tensors by name, so that a missing one is named in the error
and none is silently left behind."""
from .errors import ConvertError

# Wrapper modules that add a path component to every key (DataParallel/DDP, FSDP,
# activation checkpointing, torch.compile).
_WRAPPER_PARTS = {"_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod"}


def strip_wrappers(state):
    out = {}
    for name, t in state.items():
        parts = [p for p in name.split(".") if p not in _WRAPPER_PARTS]
        if parts and parts[0] == "module":
            parts = parts[1:]
        if "_flat_param" in parts[-1:]:
            raise ConvertError(f"{name}: a flattened FSDP parameter; save the checkpoint with a full state dict "
                               f"(FullStateDictConfig) so every tensor keeps its own name")
        out[".".join(parts)] = t
    return out


class Tensors:
    """The checkpoint's tensors; take() removes one, leftovers() lists what nobody took."""

    def __init__(self, state, family, source):
        self.state = dict(state)
        self.family = family
        self.source = source

    def has(self, name):
        return name in self.state

    def take(self, name, shape=None):
        if name not in self.state:
            near = sorted(k for k in self.state if k.rsplit(".", 1)[0] == name.rsplit(".", 1)[0])[:6]
            raise ConvertError(f"{self.source}: missing tensor \"{name}\" that a {self.family} checkpoint needs"
                               + (f" (found beside it: {', '.join(near)})" if near else ""))
        t = self.state.pop(name)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise ConvertError(f"{self.source}: tensor \"{name}\" has shape {list(t.shape)}, expected {list(shape)}")
        return t

    def take_optional(self, name, shape=None):
        return self.take(name, shape) if name in self.state else None

    def check_all_taken(self):
        if self.state:
            names = sorted(self.state)
            raise ConvertError(f"{self.source}: {len(names)} tensor(s) a {self.family} checkpoint does not have: "
                               + ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""))
