"""Keeps the ctypes structs in sync with moemamba.h: compiles the layout program shared
with the Rust binding (bindings/rust/sys/tests/layout.c, which prints each struct's size
and field offsets as the C compiler sees them) and compares with ctypes."""
import ctypes
import os
import subprocess
import tempfile
import unittest

from moemamba import EventKind, JobState, KvType, Status, _native

from .support import HERE

ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
STRUCTS = [_native.mmb_runtime_options, _native.mmb_backend_info, _native.mmb_load_options,
           _native.mmb_model_info, _native.mmb_session_options, _native.mmb_sampler_params,
           _native.mmb_generate_options, _native.mmb_job_options, _native.mmb_frame_stats,
           _native.mmb_session_memory, _native.mmb_chat_message, _native.mmb_chat_options,
           _native.mmb_chat_stats, _native.mmb_grammar_options]


def c_layout():
    source = os.path.join(ROOT, "bindings", "rust", "sys", "tests", "layout.c")
    include = os.environ.get("MOEMAMBA_INCLUDE_DIR") or os.path.join(ROOT, "include")
    compiler = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "layout")
        subprocess.run([compiler, "-std=c11", "-I", include, source, "-o", exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return dict(line.rsplit(" ", 1) for line in out.splitlines())


class LayoutTest(unittest.TestCase):
    def test_structs_match_the_header(self):
        table = c_layout()
        for struct in STRUCTS:
            name = struct.__name__
            c_fields = sorted(k.split(".", 1)[1] for k in table if k.startswith(f"offset {name}."))
            self.assertEqual(sorted(f for f, _ in struct._fields_), c_fields, name)
            self.assertEqual(ctypes.sizeof(struct), int(table[f"size {name}"]), name)
            for field, _ in struct._fields_:
                self.assertEqual(getattr(struct, field).offset, int(table[f"offset {name}.{field}"]),
                                 f"{name}.{field}")

    def test_constants_match_the_header(self):
        table = c_layout()
        for name in ("MMB_OK", "MMB_ERR_INVALID_ARGUMENT", "MMB_ERR_UNSUPPORTED", "MMB_ERR_BUFFER_TOO_SMALL",
                     "MMB_ERR_INTERNAL", "MMB_ERR_TEMPLATE", "MMB_ERR_GRAMMAR", "MMB_GRAMMAR_GBNF",
                     "MMB_GRAMMAR_JSON_SCHEMA",
                     "MMB_LOAD_COPY_MEMORY", "MMB_TOKENIZE_ADD_BOS", "MMB_TOKENIZE_PARSE_SPECIAL",
                     "MMB_JOBS_WORKER", "MMB_JOBS_FRAME", "MMB_JOBS_HOST", "MMB_BACKEND_AUTO", "MMB_BACKEND_CPU",
                     "MMB_BACKEND_CUDA", "MMB_KV_F16", "MMB_KV_F32"):
            self.assertEqual(getattr(_native, name), int(table[f"const {name}"]), name)
        for status in Status:
            if status != Status.OK:
                self.assertEqual(int(status), int(table[f"const MMB_ERR_{status.name}"]), status.name)
        for state in JobState:
            self.assertEqual(int(state), int(table[f"const MMB_JOB_{state.name}"]), state.name)
        for kind in EventKind:
            self.assertEqual(int(kind), int(table[f"const MMB_JOB_EVENT_{kind.name}"]), kind.name)
        for kv_type in KvType:
            self.assertEqual(int(kv_type), int(table[f"const MMB_KV_{kv_type.name}"]), kv_type.name)
