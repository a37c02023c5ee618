"""Float buffers for logits: numpy arrays when numpy is installed, else array('f')."""
import array
import ctypes

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
