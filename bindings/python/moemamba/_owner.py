"""How every object of this package owns its C handle."""
import contextlib

from . import _native
from .errors import closed


class HandleOwner:
    """Owns one C handle: close() destroys it once (calling it again does nothing),
    `with` closes it, and the finalizer closes what a caller forgot. Objects that
    guard their calls with self._lock also hold it while closing, so close waits
    for a call in flight. A runtime or model closed early stays alive inside the
    library for as long as objects made from it need it."""

    # What the handle is ("session"): names its mmb_<kind>_destroy and the error once closed.
    _kind = None

    def close(self):
        lock = getattr(self, "_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            handle, self._handle = self._handle, None
            if handle is not None:
                getattr(_native.lib, f"mmb_{self._kind}_destroy")(handle)

    def _live(self):
        """The handle; MoemambaError once closed."""
        if self._handle is None:
            raise closed(self._kind)
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()
