"""What the Python binding adds to a call: Session.step and Session.position against
the same C functions called through bare ctypes on the same session, in the same run.
Each figure is the fastest of many short interleaved blocks, so that time spent
switched out on a busy machine does not count.
Usage: /usr/bin/python3 step_overhead.py BUNDLE   (MOEMAMBA_LIB: path of libmoemamba.so)"""
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bindings", "python"))

import moemamba  # noqa: E402
from moemamba import _native  # noqa: E402

BLOCK, ROUNDS, REPS = 5, 400, 20000


def per_call_ns(f, n):
    start = time.perf_counter_ns()
    f()
    return (time.perf_counter_ns() - start) / n


def main():
    with moemamba.Runtime(n_threads=1) as rt, moemamba.Model.load_file(rt, sys.argv[1]) as model, \
            model.session() as session:
        raw_step = _native.lib.mmb_session_step
        handle = session.handle
        tokens = [i * 31 % 256 for i in range(BLOCK)]

        def binding():
            for t in tokens:
                session.step(t)

        def bare():
            for t in tokens:
                if raw_step(handle, t, None, 0) != 0:
                    raise RuntimeError("mmb_session_step failed")

        safe = raw = float("inf")
        for round_ in range(-20, ROUNDS):  # interleaved; the first rounds warm up
            s, r = per_call_ns(binding, BLOCK), per_call_ns(bare, BLOCK)
            if round_ >= 0:
                safe, raw = min(safe, s), min(raw, r)
        print(f"python step (logits NULL, 1 thread): binding {safe / 1e3:.3f} us/call, "
              f"bare ctypes {raw / 1e3:.3f} us/call, overhead {(safe - raw) / 1e3:+.3f} us/call")

        position = ctypes.c_uint64()
        get_position, ref = _native.lib.mmb_session_get_position, ctypes.byref(position)

        def binding_position():
            for _ in range(REPS):
                session.position

        def bare_position():
            for _ in range(REPS):
                get_position(handle, ref)

        p_safe = min(per_call_ns(binding_position, REPS) for _ in range(5))
        p_raw = min(per_call_ns(bare_position, REPS) for _ in range(5))
        print(f"python position: binding {p_safe:.0f} ns/call, bare ctypes {p_raw:.0f} ns/call")


if __name__ == "__main__":
    main()
