// Coroutine gRPC client calls on a corio loop.
//
//   corio::rpc::ClientQueue queue;              // once per loop (not needed on a server's loops)
//   auto stub = kv::KV::NewStub(channel);
//   corio::rpc::Reply<kv::GetReply> r =
//       co_await corio::rpc::unary(*stub, &kv::KV::Stub::PrepareAsyncGet, req, {.timeout = 1s});
//   if (!r) std::cerr << r.status().error_message();
//
//   auto watch = co_await corio::rpc::server_streaming(*stub, &kv::KV::Stub::PrepareAsyncWatch, req);
//   while (auto ev = co_await watch.read()) { ... }
//   grpc::Status st = co_await watch.finish();
//
// Calls run on the completion queue that the current loop drives: a
// server's loop has one already; any other loop gets one from a
// ClientQueue. Each call owns its grpc::ClientContext, configured from
// CallOptions, so the context outlives every operation gRPC still holds.
//
// The request is taken by value: a call is a lazy coroutine that may start
// after the caller's temporaries are gone (create_task); pass an rvalue to
// spare the copy. A call is prepared only when its task starts: gRPC keeps
// a prepared call's serialized request until the call runs, so a call
// prepared and then dropped unawaited would leak it.
//
// Errors: calls give a Reply (unary) or a Status (streams) for every RPC
//   failure; RuntimeError if the loop drives no completion queue, or for
//   any operation (read, write, finish, ...) once that queue is shut down
//   (a task that goes on using a call after a server's shutdown cancelled
//   it), where gRPC itself would abort the process.
// Thread safety: the loop's thread.
// Cancellation: cancelling the calling task cancels the RPC (the server
//   sees it cancelled); nothing is leaked.
#ifndef CORIO_RPC_CLIENT_H_
#define CORIO_RPC_CLIENT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/task.h"
#include "corio/rpc/internal/cq_driver.h"
#include "corio/rpc/internal/op.h"
#include "corio/rpc/reply.h"

namespace corio::rpc {

// How a client call's context is set up.
struct CallOptions {
  // Relative deadline; none by default.
  std::optional<std::chrono::nanoseconds> timeout;
  // Metadata sent with the call (lower-case keys; "-bin" keys are binary).
  std::vector<std::pair<std::string, std::string>> metadata;
  // Called last with the context, for anything else (compression, ...).
  std::function<void(grpc::ClientContext&)> configure;
};

// ClientQueue
//
// Gives the running loop a completion queue for client calls, for as long
// as it lives; on a loop that already drives one (a server's) it does
// nothing. Create it at the start of the loop's main task.
// Errors: RuntimeError if no loop runs, or the loop has another kind of
//   event source. Thread safety: the loop's thread.
class ClientQueue {
 public:
  ClientQueue() : loop_(&current_loop()) {
    EventSource* s = loop_->event_source();
    if (s != nullptr) {
      if (dynamic_cast<internal::CqDriver*>(s) == nullptr) {
        throw RuntimeError("corio::rpc: this loop already has another event source");
      }
      return;
    }
    owned_ = std::make_unique<internal::CqDriver>(std::make_unique<grpc::CompletionQueue>());
    loop_->set_event_source(owned_.get());
  }
  // Waits for the calls still in flight to hand their tags back.
  ~ClientQueue() {
    if (!owned_) return;
    loop_->set_event_source(nullptr);
    owned_.reset();  // shuts the queue down and drains it
  }
  ClientQueue(const ClientQueue&) = delete;
  ClientQueue& operator=(const ClientQueue&) = delete;

