"""Repository rules that adapt Debian's packaged Bazel rules and C++ libraries.

Every external dependency of mp comes from Debian (see README "Dependencies").
Each rule exposes its package under the upstream repository name and labels,
so the code builds unchanged against upstream archives: a project that vendors
mp can point these names at http_archive()s instead.
"""

def _debian_rules_cc_impl(rctx):
    # rules_cc 0.0.4 loads use_cpp_toolchain, which Bazel 4.2.3's
    # toolchain_utils.bzl does not define. Copy the tree and inline the value
    # that function returns for a Bazel without optional toolchains.
    src = rctx.attr.path
    rctx.execute(["cp", "-R", src + "/.", "."], quiet = True)
    for f in ["cc/private/rules_impl/compiler_flag.bzl", "cc/private/rules_impl/cc_flags_supplier.bzl"]:
        text = rctx.read(f)
        text = text.replace(', "use_cpp_toolchain")', ")")
        text = text.replace("use_cpp_toolchain()", '["@bazel_tools//tools/cpp:toolchain_type"]')
        rctx.file(f, text)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    attrs = {"path": attr.string(default = "/usr/share/bazel/rules/cc")},
    local = True,
)

# Abseil: Debian ships one shared library per component and the headers on the
# default include path. Every upstream label below links the component
# libraries through one shared target; --as-needed keeps only those a binary
# really uses, so the result matches upstream's per-component linking.
_ABSL_LABELS = {
    "absl/algorithm": ["algorithm", "container"],
    "absl/base": ["base", "core_headers", "log_severity"],
    "absl/cleanup": ["cleanup"],
    "absl/container": ["btree", "fixed_array", "flat_hash_map", "flat_hash_set", "inlined_vector", "node_hash_map", "node_hash_set"],
    "absl/debugging": ["failure_signal_handler", "stacktrace", "symbolize"],
    "absl/flags": ["flag", "parse", "reflection", "usage", "marshalling"],
    "absl/functional": ["any_invocable", "bind_front", "function_ref"],
    "absl/hash": ["hash"],
    "absl/memory": ["memory"],
    "absl/numeric": ["bits", "int128"],
    "absl/random": ["random", "distributions", "bit_gen_ref"],
    "absl/status": ["status", "statusor"],
    "absl/strings": ["strings", "str_format", "cord"],
    "absl/synchronization": ["synchronization"],
    "absl/time": ["time"],
    "absl/types": ["any", "optional", "span", "variant", "compare"],
    "absl/utility": ["utility"],
}

def _system_absl_impl(rctx):
    libdir = rctx.attr.libdir
    listing = rctx.execute(["sh", "-c", "ls " + libdir + " | sed -n 's/^lib\\(absl_.*\\)\\.so$/\\1/p'"])
    libs = [l for l in listing.stdout.strip().split("\n") if l]
    if not libs:
        fail("no libabsl_*.so in %s: install Debian's libabsl-dev (tools/bazel does this)" % libdir)
    linkopts = ["-L" + libdir, "-Wl,--as-needed"] + ["-l" + l for l in libs] + ["-Wl,--no-as-needed"]
    rctx.file("WORKSPACE", 'workspace(name = "com_google_absl")\n')
    rctx.file("BUILD", "\n".join([
        'package(default_visibility = ["//visibility:public"])',
        "cc_library(",
        '    name = "system_libs",',
        "    linkopts = %r," % linkopts,
        ")",
        "",
    ]))
    for pkg, names in _ABSL_LABELS.items():
        # The package's own name is always a label too (//absl/strings).
        targets = names if pkg.split("/")[-1] in names else names + [pkg.split("/")[-1]]
        rctx.file(pkg + "/BUILD", "\n".join(
            ['package(default_visibility = ["//visibility:public"])'] +
            ['cc_library(name = "%s", deps = ["//:system_libs"])' % t for t in targets],
        ) + "\n")

system_absl = repository_rule(
    implementation = _system_absl_impl,
    attrs = {"libdir": attr.string(default = "/usr/lib/x86_64-linux-gnu")},
    local = True,
)

def _system_static_libs_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    lines = ['package(default_visibility = ["//visibility:public"])']
    for name, opts in rctx.attr.targets.items():
        lines.append("cc_library(name = %r, linkopts = %r)" % (name, opts))
    rctx.file("BUILD", "\n".join(lines) + "\n")

# GoogleTest, Google Benchmark and cereal: headers in /usr/include, libraries
# in the default search path. Only the link options differ per target.
system_libs = repository_rule(
    implementation = _system_static_libs_impl,
    attrs = {"targets": attr.string_list_dict()},
    local = True,
)
