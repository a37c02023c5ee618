"""The sampler: chooses the next token from logits; holds its RNG and penalty window."""
import ctypes
import threading

from . import _buffers, _native
from ._owner import HandleOwner
from .errors import check

_PARAMS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "presence_penalty",
           "frequency_penalty", "penalty_window", "seed")


def default_params():
    """The library's default sampling parameters as a dict."""
    raw = _native.mmb_sampler_params()
    check(_native.lib.mmb_sampler_params_init(ctypes.byref(raw), ctypes.sizeof(raw)))
    return {name: getattr(raw, name) for name in _PARAMS}


class Sampler(HandleOwner):
    """Sampler(temperature=0) is greedy; other keywords as mmb_sampler_params
    (top_k, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty,
    penalty_window, seed). One thread at a time (a lock makes sure)."""

    _kind = "sampler"

    def __init__(self, **params):
        raw = _native.mmb_sampler_params()
        check(_native.lib.mmb_sampler_params_init(ctypes.byref(raw), ctypes.sizeof(raw)))
        for name, value in params.items():
            if name not in _PARAMS:
                raise TypeError(f"unknown sampler parameter {name!r}")
            setattr(raw, name, value)
        handle = _native.sampler_p()
        check(_native.lib.mmb_sampler_create(ctypes.byref(raw), ctypes.byref(handle)))
        self._handle = handle
        self._lock = threading.Lock()

    def sample(self, logits):
        """Chooses a token from logits (a float32 buffer, or any sequence of numbers) and
        records it."""
        try:
            address, n = _buffers.float_pointer(logits)
        except TypeError:  # a list, a float64 array, a read-only buffer: copy to float32
            logits = (ctypes.c_float * len(logits))(*logits)
            address, n = _buffers.float_pointer(logits)
        token = ctypes.c_int32()
        with self._lock:
            check(_native.lib.mmb_sampler_sample(self._live(), address, n, ctypes.byref(token)))
        return token.value

    def sample_grammar(self, state, logits):
        """Chooses a token as sample() does, among the tokens the GrammarState `state`
        allows, and advances the state past it (a stop token leaves it unchanged). Raises
        GrammarError when no token can continue the grammar."""
        try:
            address, n = _buffers.float_pointer(logits)
        except TypeError:
            logits = (ctypes.c_float * len(logits))(*logits)
            address, n = _buffers.float_pointer(logits)
        token = ctypes.c_int32()
        with self._lock, state._lock:
            check(_native.lib.mmb_sampler_sample_grammar(self._live(), state._live(), address, n,
                                                         ctypes.byref(token)))
        return token.value

    def accept(self, token):
        """Records a token in the penalty window without sampling."""
        with self._lock:
            check(_native.lib.mmb_sampler_accept(self._live(), token))

    def reset(self):
        """Clears the window and reseeds with the original seed."""
        with self._lock:
            check(_native.lib.mmb_sampler_reset(self._live()))
