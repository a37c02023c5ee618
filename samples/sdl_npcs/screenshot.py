#!/usr/bin/python3
"""The sdl_npcs sample's screenshot (an uncompressed BMP, as SDL_SaveBMP writes it).

  screenshot.py check FILE.bmp INK   checks that the frame is not blank and that text in
                                     the ink colour (RRGGBB hex, the colour the sample
                                     draws generated text in) covers some of it
  screenshot.py png FILE.bmp OUT.png converts it (numpy and matplotlib)

The BMP reader is our own, standard library only, so the check needs nothing installed.
"""
import collections
import struct
import sys


def read_bmp(path):
    """Returns (width, height, rows): rows top to bottom, each a list of 0xRRGGBB."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 54 or data[:2] != b"BM":
        raise ValueError(f"{path}: not a BMP file")
    offset, = struct.unpack_from("<I", data, 10)
    header_size, width, height, _planes, bpp, compression = struct.unpack_from("<IiiHHI", data, 14)
    if bpp not in (24, 32) or compression not in (0, 3):
        raise ValueError(f"{path}: {bpp} bits per pixel, compression {compression}: only 24/32-bit uncompressed")
    masks = (0xFF0000, 0xFF00, 0xFF)
    if compression == 3:  # BI_BITFIELDS: red, green, blue masks after the 40-byte header
        masks = struct.unpack_from("<III", data, 14 + 40)
    shifts = [(m & -m).bit_length() - 1 for m in masks]
    stride = (width * bpp + 31) // 32 * 4
    if width <= 0 or height == 0 or offset + stride * abs(height) > len(data):
        raise ValueError(f"{path}: {width}x{height} does not fit in {len(data)} bytes")
    rows = []
    for r in range(abs(height)):
        base = offset + stride * r
        row = []
        for x in range(width):
            p = base + x * (bpp // 8)
            if bpp == 24:
                b, g, red = data[p], data[p + 1], data[p + 2]
                row.append(red << 16 | g << 8 | b)
            else:
                v, = struct.unpack_from("<I", data, p)
                row.append(sum(((v & m) >> s) << (16 - 8 * i) for i, (m, s) in enumerate(zip(masks, shifts))))
        rows.append(row)
    if height > 0:  # bottom-up, the usual order
        rows.reverse()
    return width, abs(height), rows


def check(path, ink_hex):
    width, height, rows = read_bmp(path)
    ink = int(ink_hex, 16)
    counts = collections.Counter(p for row in rows for p in row)
    background, background_n = counts.most_common(1)[0]
    total = width * height
    drawn = total - background_n
    ink_n = counts[ink]
    print(f"screenshot: {width}x{height}, {len(counts)} colours, {drawn} pixels ({100.0 * drawn / total:.1f}%) "
          f"not the background {background:06x}, {ink_n} in the ink of generated text {ink:06x}")
    problems = []
    if len(counts) < 5:
        problems.append(f"only {len(counts)} colours")
    if drawn < total // 20:
        problems.append("less than 5% of the frame differs from the background")
    if ink_n < 500:  # about eight characters at the sample's text scale
        problems.append("almost no generated text")
    for p in problems:
        print(f"screenshot: FAIL: {p}")
    return 1 if problems else 0


def to_png(path, out):
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    _, _, rows = read_bmp(path)
    a = np.array(rows, dtype=np.uint32)
    rgb = np.stack([(a >> 16) & 0xFF, (a >> 8) & 0xFF, a & 0xFF], axis=-1).astype(np.uint8)
    plt.imsave(out, rgb)
    print(f"{out}: {rgb.shape[1]}x{rgb.shape[0]}")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "png":
        return to_png(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