 private:
  EventLoop* loop_;
  std::unique_ptr<internal::CqDriver> owned_;
};

namespace internal {

// The completion queue of the running loop. Errors: RuntimeError.
inline grpc::CompletionQueue* loop_cq() {
  // CqDriver is final: comparing the type is dynamic_cast's answer, for
  // ~10 instructions rather than its ~90 (every call asks).
  EventSource* s = current_loop().event_source();
  if (s == nullptr || typeid(*s) != typeid(CqDriver)) {
    throw RuntimeError("corio::rpc: this loop drives no completion queue (make a ClientQueue)");
  }
  auto* d = static_cast<CqDriver*>(s);
  if (d->shutting_down()) throw RuntimeError("corio::rpc: this loop's completion queue is shut down");
  return d->cq();
}

inline void configure(grpc::ClientContext& ctx, const CallOptions& o) {
  if (o.timeout) ctx.set_deadline(std::chrono::system_clock::now() + *o.timeout);
  for (const auto& [k, v] : o.metadata) ctx.AddMetadata(k, v);
  if (o.configure) o.configure(ctx);
}

struct ClientCallBase : RefCounted {
  grpc::ClientContext ctx;
  grpc::Status status;
  OpTag start_tag, read_tag, write_tag, finish_tag;
  bool finished = false;  // its Finish came back: the RPC is over
  // Still live in gRPC: not finished, or an operation still in flight.
  bool live() const noexcept {
    return !finished || start_tag.in_flight || read_tag.in_flight || write_tag.in_flight || finish_tag.in_flight;
  }
  ClientCallBase() {
    for (OpTag* t : {&start_tag, &read_tag, &write_tag, &finish_tag}) {
      t->owner = this;
      t->cancel_ctx = &ctx;
    }
  }
};

// Keeps a call alive for its owner.
template <class C>
class Owned {
 public:
  explicit Owned(C* c) noexcept : c_(c) {}
  Owned(Owned&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Owned& operator=(Owned&& o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~Owned() {
    if (c_ == nullptr) return;
    // Abandoned before its end, or with operations in flight: cancel, so
    // the server hears of it and they end promptly. A finished call needs
    // none (TryCancel on one costs a trip through the transport, ~11,000
    // instructions, as much as the rest of a unary call's client side).
    if (c_->live()) c_->ctx.TryCancel();
    c_->unref();
  }
  C* operator->() const noexcept { return c_; }
  C* get() const noexcept { return c_; }

 private:
  C* c_;
};

}  // namespace internal

// Metadata as the server sent it: keys in lower case, values as bytes
// ("-bin" keys are decoded already).
using Metadata = std::multimap<std::string, std::string>;

// A copy of gRPC's view of received metadata (grpc::ClientContext's
// GetServerInitialMetadata() / GetServerTrailingMetadata()), which refers
// into the context and lives only as long as it.
inline Metadata copy_metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  Metadata out;
  for (const auto& [k, v] : md) out.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
  return out;
}

// What unary_with_metadata() gives: the reply or status, and the metadata
// the server sent before its reply (initial) and with its status
// (trailing). Both are there whatever the status, as far as the server
// sent them (none when the call failed before reaching it).
template <class Resp>
struct UnaryResult {
  Reply<Resp> reply;
  Metadata initial_metadata;
  Metadata trailing_metadata;
};

namespace internal {

template <class Resp>
struct UnaryCall : ClientCallBase {
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
  Resp reply;
};

// A unary call, prepared and started when its task starts. The reply is
// moved once, into the task's result.
// `RequestArg` is Req, or std::reference_wrapper<const Req> for a request
// the caller keeps alive.
template <bool kWithMetadata, class Stub, class Req, class Resp, class RequestArg>
Task<std::conditional_t<kWithMetadata, UnaryResult<Resp>, Reply<Resp>>> unary_call(
    Stub& stub,
    std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (Stub::*prepare)(grpc::ClientContext*, const Req&,
                                                                            grpc::CompletionQueue*),
    RequestArg request, CallOptions options) {
  Owned<UnaryCall<Resp>> call(new UnaryCall<Resp>);
  configure(call->ctx, options);
  call->reader = (stub.*prepare)(&call->ctx, static_cast<const Req&>(request), loop_cq());
  UnaryCall<Resp>* c = call.get();
  c->reader->StartCall();
  co_await OpAwaiter(c->finish_tag, [c](void* tag) { c->reader->Finish(&c->reply, &c->status, tag); });
  c->finished = true;
  if constexpr (kWithMetadata) {
    Reply<Resp> reply = c->status.ok() ? Reply<Resp>(std::move(c->reply)) : Reply<Resp>(c->status);
    co_return UnaryResult<Resp>{std::move(reply), copy_metadata(c->ctx.GetServerInitialMetadata()),
                                copy_metadata(c->ctx.GetServerTrailingMetadata())};
  } else {
    if (c->status.ok()) co_return Reply<Resp>(std::move(c->reply));
    co_return Reply<Resp>(c->status);
  }
}

// ClientReader's and ClientStream's read_initial_metadata(): `c` is their
// call (a stream with ReadInitialMetadata, its start tag and read state).
template <class Call>
Task<void> read_initial_metadata(Call* c) {
  if (c->reads_started) throw RuntimeError("corio::rpc: read_initial_metadata() after a read");
  c->reads_started = true;
  if (c->ended) co_return;
  if (!co_await OpAwaiter(c->start_tag, [c](void* tag) { c->stream->ReadInitialMetadata(tag); })) {
    c->ended = true;
  }
}

// ClientReader's and ClientStream's read(): `c` is their call (a stream
// with Read, its `buf` and read state). It is the task read() returns.
template <class Call>
Task<std::optional<decltype(Call::buf)>> read_message(Call* c) {
  if (c->ended) co_return std::nullopt;
  if (c->read_tag.in_flight) throw RuntimeError("corio::rpc: a read is already in flight on this call");
  c->reads_started = true;
  const bool ok = co_await OpAwaiter(c->read_tag, [c](void* tag) { c->stream->Read(&c->buf, tag); });
  if (!ok) {
    c->ended = true;
    co_return std::nullopt;
  }
  co_return std::move(c->buf);
}

// A call that can be half-closed before its end (ClientStream's: it has
// `closed`, set by writes_done()).
template <class Call>
concept HalfClosable = requires(Call* c) {
  c->closed;
};

// ClientStream's writes_done().
template <class Call>
Task<void> writes_done(Call* c) {
  if (c->closed || c->broken) co_return;
  c->closed = true;
  co_await OpAwaiter(c->write_tag, [c](void* tag) { c->stream->WritesDone(tag); });
}

// ClientReader's and ClientStream's finish(): half-closes a HalfClosable
// call, reads what is left and gives the status. It is the task finish()
// returns.
template <class Call>
Task<grpc::Status> finish_reading(Call* c) {
  if constexpr (HalfClosable<Call>) co_await writes_done(c);
  while (!c->ended) co_await read_message(c);
  co_await OpAwaiter(c->finish_tag, [c](void* tag) { c->stream->Finish(&c->status, tag); });
  c->finished = true;
  co_return c->status;
}

}  // namespace internal

// A unary call: the reply, or the status the call ended with.
template <class Stub, class Req, class Resp>
Task<Reply<Resp>> unary(Stub& stub,
                        std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (Stub::*prepare)(grpc::ClientContext*,
                                                                                                const Req&,
                                                                                                grpc::CompletionQueue*),
                        Req request, CallOptions options = {}) {
  return internal::unary_call<false>(stub, prepare, std::move(request), std::move(options));
}

// unary() with a request the caller keeps, not copied:
//
//   co_await corio::rpc::unary(*stub, &kv::KV::Stub::PrepareAsyncGet, std::cref(key));
//
// The request must stay alive, unchanged, until the call's task has
// started (co_await starts it; so does create_task once the task runs):
// gRPC serializes it then. Otherwise as unary().
template <class Stub, class Req, class Resp>
Task<Reply<Resp>> unary(Stub& stub,
                        std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (Stub::*prepare)(grpc::ClientContext*,
                                                                                                const Req&,
                                                                                                grpc::CompletionQueue*),
                        std::reference_wrapper<const Req> request, CallOptions options = {}) {
  return internal::unary_call<false>(stub, prepare, request, std::move(options));
}

// A unary call that also gives the metadata the server sent back:
//
//   auto r = co_await corio::rpc::unary_with_metadata(*stub, &kv::KV::Stub::PrepareAsyncGet, req);
//   if (auto it = r.trailing_metadata.find("x-served-by"); it != r.trailing_metadata.end()) ...
//
// Errors, Thread safety, Cancellation: as unary().
template <class Stub, class Req, class Resp>
Task<UnaryResult<Resp>> unary_with_metadata(Stub& stub,
                                            std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (Stub::*prepare)(
                                                grpc::ClientContext*, const Req&, grpc::CompletionQueue*),
                                            Req request, CallOptions options = {}) {
  return internal::unary_call<true>(stub, prepare, std::move(request), std::move(options));
}

// The reading side of a server-streaming call.
template <class Resp>
class ClientReader {
 public:
  struct Call : internal::ClientCallBase {
    std::unique_ptr<grpc::ClientAsyncReader<Resp>> stream;
    Resp buf;
    bool ended = false;
    bool reads_started = false;  // a read (or read_initial_metadata) was issued
  };
  explicit ClientReader(internal::Owned<Call> call) : call_(std::move(call)) {}

