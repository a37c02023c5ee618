"""Jobs: generation that runs without blocking the caller (moemamba.h section 7).
Session.submit() makes a Job; Runtime.frame() and Job.poll() deliver its events."""
import ctypes
import enum
import itertools
import threading
import weakref
from collections import namedtuple

from . import _native
from .errors import MoemambaError, Status, check, closed, error


class JobState(enum.IntEnum):
    """The header's MMB_JOB_* values; a job only ever moves forward through them."""
    QUEUED = 0
    PREFILL = 1
    GENERATING = 2
    FINISHED = 3


class EventKind(enum.IntEnum):
    """The header's MMB_JOB_EVENT_* values."""
    TOKEN = 0
    FINISHED = 1
    ERROR = 2


JobEvent = namedtuple("JobEvent", ["kind", "token", "text", "status"])
JobEvent.__doc__ = ("One event of a job: kind (EventKind), token (None for a flush or the end), text "
                    "(whole UTF-8 characters; the message for ERROR) and status (Status.OK, CANCELLED or "
                    "the error).")


def _status(raw):
    try:
        return Status(raw)
    except ValueError:
        return raw


class EventSink:
    """A job's event handler and the message of its ERROR event. The job holds it; the
    registry below holds it weakly, so a handler that refers to its own job does not
    keep the job alive."""
    __slots__ = ("handler", "message", "__weakref__")

    def __init__(self, handler):
        self.handler = handler
        self.message = None

    def __call__(self, event):
        if event.kind == EventKind.ERROR:
            self.message = event.text
        self.handler(event)


# Sinks by id. C holds only the id, so a job closed on one thread while another
# thread's frame() is delivering its events finds no handler instead of a freed
# callback.
_sinks = {}
_sinks_lock = threading.Lock()
_ids = itertools.count(1)
# Exceptions raised by handlers during the delivering call on this thread.
_raised = threading.local()


def _on_event(user, _job, kind, token, text, length, status):
    with _sinks_lock:
        ref = _sinks.get(user or 0)
    sink = ref() if ref is not None else None
    if sink is None:
        return
    try:
        piece = ctypes.string_at(text, length).decode("utf-8", "replace") if length else ""
        sink(JobEvent(EventKind(kind), None if token < 0 else token, piece, _status(status)))
    except BaseException as e:  # must not cross the C frames
        raise_later(e)


def raise_later(e):
    """Keeps an exception raised inside a C callback for the delivering call to raise."""
    errors = getattr(_raised, "errors", None)
    if errors is not None:
        errors.append(e)


_event_trampoline = _native.job_event_fn(_on_event)


class delivering:
    """Wraps a call that may deliver events (poll, frame, and submit, which may call
    run_task): an exception raised by a handler during it is raised when it returns."""

    def __enter__(self):
        self._outer = getattr(_raised, "errors", None)
        _raised.errors = []
        return self

    def __exit__(self, exc_type, *_):
        errors, _raised.errors = _raised.errors, self._outer
        if errors and exc_type is None:
            raise errors[0]


def register(sink):
    """The id under which `sink` receives events (0 for None)."""
    if sink is None:
        return 0
    sink_id = next(_ids)
    with _sinks_lock:
        _sinks[sink_id] = weakref.ref(sink)
    return sink_id


def unregister(sink_id):
    with _sinks_lock:
        _sinks.pop(sink_id, None)


def job_options(max_tokens, stop_at_eos, add_bos, stop_text, sink_id):
    """An mmb_job_options with every field set (and the stop text it points to)."""
    options = _native.mmb_job_options()
    options.struct_size = ctypes.sizeof(options)
    options.max_tokens = max_tokens
    options.stop_at_eos = 1 if stop_at_eos else 0
    options.tokenize_flags = _native.MMB_TOKENIZE_ADD_BOS if add_bos else 0
    stop = b""
    if stop_text:
        stop = stop_text.encode() if isinstance(stop_text, str) else bytes(stop_text)
        options.stop_text = stop
        options.stop_text_len = len(stop)
    if sink_id:
        options.on_event = _event_trampoline
        options.event_user_data = sink_id
    return options, stop


