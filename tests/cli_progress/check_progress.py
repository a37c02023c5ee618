"""The mmb CLI's progress on stderr (sdk/tools/lib/progress_display.hpp), in its three
styles, on real commands:

  (a) stderr a terminal (a pseudo-terminal): each step is one bar line redrawn with '\\r'
      that reaches 100% and ends with a newline (synth, verify, pack, bench load);
  (b) stderr a pipe: plain lines, never '\\r', ending with a 100% line for a long step
      (synth of mamba-130m, seconds of work), and nothing for quick work;
  (c) --quiet: nothing on stderr, even on a terminal.
stdout holds the commands' usual output only, in every style.

usage: check_progress.py WORK_DIR MMB [LAUNCHER...]   (LAUNCHER: an emulator, cross builds)
Exit 0 passed, 1 failed, 77 skipped (the machine made the long step too quick to log).
"""
import os
import re
import shutil
import subprocess
import sys
import time
import tty

work, mmb, launcher = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3:]
failures = []


def check(ok, what, output=""):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}\n{output!r}"[:4000], file=sys.stderr)


def run_piped(*args):
    """(stdout, stderr, seconds) of mmb ARGS with both piped."""
    t0 = time.monotonic()
    r = subprocess.run(launcher + [mmb, *args], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seconds = time.monotonic() - t0
    check(r.returncode == 0, f"mmb {' '.join(args)} exited {r.returncode}", r.stderr)
    return r.stdout.decode(), r.stderr.decode(), seconds


def run_on_terminal(*args):
    """(stdout, stderr) of mmb ARGS with stderr a pseudo-terminal in raw mode (so that the
    bytes read are the bytes written: no '\\n' -> '\\r\\n'), stdout a pipe."""
    master, slave = os.openpty()
    tty.setraw(slave)
    p = subprocess.Popen(launcher + [mmb, *args], cwd=work, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        err += chunk
    out = p.stdout.read()
    p.wait()
    os.close(master)
    check(p.returncode == 0, f"mmb {' '.join(args)} exited {p.returncode}", err)
    return out.decode(), err.decode()


def check_stdout(out, what, first_word):
    check("\r" not in out and out.startswith(first_word), f"{what}: stdout holds only the command's own output", out)


# One frame of a bar: "synth: write [#####.....]  45%  232.1 / 516.2 MiB ..." (no bar
# where the terminal is too narrow for one).
FRAME = re.compile(r"^(?P<step>.*?)(?: \[[#.]*\])? +(?P<percent>\d+)%  ")


def check_bars(err, what, steps):
    """Every step of `steps` ("synth: write") is a '\\r' bar: drawn at least twice (0% then
    100%), its last frame at 100% and followed by a newline, nothing else on its line."""
    lines = err.split("\n")
    check(lines[-1] == "", f"{what}: the last bar ends with a newline", err)
    shown = []
    for line in lines[:-1]:
        frames = line.split("\r")
        check(frames[0] == "" and len(frames) >= 3, f"{what}: each line is a bar redrawn with '\\r'", line)
        matches = [FRAME.match(f) for f in frames[1:]]
        check(all(matches), f"{what}: each frame reads 'STEP [bar] N%  ...'", line)
        if len(frames) < 3 or not all(matches):
            continue
        step = matches[-1].group("step")
        shown.append(step)
        check(all(m.group("step") == step for m in matches), f"{what}: one step per line", line)
        check(matches[0].group("percent") == "0", f"{what}: the bar of {step!r} starts at 0%", line)
        check(matches[-1].group("percent") == "100", f"{what}: the bar of {step!r} reaches 100%", line)
        check(re.search(r" in (\d+\.\d s|\d+m\d+s)", frames[-1]) is not None, f"{what}: the last frame says how long", line)
    for step in steps:
        check(step in shown, f"{what}: a bar for {step!r} (bars: {shown})", err)


def check_lines(err, what, step):
    """Plain lines, no '\\r'; the step's lines climb to a final 100% line."""
    check("\r" not in err, f"{what}: no '\\r' on a pipe", err)
    matches = [FRAME.match(l) for l in err.splitlines()]
    lines = [m.string for m in matches if m and m.group("step") == step]
    check(bool(lines), f"{what}: progress lines for {step!r}", err)
    if lines:
        percents = [int(FRAME.match(l).group("percent")) for l in lines]
        check(percents == sorted(percents), f"{what}: percentages of {step!r} climb", err)
        check(percents[-1] == 100 and " in " in lines[-1], f"{what}: a final 100% line for {step!r}", err)
    check(len(err.splitlines()) <= 40, f"{what}: a few lines, not one per callback", err)


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# (a) A terminal: bars. bf16 on one thread keeps each step long enough to redraw.
out, err = run_on_terminal("synth", "--shape", "mamba-130m", "--dtype", "bf16", "--threads", "1", "-o", "big.mmb")
check_stdout(out, "synth on a terminal", "wrote big.mmb")
check_bars(err, "synth on a terminal", ["synth: generate", "synth: write"])
out, err = run_on_terminal("verify", "--threads", "1", "big.mmb")
check_stdout(out, "verify on a terminal", "ok: big.mmb")
check_bars(err, "verify on a terminal", ["verify: check"])
run_piped("synth", "--shape", "tiny", "-o", "tiny.mmb")
out, err = run_on_terminal("pack", "tiny.mmb", "--dtype", "bf16", "-o", "tiny-bf16.mmb")
check_stdout(out, "pack on a terminal", "packed tiny-bf16.mmb")
check_bars(err, "pack on a terminal", ["pack: read", "pack: convert", "pack: write"])
out, err = run_on_terminal("bench", "load", "--shape", "tiny", "--repeat", "1", "--dir", ".")
check_stdout(out, "bench load on a terminal", "mmb bench load")
check_bars(err, "bench load on a terminal", ["bench load: generate f32", "bench load: write raw.mmb"])

# (b) A pipe: plain lines for a step of seconds, nothing for quick ones.
out, err, seconds = run_piped("synth", "--shape", "mamba-130m", "-o", "big.mmb")
check_stdout(out, "synth on a pipe", "wrote big.mmb")
if seconds < 1.5 and not err:
    print(f"SKIP: synth of mamba-130m took {seconds:.2f} s here, too quick for progress lines", file=sys.stderr)
    sys.exit(77 if not failures else 1)
check_lines(err, "synth on a pipe", "synth: generate")
out, err, _ = run_piped("verify", "big.mmb")
check_stdout(out, "verify on a pipe", "ok: big.mmb")
check("\r" not in err, "verify on a pipe: no '\\r'", err)
check(not err or err.splitlines()[-1].startswith("verify: check 100%"), "verify on a pipe: lines end at 100%", err)
out, err, _ = run_piped("synth", "--shape", "tiny", "-o", "tiny.mmb")
check(err == "", "quick synth on a pipe: nothing on stderr", err)

# (c) --quiet: nothing at all, even on a terminal (where every step is otherwise shown).
for args in (["synth", "--shape", "tiny", "--quiet", "-o", "quiet.mmb"], ["verify", "--quiet", "quiet.mmb"],
             ["pack", "quiet.mmb", "--dtype", "bf16", "--quiet", "-o", "quiet-bf16.mmb"],
             ["bench", "load", "--shape", "tiny", "--repeat", "1", "--dir", ".", "--quiet"]):
    out, err = run_on_terminal(*args)
    check(err == "", f"mmb {' '.join(args)} on a terminal: nothing on stderr", err)
    check(out != "", f"mmb {' '.join(args)}: its output on stdout", out)

shutil.rmtree(work, ignore_errors=True)
print("FAILED: " + "; ".join(failures) if failures else "ok: bars on a terminal, lines on a pipe, silence with --quiet")
sys.exit(1 if failures else 0)
