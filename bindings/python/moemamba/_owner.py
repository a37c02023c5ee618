"""How every object of this package owns its C handle."""
import contextlib

from . import _native


class HandleOwner:
    """Owns one C handle: close() destroys it once (calling it again does nothing),
    `with` closes it, and the finalizer closes what a caller forgot. Objects that
    guard their calls with self._lock also hold it while closing, so close waits
    for a call in flight. A runtime or model closed early stays alive inside the
    library for as long as objects made from it need it."""

    _destroy_name = None  # the mmb_*_destroy function of the handle

    def close(self):
        lock = getattr(self, "_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            handle, self._handle = self._handle, None
            if handle is not None:
                getattr(_native.lib, self._destroy_name)(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()
