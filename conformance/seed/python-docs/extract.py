#!/usr/bin/env python3
"""Extracts the code and output blocks of Python's multiprocessing
documentation page, in page order, as plain text (what `multiprocessing.txt`
beside this script holds).

    python3 extract.py /usr/share/doc/python3.11/html/library/multiprocessing.html > multiprocessing.txt

The page comes from Debian's python3.11-doc package; each block is the text
of one <div class="highlight-..."><pre>, tags removed and entities decoded,
exactly as a reader copies it from the page.
"""
import html
import re
import sys


def main(path):
    page = open(path, encoding="utf-8").read()
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    blocks = re.findall(r'<div class="highlight-[\w-]+ notranslate"><div class="highlight"><pre>(.*?)</pre>', page, re.S)
    out = sys.stdout
    out.write("# The code and output blocks of %s\n" % html.unescape(title))
    out.write("# (library/multiprocessing.html), in page order, extracted by extract.py.\n")
    for i, block in enumerate(blocks):
        text = html.unescape(re.sub(r"<[^>]+>", "", block))
        out.write("\n===== block %d =====\n" % i)
        out.write(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
