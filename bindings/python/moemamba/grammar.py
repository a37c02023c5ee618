"""Structured output (moemamba.h section 9): a Grammar compiled from GBNF text, a JSON
Schema or a list of choices, shared by any number of generations; each generation keeps
a GrammarState, which says which tokens may come next.

    grammar = Grammar.json_schema(model, {"type": "object", ...})
    with grammar.state() as state:
        text = "".join(p.text for p in session.generate(sampler, prompt, grammar=state))
        assert state.can_end
"""
import array
import ctypes
import json
import threading

from . import _buffers, _native
from ._owner import HandleOwner
from .errors import MoemambaError, Status, check


def _text(value):
    """UTF-8 bytes of a str; bytes as they are."""
    return value.encode() if isinstance(value, str) else bytes(value)


def grammar_options(root=None, json_whitespace=None, mask_cache_bytes=None):
    """mmb_grammar_options: the library's defaults, then what is given (and the root name
    it points to, to keep alive with it)."""
    options = _native.mmb_grammar_options()
    check(_native.lib.mmb_grammar_options_init(ctypes.byref(options), ctypes.sizeof(options)))
    root_bytes = None
    if root is not None:
        root_bytes = _text(root)
        if b"\0" in root_bytes:
            raise MoemambaError(Status.INVALID_ARGUMENT, "root holds a NUL byte")
        options.root = root_bytes
    if json_whitespace is not None:
        options.json_whitespace = json_whitespace
    if mask_cache_bytes is not None:
        options.mask_cache_bytes = mask_cache_bytes
    return options, root_bytes


class Grammar(HandleOwner):
    """A grammar, JSON Schema or choice list compiled for one model's vocabulary: make it
    with Grammar.gbnf(), Grammar.json_schema() or Grammar.choice(). Immutable and shared
    between threads freely; each generation takes its own state (state()). A malformed
    source raises GrammarError, whose message gives the line and column (a schema error its
    path). The library keeps the model alive for as long as the grammar lives."""

    _kind = "grammar"

    def __init__(self, model, handle):
        self._handle = handle
        self.model = model
        self.vocab_size = model.vocab_size

    @classmethod
    def gbnf(cls, model, text, root=None, mask_cache_bytes=None):
        """Compiles grammar text in the GBNF dialect; the start rule is "root" unless
        `root` names another."""
        return cls._create(model, _native.MMB_GRAMMAR_GBNF, text, grammar_options(root, None, mask_cache_bytes))

    @classmethod
    def json_schema(cls, model, schema, json_whitespace=None, mask_cache_bytes=None):
        """Compiles a JSON Schema (JSON text, or a dict serialized with json.dumps): the
        output is JSON the schema accepts, properties in the schema's order.
        json_whitespace: the most whitespace characters at each place JSON allows them
        (0: compact; library default 1; up to 64)."""
        if isinstance(schema, (dict, list, bool)):
            schema = json.dumps(schema)
        return cls._create(model, _native.MMB_GRAMMAR_JSON_SCHEMA, schema,
                           grammar_options(None, json_whitespace, mask_cache_bytes))

    @classmethod
    def choice(cls, model, items, mask_cache_bytes=None):
        """The output is exactly one of `items` (str or bytes; at least one, none empty)."""
        data = [_text(item) for item in items]
        options, _root = grammar_options(None, None, mask_cache_bytes)
        pointers = (ctypes.c_char_p * max(len(data), 1))(*data)
        lens = (ctypes.c_size_t * max(len(data), 1))(*[len(d) for d in data])
        handle = _native.grammar_p()
        check(_native.lib.mmb_grammar_create_choice(model.handle, pointers, lens, len(data), ctypes.byref(options),
                                                    ctypes.byref(handle)))
        return cls(model, handle)

    @classmethod
    def _create(cls, model, kind, text, options_and_root):
        options, _root = options_and_root
        data = _text(text)
        handle = _native.grammar_p()
        check(_native.lib.mmb_grammar_create(model.handle, kind, data, len(data), ctypes.byref(options),
                                             ctypes.byref(handle)))
        return cls(model, handle)

    @property
    def handle(self):
        """The raw mmb_grammar pointer; MoemambaError once closed."""
        return self._live()

    def state(self):
        """A new GrammarState at the grammar's start."""
        return GrammarState(self)


