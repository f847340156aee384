#!/usr/bin/env bash
# The CPython implementations are the seed's programs verbatim: after each
# program's header comments (and, for a start-method variant, the two lines
# that choose the method), its text must be a piece of the seed tutorial,
# byte for byte. So nobody "fixes" a seed program to make it pass.
set -u
cd "${TEST_SRCDIR}/mp" || exit 1
exec python3 - <<'PY'
import os, re, sys
seed = open("conformance/seed/tutorial.txt", encoding="utf-8").read()
failed = 0
for impl in ["cpython", "cpython-u", "cpython-spawn", "cpython-forkserver"]:
    for scenario in ["fork", "process", "pool", "queue", "subprocess_call", "subprocess_communicate"]:
        path = f"conformance/impls/{impl}/{scenario}"
        lines = open(path, encoding="utf-8").read().split("\n")
        body = lines[:]
        while body and body[0].startswith("#"):
            body.pop(0)
        body = [l for l in body if l not in ("    import multiprocessing",
                                             "    multiprocessing.set_start_method('spawn')",
                                             "    multiprocessing.set_start_method('forkserver')")]
        text = "\n".join(body).rstrip("\n")
        # -u copies may have lost the seed's trailing blanks on empty lines.
        ok = text in seed or (impl == "cpython-u" and text in re.sub(r"[ \t]+\n", "\n", seed))
        method = re.search(r"set_start_method\('(\w+)'\)", "\n".join(lines))
        want = {"cpython-spawn": "spawn", "cpython-forkserver": "forkserver"}.get(impl)
        if want and scenario in ("process", "pool", "queue") and (not method or method.group(1) != want):
            ok = False
        print(("ok: " if ok else "NOT VERBATIM: ") + path)
        failed += not ok
sys.exit(1 if failed else 0)
PY
