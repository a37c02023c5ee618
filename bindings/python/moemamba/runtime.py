"""The runtime: the host's policy (backend, compute threads)."""
import ctypes

from . import _native
from ._owner import HandleOwner
from .errors import check, closed

BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2


class Runtime(HandleOwner):
    """Configuration, backend and worker threads; usable from any number of threads.
    Models keep what they need of it, so it may be closed before them."""

    _destroy_name = "mmb_runtime_destroy"

    def __init__(self, n_threads=0, backend=BACKEND_AUTO, device_index=0):
        options = _native.mmb_runtime_options()
        check(_native.lib.mmb_runtime_options_init(ctypes.byref(options), ctypes.sizeof(options)))
        options.n_threads = n_threads
        options.backend = backend
        options.device_index = device_index
        handle = _native.runtime_p()
        check(_native.lib.mmb_runtime_create(ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle

    @property
    def handle(self):
        """The raw mmb_runtime pointer; MoemambaError once closed."""
        if self._handle is None:
            raise closed("runtime")
        return self._handle

    def backend(self):
        """(backend, n_threads): BACKEND_CPU or BACKEND_CUDA, and the compute threads."""
        backend, threads = ctypes.c_int32(), ctypes.c_int32()
        check(_native.lib.mmb_runtime_get_backend(self.handle, ctypes.byref(backend), ctypes.byref(threads)))
        return backend.value, threads.value
