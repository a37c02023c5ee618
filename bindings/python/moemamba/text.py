"""The streaming detokenizer: token ids in, whole UTF-8 characters out."""
import ctypes
import threading

from . import _native
from ._owner import HandleOwner
from .errors import check


class Detokenizer(HandleOwner):
    """Holds back the bytes of an unfinished character until a later token completes
    it. One thread at a time (a lock makes sure)."""

    _kind = "detokenizer"

    def __init__(self, model):
        handle = _native.detok_p()
        check(_native.lib.mmb_detokenizer_create(model.handle, ctypes.byref(handle)))
        self._handle = handle
        self._lock = threading.Lock()
        self._buf = ctypes.create_string_buffer(64)

    def _fill(self, call):
        # Size-then-copy: a too-small buffer consumes nothing, so grow and call again.
        length = ctypes.c_size_t()
        with self._lock:
            status = call(self._live(), self._buf, len(self._buf), ctypes.byref(length))
            if status == _native.MMB_ERR_BUFFER_TOO_SMALL:
                self._buf = ctypes.create_string_buffer(length.value)
                status = call(self._live(), self._buf, len(self._buf), ctypes.byref(length))
            check(status)
            return self._buf.raw[:length.value].decode("utf-8")

    def push(self, token):
        """Adds a token; returns the text now complete (often "")."""
        return self._fill(lambda h, buf, cap, length: _native.lib.mmb_detokenizer_push(h, token, buf, cap, length))

    def flush(self):
        """Ends the stream: any waiting bytes (an unfinished character becomes U+FFFD)."""
        return self._fill(_native.lib.mmb_detokenizer_flush)