  // The next message, or std::nullopt once the stream has ended (then call
  // finish() for its status). Errors: RuntimeError if a read is already in
  // flight.
  Task<std::optional<Resp>> read() { return internal::read_message(call_.get()); }
  // The call's final status; reads the rest of the stream first if needed.
  Task<grpc::Status> finish() { return internal::finish_reading(call_.get()); }
  // Waits for the server's initial metadata (it comes before the first
  // message, or with the status): then context().GetServerInitialMetadata()
  // holds it. Only before the first read(); afterwards the metadata is
  // there already. Errors: RuntimeError after a read.
  Task<void> read_initial_metadata() { return internal::read_initial_metadata(call_.get()); }
  // Cancels the call (the server's handler is cancelled).
  void cancel() { call_->ctx.TryCancel(); }
  // The call's gRPC context. The server's initial metadata
  // (GetServerInitialMetadata) is there once a read gave a message,
  // read_initial_metadata() returned or finish() returned; its trailing
  // metadata (GetServerTrailingMetadata) once finish() returned. Both stay
  // as long as this reader. Thread safety: the loop's thread.
  grpc::ClientContext& context() { return call_->ctx; }

 private:
  internal::Owned<Call> call_;
};

// Starts a server-streaming call; read its messages from the result.
template <class Stub, class Req, class Resp>
Task<ClientReader<Resp>> server_streaming(Stub& stub,
                                          std::unique_ptr<grpc::ClientAsyncReader<Resp>> (Stub::*prepare)(
                                              grpc::ClientContext*, const Req&, grpc::CompletionQueue*),
                                          Req request, CallOptions options = {}) {
  using Call = typename ClientReader<Resp>::Call;
  internal::Owned<Call> call(new Call);
  internal::configure(call->ctx, options);
  Call* c = call.get();
  c->stream = (stub.*prepare)(&c->ctx, request, internal::loop_cq());
  const bool ok = co_await internal::OpAwaiter(c->start_tag, [c](void* tag) { c->stream->StartCall(tag); });
  if (!ok) c->ended = true;  // finish() gives the status
  co_return ClientReader<Resp>(std::move(call));
}

// The writing side of a client-streaming call.
template <class Req, class Resp>
class ClientWriter {
 public:
  struct Call : internal::ClientCallBase {
    std::unique_ptr<grpc::ClientAsyncWriter<Req>> stream;
    Resp reply;
    bool broken = false;
  };
  explicit ClientWriter(internal::Owned<Call> call) : call_(std::move(call)) {}

