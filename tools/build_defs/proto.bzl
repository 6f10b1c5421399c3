"""corio_cc_grpc_library: C++ messages and gRPC service stubs from a .proto.

Runs the system protoc and grpc_cpp_plugin (Debian's protobuf-compiler and
protobuf-compiler-grpc) in a genrule; nothing is downloaded. For `foo.proto`
in package `p` it defines:
  <name>        cc_library with foo.pb.h and foo.grpc.pb.h, included as
                "corio/p/foo.pb.h" and "corio/p/foo.grpc.pb.h".
"""

load(":copts.bzl", "corio_cc_library")

def corio_cc_grpc_library(name, src, deps = [], grpc = True, visibility = None):
    """C++ message (and, with grpc, service) code for one .proto file.

    Args:
      name: the cc_library to define.
      src: the .proto file, in this package.
      deps: cc_library targets the generated code needs (imported protos).
      grpc: also run grpc_cpp_plugin for service stubs.
      visibility: of the cc_library.
    """
    stem = src[:-len(".proto")]
    outs = [stem + ".pb.h", stem + ".pb.cc"]
    if grpc:
        outs += [stem + ".grpc.pb.h", stem + ".grpc.pb.cc"]
    cmd = "protoc --proto_path=. --proto_path=/usr/include --cpp_out=$(GENDIR)"
    if grpc:
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin)"
    cmd += " $(location " + src + ")"
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = cmd,
        message = "protoc " + src,
    )
    corio_cc_library(
        name = name,
        hdrs = [o for o in outs if o.endswith(".h")],
        srcs = [o for o in outs if o.endswith(".cc")],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc++"] if grpc else []),
        copts = ["-Wno-error", "-Wno-unused-parameter"],
        visibility = visibility,
    )