class GrammarState(HandleOwner):
    """Where one generation stands in a grammar. Pass it as `grammar=` to
    Session.generate(), generate_with(), submit() or Chat.generate(), or drive it by hand
    (accept(), mask(), apply(), Sampler.sample_grammar()). One thread at a time (a lock
    makes sure)."""

    _kind = "grammar_state"

    def __init__(self, grammar, handle=None):
        if handle is None:
            handle = _native.grammar_state_p()
            check(_native.lib.mmb_grammar_state_create(grammar.handle, ctypes.byref(handle)))
        self._handle = handle
        self._lock = threading.Lock()
        self.grammar = grammar

    @property
    def handle(self):
        """The raw mmb_grammar_state pointer; MoemambaError once closed."""
        return self._live()

    def clone(self):
        """An independent copy at the same place (to fork a generation with its session)."""
        handle = _native.grammar_state_p()
        with self._lock:
            check(_native.lib.mmb_grammar_state_clone(self._live(), ctypes.byref(handle)))
        return GrammarState(self.grammar, handle)

    def reset(self):
        """Back to the grammar's start."""
        with self._lock:
            check(_native.lib.mmb_grammar_state_reset(self._live()))

    def accept(self, token):
        """Advances past `token`. A token the grammar does not allow here raises
        GrammarError and changes nothing; a stop token where the grammar may end changes
        nothing."""
        with self._lock:
            check(_native.lib.mmb_grammar_state_accept(self._live(), token))

    def _ends(self):
        can, must = ctypes.c_int32(), ctypes.c_int32()
        with self._lock:
            check(_native.lib.mmb_grammar_state_can_end(self._live(), ctypes.byref(can), ctypes.byref(must)))
        return bool(can.value), bool(must.value)

    @property
    def can_end(self):
        """Whether the text so far is a complete output."""
        return self._ends()[0]

    @property
    def must_end(self):
        """Whether the output is complete and no token can continue it."""
        return self._ends()[1]

    def mask_words(self):
        """The tokens that may come next as a bitset, array('I') of 32-bit words: bit
        t % 32 of word t // 32 is set when token t is allowed (stop tokens only where the
        grammar may end)."""
        n_words = (self.grammar.vocab_size + 31) // 32
        words = (ctypes.c_uint32 * n_words)()
        with self._lock:
            check(_native.lib.mmb_grammar_state_get_mask(self._live(), words, n_words))
        return array.array("I", words)

    def mask(self):
        """The tokens that may come next: a list of bool, entry t true when token t is
        allowed."""
        words = self.mask_words()
        return [bool(words[t >> 5] >> (t & 31) & 1) for t in range(self.grammar.vocab_size)]

    def apply(self, logits):
        """Sets every logit whose token the grammar does not allow here to -inf, in place
        (a writable float32 buffer of vocab_size values: a numpy array, array('f'), ...);
        returns `logits`."""
        address, n = _buffers.float_pointer(logits)
        with self._lock:
            check(_native.lib.mmb_grammar_state_apply(self._live(), address, n))
        return logits

    def save(self):
        """The state as bytes, for load() into a state of the same grammar."""
        with self._lock:
            return _buffers.saved_bytes(self._live(), _native.lib.mmb_grammar_state_size,
                                        _native.lib.mmb_grammar_state_save)

    def load(self, blob):
        """Replaces the state with a saved one of the same grammar; on error nothing
        changes (Status.STATE_MISMATCH: another grammar's; Status.FORMAT: damaged)."""
        blob = bytes(blob)
        with self._lock:
            check(_native.lib.mmb_grammar_state_load(self._live(), blob, len(blob)))
