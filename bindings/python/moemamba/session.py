"""A session: one stream of recurrent state over a model; stepping, prefill, batches,
state save/load/fork and generation."""
import ctypes
import enum
import threading
from collections import namedtuple
from contextlib import ExitStack, contextmanager

from . import _buffers, _native
from ._owner import HandleOwner
from .errors import MoemambaError, Status, check
from .job import EventSink, Job, delivering, job_options, register, unregister


class KvType(enum.IntEnum):
    """Element type of a session's KV cache (MMB_KV_*): how the attention layers store
    each key and value."""
    F16 = _native.MMB_KV_F16  # half precision, 2 bytes per value (the default)
    F32 = _native.MMB_KV_F32  # single precision, 4 bytes per value


Piece = namedtuple("Piece", ["token", "text"])
Piece.__doc__ = "One step of a stream: the token chosen (None for the final flush) and the text it completed."


def session_options(max_context, kv_type):
    """mmb_session_options: the library's defaults, then max_context and kv_type."""
    options = _native.mmb_session_options()
    check(_native.lib.mmb_session_options_init(ctypes.byref(options), ctypes.sizeof(options)))
    options.max_context = max_context
    options.kv_type = KvType(kv_type)
    return options


def generate_options(max_tokens, stop_at_eos):
    """mmb_generate_options: the library's defaults, then max_tokens and stop_at_eos."""
    options = _native.mmb_generate_options()
    check(_native.lib.mmb_generate_options_init(ctypes.byref(options), ctypes.sizeof(options)))
    options.max_tokens = max_tokens
    options.stop_at_eos = 1 if stop_at_eos else 0
    return options


@contextmanager
def call_locks(owner, sampler, grammar, options):
    """Holds the locks of owner, sampler and grammar (each of the last two unless None)
    for one call, with options.grammar set to the grammar state's handle."""
    with ExitStack() as stack:
        stack.enter_context(owner._lock)
        if sampler is not None:
            stack.enter_context(sampler._lock)
        if grammar is not None:
            stack.enter_context(grammar._lock)
            options.grammar = grammar._live()
        yield


class TokenCallback:
    """callback(token, text) as an mmb_token_callback (c_function; a NULL one for callback
    None): token None for the final flush, a False return stops. An exception in it must
    not cross the C frames: it stops the generation, and check() raises it afterwards."""

    def __init__(self, callback):
        self._raised = []

        def on_token(_user, token, text, length):
            try:
                piece = ctypes.string_at(text, length).decode("utf-8", "replace") if length else ""
                return 0 if callback(None if token < 0 else token, piece) is False else 1
            except BaseException as e:
                self._raised.append(e)
                return 0

        self.c_function = _native.token_callback(on_token) if callback is not None else _native.token_callback()

    def check(self, status):
        """Raises the callback's exception, if any, else as errors.check(status)."""
        if self._raised:
            raise self._raised[0]
        check(status)


