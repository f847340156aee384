"""fuzz_regression_test: replays a libFuzzer target's committed inputs under
`bazel test`, with the normal toolchain (tools/fuzz.sh runs the fuzzers)."""

load("@rules_cc//cc:defs.bzl", "cc_test")

def fuzz_regression_test(name, target, corpus = [], prefixes = [], data = [], min_files = 2):
    """A cc_test that feeds every file of each directory to `target`.

    Args:
      name: the test's name.
      target: the cc_library (alwayslink) that defines LLVMFuzzerTestOneInput.
      corpus: directories (relative to the workspace) whose files are replayed whole.
      prefixes: directories whose files are replayed at every prefix length.
      data: the files of those directories (globs), for the runfiles.
      min_files: the test fails if fewer files were replayed.
    """
    cc_test(
        name = name,
        size = "small",
        args = ["--corpus=" + d for d in corpus] + ["--prefixes=" + d for d in prefixes] +
               ["--min_files=%d" % min_files],
        data = data,
        deps = [
            target,
            "//testing:fuzz_replay_main",
        ],
    )
