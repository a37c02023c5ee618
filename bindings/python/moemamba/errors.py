"""Status codes become MoemambaError carrying the status and the library's message."""
import enum

from . import _native


class Status(enum.IntEnum):
    """The header's MMB_ERR_* values."""
    OK = 0
    INVALID_ARGUMENT = 1
    IO = 2
    FORMAT = 3
    UNSUPPORTED = 4
    OUT_OF_MEMORY = 5
    BACKEND = 6
    CANCELLED = 7
    BUFFER_TOO_SMALL = 8
    STATE_MISMATCH = 9
    INTERNAL = 10
    BUSY = 11
    BUDGET = 12
    CONTEXT_FULL = 13
    TEMPLATE = 14
    GRAMMAR = 15


class MoemambaError(Exception):
    """A failed call: `status` (a Status, or the raw int for one this package does not
    know), `status_name` ("MMB_ERR_FORMAT") and `message` (the library's detail)."""

    def __init__(self, status, message):
        try:
            self.status = Status(status)
        except ValueError:
            self.status = status
        self.status_name = _native.lib.mmb_status_string(int(status)).decode()
        self.message = message
        super().__init__(f"{self.status_name}: {message}")


class ContextFullError(MoemambaError):
    """Status.CONTEXT_FULL: the session's context (its max_context) cannot take these
    tokens, and nothing was consumed. Reset the session, or use one with a larger
    context. Only models with attention layers have a context limit."""


class TemplateError(MoemambaError):
    """Status.TEMPLATE: the model's chat template refused the conversation (its
    raise_exception(), e.g. roles that do not alternate) or ran past its limits; `message`
    is the template's own."""


class GrammarError(MoemambaError):
    """Status.GRAMMAR: a grammar, JSON Schema or choice list is malformed or unusable
    (`message` gives the line and column, or the schema path), a grammar does not allow
    a token (GrammarState.accept()), or no token of the vocabulary can continue it."""


def error(status, message):
    """The MoemambaError for a status: ContextFullError for Status.CONTEXT_FULL,
    TemplateError for Status.TEMPLATE, GrammarError for Status.GRAMMAR."""
    if status == Status.CONTEXT_FULL:
        return ContextFullError(status, message)
    if status == Status.TEMPLATE:
        return TemplateError(status, message)
    if status == Status.GRAMMAR:
        return GrammarError(status, message)
    return MoemambaError(status, message)


def check(status):
    """Raises MoemambaError (ContextFullError for Status.CONTEXT_FULL, TemplateError for
    Status.TEMPLATE, GrammarError for Status.GRAMMAR) for a failed status, with
    mmb_last_error() of this thread (ctypes makes the call and this read on the same
    thread)."""
    if status != _native.MMB_OK:
        raise error(status, _native.lib.mmb_last_error().decode("utf-8", "replace"))


def closed(what):
    """The error for use of an object after close()."""
    return MoemambaError(Status.INVALID_ARGUMENT, f"the {what} is closed")
