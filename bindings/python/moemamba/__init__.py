"""moemamba: a ctypes binding of libmoemamba (no compiled extension; numpy optional).

    import moemamba
    with moemamba.Runtime() as rt, moemamba.Model.load_file(rt, "model.mmb") as model:
        with model.session() as session, moemamba.Sampler(temperature=0.8) as sampler:
            for piece in session.generate(sampler, "Once upon a time", max_tokens=64):
                print(piece.text, end="", flush=True)

Non-blocking generation for game loops: Session.submit() returns a Job at once;
Job.poll() returns the new text, Runtime.frame(budget_us) advances every job within a
time budget (Runtime(job_mode=JOBS_FRAME)) and delivers their events.

Thread rules follow the header: share a Runtime or Model between threads freely; give
each thread its own Session, Sampler and Detokenizer (each also locks itself, so misuse
waits instead of crashing). Failures raise MoemambaError(status, message); using an
object after close() raises it too. A session of a model with attention layers has a
context limit (Model.session(max_context=...)): a token past it raises
ContextFullError, a MoemambaError with Status.CONTEXT_FULL.

Conversations in the model's own prompt format: Model.chat() returns a Chat that renders
its history with the bundle's chat template and computes only each turn's new tokens;
Model.render() gives the prompt text alone. A template's refusal raises TemplateError.

Structured output: a Grammar (Grammar.json_schema(), Grammar.gbnf(), Grammar.choice())
is compiled once per model and shared; pass a GrammarState of it as `grammar=` to
Session.generate(), generate_with(), submit() or Chat.generate() and the output is text
the grammar accepts. A malformed grammar raises GrammarError (line and column in its
message).
"""
from . import _native
from .chat import Chat, ChatMessage, ChatReply, ChatStats
from .errors import ContextFullError, GrammarError, MoemambaError, Status, TemplateError
from .grammar import Grammar, GrammarState
from .job import EventKind, Job, JobEvent, JobState
from .model import Model, ModelInfo
from .runtime import (BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA, JOBS_FRAME, JOBS_HOST, JOBS_WORKER, Backend,
                      BackendInfo, FrameStats, Runtime, SessionMemory, Task)
from .sampler import Sampler, default_params
from .session import KvType, Piece, Session, step_batch
from .text import Detokenizer

__all__ = ["BACKEND_AUTO", "BACKEND_CPU", "BACKEND_CUDA", "Backend", "BackendInfo", "Chat", "ChatMessage", "ChatReply",
           "ChatStats", "ContextFullError", "Detokenizer", "EventKind", "FrameStats", "Grammar", "GrammarError",
           "GrammarState", "JOBS_FRAME", "JOBS_HOST", "JOBS_WORKER", "Job", "JobEvent", "JobState", "KvType", "Model",
           "ModelInfo", "MoemambaError", "Piece",
           "Runtime", "Sampler", "Session", "SessionMemory", "Status", "Task", "TemplateError", "default_params",
           "step_batch", "version"]


def version():
    """The loaded library's version, "major.minor.patch"."""
    return _native.lib.mmb_version_string().decode()
