#!/usr/bin/env bash
# The CPython implementations are the seed's programs verbatim: after each
# program's header comments (and, for a start-method variant, the two lines
# that choose the method), its text must be a piece of the seed tutorial,
# byte for byte. So nobody "fixes" a seed program to make it pass. The
# docs_* programs are likewise checked against the copy of Python's
# multiprocessing documentation (conformance/seed/python-docs), each against
# one whole code block of it.
set -u
cd "${TEST_SRCDIR}/mp" || exit 1
exec python3 - <<'PY'
import os, re, sys
seed = open("conformance/seed/tutorial.txt", encoding="utf-8").read()
docs = open("conformance/seed/python-docs/multiprocessing.txt", encoding="utf-8").read()
# The documentation's blocks, each whole (a program must be one of them).
doc_blocks = [b.rstrip("\n") for b in re.split(r"\n===== block \d+ =====\n", docs)[1:]]
DOCS = ["docs_pool", "docs_queue", "docs_pipe", "docs_lock", "docs_value_array"]
METHOD_LINES = ("    import multiprocessing",
                "    multiprocessing.set_start_method('spawn')",
                "    multiprocessing.set_start_method('forkserver')")


def program(path):
    """The program's text without its header comments and the lines that
    choose a start method, and the start method it chooses (or None)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    body = lines[:]
    while body and body[0].startswith("#"):
        body.pop(0)
    body = [l for l in body if l not in METHOD_LINES]
    method = re.search(r"set_start_method\('(\w+)'\)", "\n".join(lines))
    return "\n".join(body).rstrip("\n"), method.group(1) if method else None


failed = 0
for impl in ["cpython", "cpython-u", "cpython-spawn", "cpython-forkserver"]:
    want = {"cpython-spawn": "spawn", "cpython-forkserver": "forkserver"}.get(impl)
    for scenario in ["fork", "process", "pool", "queue", "subprocess_call", "subprocess_communicate"]:
        path = f"conformance/impls/{impl}/{scenario}"
        text, method = program(path)
        # -u copies may have lost the seed's trailing blanks on empty lines.
        ok = text in seed or (impl == "cpython-u" and text in re.sub(r"[ \t]+\n", "\n", seed))
        if want and scenario in ("process", "pool", "queue") and method != want:
            ok = False
        print(("ok: " if ok else "NOT VERBATIM: ") + path)
        failed += not ok
    for scenario in DOCS:
        path = f"conformance/impls/{impl}/{scenario}"
        text, method = program(path)
        # A whole block, with the start method of its implementation (none
        # for cpython and cpython-u).
        ok = text in doc_blocks and method == want
        print(("ok: " if ok else "NOT VERBATIM: ") + path)
        failed += not ok
sys.exit(1 if failed else 0)
PY
