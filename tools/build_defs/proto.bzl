"""corio_cc_grpc_library: C++ messages and gRPC service stubs from a .proto.

Runs the system protoc and grpc_cpp_plugin (Debian's protobuf-compiler and
protobuf-compiler-grpc) in a genrule; nothing is downloaded. For `foo.proto`
in package `p` it defines:
  <name>        cc_library with foo.pb.h and foo.grpc.pb.h, included as
                "corio/p/foo.pb.h" and "corio/p/foo.grpc.pb.h".

A .proto of another repository (a system one, such as Debian's grpc-proto
package, see //third_party:grpc_proto.BUILD) is compiled with that
repository's root as its import root, so its imports resolve as they were
written: for src = "@grpc_proto//:grpc/testing/test.proto" in package `p`,
  <name>        cc_library whose headers are included as
                "corio/p/grpc/testing/test.pb.h" (and .grpc.pb.h), and also
                as "grpc/testing/test.pb.h", the path the generated code of
                the protos importing it uses.
"""

load(":copts.bzl", "corio_cc_library")

def _external_proto(src):
    """(import root, import path) of a .proto label in another repository."""
    repo, _, rest = src[1:].partition("//")
    pkg, _, file = rest.partition(":")
    return "external/" + repo, (pkg + "/" if pkg else "") + file

def corio_cc_grpc_library(name, src, deps = [], grpc = True, visibility = None, imports = []):
    """C++ message (and, with grpc, service) code for one .proto file.

    Args:
      name: the cc_library to define.
      src: the .proto file, in this package, or a label of one in another
        repository ("@repo//:dir/x.proto"), whose root is its import root.
      deps: cc_library targets the generated code needs (imported protos).
      grpc: also run grpc_cpp_plugin for service stubs.
      visibility: of the cc_library.
      imports: for a src of another repository, the .proto files of that
        repository it imports (protoc reads them; their code comes from deps).
    """
    external = src.startswith("@")
    if external:
        # Generated into a directory of its own, laid out as the import
        # paths: that directory is added to the include path, so that
        # "grpc/testing/messages.pb.h", as protoc writes it into the code
        # of the protos that import it, resolves; nothing else is in it.
        root, import_path = _external_proto(src)
        gen_dir = name + "_pb"
        stem = gen_dir + "/" + import_path[:-len(".proto")]
        proto_path = "--proto_path=" + root
        out_dir = "$(RULEDIR)/" + gen_dir
    else:
        stem = src[:-len(".proto")]
        proto_path = "--proto_path=."
        out_dir = "$(GENDIR)"
    outs = [stem + ".pb.h", stem + ".pb.cc"]
    if grpc:
        outs += [stem + ".grpc.pb.h", stem + ".grpc.pb.cc"]
    cmd = "protoc " + proto_path + " --proto_path=/usr/include --cpp_out=" + out_dir
    if grpc:
        cmd += " --grpc_out=" + out_dir + " --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin)"
    cmd += " $(location " + src + ")"
    native.genrule(
        name = name + "_gen",
        srcs = [src] + imports,
        outs = outs,
        cmd = cmd,
        message = "protoc " + src,
    )
    extra = {}
    if external:
        extra = {"includes": [gen_dir], "strip_include_prefix": gen_dir}
    corio_cc_library(
        name = name,
        hdrs = [o for o in outs if o.endswith(".h")],
        srcs = [o for o in outs if o.endswith(".cc")],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc++"] if grpc else []),
        copts = ["-Wno-error", "-Wno-unused-parameter"],
        visibility = visibility,
        **extra
    )
