"""Per-call overhead of the Python binding: times Session.step (no logits) against the
raw ctypes call mmb_session_step on the same session, in the same run, and
Session.position against the bare mmb_session_get_position.
Usage: /usr/bin/python3 tests/step_overhead.py BUNDLE [CALLS]"""
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import moemamba  # noqa: E402
from moemamba import _native  # noqa: E402


def main():
    bundle = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    # One compute thread keeps the step's own cost small and steady.
    with moemamba.Runtime(n_threads=1) as rt, moemamba.Model.load_file(rt, bundle) as model, \
            model.session() as session:
        tokens = [i * 31 % 256 for i in range(calls)]
        for t in tokens[:200]:
            session.step(t)
        raw_step = _native.lib.mmb_session_step
        handle = session.handle
        safe = raw = 0.0
        # Alternate short blocks so drift in the machine's load hits both.
        for start in range(0, calls, 100):
            block = tokens[start:start + 100]
            t0 = time.perf_counter()
            for t in block:
                session.step(t)
            t1 = time.perf_counter()
            for t in block:
                if raw_step(handle, t, None, 0) != 0:
                    raise RuntimeError("mmb_session_step failed")
            t2 = time.perf_counter()
            safe += t1 - t0
            raw += t2 - t1
        print(f"python step (logits NULL), {calls} calls each: safe {safe * 1e6 / calls:.3f} us/call, "
              f"raw ctypes {raw * 1e6 / calls:.3f} us/call, overhead {(safe - raw) * 1e6 / calls:+.3f} us/call")

        reps = 200000
        t0 = time.perf_counter()
        for _ in range(reps):
            session.position
        t1 = time.perf_counter()
        position = ctypes.c_uint64()
        get_position = _native.lib.mmb_session_get_position
        ref = ctypes.byref(position)
        for _ in range(reps):
            get_position(handle, ref)
        t2 = time.perf_counter()
        print(f"python position, {reps} calls each: safe {(t1 - t0) * 1e9 / reps:.0f} ns/call, "
              f"raw ctypes {(t2 - t1) * 1e9 / reps:.0f} ns/call")


if __name__ == "__main__":
    main()
