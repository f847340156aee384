"""The suite's tests, one Bazel test each so that `bazel test //conformance/...`
runs them in parallel. Scenarios, transcripts and controls are discovered
from their files (scenarios/*.spec, transcripts/*.txt, expected-fail/*/EXPECTED),
never listed here."""

# The built-in implementations (conformance/impls/NAME), each judged on every scenario.
IMPLS = ["mp", "cpython", "cpython-u", "cpython-spawn", "cpython-forkserver"]

def scenario_tests():
    """In conformance/scenarios/BUILD: IMPL_ID_test for every implementation
    and every scenario spec; each must meet its expectations (exit status 0)."""
    for spec in native.glob(["*.spec"]):
        s = spec[:-len(".spec")]
        for impl in IMPLS:
            native.sh_test(
                name = "%s_%s_test" % (impl, s),
                size = "medium",
                srcs = ["//conformance:pair_test.sh"],
                args = ["$(rootpath //conformance)", "--impl=" + impl, "--scenario=" + s],
                data = ["//conformance"],
            )

def transcript_tests():
    """In conformance/transcripts/BUILD: each documented output, checked with
    --transcript against the scenario of its name."""
    for t in native.glob(["*.txt"]):
        s = t[:-len(".txt")]
        native.sh_test(
            name = "transcript_%s_test" % s,
            size = "small",
            srcs = ["//conformance:pair_test.sh"],
            args = ["$(rootpath //conformance)", "--transcript=$(rootpath %s)" % t, "--scenario=" + s],
            data = ["//conformance", t],
        )

def conformance_tests():
    # The fallback without ptrace: text-only checks must still pass CPython.
    native.sh_test(
        name = "cpython_text_only_test",
        size = "medium",
        srcs = ["pair_test.sh"],
        args = ["$(rootpath :conformance)", "--impl=cpython-u", "--no-trace"],
        data = [":conformance"],
    )
    native.sh_test(
        name = "cli_test",
        size = "large",
        srcs = ["cli_test.sh"],
        args = ["$(rootpath :conformance)"],
        data = [
            ":conformance",
            "//conformance/expected-fail:missing_join",
            "//conformance/transcripts:fork.txt",
        ],
    )

    # The HTML report in headless Chromium (tools/bazel installs chromium
    # for the commands that can run this test; without it the test FAILs).
    # Medium: two Chromium launches of a few seconds each.
    native.sh_test(
        name = "html_browser_test",
        size = "medium",
        srcs = ["html_browser_test.sh"],
        args = [
            "$(rootpath :conformance)",
            "conformance/expected-fail/missing_join",
            "$(rootpath :html_browser_check.py)",
        ],
        data = [
            ":conformance",
            ":html_browser_check.py",
            "//conformance/expected-fail:missing_join",
        ],
    )

def expected_fail_tests():
    """In conformance/expected-fail/BUILD: one test per control, that is per
    directory with an EXPECTED file (discovered, never listed). A control with
    a PERTURB file is a schedule perturbation control: it must PASS
    unperturbed and FAIL perturbed (perturb_control_<name>_test)."""
    for expected in native.glob(["*/EXPECTED"]):
        c = expected[:-len("/EXPECTED")]
        native.filegroup(name = c, srcs = native.glob([c + "/*"]))
        if native.glob([c + "/PERTURB"]):
            # Up to 8 unperturbed runs and 10 perturbed ones: 10 to 30 s.
            native.sh_test(
                name = "perturb_control_%s_test" % c,
                size = "medium",
                srcs = ["//conformance:perturb_control_test.sh"],
                args = ["$(rootpath //conformance)", "conformance/expected-fail/" + c],
                data = ["//conformance", ":" + c],
            )
            continue
        native.sh_test(
            name = "expected_fail_%s_test" % c,
            size = "medium",
            srcs = ["//conformance:expected_fail_test.sh"],
            args = ["$(rootpath //conformance)", "conformance/expected-fail/" + c],
            data = ["//conformance", ":" + c],
        )

# The runner against hostile implementations (conformance/hostile): each entry
# is (implementation, --timeout seconds, report regexps, and more regexps per
# observer). Each runs once per observer (hostile_NAME_bpf_test,
# hostile_NAME_ptrace_test). Every test also bounds the runner's wall time
# (60 s) and peak RSS (512 MiB), and checks that no process of the
# implementation survives.
HOSTILE = [
    ("forker", 30, [
        # Under TSan the 10k forks can outlast the timeout (CI saw it once):
        # also a bounded, clear end, where the runner kills the tree instead.
        "forked 10000|the run ends within its timeout",
        "fork +FAIL",
        "no-leftovers|the runner killed the process tree",
        "killed by the runner|the runner killed the process tree"]),
    ("flood", 30, ["fork +FAIL", "incomplete observation: the output passed the runner.s cap and was truncated"]),
    ("lingerer", 10, ["fork +FAIL", "no-leftovers", "killed by the runner"]),
    ("stubborn", 5, ["fork +FAIL", "the run ends within its timeout", "timed out"]),
    ("session_leaver", 10, ["fork +FAIL", "no-leftovers", "killed by the runner"]),
    ("escaper", 10, [
        "escaper io_uring_setup=-1 errno=38",
        "\\[pid [0-9]+\\] escaper helper", "fork +FAIL", "no-leftovers", "killed by the runner"], {
        # Under ptrace, the ways out of the tracer fail.
        "ptrace": ["escaper traceme=-1", "escaper clone3=-1 errno=38"],
        # Nothing leaves BPF's sight: both work, and clone3's child is seen.
        "bpf": ["escaper traceme=0", "\\[pid [0-9]+\\] escaper clone3=0 "],
    }),
]

def hostile_tests():
    for entry in HOSTILE:
        name, timeout, regexps = entry[0], entry[1], entry[2]
        for observer in ["bpf", "ptrace"]:
            extra = entry[3].get(observer, []) if len(entry) > 3 else []
            _hostile_test(name, timeout, observer, regexps + extra)

def _hostile_test(name, timeout, observer, regexps):
    native.sh_test(
        name = "hostile_%s_%s_test" % (name, observer),
        size = "large",
        srcs = ["//conformance/hostile:hostile_test.sh"],
        args = [
            "$(rootpath :conformance)",
            "conformance/hostile/" + name,
            "fork",
            str(timeout),
            "60",
            str(512 * 1024),
            observer,
        # Quoted: Bazel splits args at spaces.
        ] + ["'%s'" % r for r in regexps],
        data = [":conformance", "//conformance/hostile:" + name],
    )
