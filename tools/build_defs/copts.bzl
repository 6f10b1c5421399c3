"""Compiler flags and the library/test/benchmark macros every module uses.

One place for copts (like Abseil's configure_copts.bzl) and for the include
prefix, so that every public header is reached as "corio/<module>/<file>.h".
"""

CORIO_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

def corio_cc_library(name, hdrs = [], srcs = [], deps = [], copts = [], visibility = None, testonly = False, **kwargs):
    """A cc_library whose headers are included as corio/<package>/<file>.h."""
    native.cc_library(
        name = name,
        hdrs = hdrs,
        srcs = srcs,
        deps = deps,
        copts = CORIO_COPTS + copts,
        include_prefix = "corio/" + native.package_name(),
        visibility = visibility if visibility != None else ["//visibility:public"],
        testonly = testonly,
        **kwargs
    )

def corio_cc_test(name, srcs, deps = [], copts = [], size = "small", **kwargs):
    """A GoogleTest binary (main from gtest_main)."""
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + ["//third_party:gtest_main", "//third_party:gmock"],
        copts = CORIO_COPTS + copts,
        size = size,
        **kwargs
    )

def corio_cc_benchmark(name, srcs, deps = [], copts = [], **kwargs):
    """A Google Benchmark binary: `bazel run -c opt //<module>:<name>`.

    Tagged "benchmark" and "manual" so `bazel test //...` never times it.
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + ["//third_party:benchmark_main"],
        copts = CORIO_COPTS + copts,
        tags = ["benchmark", "manual"],
        testonly = True,
        **kwargs
    )

def corio_cc_binary(name, srcs, deps = [], copts = [], **kwargs):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps,
        copts = CORIO_COPTS + copts,
        **kwargs
    )
