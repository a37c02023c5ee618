"""Buffers the library fills: float buffers for logits (numpy arrays when numpy is
installed, else array('f')) and saved states."""
import array
import ctypes

from . import _native
from .errors import check

try:
    import numpy
except ImportError:  # numpy is optional
    numpy = None


def new_floats(n):
    """A zeroed float32 buffer of n entries."""
    if numpy is not None:
        return numpy.zeros(n, dtype=numpy.float32)
    return array.array("f", bytes(4 * n))


def float_pointer(buf, what="logits"):
    """(address, length in floats) of a writable, contiguous float32 buffer: a numpy
    array, an array('f'), a ctypes float array or anything with the buffer protocol."""
    view = memoryview(buf)
    if view.format not in ("f", "<f") or view.itemsize != 4 or not view.c_contiguous or view.readonly:
        raise TypeError(f"{what} must be a writable, contiguous float32 buffer")
    n = view.nbytes // 4
    if n == 0:
        return None, 0
    return ctypes.addressof((ctypes.c_char * view.nbytes).from_buffer(view)), n


def saved_bytes(handle, state_size, state_save):
    """The bytes state_save(handle, buf, cap, written) writes into a buffer of the size
    state_size(handle, size) reports, asking again with a buffer of the size it says
    when it reports MMB_ERR_BUFFER_TOO_SMALL."""
    size, written = ctypes.c_size_t(), ctypes.c_size_t()
    check(state_size(handle, ctypes.byref(size)))
    buf = ctypes.create_string_buffer(max(size.value, 1))
    status = state_save(handle, buf, size.value, ctypes.byref(written))
    if status == _native.MMB_ERR_BUFFER_TOO_SMALL:
        buf = ctypes.create_string_buffer(written.value)
        status = state_save(handle, buf, written.value, ctypes.byref(written))
    check(status)
    return buf.raw[:written.value]
