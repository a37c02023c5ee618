"""Conversations in the model's own prompt format (moemamba.h section 8): Model.render()
turns messages into the prompt its chat template makes; a Chat keeps a conversation and a
session of its own in step, so each turn computes only the new tokens."""
import ctypes
from collections import namedtuple

from . import _buffers, _native
from ._owner import HandleOwner
from .errors import MoemambaError, Status, check
from .session import KvType, Session, TokenCallback, call_locks, generate_options, session_options

ChatMessage = namedtuple("ChatMessage", ["role", "content"])
ChatMessage.__doc__ = """One turn of a conversation: a role ("system", "user", "assistant", "tool" or
whatever the template knows) and its text."""

ChatStats = namedtuple("ChatStats", ["restarted", "prompt_tokens", "reused_tokens", "prefilled_tokens",
                                     "generated_tokens"])
ChatStats.__doc__ = """What one Chat.prefill() or Chat.generate() did (mmb_chat_stats): restarted (the
new rendering did not continue what the session had seen, so it started over), prompt_tokens
(the whole rendered conversation), reused_tokens (of those, already in the session),
prefilled_tokens (fed to the session by this call), generated_tokens (the reply's)."""

ChatReply = namedtuple("ChatReply", ["text", "stats"])
ChatReply.__doc__ = "What Chat.generate() returns: the reply as it joined the history, and a ChatStats."


def _utf8z(text, what):
    """The C API takes NUL-terminated UTF-8."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    if b"\0" in data:
        raise MoemambaError(Status.INVALID_ARGUMENT, f"{what} holds a NUL byte")
    return data


def _stats(raw):
    return ChatStats(bool(raw.restarted), raw.prompt_tokens, raw.reused_tokens, raw.prefilled_tokens,
                     raw.generated_tokens)


def _new_stats():
    raw = _native.mmb_chat_stats()
    raw.struct_size = ctypes.sizeof(raw)
    return raw


def stop_tokens(model):
    """The model's end-of-turn tokens besides EOS (e.g. <|im_end|>), as a list of int."""
    n = ctypes.c_size_t()
    status = _native.lib.mmb_model_get_stop_tokens(model.handle, None, 0, ctypes.byref(n))
    if status != _native.MMB_ERR_BUFFER_TOO_SMALL:
        check(status)
    if n.value == 0:
        return []
    tokens = (ctypes.c_int32 * n.value)()
    check(_native.lib.mmb_model_get_stop_tokens(model.handle, tokens, n.value, ctypes.byref(n)))
    return list(tokens[:n.value])


def render(model, messages, add_generation_prompt=False, template_name=None):
    """The prompt text (str) the model's chat template makes of `messages` (ChatMessage or
    (role, content) pairs)."""
    pairs = [(_utf8z(role, "role"), _utf8z(content, "content")) for role, content in messages]
    raw = (_native.mmb_chat_message * len(pairs))(*[_native.mmb_chat_message(r, c) for r, c in pairs])
    name = None if template_name is None else _utf8z(template_name, "template_name")
    length = ctypes.c_size_t()
    buf = ctypes.create_string_buffer(1024)
    status = _native.lib.mmb_chat_render(model.handle, name, raw, len(pairs), 1 if add_generation_prompt else 0,
                                         buf, len(buf), ctypes.byref(length))
    if status == _native.MMB_ERR_BUFFER_TOO_SMALL:
        buf = ctypes.create_string_buffer(length.value)
        status = _native.lib.mmb_chat_render(model.handle, name, raw, len(pairs), 1 if add_generation_prompt else 0,
                                             buf, len(buf), ctypes.byref(length))
    check(status)
    return buf.raw[:length.value].decode("utf-8", "replace")