class Job:
    """A prompt, and generation after it, running on a session without blocking.

    poll() delivers pending events to on_event and returns the text generated since the
    last poll(); `state`, `finished`, `status` and `error` are as that poll() saw them
    (the poll() that first sees the job finished returns its last text). wait() blocks
    with a timeout, cancel() stops the job at the next token or prompt chunk, close()
    (or a with-block, or the collector) frees it. Any thread may call cancel() and wait();
    close() during a call on another thread cancels the job and frees it when that call
    returns. The job keeps its session object alive; the session answers
    MoemambaError(Status.BUSY) until the job finishes."""

    def __init__(self, session, handle, sink, sink_id):
        self._handle = handle
        self._lock = threading.Lock()  # guards the fields below, never held over a C call
        self._calls = 0
        self._closed = False
        self._sink = sink
        self._sink_id = sink_id
        self._read_lock = threading.Lock()  # one reader at a time per job
        self._buf = ctypes.create_string_buffer(256)
        self._state = JobState.QUEUED
        self._status = Status.OK
        self.session = session

    def _enter(self):
        with self._lock:
            if self._closed:
                raise closed("job")
            self._calls += 1
            return self._handle

    def _exit(self):
        with self._lock:
            self._calls -= 1
            handle = self._release_if_idle()
        if handle is not None:
            _native.lib.mmb_job_destroy(handle)

    def _release_if_idle(self):
        if self._closed and self._calls == 0 and self._handle is not None:
            handle, self._handle = self._handle, None
            return handle
        return None

    def close(self):
        """Cancels the job if it runs and frees it (at once, or when a call in progress
        on another thread, or the poll() whose handler called close(), returns).
        Calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            unregister(self._sink_id)
            if self._calls:
                _native.lib.mmb_job_cancel(self._handle)
            handle = self._release_if_idle()
        if handle is not None:
            _native.lib.mmb_job_destroy(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_closed", True) is False:
            self.close()

    def _take(self, handle, call, grow):
        # Size-then-copy: a too-small buffer takes nothing, so grow and call again.
        n = ctypes.c_size_t()
        with self._read_lock:
            buf = grow(None)
            status = call(handle, buf, len(buf), ctypes.byref(n))
            if status == _native.MMB_ERR_BUFFER_TOO_SMALL:
                buf = grow(n.value)
                status = call(handle, buf, len(buf), ctypes.byref(n))
            check(status)
            return buf, n.value

    def _read_text(self, handle):
        def grow(need):
            if need is not None:
                self._buf = ctypes.create_string_buffer(need)
            return self._buf
        buf, n = self._take(handle, _native.lib.mmb_job_read_text, grow)
        return buf.raw[:n].decode("utf-8", "replace")

    def poll(self):
        """Delivers pending events to on_event (on this thread), notes the job's state,
        then returns the text generated since the last poll() ("" when none)."""
        handle = self._enter()
        try:
            state, result = ctypes.c_int32(), _native.status_t()
            with delivering():
                check(_native.lib.mmb_job_poll(handle, ctypes.byref(state), ctypes.byref(result)))
            # The state is read before the text: once it says finished, this text is the last.
            text = self._read_text(handle)
            with self._lock:
                self._state = max(self._state, JobState(state.value))
                if self._state == JobState.FINISHED:
                    self._status = _status(result.value)
            return text
        finally:
            self._exit()

    def read_tokens(self):
        """The token ids generated since the last read_tokens(), as a list."""
        handle = self._enter()
        try:
            holder = [(ctypes.c_int32 * 64)()]

            def grow(need):
                if need is not None:
                    holder[0] = (ctypes.c_int32 * need)()
                return holder[0]
            buf, n = self._take(handle, _native.lib.mmb_job_read_tokens, grow)
            return list(buf[:n])
        finally:
            self._exit()

    def wait(self, timeout=None):
        """Blocks until the job finishes or `timeout` seconds pass (None: no limit);
        returns whether it finished. With job_mode=JOBS_FRAME the wait does the work
        itself. Delivers no events and leaves `state` to the next poll()."""
        handle = self._enter()
        try:
            state = ctypes.c_int32()
            while True:
                ms = 0xFFFFFFFF if timeout is None else max(0, min(int(timeout * 1000), 0xFFFFFFFF))
                check(_native.lib.mmb_job_wait(handle, ms, ctypes.byref(state)))
                if state.value == JobState.FINISHED or timeout is not None:
                    return state.value == JobState.FINISHED
        finally:
            self._exit()

    def cancel(self):
        """Asks the job to stop; returns at once. Cancelling twice, or a finished job,
        does nothing; a closed job raises MoemambaError."""
        handle = self._enter()
        try:
            check(_native.lib.mmb_job_cancel(handle))
        finally:
            self._exit()

    @property
    def state(self):
        """JobState as of the last poll()."""
        return self._state

    @property
    def finished(self):
        """True once a poll() has seen the job finished."""
        return self._state == JobState.FINISHED

    @property
    def status(self):
        """How the job ended, as of the last poll(): Status.OK (also while it runs),
        Status.CANCELLED, or the error's status."""
        return self._status

    @property
    def cancelled(self):
        return self._status == Status.CANCELLED

    @property
    def error(self):
        """None unless the job ended with a status other than OK: then a MoemambaError
        (Status.CANCELLED when cancelled; for a failure, the library's message when the
        job had an on_event handler, which is the only way the library gives it)."""
        if self._status == Status.OK:
            return None
        if self._status == Status.CANCELLED:
            return MoemambaError(self._status, "the job was cancelled")
        message = (self._sink.message if self._sink is not None else None) or \
            "the job failed (pass on_event to receive the library's message)"
        return error(self._status, message)
