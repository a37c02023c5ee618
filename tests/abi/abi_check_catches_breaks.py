"""The ABI check must tell breaks from allowed changes. Each case edits the committed
baseline so that, compared with it, the real freshly built library shows one kind of
change, and runs tests/abi/abi.sh check on it:
  allowed (exit 0): a function added, a member appended to a public struct;
  refused (exit 1): a function removed, a parameter type changed, struct members
  reordered, a member's type changed, a member inserted in the middle.
usage: abi_check_catches_breaks.py LIB"""
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
BASELINE = (HERE / "libmoemamba.abi").read_text()


def struct(text, name):
    """(start, end) of the definition of struct `name` in the baseline."""
    start = text.index(f"<class-decl name='{name}' size-in-bits=")
    return start, text.index("</class-decl>", start)


def members(body):
    return list(re.finditer(r"\s*<data-member access='public' layout-offset-in-bits='(\d+)'>\s*"
                            r"<var-decl name='(\w+)' type-id='([^']*)'.*?</data-member>", body, re.S))


def edit_struct(name, change):
    start, end = struct(BASELINE, name)
    return BASELINE[:start] + change(BASELINE[start:end]) + BASELINE[end:]


def function(text, name):
    return re.search(rf"\s*<function-decl name='{name}'.*?</function-decl>", text, re.S).group(0)


def type_id(name):
    return re.search(rf"<typedef-decl name='{name}' [^>]* id='([^']*)'", BASELINE).group(1)


def without_function(name):
    # The library has a function the baseline lacks: an addition.
    text = BASELINE.replace(function(BASELINE, name), "")
    return re.sub(rf"\s*<elf-symbol name='{name}'[^>]*/>", "", text)


def with_extra_function(name, copy_of):
    # The baseline has a function the library lacks: a removal.
    decl = function(BASELINE, copy_of)
    text = BASELINE.replace(decl, decl + decl.replace(f"'{copy_of}'", f"'{name}'"), 1)
    symbol = re.search(rf"<elf-symbol name='{copy_of}'[^>]*/>", text).group(0)
    return text.replace(symbol, symbol + symbol.replace(f"'{copy_of}'", f"'{name}'"), 1)


def last_member_missing(body):
    # The library appended a member the baseline does not have.
    last = members(body)[-1]
    size = int(last.group(1))
    body = body[:last.start()] + body[last.end():]
    return re.sub(r"size-in-bits='\d+'", f"size-in-bits='{size}'", body, count=1)


def middle_member_missing(body):
    m = members(body)[1]
    return body[:m.start()] + body[m.end():]


def swapped_offsets(body):
    # The first two members after struct_size trade places (different types).
    a, b = members(body)[1], members(body)[2]
    text = body.replace(f"layout-offset-in-bits='{a.group(1)}'", "layout-offset-in-bits='A'", 1)
    text = text.replace(f"layout-offset-in-bits='{b.group(1)}'", f"layout-offset-in-bits='{a.group(1)}'", 1)
    return text.replace("layout-offset-in-bits='A'", f"layout-offset-in-bits='{b.group(1)}'", 1)


def member_type_changed(body):
    m = members(body)[1]
    return body[:m.start(3)] + type_id("uint64_t") + body[m.end(3):]


def parameter_type_changed(fn):
    decl = function(BASELINE, fn)
    first = re.findall(r"<parameter type-id='([^']*)'", decl)[1]
    changed = decl.replace(f"<parameter type-id='{first}'", f"<parameter type-id='{type_id('uint64_t')}'", 1)
    return BASELINE.replace(decl, changed)


CASES = [
    ("a function added", 0, without_function("mmb_version_string")),
    ("a member appended to mmb_model_info", 0, edit_struct("mmb_model_info", last_member_missing)),
    ("a member appended to mmb_api", 0, edit_struct("mmb_api", last_member_missing)),
    ("a function removed", 1, with_extra_function("mmb_gone", "mmb_version_string")),
    ("a parameter type changed", 1, parameter_type_changed("mmb_session_step")),
    ("members reordered", 1, edit_struct("mmb_load_options", swapped_offsets)),
    ("a member's type changed", 1, edit_struct("mmb_model_info", member_type_changed)),
    ("a member inserted in the middle", 1, edit_struct("mmb_load_options", middle_member_missing)),
]


def main():
    lib = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, expected, text in CASES:
            assert text != BASELINE, name
            path = pathlib.Path(tmp) / "baseline.abi"
            path.write_text(text)
            run = subprocess.run(["bash", str(HERE / "abi.sh"), "check", lib, str(path)],
                                 capture_output=True, text=True)
            ok = run.returncode == expected
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {run.returncode}, expected {expected}")
            if not ok:
                print(run.stdout + run.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