  // Sends one message once gRPC can take it (one write in flight); false
  // if the call has ended (finish() then gives its status). Errors:
  // RuntimeError if a write is already in flight.
  Task<bool> write(Req msg) {
    Call* c = call_.get();
    if (c->broken) co_return false;
    if (c->write_tag.in_flight) throw RuntimeError("corio::rpc: a write is already in flight on this call");
    const bool ok = co_await internal::OpAwaiter(c->write_tag, [c, &msg](void* tag) { c->stream->Write(msg, tag); });
    if (!ok) c->broken = true;
    co_return ok;
  }
  // Half-closes and waits for the server's reply or status.
  Task<Reply<Resp>> finish() {
    Call* c = call_.get();
    if (!c->broken) {
      co_await internal::OpAwaiter(c->write_tag, [c](void* tag) { c->stream->WritesDone(tag); });
    }
    co_await internal::OpAwaiter(c->finish_tag, [c](void* tag) { c->stream->Finish(&c->status, tag); });
    c->finished = true;
    if (!c->status.ok()) co_return Reply<Resp>(c->status);
    co_return Reply<Resp>(std::move(c->reply));
  }
  void cancel() { call_->ctx.TryCancel(); }
  // The call's gRPC context: the server's initial and trailing metadata
  // (GetServerInitialMetadata, GetServerTrailingMetadata) are there once
  // finish() returned, for as long as this writer. Thread safety: the
  // loop's thread.
  grpc::ClientContext& context() { return call_->ctx; }

