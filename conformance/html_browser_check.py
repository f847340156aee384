"""Checks what headless Chromium made of an HTML report (html_browser_test.sh).

usage: html_browser_check.py DOM_FILE SCREENSHOT_PNG

The DOM (--dump-dom, after parsing) must hold the matrix with a FAIL and a
PASS cell, a failing outcome opened, and a chart row highlighted for the
broken `order` rule; the screenshot must show the colours of the FAIL cell
and of the highlighted row, which only a rendered page has. Python's
standard library only (no PyPI here): html.parser and a small PNG decoder.
"""

import html.parser
import struct
import sys
import zlib


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells = []  # (class, text) of the matrix's <td>s.
        self.violated_rows = []  # data-rule of highlighted chart rows.
        self.open_fail = 0
        self.scripts = 0
        self.svgs = 0
        self._in_matrix = False
        self._td = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "table" and a.get("id") == "matrix":
            self._in_matrix = True
        if tag == "td" and self._in_matrix:
            self._td = [" ".join(cls), ""]
        if tag == "g" and "row" in cls and "violated" in cls:
            self.violated_rows.append(a.get("data-rule", ""))
        if tag == "details" and "FAIL" in cls and "open" in a:
            self.open_fail += 1
        self.scripts += tag == "script"
        self.svgs += tag == "svg"

    def handle_endtag(self, tag):
        if tag == "td" and self._td is not None:
            self.cells.append((self._td[0], self._td[1].strip()))
            self._td = None
        if tag == "table":
            self._in_matrix = False

    def handle_data(self, data):
        if self._td is not None:
            self._td[1] += data


def png_pixels(path):
    """Yields (r, g, b) of every pixel of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and colour in (2, 6), "unexpected PNG format %d/%d" % (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev = bytearray(stride)
    for y in range(height):
        f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp):
            yield row[x], row[x + 1], row[x + 2]
        prev = row


def main(dom_file, png_file):
    dom = Dom()
    dom.feed(open(dom_file, encoding="utf-8", errors="replace").read())
    problems = []
    if not any("FAIL" in c and t.startswith("FAIL 0/") for c, t in dom.cells):
        problems.append("the matrix has no FAIL 0/N cell: %r" % dom.cells)
    if not any("PASS" in c and t.startswith("PASS ") for c, t in dom.cells):
        problems.append("the matrix has no PASS cell: %r" % dom.cells)
    if not any(r.startswith("order parent < will_start < run < end") for r in dom.violated_rows):
        problems.append("no chart row is highlighted for the broken order: %r" % dom.violated_rows)
    if dom.open_fail < 1:
        problems.append("the failing outcome's details are not open")
    if dom.svgs < 2:
        problems.append("expected a chart per outcome, found %d <svg>" % dom.svgs)
    if dom.scripts:
        problems.append("the report has %d <script> elements" % dom.scripts)
    colours = {(0xF8, 0xC8, 0xC8): "the FAIL cell (#f8c8c8)", (0xFF, 0xDD, 0xDD): "a highlighted row (#fdd)"}
    seen = dict.fromkeys(colours, 0)
    for px in png_pixels(png_file):
        if px in seen:
            seen[px] += 1
    for c, what in colours.items():
        if seen[c] < 200:
            problems.append("the screenshot does not show %s: %d pixels" % (what, seen[c]))
    for p in problems:
        print("html_browser_check: " + p)
    if not problems:
        print("html_browser_check: matrix %r, highlighted rows %d, colours %r" % (dom.cells, len(dom.violated_rows), seen))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
