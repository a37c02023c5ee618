"""`mmb generate` with structured output (--json-schema, --grammar, --choice): stdout
holds exactly the generated text, which a JSON parser reads and the schema's rules
hold for; a choice prints one of its items; a malformed grammar or schema is one line
on stderr naming the line and column (or the schema path), exit status 1; output that
reaches --max-tokens before the grammar can end is exit status 3; misused options are
usage errors (exit status 2).
Usage: generate_grammar.py MMB BUNDLE SOURCE_DIR WORK_DIR
"""
import json
import os
import re
import subprocess
import sys

mmb, bundle, source, work = sys.argv[1:5]
os.makedirs(work, exist_ok=True)
failures = []


def run(*args):
    p = subprocess.run([mmb, "generate", bundle, "--threads", "2", *args], capture_output=True)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def expect(condition, what, detail=""):
    if not condition:
        failures.append(f"{what}: {detail}")


def write(name, text):
    path = os.path.join(work, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def outside_strings(text):
    """The characters of JSON text that are not inside string literals."""
    out, in_string, escaped = [], False, False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        else:
            out.append(c)
    return "".join(out)


# A JSON object of 6 required fields, for several seeds and both whitespace settings.
schema_path = os.path.join(source, "tests/grammar/schemas/bench_object6.json")
for seed in range(1, 6):
    for ws in (None, 0):
        extra = [] if ws is None else ["--json-whitespace", str(ws)]
        what = f"--json-schema bench_object6.json --seed {seed}" + (f" --json-whitespace {ws}" if ws is not None else "")
        code, out, err = run("--prompt", "The guard's next move as JSON: ", "--json-schema", schema_path,
                             "--max-tokens", "400", "--seed", str(seed), "--temp", "1.0", *extra)
        expect(code == 0, what, f"exit {code}, stderr {err!r}")
        expect("[generated " in err, what, f"no speed line on stderr: {err!r}")
        try:
            obj = json.loads(out, object_pairs_hook=lambda pairs: dict(pairs) if len({k for k, _ in pairs}) == len(pairs) else None)
        except ValueError as e:
            failures.append(f"{what}: stdout is not JSON ({e}): {out!r}")
            continue
        expect(isinstance(obj, dict), what, f"not an object (or a duplicate key): {out!r}")
        if not isinstance(obj, dict):
            continue
        expect(list(obj) == ["name", "action", "target", "amount", "urgent", "mood"], what, f"keys {list(obj)}")
        expect(isinstance(obj.get("name"), str) and len(obj["name"]) <= 20, what, f"name {obj.get('name')!r}")
        expect(obj.get("action") in ("attack", "defend", "flee", "talk", "trade", "wait"), what, f"action {obj.get('action')!r}")
        expect(isinstance(obj.get("target"), str) and len(obj["target"]) <= 20, what, f"target {obj.get('target')!r}")
        amount = obj.get("amount")
        expect(type(amount) is int and 0 <= amount <= 1000, what, f"amount {amount!r}")
        expect(type(obj.get("urgent")) is bool, what, f"urgent {obj.get('urgent')!r}")
        expect(obj.get("mood") in ("calm", "angry", "afraid", "happy"), what, f"mood {obj.get('mood')!r}")
        if ws == 0:
            expect(not re.search(r"\s", outside_strings(out)), what, f"whitespace in compact JSON: {out!r}")

# A choice: exactly one of the items; "\," is a comma inside an item.
items = ["attack", "flee", "talk to the king", "wait, then run"]
for seed in range(1, 6):
    code, out, err = run("--prompt", "The knight chose to", "--choice", "attack,flee,talk to the king,wait\\, then run",
                         "--seed", str(seed), "--temp", "1.5")
    expect(code == 0 and out in items, f"--choice --seed {seed}", f"exit {code}, stdout {out!r}, stderr {err!r}")

# A GBNF grammar, with another start rule than root.
gbnf = write("answer.gbnf", 'root ::= "never"\nanswer ::= ("yes" | "no") " " digit digit?\ndigit ::= [0-9]\n')
code, out, err = run("--prompt", "Answer:", "--grammar", gbnf, "--grammar-root", "answer", "--seed", "3")
expect(code == 0 and re.fullmatch(r"(yes|no) [0-9][0-9]?", out), "--grammar --grammar-root answer",
       f"exit {code}, stdout {out!r}, stderr {err!r}")
code, out, err = run("--prompt", "Answer:", "--grammar", gbnf)
expect(code == 0 and out == "never", "--grammar (root)", f"exit {code}, stdout {out!r}, stderr {err!r}")

# Mistakes in the grammar or schema: one line naming where, exit status 1, nothing on stdout.
bad_gbnf = write("bad.gbnf", 'root ::= "a" item\nitem ::= "b" | (\n')
code, out, err = run("--prompt", "hi", "--grammar", bad_gbnf)
expect(code == 1 and out == "" and re.search(r"line 2, column [0-9]+", err) and err.count("\n") == 1,
       "malformed GBNF", f"exit {code}, stdout {out!r}, stderr {err!r}")
undefined = write("undefined.gbnf", 'root ::= "a" missing\n')
code, out, err = run("--prompt", "hi", "--grammar", undefined)
expect(code == 1 and out == "" and "missing" in err and "MMB_ERR_GRAMMAR" in err, "undefined rule",
       f"exit {code}, stdout {out!r}, stderr {err!r}")
bad_schema = write("bad.json", '{"type": "object", "properties": {"a": {"type": "string", "pattern": "x+"}}}')
code, out, err = run("--prompt", "hi", "--json-schema", bad_schema)
expect(code == 1 and out == "" and "/properties/a/pattern" in err and err.count("\n") == 1, "unsupported schema keyword",
       f"exit {code}, stdout {out!r}, stderr {err!r}")
not_json = write("not.json", '{"type": "object",\n  "properties": {]}')
code, out, err = run("--prompt", "hi", "--json-schema", not_json)
expect(code == 1 and out == "" and "MMB_ERR_GRAMMAR" in err, "schema that is not JSON",
       f"exit {code}, stdout {out!r}, stderr {err!r}")

# Output cut by --max-tokens before the grammar can end: exit status 3, the partial text on stdout.
code, out, err = run("--prompt", "hi", "--json-schema", schema_path, "--max-tokens", "3")
expect(code == 3 and out.startswith("{") and "incomplete" in err, "--max-tokens before the end",
       f"exit {code}, stdout {out!r}, stderr {err!r}")

# Usage errors.
for args in (["--choice", "a", "--grammar", gbnf], ["--choice", "a,,b"], ["--json-whitespace", "0", "--choice", "a"],
             ["--grammar-root", "x", "--json-schema", schema_path], ["--json-schema", schema_path, "--json-whitespace", "65"]):
    code, out, err = run("--prompt", "hi", *args)
    expect(code == 2 and out == "" and err.count("\n") == 1, f"usage error {args}", f"exit {code}, stderr {err!r}")
code, out, err = run("--prompt", "hi", "--json-schema", os.path.join(work, "no-such-schema.json"))
expect(code == 1 and "MMB_ERR_IO" in err, "missing schema file", f"exit {code}, stderr {err!r}")

for f in failures:
    print("FAIL", f)
print(f"generate_grammar: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
