"""Every printing mmb subcommand, with its standard output closed early, ends quietly
as `cat` or `ls` do: either a normal exit or death by SIGPIPE, and nothing on stderr
beyond what the same command prints there with its output open (its closing figures),
so no "Broken pipe", no error report, no crash.

Three ways the output closes: a pipe whose reader is already gone (the write fails at
once; run with SIGPIPE ignored in mmb's parent, which mmb inherits, and at its default),
and `mmb ... | head -n 1` through the shell.
Usage: closed_output.py MMB BUNDLE WORK_DIR
"""
import os
import re
import signal
import subprocess
import sys

mmb, bundle, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
synth_out = os.path.join(work, "closed_output_synth.mmb")
logits_out = os.path.join(work, "closed_output_logits.npy")
commands = [
    ["help"],
    ["--version"],
    ["inspect", bundle],
    ["inspect", "--summary", bundle],
    ["verify", bundle],
    ["generate", bundle, "--prompt", "The old man", "--max-tokens", "64", "--seed", "1"],
    ["logits", bundle, "--tokens", "1,2,3", "--out", logits_out],
    ["synth", "--shape", "tiny", "--seed", "1", "-o", synth_out],
    ["bench", "load", bundle],
    ["pack", "--help"],
    ["convert", "--help"],
]
SIGPIPE_DEATH = -signal.SIGPIPE
failures = []


def shape(text):
    """A stderr line with its figures blanked: timings differ from run to run."""
    return re.sub(rb"[0-9]+(\.[0-9]+)?", b"#", text.strip())


def check(label, returncode, stderr, usual):
    quiet = all(shape(line) in usual for line in stderr.splitlines() if line.strip())
    ok_status = returncode in (0, SIGPIPE_DEATH, 128 + signal.SIGPIPE)
    print(f"{'ok  ' if quiet and ok_status else 'FAIL'} {label}: status {returncode}, stderr {len(stderr)} bytes")
    if not (quiet and ok_status):
        failures.append(f"{label}: status {returncode}, stderr: {stderr.decode(errors='replace')[:300]}")


def run_into_closed_pipe(args, sigpipe):
    """mmb writes into a pipe whose read end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    old = signal.signal(signal.SIGPIPE, sigpipe)
    try:
        # restore_signals=False: the child inherits this process's SIGPIPE disposition.
        p = subprocess.run([mmb] + args, stdout=write_end, stderr=subprocess.PIPE, restore_signals=False,
                           timeout=300)
    finally:
        signal.signal(signal.SIGPIPE, old)
        os.close(write_end)
    return p.returncode, p.stderr


for args in commands:
    name = " ".join(a if a not in (bundle, synth_out, logits_out) else os.path.basename(a) for a in args)
    normal = subprocess.run([mmb] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    if normal.returncode != 0:
        failures.append(f"mmb {name} failed with its output open: {normal.stderr.decode(errors='replace')[:300]}")
        continue
    usual = {shape(line) for line in normal.stderr.splitlines()}
    for label, disposition in (("SIGPIPE ignored", signal.SIG_IGN), ("SIGPIPE default", signal.SIG_DFL)):
        status, err = run_into_closed_pipe(args, disposition)
        check(f"mmb {name} > closed pipe ({label})", status, err, usual)
    shell = subprocess.run(["bash", "-c", 'set -o pipefail; "$@" | head -n 1 >/dev/null', "bash", mmb] + args,
                           stderr=subprocess.PIPE, timeout=300)
    check(f"mmb {name} | head -n 1", shell.returncode, shell.stderr, usual)

if failures:
    print("\n".join(["", "failures:"] + failures))
    sys.exit(1)
print(f"all {len(commands)} commands end quietly when their output closes")
