"""Byte-level BPE: training, encoding, decoding, and the Hugging Face tokenizer.json
that `mmb pack --tokenizer` reads (model.type BPE, ByteLevel pre-tokenizer, GPT-2's
byte-to-unicode alphabet, merges by rank)."""
import collections
import json
import unicodedata

END_OF_TEXT = "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's table: each byte to a printable character (printable Latin-1 bytes map
    to themselves, the rest to 256 + n in order)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")


def _klass(ch):
    if ch.isspace():
        return "s"
    cat = unicodedata.category(ch)
    return "L" if cat[0] == "L" else "N" if cat[0] == "N" else "o"


def pretokenize(text):
    """GPT-2's split: 's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == "'":
            hit = next((c for c in ("re", "ve", "ll", "s", "t", "m", "d") if text.startswith(c, i + 1)), None)
            if hit:
                out.append(text[i:i + 1 + len(hit)])
                i += 1 + len(hit)
                continue
        start = i
        if text[i] == " " and i + 1 < n and _klass(text[i + 1]) != "s":
            i += 1
        k = _klass(text[i])
        if k != "s":
            while i < n and _klass(text[i]) == k:
                i += 1
            out.append(text[start:i])
            continue
        j = i
        while j < n and text[j].isspace():
            j += 1
        if j < n and j - i > 1:
            j -= 1  # leave the last space to the next word
        out.append(text[i:j])
        i = j
    return out


def _word_symbols(word):
    return tuple(BYTE_TO_CHAR[b] for b in word.encode("utf-8"))


def train(texts, vocab_size, min_frequency=2, specials=(END_OF_TEXT,)):
    """Learns merges until the vocabulary (256 bytes + merges + specials) has vocab_size
    entries. Returns (vocab: piece -> id, merges: [(a, b)] by rank)."""
    words = collections.Counter()
    for t in texts:
        words.update(pretokenize(t))
    seqs = [list(_word_symbols(w)) for w in words]
    freq = list(words.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for wi, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pairs[a, b] += freq[wi]
            where[a, b].add(wi)
    vocab = {BYTE_TO_CHAR[b]: b for b in range(256)}
    merges = []
    target = vocab_size - len(specials)
    while len(vocab) < target and pairs:
        (a, b), count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if count < min_frequency:
            break
        merged = a + b
        merges.append((a, b))
        vocab[merged] = len(vocab)
        for wi in list(where[a, b]):
            s, f = seqs[wi], freq[wi]
            for x, y in zip(s, s[1:]):
                pairs[x, y] -= f
                if pairs[x, y] <= 0:
                    del pairs[x, y]
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[wi] = out
            for x, y in zip(out, out[1:]):
                pairs[x, y] += f
                where[x, y].add(wi)
        pairs.pop((a, b), None)
        where.pop((a, b), None)
    for sp in specials:
        vocab[sp] = len(vocab)
    return vocab, merges


class Tokenizer:
    def __init__(self, vocab, merges, specials=(END_OF_TEXT,)):
        self.vocab = dict(vocab)
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: r for r, m in enumerate(self.merges)}
        self.specials = list(specials)
        self.pieces = {i: p for p, i in self.vocab.items()}
        self._cache = {}

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        specials = [t["content"] for t in j.get("added_tokens", [])]
        vocab = dict(j["model"]["vocab"])
        for t in j.get("added_tokens", []):
            vocab[t["content"]] = t["id"]
        return cls(vocab, merges, specials)

    def _bpe(self, word):
        if word in self._cache:
            return self._cache[word]
        s = list(_word_symbols(word))
        while len(s) > 1:
            best = min(range(len(s) - 1), key=lambda i: self.rank.get((s[i], s[i + 1]), 1 << 60))
            if (s[best], s[best + 1]) not in self.rank:
                break
            a, b = s[best], s[best + 1]
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            s = out
        ids = [self.vocab[p] for p in s]
        if len(self._cache) < 200000:
            self._cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for w in pretokenize(text):
            ids.extend(self._bpe(w))
        return ids

    def decode_bytes(self, ids):
        out = bytearray()
        for i in ids:
            p = self.pieces[i]
            out += p.encode("utf-8") if p in self.specials else bytes(CHAR_TO_BYTE[c] for c in p)
        return bytes(out)

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    @property
    def eos_id(self):
        return self.vocab.get(END_OF_TEXT)

    def to_json(self):
        added = [{"id": self.vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for s in self.specials]
        model_vocab = {p: i for p, i in self.vocab.items() if p not in self.specials}
        return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
                "normalizer": None,
                "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                  "use_regex": True},
                "post_processor": None,
                "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                            "use_regex": True},
                "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                          "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                          "vocab": model_vocab, "merges": [f"{a} {b}" for a, b in self.merges]}}

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False)


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Train a byte-level BPE tokenizer.json on text files")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    texts = [open(p, encoding="utf-8").read() for p in a.files]
    vocab, merges = train(texts, a.vocab_size)
    Tokenizer(vocab, merges).save(a.output)
    print(f"{a.output}: {len(vocab)} tokens, {len(merges)} merges")


if __name__ == "__main__":
    main()
