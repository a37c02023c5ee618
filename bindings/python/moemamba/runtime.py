"""The runtime: the host's policy (backend, compute threads, who advances jobs, the
session memory budget), the per-frame call and the session memory figures."""
import ctypes
import enum
import threading
from collections import namedtuple

from . import _native
from ._owner import HandleOwner
from .errors import check
from .job import delivering, raise_later



class Backend(enum.IntEnum):
    """The compute backend (MMB_BACKEND_*)."""
    AUTO = _native.MMB_BACKEND_AUTO  # CUDA when a device and the plugin exist, else the CPU
    CPU = _native.MMB_BACKEND_CPU
    CUDA = _native.MMB_BACKEND_CUDA


BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = Backend.AUTO, Backend.CPU, Backend.CUDA
JOBS_WORKER, JOBS_FRAME, JOBS_HOST = _native.MMB_JOBS_WORKER, _native.MMB_JOBS_FRAME, _native.MMB_JOBS_HOST

FrameStats = namedtuple("FrameStats", ["steps", "tokens_generated", "prompt_tokens", "time_us", "jobs_active",
                                       "jobs_finished", "events", "slices"])
FrameStats.__doc__ = "What one Runtime.frame() call did (mmb_frame_stats)."

SessionMemory = namedtuple("SessionMemory", ["sessions", "resident_sessions", "paged_sessions", "resident_bytes",
                                             "paged_bytes", "budget_bytes", "page_outs", "page_ins"])
SessionMemory.__doc__ = "The session memory of a runtime (mmb_session_memory)."

BackendInfo = namedtuple("BackendInfo", ["backend", "n_threads", "device_index", "device_name", "device_memory_total",
                                         "device_memory_used"])
BackendInfo.__doc__ = """What a runtime computes on (mmb_backend_info): `backend` is the Backend chosen
(CPU or CUDA, never AUTO), `device_index` -1 and `device_name` "CPU" on the CPU, device
memory in bytes (0 on the CPU)."""


class Task:
    """One unit of library work handed to run_task: call it once, on any thread.
    Calling it again does nothing."""
    __slots__ = ("_fn", "_data", "_once")

    def __init__(self, fn, data):
        self._fn, self._data, self._once = fn, data, threading.Lock()

    def __call__(self):
        if self._once.acquire(blocking=False):
            with delivering():  # the library may hand out the next task from here
                self._fn(self._data)


def _host_hook(run_task):
    """The C run_task hook over a Python callable that takes a Task. Should the callable
    raise, the task still runs, on a thread of its own, and the submitting call raises."""
    def hook(_user, fn, data):
        task = Task(_native.task_fn(fn), data)
        try:
            run_task(task)
        except BaseException as e:  # must not cross the C frames
            threading.Thread(target=task, daemon=True).start()
            raise_later(e)
    return _native.run_task_fn(hook)


class Runtime(HandleOwner):
    """Configuration, backend and worker threads; usable from any number of threads.
    Models keep what they need of it, so it may be closed before them."""

    _kind = "runtime"

    def __init__(self, n_threads=0, backend=BACKEND_AUTO, device_index=0, job_mode=None,
                 session_memory_budget=0, run_task=None):
        """backend: Backend.AUTO (the default) falls back to the CPU; Backend.CUDA raises
        MoemambaError (Status.BACKEND) when CUDA is not available. device_index: the GPU of
        the CUDA backend (negative: Status.INVALID_ARGUMENT).
        job_mode: JOBS_WORKER (a thread of the runtime advances jobs; the default),
        JOBS_FRAME (only frame() and Job.wait() do), or JOBS_HOST (the default when
        run_task is given): run_task(task) is called with a Task to run once on the
        host's own threads, e.g. `run_task=executor.submit`.
        session_memory_budget: most bytes of resident session memory; 0 = no limit."""
        options = _native.mmb_runtime_options()
        check(_native.lib.mmb_runtime_options_init(ctypes.byref(options), ctypes.sizeof(options)))
        options.n_threads = n_threads
        options.backend = backend
        options.device_index = device_index
        options.job_mode = (JOBS_HOST if run_task is not None else JOBS_WORKER) if job_mode is None else job_mode
        options.session_memory_budget = session_memory_budget
        # The hook lives as long as this object, and every Model keeps this object.
        self._run_task = _host_hook(run_task) if run_task is not None else None
        if self._run_task is not None:
            options.run_task = self._run_task
        handle = _native.runtime_p()
        check(_native.lib.mmb_runtime_create(ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle

    @property
    def handle(self):
        """The raw mmb_runtime pointer; MoemambaError once closed."""
        return self._live()

    def backend(self):
        """(backend, n_threads): BACKEND_CPU or BACKEND_CUDA, and the compute threads."""
        backend, threads = ctypes.c_int32(), ctypes.c_int32()
        check(_native.lib.mmb_runtime_get_backend(self.handle, ctypes.byref(backend), ctypes.byref(threads)))
        return backend.value, threads.value

    def backend_info(self):
        """What the runtime computes on, as a BackendInfo: the backend chosen, its
        threads, the device and its memory use (a snapshot)."""
        info = _native.mmb_backend_info()
        info.struct_size = ctypes.sizeof(info)
        check(_native.lib.mmb_runtime_get_backend_info(self.handle, ctypes.byref(info)))
        try:
            backend = Backend(info.backend)
        except ValueError:  # one this package does not know
            backend = info.backend
        return BackendInfo(backend, info.n_threads, info.device_index, info.device_name.decode("utf-8", "replace"),
                           info.device_memory_total, info.device_memory_used)

    def frame(self, budget_us):
        """The once-per-frame call: advances every job of the runtime for about
        `budget_us` microseconds (a slice of a step or prompt chunk at a time: a layer, the
        embedding or the head; a unit left half done goes on at the next call),
        then delivers all pending events on this thread. Returns a FrameStats. An
        exception raised by an event handler is raised here once the frame is done."""
        stats = _native.mmb_frame_stats()
        stats.struct_size = ctypes.sizeof(stats)
        with delivering():
            check(_native.lib.mmb_runtime_frame(self.handle, budget_us, ctypes.byref(stats)))
        return FrameStats(*(getattr(stats, name) for name in FrameStats._fields))

    def session_memory(self):
        """The sessions of this runtime and the memory they hold, resident and paged
        out, as a SessionMemory."""
        memory = _native.mmb_session_memory()
        memory.struct_size = ctypes.sizeof(memory)
        check(_native.lib.mmb_runtime_get_session_memory(self.handle, ctypes.byref(memory)))
        return SessionMemory(*(getattr(memory, name) for name in SessionMemory._fields))