 private:
  internal::Owned<Call> call_;
};

// Starts a client-streaming call.
template <class Stub, class Req, class Resp>
Task<ClientWriter<Req, Resp>> client_streaming(
    Stub& stub,
    std::unique_ptr<grpc::ClientAsyncWriter<Req>> (Stub::*prepare)(grpc::ClientContext*, Resp*, grpc::CompletionQueue*),
    CallOptions options = {}) {
  using Call = typename ClientWriter<Req, Resp>::Call;
  internal::Owned<Call> call(new Call);
  internal::configure(call->ctx, options);
  Call* c = call.get();
  c->stream = (stub.*prepare)(&c->ctx, &c->reply, internal::loop_cq());
  const bool ok = co_await internal::OpAwaiter(c->start_tag, [c](void* tag) { c->stream->StartCall(tag); });
  if (!ok) c->broken = true;
  co_return ClientWriter<Req, Resp>(std::move(call));
}

// Both sides of a bidirectional call: read() and write() may be awaited at
// the same time from two tasks.
template <class Req, class Resp>
class ClientStream {
 public:
  struct Call : internal::ClientCallBase {
    std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>> stream;
    Resp buf;
    bool ended = false, broken = false, closed = false;
    bool reads_started = false;  // a read (or read_initial_metadata) was issued
  };
  explicit ClientStream(internal::Owned<Call> call) : call_(std::move(call)) {}

  // As ClientWriter::write. Errors: RuntimeError if a write is in flight,
  // or after writes_done().
  Task<bool> write(Req msg) {
    Call* c = call_.get();
    if (c->closed) throw RuntimeError("corio::rpc: write after writes_done()");
    if (c->broken) co_return false;
    if (c->write_tag.in_flight) throw RuntimeError("corio::rpc: a write is already in flight on this call");
    const bool ok = co_await internal::OpAwaiter(c->write_tag, [c, &msg](void* tag) { c->stream->Write(msg, tag); });
    if (!ok) c->broken = true;
    co_return ok;
  }
  // As ClientReader::read.
  Task<std::optional<Resp>> read() { return internal::read_message(call_.get()); }
  // Half-closes the sending side (idempotent).
  Task<void> writes_done() { return internal::writes_done(call_.get()); }
  // Half-closes, reads what is left, and gives the call's status.
  Task<grpc::Status> finish() { return internal::finish_reading(call_.get()); }
  // As ClientReader::read_initial_metadata; it may run while a write is in
  // flight. Errors: RuntimeError after a read.
  Task<void> read_initial_metadata() { return internal::read_initial_metadata(call_.get()); }
  void cancel() { call_->ctx.TryCancel(); }
  // As ClientReader::context.
  grpc::ClientContext& context() { return call_->ctx; }

 private:
  internal::Owned<Call> call_;
};

// Starts a bidirectional call.
template <class Stub, class Req, class Resp>
Task<ClientStream<Req, Resp>> bidi_streaming(Stub& stub,
                                             std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>> (Stub::*prepare)(
                                                 grpc::ClientContext*, grpc::CompletionQueue*),
                                             CallOptions options = {}) {
  using Call = typename ClientStream<Req, Resp>::Call;
  internal::Owned<Call> call(new Call);
  internal::configure(call->ctx, options);
  Call* c = call.get();
  c->stream = (stub.*prepare)(&c->ctx, internal::loop_cq());
  const bool ok = co_await internal::OpAwaiter(c->start_tag, [c](void* tag) { c->stream->StartCall(tag); });
  if (!ok) c->ended = c->broken = true;
  co_return ClientStream<Req, Resp>(std::move(call));
}

}  // namespace corio::rpc

#endif  // CORIO_RPC_CLIENT_H_
