"""python3 -m moemamba_kit.convert INPUT -o OUT_DIR

Exit status: 0 converted, 1 the checkpoint cannot be converted (one line on stderr
saying why), 2 bad arguments, 3 PyTorch is missing, 4 a bug in the converter (traceback).
"""
import argparse
import sys
import traceback


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m moemamba_kit.convert",
                                 description="Convert a public Mamba / MoE-Mamba checkpoint (HF Mamba, mamba_ssm, "
                                             "BlackMamba, llm-random) into safetensors + config.json for `mmb pack`.")
    ap.add_argument("input", help="checkpoint directory (config.json + pytorch_model.bin / *.pt) or the file itself")
    ap.add_argument("-o", "--output", required=True, help="directory to write model.safetensors and config.json to")
    a = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"moemamba_kit.convert: PyTorch is not installed for {sys.executable} "
              f"(Debian: apt-get install python3-torch)", file=sys.stderr)
        return 3
    from . import ConvertError, convert
    try:
        family = convert(a.input, a.output)
    except ConvertError as e:
        print(f"moemamba_kit.convert: {e}", file=sys.stderr)
        return 1
    except Exception:  # not the checkpoint's fault: keep the traceback for the report
        traceback.print_exc()
        return 4
    print(f"converted {a.input} ({family}) -> {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