class Session(HandleOwner):
    """One stream of state. A lock serializes calls on one session (the library allows
    one at a time); different sessions run in parallel on different threads, since
    ctypes releases the GIL during each call."""

    _kind = "session"

    def __init__(self, model, handle=None, *, max_context=0, kv_type=KvType.F16, owner=None):
        if handle is None:
            options = session_options(max_context, kv_type)
            handle = _native.session_p()
            check(_native.lib.mmb_session_create(model.handle, ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        self._lock = threading.Lock()
        self.model = model
        # A chat's session (Chat.session) belongs to the chat, which this keeps alive.
        self._owner = owner

    def close(self):
        """Destroys the session; calling it again does nothing. A chat's session is
        destroyed with its chat: close() only ends this handle to it."""
        if self._owner is None:
            super().close()
            return
        with self._lock:
            self._handle = None

    @property
    def handle(self):
        """The raw mmb_session pointer; MoemambaError once closed."""
        return self._live()

    def step(self, token):
        """Feeds one token without computing logits."""
        with self._lock:
            check(_native.lib.mmb_session_step(self._live(), token, None, 0))

    def step_logits(self, token, out=None):
        """Feeds one token; returns the next-token logits (written into `out` when given:
        any writable float32 buffer; else a new numpy array, or array('f') without numpy)."""
        if out is None:
            out = _buffers.new_floats(self.model.vocab_size)
        address, n = _buffers.float_pointer(out)
        with self._lock:
            check(_native.lib.mmb_session_step(self._live(), token, address, n))
        return out

    def prefill(self, tokens, logits=False, out=None):
        """Feeds many tokens at once (the same state as stepping each). With logits=True
        (or `out`), returns the logits after the last token."""
        ids = (ctypes.c_int32 * len(tokens))(*tokens)
        address, n = None, 0
        if logits or out is not None:
            if out is None:
                out = _buffers.new_floats(self.model.vocab_size)
            address, n = _buffers.float_pointer(out)
        with self._lock:
            check(_native.lib.mmb_session_prefill(self._live(), ids, len(tokens), address, n))
        return out if address is not None else None

    def reset(self):
        with self._lock:
            check(_native.lib.mmb_session_reset(self._live()))

    @property
    def position(self):
        """Tokens consumed so far."""
        value = ctypes.c_uint64()
        with self._lock:
            check(_native.lib.mmb_session_get_position(self._live(), ctypes.byref(value)))
        return value.value

    def save_state(self):
        """The state as bytes: a versioned, checksummed blob bound to the model."""
        size, written = ctypes.c_size_t(), ctypes.c_size_t()
        with self._lock:
            check(_native.lib.mmb_session_state_size(self._live(), ctypes.byref(size)))
            buf = ctypes.create_string_buffer(size.value)
            check(_native.lib.mmb_session_state_save(self._live(), buf, size.value, ctypes.byref(written)))
        return buf.raw[:written.value]

    def load_state(self, blob):
        """Replaces the state with a saved one; on error the session is unchanged."""
        blob = bytes(blob)
        with self._lock:
            check(_native.lib.mmb_session_state_load(self._live(), blob, len(blob)))

    def fork(self):
        """An independent copy at the same state and position."""
        handle = _native.session_p()
        with self._lock:
            check(_native.lib.mmb_session_fork(self._live(), ctypes.byref(handle)))
        return Session(self.model, handle)

    def generate(self, sampler, prompt, max_tokens=256, stop_at_eos=True, add_bos=True, grammar=None):
        """Reads `prompt` into the session, then yields a Piece per generated token as it
        is chosen (and a last Piece with token None for any flushed text). Follows
        mmb_generate(): the sampler sees the prompt, every emitted token enters the state.

        grammar: None for free text, else a GrammarState: each token is chosen among those
        it allows, the state advances with each emitted token, and the stream ends as soon
        as the grammar is complete (state.must_end) or at a stop token where it may end
        (stop tokens are allowed only there; stop_at_eos is taken as True). A stream that
        reaches max_tokens first ends with the grammar unfinished: check state.can_end."""
        model = self.model
        stops = None
        if grammar is not None:
            stops = set(model.stop_tokens())
            if model.info.eos_id >= 0:
                stops.add(model.info.eos_id)
        tokens = model.tokenize(prompt, add_bos=add_bos)
        if not tokens:
            tokens = [model.info.bos_id if model.info.bos_id >= 0 else 0]
        for t in tokens:
            sampler.accept(t)
        logits = self.prefill(tokens, logits=True)
        eos = model.info.eos_id
        with model.detokenizer() as detok:
            for i in range(max_tokens):
                if grammar is None:
                    token = sampler.sample(logits)
                    if stop_at_eos and token == eos:
                        break
                    complete = False
                else:
                    token = sampler.sample_grammar(grammar, logits)
                    if token in stops:
                        break
                    complete = grammar.must_end
                text = detok.push(token)
                if i + 1 < max_tokens and not complete:
                    self.step_logits(token, out=logits)
                else:
                    self.step(token)
                yield Piece(token, text)
                if complete:
                    break
            rest = detok.flush()
        if rest:
            yield Piece(None, rest)

    def generate_with(self, sampler, prompt, callback, max_tokens=256, stop_at_eos=True, add_bos=True,
                      grammar=None):
        """mmb_generate(): calls callback(token, text) as each token is chosen (token None
        for the final flush); a false return stops. An exception in the callback stops
        the generation and is raised here. grammar: None, or a GrammarState that the
        generation follows and advances in place, as generate() describes."""
        options = generate_options(max_tokens, stop_at_eos)
        options.tokenize_flags = _native.MMB_TOKENIZE_ADD_BOS if add_bos else 0
        on_token = TokenCallback(callback)
        data = prompt.encode() if isinstance(prompt, str) else bytes(prompt)
        with call_locks(self, sampler, grammar, options):
            status = _native.lib.mmb_generate(self._live(), sampler._live(), data, len(data),
                                              ctypes.byref(options), on_token.c_function, None)
        on_token.check(status)

    def submit(self, sampler, prompt, max_tokens=256, stop_at_eos=True, add_bos=True, stop_text=None,
               on_event=None, grammar=None):
        """Starts a Job that reads `prompt` (str or bytes) into the session and, with a
        sampler, generates up to max_tokens tokens after it exactly as mmb_generate()
        would; returns at once. sampler None: only the prompt is read (a non-blocking
        prefill). The job samples with its own copy of the sampler, which is left
        unchanged. stop_text: stop once the generated text contains it.
        on_event(JobEvent) is called from Job.poll() and Runtime.frame(), on the thread
        that calls them. Keep the Job: closing it, or dropping it, cancels it.
        grammar: None for free text, else a GrammarState the job generates under, as
        generate() describes, with its own copy taken at submission (the one given is left
        unchanged); a job whose grammar no token can continue ends with Status.GRAMMAR.
        Raises MoemambaError: Status.BUSY while another job runs on the session,
        Status.BUDGET when one session does not fit in the runtime's memory budget."""
        data = prompt.encode() if isinstance(prompt, str) else bytes(prompt)
        return self._submit(sampler, lambda session, sp, options, out: _native.lib.mmb_job_submit_text(
            session, sp, data, len(data), options, out), max_tokens, stop_at_eos, add_bos, stop_text, on_event,
            grammar)

    def submit_tokens(self, sampler, tokens, max_tokens=256, stop_at_eos=True, stop_text=None, on_event=None,
                      grammar=None):
        """submit() with a prompt of token ids."""
        ids = (ctypes.c_int32 * len(tokens))(*tokens)
        return self._submit(sampler, lambda session, sp, options, out: _native.lib.mmb_job_submit_tokens(
            session, sp, ids, len(tokens), options, out), max_tokens, stop_at_eos, False, stop_text, on_event,
            grammar)

    def _submit(self, sampler, call, max_tokens, stop_at_eos, add_bos, stop_text, on_event, grammar=None):
        sink = EventSink(on_event) if on_event is not None else None
        sink_id = register(sink)
        options, _stop = job_options(max_tokens, stop_at_eos, add_bos, stop_text, sink_id)
        handle = _native.job_p()
        try:
            with call_locks(self, sampler, grammar, options):
                # With job_mode=JOBS_HOST the runtime's run_task runs inside this call.
                with delivering():
                    check(call(self._live(), sampler._live() if sampler is not None else None,
                               ctypes.byref(options), ctypes.byref(handle)))
        except BaseException:
            if handle:
                _native.lib.mmb_job_destroy(handle)
            unregister(sink_id)
            raise
        return Job(self, handle, sink, sink_id)

    def page_out(self):
        """Pages the session out now: its state is compressed into host memory and its
        memory freed until the next call that needs it (a character leaving the scene).
        Raises MoemambaError(Status.BUSY) while a job runs on it."""
        with self._lock:
            check(_native.lib.mmb_session_page_out(self._live()))



def step_batch(sessions, tokens, logits=False, out=None):
    """Steps each session by its token in one batched call (the weights are read once).
    With logits=True (or `out` of len(sessions) * vocab floats) returns the rows,
    flattened: row i is out[i * vocab:(i + 1) * vocab]."""
    if len(sessions) != len(tokens):
        raise MoemambaError(Status.INVALID_ARGUMENT, f"{len(sessions)} sessions but {len(tokens)} tokens")
    if not sessions:
        raise MoemambaError(Status.INVALID_ARGUMENT, "no sessions")
    vocab = sessions[0].model.vocab_size
    address, stride = None, 0
    if logits or out is not None:
        if out is None:
            out = _buffers.new_floats(vocab * len(sessions))
        address, n = _buffers.float_pointer(out)
        stride = n // len(sessions)
    ids = (ctypes.c_int32 * len(tokens))(*tokens)
    with ExitStack() as stack:
        # One lock order for every caller, so two batches cannot deadlock.
        for s in sorted(set(sessions), key=id):
            stack.enter_context(s._lock)
        handles = (_native.session_p * len(sessions))(*[s._live() for s in sessions])
        check(_native.lib.mmb_step_batch(handles, ids, len(sessions), address, stride))
    return out if address is not None else None
