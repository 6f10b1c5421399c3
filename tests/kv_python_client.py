"""Drives the corio kv server (examples/kv) with Python's grpcio.

An independent client: gRPC's Python implementation (Debian's python3-grpcio)
and stubs generated from examples/kv/kv.proto at build time. Run by
kv_python_test.sh against a kv server binary on a free port:

    kv_python_client.py HOST:PORT

Every RPC of the service (Put, Get, Delete, PutMany, Session and a Watch
that sees a Put) is called and its result checked; exits 0 when all checks
pass, 1 otherwise. Every call has a deadline, so nothing waits forever.
"""

import queue
import sys
import threading

import grpc

import kv_pb2
import kv_pb2_grpc

DEADLINE = 10  # seconds, for every call
failures = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def unary(stub):
    put = stub.Put(kv_pb2.Entry(key="py/a", value="1"), timeout=DEADLINE)
    check(put.revision >= 1, "put py/a=1 -> revision %d" % put.revision)
    got = stub.Get(kv_pb2.Key(key="py/a"), timeout=DEADLINE)
    check(got.found and got.value == "1", "get py/a -> 1")
    missing = stub.Get(kv_pb2.Key(key="py/nothing"), timeout=DEADLINE)
    check(not missing.found, "get py/nothing -> not found")
    try:
        stub.Put(kv_pb2.Entry(key="", value="x"), timeout=DEADLINE)
        check(False, "put with an empty key -> INVALID_ARGUMENT")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details() == "empty key",
              "put with an empty key -> INVALID_ARGUMENT (%s: %s)" % (e.code(), e.details()))
    deleted = stub.Delete(kv_pb2.Key(key="py/a"), timeout=DEADLINE)
    check(deleted.existed and deleted.revision == put.revision + 1,
          "delete py/a -> existed, revision %d" % deleted.revision)
    again = stub.Delete(kv_pb2.Key(key="py/a"), timeout=DEADLINE)
    check(not again.existed and again.revision == deleted.revision, "delete py/a again -> did not exist")
    return again.revision


def put_many(stub, revision):
    entries = [kv_pb2.Entry(key="py/many/%d" % i, value=str(i * i)) for i in range(3)]
    reply = stub.PutMany(iter(entries), timeout=DEADLINE)
    check(reply.count == 3 and reply.revision == revision + 3,
          "putmany of 3 entries -> count %d, revision %d" % (reply.count, reply.revision))
    for i in range(3):
        got = stub.Get(kv_pb2.Key(key="py/many/%d" % i), timeout=DEADLINE)
        check(got.found and got.value == str(i * i), "get py/many/%d -> %d" % (i, i * i))


def session(stub):
    # Interactive: each command is sent only once the previous one's result
    # has arrived, so the answers are seen to come one by one, in order.
    commands = queue.Queue()

    def requests():
        while True:
            cmd = commands.get()
            if cmd is None:
                return
            yield cmd

    results = stub.Session(requests(), timeout=DEADLINE)

    def ask(cmd):
        commands.put(cmd)
        return next(results)

    r = ask(kv_pb2.Command(put=kv_pb2.Entry(key="py/s", value="x")))
    check(r.ok and r.revision > 0, "session put py/s=x")
    r = ask(kv_pb2.Command(get=kv_pb2.Key(key="py/s")))
    check(r.ok and r.value == "x", "session get py/s -> x")
    r = ask(kv_pb2.Command(delete=kv_pb2.Key(key="py/s")))
    check(r.ok, "session delete py/s -> deleted")
    r = ask(kv_pb2.Command(get=kv_pb2.Key(key="py/s")))
    check(not r.ok, "session get py/s -> not found")
    r = ask(kv_pb2.Command())
    check(not r.ok and r.error == "empty command", "session empty command -> error")
    commands.put(None)  # half-close
    rest = list(results)
    check(rest == [] and results.code() == grpc.StatusCode.OK, "session ends OK after the half-close")


def watch(stub):
    events = queue.Queue()
    call = stub.Watch(kv_pb2.WatchRequest(prefix="py/watch/"), timeout=DEADLINE)

    def read():
        try:
            for ev in call:
                events.put(ev)
        except grpc.RpcError as e:
            events.put(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # The watch reaches the server at some point after the call starts, and
    # sees only later changes: put until one is seen (bounded).
    revisions = {}
    first = None
    for i in range(50):
        value = "v%d" % i
        revisions[value] = stub.Put(kv_pb2.Entry(key="py/watch/k", value=value), timeout=DEADLINE).revision
        stub.Put(kv_pb2.Entry(key="py/elsewhere", value=value), timeout=DEADLINE)  # not watched
        try:
            first = events.get(timeout=0.1)
            break
        except queue.Empty:
            pass
    ok = (isinstance(first, kv_pb2.Event) and first.kind == kv_pb2.Event.PUT and first.key == "py/watch/k"
          and first.value in revisions and first.revision == revisions[first.value])
    check(ok, "watch py/watch/ sees a put of py/watch/k (%s)" % str(first).replace("\n", " "))
    if not ok:
        call.cancel()
        return
    # From then on it sees every put under the prefix, in order, and nothing
    # else: the loop's puts after the first one seen, and two more.
    for value in ("w1", "w2"):
        revisions[value] = stub.Put(kv_pb2.Entry(key="py/watch/k", value=value), timeout=DEADLINE).revision
        stub.Put(kv_pb2.Entry(key="py/elsewhere", value=value), timeout=DEADLINE)
    expected = [("py/watch/k", v, r) for v, r in sorted(revisions.items(), key=lambda vr: vr[1])
                if r > first.revision]
    seen = []
    for _ in expected:
        try:
            ev = events.get(timeout=DEADLINE)
        except queue.Empty:
            break
        seen.append((ev.key, ev.value, ev.revision) if isinstance(ev, kv_pb2.Event) else ev)
    check(seen == expected, "watch then sees the %d later puts, in order (%s)" % (len(expected), seen))
    call.cancel()
    reader.join(timeout=DEADLINE)
    check(not reader.is_alive(), "watch ends once cancelled")
    try:
        last = events.get(timeout=1)
    except queue.Empty:
        last = None
    check(isinstance(last, grpc.RpcError) and last.code() == grpc.StatusCode.CANCELLED,
          "cancelled watch -> CANCELLED, and no other event")


def main():
    target = sys.argv[1]
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=DEADLINE)
        stub = kv_pb2_grpc.KVStub(channel)
        print("unary: put / get / delete")
        revision = unary(stub)
        print("client streaming: putmany")
        put_many(stub, revision)
        print("bidirectional: session")
        session(stub)
        print("server streaming: watch")
        watch(stub)
    if failures:
        print("kv python client: %d checks failed" % len(failures))
        return 1
    print("kv python client: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