class Chat(HandleOwner):
    """A conversation bound to a session of its own (Model.chat()). Each turn renders the
    whole history with the model's chat template and computes only the tokens the session
    has not seen. A lock (its session's) serializes calls on the chat and its session."""

    _kind = "chat"

    def __init__(self, model, template_name=None, max_context=0, kv_type=KvType.F16):
        session_opts = session_options(max_context, kv_type)
        options = _native.mmb_chat_options()
        check(_native.lib.mmb_chat_options_init(ctypes.byref(options), ctypes.sizeof(options)))
        options.template_name = None if template_name is None else _utf8z(template_name, "template_name")
        options.session = ctypes.pointer(session_opts)
        handle = _native.chat_p()
        check(_native.lib.mmb_chat_create(model.handle, ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        self.model = model
        # The chat's own session (closed with the chat), for its position, state, a fork
        # or paging. Stepping it directly puts it out of step with the history: the next
        # turn then starts over (ChatStats.restarted).
        self.session = Session(model, _native.lib.mmb_chat_get_session(handle), owner=self)
        self._lock = self.session._lock

    def close(self):
        """Destroys the chat and its session; calling it again does nothing."""
        with self._lock:
            self.session._handle = None
            handle, self._handle = self._handle, None
            if handle is not None:
                _native.lib.mmb_chat_destroy(handle)

    @property
    def handle(self):
        """The raw mmb_chat pointer; MoemambaError once closed."""
        return self._live()

    def add(self, role, content):
        """Appends a message to the history; nothing is computed until the next prefill()
        or generate()."""
        role, content = _utf8z(role, "role"), _utf8z(content, "content")
        with self._lock:
            check(_native.lib.mmb_chat_add(self._live(), role, content))

    def __len__(self):
        """Messages in the history, the replies of generate() included."""
        n = ctypes.c_size_t()
        with self._lock:
            check(_native.lib.mmb_chat_get_message_count(self._live(), ctypes.byref(n)))
        return n.value

    def message(self, index):
        """Message `index` of the history, as a ChatMessage."""
        if index < 0:
            raise MoemambaError(Status.INVALID_ARGUMENT, f"message index {index} is negative")
        role_len, content_len = ctypes.c_size_t(), ctypes.c_size_t()
        with self._lock:
            status = _native.lib.mmb_chat_get_message(self._live(), index, None, 0, ctypes.byref(role_len), None, 0,
                                                      ctypes.byref(content_len))
            if status == _native.MMB_OK:
                return ChatMessage("", "")
            if status != _native.MMB_ERR_BUFFER_TOO_SMALL:
                check(status)
            role = ctypes.create_string_buffer(max(role_len.value, 1))
            content = ctypes.create_string_buffer(max(content_len.value, 1))
            check(_native.lib.mmb_chat_get_message(self._live(), index, role, len(role), ctypes.byref(role_len),
                                                   content, len(content), ctypes.byref(content_len)))
        return ChatMessage(role.raw[:role_len.value].decode("utf-8", "replace"),
                           content.raw[:content_len.value].decode("utf-8", "replace"))

    @property
    def messages(self):
        """A copy of the history: a list of ChatMessage."""
        return [self.message(i) for i in range(len(self))]

    def prefill(self):
        """Brings the session up to date with the history (without the generation prompt),
        e.g. a character's system prompt at load time, so the first reply starts at once.
        Returns a ChatStats. Raises TemplateError, ContextFullError."""
        stats = _new_stats()
        with self._lock:
            check(_native.lib.mmb_chat_prefill(self._live(), ctypes.byref(stats)))
        return _stats(stats)

    def generate(self, sampler, max_tokens=256, callback=None, stop_at_eos=True, grammar=None):
        """Generates the assistant's reply to the history: prefills only what the session
        has not seen, then samples until the model ends its turn (not emitted), max_tokens,
        or callback(token, text) returns False (token None for the final flush). The reply
        joins the history as an "assistant" message, also when stopped early. Returns a
        ChatReply. An exception in the callback stops the reply and is raised here.
        grammar: None, or a GrammarState the reply follows (a JSON object, one of a list of
        choices...), advanced in place as Session.generate() describes.
        Raises TemplateError, ContextFullError."""
        options = generate_options(max_tokens, stop_at_eos)
        on_token = TokenCallback(callback)
        stats = _new_stats()
        with call_locks(self, sampler, grammar, options):
            status = _native.lib.mmb_chat_generate(self._live(), sampler._live(), ctypes.byref(options),
                                                   on_token.c_function, None, ctypes.byref(stats))
        on_token.check(status)
        return ChatReply(self.message(len(self) - 1).content, _stats(stats))

    def reset(self):
        """Empties the history and resets the session."""
        with self._lock:
            check(_native.lib.mmb_chat_reset(self._live()))

    def save_state(self):
        """The conversation (history and session state) as bytes, for load_state() in this
        process or another with the same bundle."""
        with self._lock:
            return _buffers.saved_bytes(self._live(), _native.lib.mmb_chat_state_size,
                                        _native.lib.mmb_chat_state_save)

    def load_state(self, blob):
        """Replaces the history and session state with a saved conversation; on error
        nothing changes (Status.FORMAT: not a chat state; Status.STATE_MISMATCH: another
        model's)."""
        blob = bytes(blob)
        with self._lock:
            check(_native.lib.mmb_chat_state_load(self._live(), blob, len(blob)))
