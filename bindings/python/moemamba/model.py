"""A loaded model: immutable and shared between threads; makes sessions and
detokenizers, and tokenizes."""
import ctypes
import os
from collections import namedtuple

from . import _native
from ._owner import HandleOwner
from .errors import MoemambaError, check
from .session import KvType, Session

ModelInfo = namedtuple("ModelInfo", [
    "vocab_size", "d_model", "n_layers", "n_mamba_layers", "n_moe_layers", "n_mlp_layers",
    "n_experts", "top_k", "bos_id", "eos_id", "pad_id", "unk_id", "weight_dtype",
    "params_total", "params_active", "weight_bytes", "active_weight_bytes", "state_bytes",
    "fingerprint", "name", "n_attention_layers", "context_length", "kv_values_per_token", "n_chat_templates",
    "n_stop_tokens"])
ModelInfo.__doc__ = """What a model is (mmb_model_info); token ids are -1 when absent.
n_attention_layers: attention blocks (0: the session state is constant in size);
context_length: a session's default context limit (0 without attention layers);
kv_values_per_token: key and value elements one token adds to a session's KV cache (2 or
4 bytes each, by KvType); n_chat_templates: chat templates in the bundle (0: Model.chat()
and Model.render() raise MoemambaError with Status.UNSUPPORTED); n_stop_tokens: end-of-turn
tokens besides eos_id at which generation stops (Model.stop_tokens())."""


class Model(HandleOwner):
    """Load with Model.load_file() or Model.load_memory(); use as a context manager or
    call close(). Safe to use from many threads at once."""

    _kind = "model"

    def __init__(self, handle):
        self._handle = handle
        raw = _native.mmb_model_info()
        raw.struct_size = ctypes.sizeof(raw)
        try:
            check(_native.lib.mmb_model_get_info(handle, ctypes.byref(raw)))
        except MoemambaError:
            self.close()
            raise
        values = {name: getattr(raw, name) for name in ModelInfo._fields}
        values["name"] = (raw.name or b"").decode("utf-8", "replace")
        self.info = ModelInfo(**values)

    @classmethod
    def load_file(cls, runtime, path):
        """Loads a bundle file, verifying everything."""
        handle = _native.model_p()
        check(_native.lib.mmb_model_load_file(runtime.handle, os.fsencode(path), None, ctypes.byref(handle)))
        return cls(handle)._made_by(runtime)

    @classmethod
    def load_memory(cls, runtime, data):
        """Loads a bundle from bytes (any buffer); the library copies what it needs."""
        options = _native.mmb_load_options()
        check(_native.lib.mmb_load_options_init(ctypes.byref(options), ctypes.sizeof(options)))
        options.flags |= _native.MMB_LOAD_COPY_MEMORY
        data = bytes(data)
        handle = _native.model_p()
        check(_native.lib.mmb_model_load_memory(runtime.handle, data, len(data), ctypes.byref(options),
                                                ctypes.byref(handle)))
        return cls(handle)._made_by(runtime)

    def _made_by(self, runtime):
        # Job submission may call the runtime's run_task hook, even after the Runtime
        # object is closed: every model (hence every session) keeps it.
        self.runtime = runtime
        return self

    @property
    def handle(self):
        """The raw mmb_model pointer; MoemambaError once closed."""
        return self._live()

    @property
    def vocab_size(self):
        return self.info.vocab_size

    def meta(self, key):
        """A metadata value ("name", "license", ...) as str."""
        key = key.encode()
        length = ctypes.c_size_t()
        status = _native.lib.mmb_model_get_meta(self.handle, key, None, 0, ctypes.byref(length))
        if status != _native.MMB_ERR_BUFFER_TOO_SMALL:
            check(status)
        buf = ctypes.create_string_buffer(length.value + 1)
        check(_native.lib.mmb_model_get_meta(self.handle, key, buf, len(buf), ctypes.byref(length)))
        return buf.raw[:length.value].decode("utf-8", "replace")

    def tokenize(self, text, add_bos=False, parse_special=False):
        """Token ids (a list of int) of text (str or bytes)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        flags = (_native.MMB_TOKENIZE_ADD_BOS if add_bos else 0) | \
                (_native.MMB_TOKENIZE_PARSE_SPECIAL if parse_special else 0)
        n = ctypes.c_size_t()
        status = _native.lib.mmb_tokenize(self.handle, data, len(data), None, 0, ctypes.byref(n), flags)
        if status != _native.MMB_ERR_BUFFER_TOO_SMALL:
            check(status)
        if n.value == 0:
            return []
        tokens = (ctypes.c_int32 * n.value)()
        check(_native.lib.mmb_tokenize(self.handle, data, len(data), tokens, n.value, ctypes.byref(n), flags))
        return list(tokens[:n.value])

    def token_bytes(self, token):
        """The raw bytes of one token (possibly part of a UTF-8 character)."""
        length = ctypes.c_size_t()
        status = _native.lib.mmb_token_to_bytes(self.handle, token, None, 0, ctypes.byref(length))
        if status != _native.MMB_ERR_BUFFER_TOO_SMALL:
            check(status)
        buf = ctypes.create_string_buffer(max(length.value, 1))
        check(_native.lib.mmb_token_to_bytes(self.handle, token, buf, len(buf), ctypes.byref(length)))
        return buf.raw[:length.value]

    def session(self, max_context=0, kv_type=KvType.F16):
        """A new session at position 0. For models with attention layers: max_context, the
        most tokens it can consume (0: info.context_length; at most 16777216), after which
        stepping raises ContextFullError and consumes nothing; kv_type, how its KV cache
        stores keys and values (KvType.F16, the default, or KvType.F32). Other models
        ignore both."""
        return Session(self, max_context=max_context, kv_type=kv_type)

    def stop_tokens(self):
        """The model's end-of-turn tokens besides EOS (e.g. <|im_end|>), at which generation,
        jobs and chats stop: a list of int."""
        from . import chat
        return chat.stop_tokens(self)

    def render(self, messages, add_generation_prompt=False, template_name=None):
        """The prompt text the model's chat template makes of `messages` (ChatMessage or
        (role, content) pairs), exactly: tokenize it with parse_special=True and without BOS
        (the template adds what the model wants). add_generation_prompt: end with the
        opening of the assistant's turn. template_name: None for the main template, else a
        named one. Raises TemplateError when the template refuses the conversation (the
        message is its own), MoemambaError with Status.UNSUPPORTED when the model has no
        such template."""
        from . import chat
        return chat.render(self, messages, add_generation_prompt, template_name)

    def chat(self, template_name=None, max_context=0, kv_type=KvType.F16):
        """A Chat: a conversation with an empty history and a session of its own (max_context
        and kv_type as for session()), on the main template or a named one."""
        from .chat import Chat
        return Chat(self, template_name=template_name, max_context=max_context, kv_type=kv_type)

    def detokenizer(self):
        from .text import Detokenizer
        return Detokenizer(self)
