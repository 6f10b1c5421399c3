// corio::rpc::Server: a gRPC server whose handlers are coroutines running on
// corio event loops.
//
//   corio::rpc::Server server({.addresses = {"127.0.0.1:0"}, .threads = 2});
//   server.add_service<kv::KV>();
//   server.add_unary(&kv::KV::AsyncService::RequestGet,
//                    [&](grpc::ServerContext& ctx, const kv::GetRequest& req)
//                        -> corio::Task<corio::rpc::Reply<kv::GetReply>> { ... });
//   server.start();                 // listening; server.port() is the bound port
//   ...
//   server.shutdown(std::chrono::seconds(5));   // from a thread not of the server
//
// Threads: `threads` loop threads, each with its own EventLoop and gRPC
// completion queue, which the loop drives on its own thread (no hop between
// gRPC's thread and the loop's). Each RPC lives on one loop from start to
// end: its handler is a task on that loop, named after the method, so it
// may co_await anything of that loop (sleep, Queue, Lock, TaskGroup, other
// RPCs). Several requests per method stay posted on every loop, so new
// calls never wait for one another.
//
// Handlers, by the kind of the method (Req/Resp from the generated code):
//   unary:            Task<Reply<Resp>>(grpc::ServerContext&, const Req&)
//   server streaming: Task<grpc::Status>(grpc::ServerContext&, const Req&, ServerWriter<Resp>&)
//                     or AsyncGenerator<Resp>(grpc::ServerContext&, const Req&)
//   client streaming: Task<Reply<Resp>>(grpc::ServerContext&, ServerReader<Req>&)
//   bidirectional:    Task<grpc::Status>(grpc::ServerContext&, ServerStream<Req, Resp>&)
// The ServerContext is gRPC's: client metadata, AddInitialMetadata /
// AddTrailingMetadata, peer(), deadline().
//
// Around the handlers: interceptors (add_interceptor: coroutines that see
// every call and its final status, for logging, metrics, authentication),
// a per-method concurrency limit (MethodOptions::max_concurrency) and a
// server-wide one (ServerOptions::max_concurrency). A call goes through
// the interceptors in the order they were added, then waits for a permit
// of its method's limit, then for one of the server's, then runs its
// handler.
// Standard services on corio handlers: health.h (grpc.health.v1) and
// reflection.h (grpc.reflection.v1).
//
// Errors: a handler (or interceptor) that throws ends its RPC with INTERNAL
//   and the exception's message, and the server keeps serving. Unknown methods and
//   services get UNIMPLEMENTED and over-size messages RESOURCE_EXHAUSTED,
//   from gRPC itself. start() throws RuntimeError if a port cannot be
//   bound, and std::invalid_argument if a method of an added service has no
//   handler (gRPC would leave its calls waiting forever).
// Cancellation: when the client cancels, or the call's deadline passes, the
//   handler's task is cancelled (CancelledError at its current suspension
//   point; its cleanup runs) and the client sees CANCELLED or
//   DEADLINE_EXCEEDED. A handler that lets CancelledError escape for another
//   reason cancels its call likewise.
// Thread safety: configure and start() from one thread; shutdown() and
//   wait() from any thread that is not one of the server's loop threads.
#ifndef CORIO_RPC_SERVER_H_
#define CORIO_RPC_SERVER_H_

#include <google/protobuf/descriptor.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/loop_handle.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/rpc/internal/cq_driver.h"
#include "corio/rpc/internal/op.h"
#include "corio/rpc/reply.h"
#include "corio/streams/async_generator.h"
#include "corio/sync/semaphore.h"

namespace corio::rpc {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one (see Server::port()).
  std::vector<std::string> addresses = {"127.0.0.1:0"};
  // For every address; insecure unless set (grpc::SslServerCredentials for
  // TLS).
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Loop threads, each with one completion queue. At least 1.
  int threads = 1;
  // Requests kept posted per method on each loop.
  int requests_per_method = 4;
  // Message size limits in bytes (-1: gRPC's default, 4 MiB to receive).
  int max_receive_message_size = -1;
  int max_send_message_size = -1;
  // At most this many handlers run at once on the whole server, across
  // all methods (0: no limit). The limit is split across the loop threads
  // (threads = 2, max_concurrency = 5: 3 on the first loop, 2 on the
  // second), each loop holding its share in a corio::Semaphore, so the
  // server never runs more than max_concurrency handlers, and no call pays
  // for a lock or an atomic shared between threads, nor a hop to another
  // loop when a permit frees up (every RPC stays on its loop; see the top
  // of this file). The price of the split: a loop whose share is taken
  // makes its calls wait even while another loop has permits free, and
  // gRPC hands the calls of one connection preferably to one queue, so a
  // single client may see only its loop's share. With threads = 1 the
  // limit is exact.
  //
  // A call beyond the limit waits, as for MethodOptions::max_concurrency:
  // at the innermost interceptor's next() (an interceptor that rejects a
  // call never waits), in arrival order on its loop, until a handler of
  // that loop ends. With a per-method limit too, the call first takes its
  // method's permit, then the server's, and gives both back when its
  // handler ends: a call waiting for its method's permit holds no server
  // permit, so it never keeps other methods' calls from running, and the
  // fixed order (method, then server) cannot deadlock.
  // Cancellation: a call cancelled while it waits (client cancel, its
  //   deadline, or shutdown once the grace has passed) leaves the queue
  //   holding no permit, and its handler never runs; once the grace has
  //   passed, a waiting call handed a permit is cancelled instead of
  //   starting. During the grace, waiting calls go on waiting and run as
  //   permits free up.
  // Errors: start() throws std::invalid_argument when it is negative, or
  //   positive but below `threads` (a loop would get no permit).
  int max_concurrency = 0;
};

// MethodOptions
//
// Per-method settings, given when the handler is added (add_unary & co).
// Errors: add_unary & co throw std::invalid_argument for a negative
//   max_concurrency.
// Thread safety: a plain value, copied by the server.
struct MethodOptions {
  // At most this many handlers of the method run at once on each loop
  // thread (0: no limit). A call beyond the limit waits where the innermost
  // interceptor's next() starts the handler (so an interceptor that
  // rejects a call never waits), until a running handler of the method
  // ends: a corio::Semaphore per loop, so waiters start in arrival order. With ServerOptions::threads = N the server as
  // a whole runs up to N times this many (each loop is one asyncio process); for a limit on the whole server, and the
  // order in which the two are taken, see ServerOptions::max_concurrency. Cancellation: as there.
  int max_concurrency = 0;
};

// The kind of an RPC method.
enum class MethodKind { kUnary, kServerStreaming, kClientStreaming, kBidiStreaming };

namespace internal {
struct Chain;
}  // namespace internal

// CallInfo
//
// What an interceptor knows of the call it wraps: the method, its kind and
// gRPC's ServerContext (client metadata, peer(), deadline(), auth_context(),
// AddInitialMetadata/AddTrailingMetadata, TryCancel()).
// Thread safety: the call's loop thread; valid until the interceptor
//   returns.
class CallInfo {
 public:
  CallInfo(const CallInfo&) = delete;
  CallInfo& operator=(const CallInfo&) = delete;

  // The full method name, "/package.Service/Method" (as on the wire).
  std::string_view method() const noexcept { return method_; }
  MethodKind kind() const noexcept { return kind_; }
  grpc::ServerContext& context() const noexcept { return *ctx_; }

  // Internal: made by the server for each call.
  CallInfo(std::string_view method, MethodKind kind, grpc::ServerContext* ctx) noexcept
      : method_(method), kind_(kind), ctx_(ctx) {}

 private:
  std::string_view method_;
  MethodKind kind_;
  grpc::ServerContext* ctx_;
};

// Next
//
// Given to an interceptor: `co_await next()` runs the rest of the call (the
// interceptors registered after this one, the concurrency limits, then the
// handler) and gives the status the call ends with so far. For
// streaming calls that is the handler's status; for unary and
// client-streaming calls it is OK when the handler made a reply, else its
// error status.
//
// Errors: next() never throws for a failure below it: a handler or a later
//   interceptor that throws (anything but CancelledError) comes back as
//   INTERNAL with the exception's message, so that an interceptor always
//   sees the final status. Awaiting next() a second time throws
//   RuntimeError (the handler runs at most once).
// Thread safety: the call's loop thread; await it inside the interceptor
//   (not after the interceptor returned: it refers to the call's state).
// Cancellation: when the call is cancelled (client, deadline, shutdown) the
//   handler's task is cancelled and CancelledError comes out of next() and
//   on through the interceptor (catch it to log; rethrow it).
class Next {
 public:
  [[nodiscard]] Task<grpc::Status> operator()() const;

  // Internal: made by the server.
  Next(internal::Chain* chain, std::size_t level) noexcept : chain_(chain), level_(level) {}

 private:
  internal::Chain* chain_;
  std::size_t level_;
};

// Interceptor
//
// A coroutine that wraps every handler of the server: logging, metrics,
// authentication. It decides the call's final status: return
// `co_await next()` to pass the handler's on, another status to replace
// it, or a non-OK status without calling next() to end the call with that
// status without running the handler (nor waiting for a concurrency
// permit). For unary and client-streaming calls an OK from the interceptor
// sends the handler's reply; if there is none, the handler's error status
// is sent instead, or INTERNAL when the handler never ran.
//
//   server.add_interceptor([](corio::rpc::CallInfo& call, corio::rpc::Next next) -> corio::Task<grpc::Status> {
//     auto start = std::chrono::steady_clock::now();
//     grpc::Status st = co_await next();
//     log(call.method(), st.error_code(), std::chrono::steady_clock::now() - start);
//     co_return st;
//   });
//
// See examples/kv/auth.h for an authentication interceptor.
// Errors: an interceptor that throws (anything but CancelledError) ends the
//   call with INTERNAL, as a handler does.
// Thread safety: interceptors run on every loop thread of the server, at
//   the same time when ServerOptions::threads > 1: a shared state needs its
//   own lock or atomics. The callable itself is kept by the Server.
// Cancellation: as Next.
using Interceptor = std::function<Task<grpc::Status>(CallInfo&, Next)>;

namespace internal {

class ServerShard;

// The ServerContext of a corio call: gRPC's, plus the method's name, which
// gRPC hands to server interceptor factories only (see server.cc).
class CallContext final : public grpc::ServerContext {
 public:
  // "/package.Service/Method", or null before the call has arrived.
  const char* method = nullptr;
};

// One RPC on the server side: its context, its tags, and the handler task.
class ServerCallBase : public RefCounted {
 public:
  explicit ServerCallBase(ServerShard* shard) noexcept;
  ~ServerCallBase() override;
  CallContext ctx;
  OpTag request_tag, done_tag, read_tag, write_tag, finish_tag;
  TaskRef handler;
  ServerShard* shard;
  bool finished = false;  // Finish issued
  // Whether the call's completion queue is shut down: no operation may
  // start on it (defined below, with ServerShard).
  bool queue_closed() const noexcept;
};

}  // namespace internal

// ServerWriter: the sending side of a server-streaming or bidirectional
// call. co_await write(msg) waits until gRPC has taken the message (flow
// control: one write in flight, never a growing queue); it gives false if
// the call has ended (the client went away): stop writing then.
// Errors: RuntimeError if a write is already in flight on this call.
// Thread safety: the call's loop thread.
// Cancellation: a task cancelled during a write stops waiting; the message
//   may or may not have been sent.
template <class Resp>
class ServerWriter {
 public:
  // What write() returns: starts the write on gRPC's stream directly (one
  // virtual call; no std::function, no lambda) and waits for its tag.
  class [[nodiscard]] WriteAwaiter : public internal::OpAwaiterBase {
   public:
    WriteAwaiter(ServerWriter* w, const Resp& msg, grpc::WriteOptions options) noexcept
        : OpAwaiterBase(w->call_->write_tag), w_(w), msg_(&msg), options_(options), default_options_(false) {}
    // write(msg): gRPC's default options, known here, so that the call
    // below is the Write without options (no options to copy and test).
    WriteAwaiter(ServerWriter* w, const Resp& msg) noexcept
        : OpAwaiterBase(w->call_->write_tag), w_(w), msg_(&msg), default_options_(true) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      // gRPC aborts the process on an operation started on a queue that is
      // shut down: a typed error instead (see internal::OpAwaiter).
      if (w_->call_->queue_closed()) [[unlikely]]
        internal::throw_queue_closed();
      if (!suspend(h)) return false;
      tag_->waiter = this;
      tag_->begin();
      void* const tag = static_cast<void*>(static_cast<internal::CqTag*>(tag_));
      // A server-streaming call's stream is gRPC's final ServerAsyncWriter:
      // called directly, its Write inlines here (no virtual call, no thunk);
      // a bidirectional call's goes through the interface.
      if (w_->writer_ != nullptr) [[likely]] {
        if (default_options_) {
          w_->writer_->Write(*msg_, tag);
        } else {
          w_->writer_->Write(*msg_, options_, tag);
        }
      } else {
        w_->stream_->Write(*msg_, options_, tag);
      }
      return true;
    }
    bool await_resume() {
      check_cancelled();
      if (!ok_) check_cancelled_or_pending();  // as internal::OpAwaiter
      return ok_;
    }

    // Inline like OpAwaiterBase's (an out-of-line one cost each streamed
    // message a call).
    [[gnu::always_inline]] ~WriteAwaiter() {}

   private:
    ServerWriter* w_;
    const Resp* msg_;
    grpc::WriteOptions options_;
    bool default_options_;
  };
  WriteAwaiter write(const Resp& msg) {
    check_no_write_in_flight();
    return WriteAwaiter(this, msg);
  }
  WriteAwaiter write(const Resp& msg, grpc::WriteOptions options) {
    check_no_write_in_flight();
    return WriteAwaiter(this, msg, options);
  }
  // gRPC's stream of the call (its ServerAsyncWriter or
  // ServerAsyncReaderWriter); internal.
  ServerWriter(internal::ServerCallBase* call, grpc::internal::AsyncWriterInterface<Resp>* stream) noexcept
      : call_(call), stream_(stream) {}
  ServerWriter(internal::ServerCallBase* call, grpc::ServerAsyncWriter<Resp>* stream) noexcept
      : call_(call), stream_(stream), writer_(stream) {}

 private:
  void check_no_write_in_flight() const {
    if (call_->write_tag.in_flight) [[unlikely]]
      throw RuntimeError("corio::rpc: a write is already in flight on this call");
  }

  internal::ServerCallBase* call_;
  grpc::internal::AsyncWriterInterface<Resp>* stream_;
  grpc::ServerAsyncWriter<Resp>* writer_ = nullptr;  // stream_, when it is a server-streaming call's
};

// ServerReader: the receiving side of a client-streaming or bidirectional
// call. `while (auto msg = co_await reader.read())` reads until the client
// half-closes (std::nullopt).
// Errors: RuntimeError if a read is already in flight on this call.
// Thread safety: the call's loop thread.
// Cancellation: a task cancelled during a read stops waiting; the message
//   that read may still bring is dropped with the call. When the client
//   cancels the call, gRPC fails the read in flight and reports the
//   cancellation, usually in the same batch: read() then raises
//   CancelledError instead of giving std::nullopt, so a cancel is not taken
//   for the end of the stream. If the failed read comes alone, read() gives
//   std::nullopt and the cancellation reaches the handler at its next
//   suspension point.
template <class Req>
class ServerReader {
 public:
  class [[nodiscard]] ReadAwaiter : public internal::OpAwaiterBase {
   public:
    ReadAwaiter(ServerReader* r) : OpAwaiterBase(r->call_->read_tag), r_(r) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!suspend(h)) return false;
      tag_->waiter = this;
      tag_->begin();
      r_->stream_->Read(&r_->buf_, static_cast<internal::CqTag*>(tag_));
      return true;
    }
    std::optional<Req> await_resume() {
      check_cancelled();
      if (!ok_) {
        // A failed read carries nothing: a cancel that came with it (the
        // client cancelled, and the done tag came back in the same poll)
        // is raised now rather than passed off as a half-close.
        check_cancelled_or_pending();
        return std::nullopt;
      }
      return std::move(r_->buf_);
    }

   private:
    ServerReader* r_;
  };
  ReadAwaiter read() {
    if (call_->read_tag.in_flight) throw RuntimeError("corio::rpc: a read is already in flight on this call");
    return ReadAwaiter(this);
  }
  // gRPC's stream of the call (its ServerAsyncReader or
  // ServerAsyncReaderWriter); internal.
  ServerReader(internal::ServerCallBase* call, grpc::internal::AsyncReaderInterface<Req>* stream) noexcept
      : call_(call), stream_(stream) {}

 private:
  internal::ServerCallBase* call_;
  grpc::internal::AsyncReaderInterface<Req>* stream_;
  Req buf_;  // in the call's state: a read in flight may outlive its task
};

// ServerStream: both sides of a bidirectional call; read() and write() may
// be awaited at the same time from two tasks.
template <class Req, class Resp>
class ServerStream : public ServerReader<Req>, public ServerWriter<Resp> {
 public:
  ServerStream(internal::ServerCallBase* call, grpc::ServerAsyncReaderWriter<Resp, Req>* stream) noexcept
      : ServerReader<Req>(call, stream), ServerWriter<Resp>(call, stream) {}
};

namespace internal {

// A method's registration: posts a request on a shard and runs its calls.
// It is also where its handler tasks' name comes from (TaskNameSource: the
// name is read when someone asks for it, rather than copied into each task,
// which cost a malloc per call and two for a name past the short-string
// buffer); the methods outlive every task of the server's loops.
class MethodBase : public corio::internal::TaskNameSource {
 public:
  explicit MethodBase(MethodKind k) noexcept : kind(k) {}
  virtual ~MethodBase() = default;
  // `name`, else `full_name` (empty when neither is known: the call then
  // names its task itself, see start_handler).
  std::string task_name() const override { return name.empty() ? full_name : name; }
  // Posts one request for this method on `shard` (its loop thread).
  virtual void request(ServerShard* shard) = 0;
  grpc::Service* service = nullptr;
  std::string name;  // for the handler tasks; "" for the gRPC method name
  // "/package.Service/Method", resolved when the handler is added (see
  // resolve_method_name in server.cc); "" if it could not be, and then the
  // server learns it per call (CallContext::method).
  std::string full_name;
  MethodKind kind;
  std::size_t index = 0;  // in the server's methods
  MethodOptions options;
  const std::vector<Interceptor>* interceptors = nullptr;  // the server's
  // Nothing runs around the handler on any loop (no interceptor, no
  // concurrency limit of the method's or the server's): set by
  // Server::start(), which fixes both, and read once per call (see
  // runs_bare) instead of the server's interceptor list and the shard's
  // limits, two more cache lines that a call would otherwise touch.
  bool bare = false;
};

// The method of `service` that a handler added with the generated class
// `cls` (the one declaring its Request member) and these message types
// serves, or null when that cannot be told without asking gRPC per call
// (see server.cc).
const google::protobuf::MethodDescriptor* resolve_method(const google::protobuf::ServiceDescriptor* service,
                                                         MethodKind kind, const std::type_info& cls,
                                                         const google::protobuf::Descriptor* req,
                                                         const google::protobuf::Descriptor* resp);

// The permits a call takes before its handler runs, in this order (see
// ServerOptions::max_concurrency): its method's, then the server's. Either
// may be null.
struct CallLimits {
  std::unique_ptr<Semaphore> method;  // MethodOptions::max_concurrency
  Semaphore* server = nullptr;        // the shard's share of the server's
};

// Runs the shard's loop: its thread, loop and completion queue.
class ServerShard {
 public:
  ServerShard(std::unique_ptr<grpc::ServerCompletionQueue> cq);
  grpc::ServerCompletionQueue* cq() noexcept { return cq_; }
  CqDriver& driver() noexcept { return driver_; }
  EventLoop& loop() noexcept { return *loop_; }
  // `server_limit`: this loop's share of ServerOptions::max_concurrency
  // (0: none).
  void run(const std::vector<std::unique_ptr<MethodBase>>& methods, int per_method, int server_limit);
  // Stops the loop once the queue is drained and no call is left.
  void maybe_stop() noexcept {
    if (loop_ != nullptr && driver_.drained() && live_calls == 0) loop_->stop();
  }
  // No server call is left and none will come: cancels what tasks are
  // left on the loop (background work of handlers, possibly in client
  // calls on this queue), then shuts the queue down.
  void close_queue() noexcept;
  // The concurrency limits a call of method `index` takes on this loop,
  // or null when it has none (the one test of the bare path).
  const CallLimits* limits(std::size_t index) noexcept {
    return index < limits_.size() ? limits_[index].get() : nullptr;
  }
  // Shutdown's grace has passed: gRPC cancels the calls left. The loop
  // thread asks; Server::shutdown() sets the end, before gRPC's Shutdown.
  bool past_grace() const noexcept {
    const auto end = grace_end_.load(std::memory_order_relaxed);
    return end != kNoGraceEnd && std::chrono::system_clock::now().time_since_epoch().count() >= end;
  }
  void set_grace_end(std::chrono::system_clock::time_point end) noexcept {
    grace_end_.store(end.time_since_epoch().count(), std::memory_order_relaxed);
  }
  std::size_t live_calls = 0;
  bool accepting = true;

 private:
  grpc::ServerCompletionQueue* cq_;
  CqDriver driver_;
  EventLoop* loop_ = nullptr;
  // By method index, on the loop thread; empty when no limit is set.
  std::vector<std::unique_ptr<CallLimits>> limits_;
  std::unique_ptr<Semaphore> server_limit_;  // this loop's share of ServerOptions::max_concurrency
  bool closing_ = false;
  static constexpr std::chrono::system_clock::rep kNoGraceEnd =
      std::numeric_limits<std::chrono::system_clock::rep>::max();
  std::atomic<std::chrono::system_clock::rep> grace_end_{kNoGraceEnd};  // see past_grace
};

inline bool ServerCallBase::queue_closed() const noexcept { return shard->driver().shutting_down(); }

// Holds a reference to a call for a task's lifetime.
struct CallRef {
  explicit CallRef(ServerCallBase* c) noexcept : call(c) { call->ref(); }
  CallRef(CallRef&& o) noexcept : call(std::exchange(o.call, nullptr)) {}
  CallRef(const CallRef&) = delete;
  ~CallRef() {
    if (call) call->unref();
  }
  ServerCallBase* call;
};

// Runs a call's handler: `inner` runs it and gives its status.
using InnerFn = Task<grpc::Status> (*)(ServerCallBase* call);

// Runs the call through the server's interceptors and the method's
// concurrency limit to `inner`, and gives the status the call ends with.
// Every exception but CancelledError becomes INTERNAL; CancelledError
// cancels the call (TryCancel) and is rethrown.
Task<grpc::Status> serve_call(ServerCallBase* call, MethodBase* method, InnerFn inner);

// True when nothing runs around the method's handler (no interceptor, no
// concurrency limit): a unary call then runs its handler straight from its
// own task, without serve_call's frames.
inline bool runs_bare(const MethodBase* method) noexcept { return method->bare; }

// What serve_call makes of an exception from a handler it runs bare: the
// status the call ends with (INTERNAL and the message), or, for
// CancelledError, the call cancelled (TryCancel) and the error rethrown.
grpc::Status handler_error(ServerCallBase* call, const std::exception_ptr& error);

// The status a unary or client-streaming call ends with when it sends no
// reply: the interceptors' error, else the handler's, else INTERNAL.
template <class Resp>
grpc::Status error_status(const grpc::Status& st, const std::optional<Reply<Resp>>& reply) {
  if (!st.ok()) return st;
  if (reply) return reply->status();
  return grpc::Status(grpc::StatusCode::INTERNAL, "an interceptor returned OK without running the handler");
}

// Common request handling: on success posts the next request and starts
// the handler task; on failure (shutdown) frees the call.
void start_handler(ServerCallBase* call, MethodBase* method, bool ok, Task<void> (*make)(CallRef)) noexcept;

// A streaming handler's result as the Task<grpc::Status> the server runs:
// the handler's own task when it is one (no frame in between, which a
// long-lived stream would keep), else a coroutine that awaits it.
inline Task<grpc::Status> as_status_task(Task<grpc::Status>&& t) noexcept { return std::move(t); }
template <class A>
Task<grpc::Status> await_status(A a) {
  co_return co_await std::move(a);
}
template <class A>
Task<grpc::Status> as_status_task(A&& a) {
  return await_status(std::forward<A>(a));
}

// Streams what a generator handler yields through `out`, one write in
// flight: the generator runs to its next co_yield only once the previous
// message has been taken. Its status: OK when the generator ends, CANCELLED
// when the client went away first. A generator that raises ends here too
// (serve_call makes INTERNAL of it). When the stream stops before the
// generator ended (the client went away, or the call was cancelled while a
// write waited), the generator is closed with aclose(), so its catch blocks
// and asynchronous cleanup run as well as its destructors.
template <class Resp>
Task<grpc::Status> write_all(AsyncGenerator<Resp> gen, ServerWriter<Resp>& out) {
  std::exception_ptr interrupted;  // a CancelledError raised during a write
  bool gone = false;               // the client went away
  // What the generator raises (CancelledError too) ends it and goes on up.
  while (std::optional<Resp> msg = co_await gen.next()) {
    try {
      if (co_await out.write(*msg)) continue;
      gone = true;
    } catch (...) {
      interrupted = std::current_exception();
    }
    break;
  }
  if (!gen.done()) {
    try {
      co_await gen.aclose();
    } catch (...) {
      if (!interrupted) interrupted = std::current_exception();
    }
  }
  if (interrupted) std::rethrow_exception(interrupted);
  co_return gone ? grpc::Status::CANCELLED : grpc::Status::OK;
}

// What the four kinds of method share: the handler and the generated
// Request member; posting a request (a new Call, its done tag, the Request
// call); starting the call's task when the request comes back; and the end
// of a streaming call. `Derived` supplies Call (a ServerCallBase with
// `method`, `req` unless Req is void, and gRPC's object for the call, a
// Stream, in `responder` or `stream`), run (the call's task) and invoke
// (the handler, for serve_call).
template <class Derived, MethodKind kKind, class Service, class Req, class Stream, class H>
class MethodImpl : public MethodBase {
 public:
  // The generated Request<Method> member: with the request message for the
  // kinds with one (Req), without for the others (Req is void).
  using RequestFn = std::conditional_t<std::is_void_v<Req>,
                                       void (Service::*)(grpc::ServerContext*, Stream*, grpc::CompletionQueue*,
                                                         grpc::ServerCompletionQueue*, void*),
                                       void (Service::*)(grpc::ServerContext*, Req*, Stream*, grpc::CompletionQueue*,
                                                         grpc::ServerCompletionQueue*, void*)>;
  MethodImpl(RequestFn fn, H h) : MethodBase(kKind), fn_(fn), handler_(std::move(h)) {}

  void request(ServerShard* shard) final {
    auto* call = new typename Derived::Call(shard, static_cast<Derived*>(this));
    call->request_tag.fire = &MethodImpl::on_request;
    call->ctx.AsyncNotifyWhenDone(static_cast<CqTag*>(&call->done_tag));
    auto* svc = static_cast<Service*>(service);
    void* tag = static_cast<CqTag*>(&call->request_tag);
    if constexpr (!std::is_void_v<Req>) {
      (svc->*fn_)(&call->ctx, &call->req, io(call), shard->cq(), shard->cq(), tag);
    } else {
      (svc->*fn_)(&call->ctx, io(call), shard->cq(), shard->cq(), tag);
    }
  }

 protected:
  // gRPC's object for the call: its responder, reader, writer or both.
  template <class Call>
  static auto* io(Call* call) noexcept {
    if constexpr (requires { call->responder; }) {
      return &call->responder;
    } else {
      return &call->stream;
    }
  }
  static void on_request(CqTag* tag, bool ok) noexcept {
    auto* call = static_cast<typename Derived::Call*>(static_cast<OpTag*>(tag)->owner);
    start_handler(call, call->method, ok, &Derived::run);
  }
  // The task of a server-streaming or bidirectional call: the handler (with
  // what runs around it), then Finish with its status.
  static Task<void> run_stream(CallRef ref) {
    auto* call = static_cast<typename Derived::Call*>(ref.call);
    const grpc::Status st = co_await serve_call(call, call->method, &Derived::invoke);
    if (call->write_tag.in_flight) {
      // A write the handler stopped waiting for (a timeout around it), or
      // one from another task of the handler, is still in flight, and gRPC
      // allows one write-side operation at a time: cancel rather than race
      // it with Finish.
      call->ctx.TryCancel();
      co_return;
    }
    call->finish_tag.begin();
    call->finished = true;
    call->stream.Finish(st, static_cast<CqTag*>(&call->finish_tag));
  }

  RequestFn fn_;
  H handler_;
};

template <class Service, class Req, class Resp, class H>
class UnaryMethod final : public MethodImpl<UnaryMethod<Service, Req, Resp, H>, MethodKind::kUnary, Service, Req,
                                            grpc::ServerAsyncResponseWriter<Resp>, H> {
 public:
  using UnaryMethod::MethodImpl::MethodImpl;

  struct Call final : ServerCallBase {
    Call(ServerShard* s, UnaryMethod* m) : ServerCallBase(s), method(m), responder(&ctx) {}
    UnaryMethod* method;
    Req req;
    grpc::ServerAsyncResponseWriter<Resp> responder;
    std::optional<Reply<Resp>> reply;  // once the handler returned
  };

 private:
  friend typename UnaryMethod::MethodImpl;
  static Task<grpc::Status> invoke(ServerCallBase* base) {
    auto* call = static_cast<Call*>(base);
    call->reply.emplace(co_await call->method->handler_(call->ctx, call->req));
    co_return call->reply->status();
  }
  // The call's task. Only the bare path (no interceptor, no concurrency
  // limit: the usual one) is in this coroutine, so that the code a call
  // runs through stays small: each unary call runs this code cold (gRPC's
  // own code per call is far larger than the instruction cache), and
  // cachegrind counted ~29 instruction-cache misses per call in this
  // function when both paths were in it. The handler's reply stays in this
  // frame: one move of it less than keeping it in the call.
  static Task<void> run(CallRef ref) {
    auto* call = static_cast<Call*>(ref.call);
    if (!runs_bare(call->method)) [[unlikely]] {
      co_await run_wrapped(call);
      co_return;
    }
    std::exception_ptr error;
    try {
      Reply<Resp> reply = co_await call->method->handler_(call->ctx, call->req);
      finish(call, reply);
      co_return;
    } catch (...) {
      if (call->finished) throw;  // Finish itself failed (out of memory)
      error = std::current_exception();
    }
    finish_with_error(call, handler_error(call, error));
  }
  // Through serve_call: the interceptors and the concurrency limits.
  static Task<void> run_wrapped(Call* call) {
    const grpc::Status st = co_await serve_call(call, call->method, &UnaryMethod::invoke);
    if (st.ok() && call->reply && call->reply->ok()) {
      finish(call, *call->reply);
    } else {
      finish_with_error(call, error_status(st, call->reply));
    }
  }
  static void finish(Call* call, Reply<Resp>& reply) {
    if (!reply.ok()) {
      finish_with_error(call, reply.status());
      return;
    }
    call->finish_tag.begin();
    call->finished = true;
    call->responder.Finish(*reply, grpc::Status::OK, static_cast<CqTag*>(&call->finish_tag));
  }
  [[gnu::noinline]] static void finish_with_error(Call* call, const grpc::Status& st) {
    call->finish_tag.begin();
    call->finished = true;
    call->responder.FinishWithError(st, static_cast<CqTag*>(&call->finish_tag));
  }
};

template <class Service, class Req, class Resp, class H>
class ServerStreamingMethod final
    : public MethodImpl<ServerStreamingMethod<Service, Req, Resp, H>, MethodKind::kServerStreaming, Service, Req,
                        grpc::ServerAsyncWriter<Resp>, H> {
 public:
  using ServerStreamingMethod::MethodImpl::MethodImpl;

  // The handler is an async generator of the replies (see
  // Server::add_server_streaming) rather than a coroutine with a writer.
  static constexpr bool kGenerator = std::is_invocable_r_v<AsyncGenerator<Resp>, H&, grpc::ServerContext&, const Req&>;

  struct Call final : ServerCallBase {
    Call(ServerShard* s, ServerStreamingMethod* m)
        : ServerCallBase(s), method(m), stream(&ctx), writer(this, &stream) {}
    ServerStreamingMethod* method;
    Req req;
    grpc::ServerAsyncWriter<Resp> stream;
    ServerWriter<Resp> writer;
  };

 private:
  friend typename ServerStreamingMethod::MethodImpl;
  // Not a coroutine: the handler's own task (or the generator's writer)
  // runs in its place, one frame less per call.
  static Task<grpc::Status> invoke(ServerCallBase* base) {
    auto* call = static_cast<Call*>(base);
    if constexpr (kGenerator) {
      return write_all<Resp>(call->method->handler_(call->ctx, call->req), call->writer);
    } else {
      return as_status_task(call->method->handler_(call->ctx, call->req, call->writer));
    }
  }
  static Task<void> run(CallRef ref) { return ServerStreamingMethod::run_stream(std::move(ref)); }
};

template <class Service, class Req, class Resp, class H>
class ClientStreamingMethod final
    : public MethodImpl<ClientStreamingMethod<Service, Req, Resp, H>, MethodKind::kClientStreaming, Service, void,
                        grpc::ServerAsyncReader<Resp, Req>, H> {
 public:
  using ClientStreamingMethod::MethodImpl::MethodImpl;

  struct Call final : ServerCallBase {
    Call(ServerShard* s, ClientStreamingMethod* m)
        : ServerCallBase(s), method(m), stream(&ctx), reader(this, &stream) {}
    ClientStreamingMethod* method;
    grpc::ServerAsyncReader<Resp, Req> stream;
    ServerReader<Req> reader;
    std::optional<Reply<Resp>> reply;  // once the handler returned
  };

 private:
  friend typename ClientStreamingMethod::MethodImpl;
  static Task<grpc::Status> invoke(ServerCallBase* base) {
    auto* call = static_cast<Call*>(base);
    call->reply.emplace(co_await call->method->handler_(call->ctx, call->reader));
    co_return call->reply->status();
  }
  static Task<void> run(CallRef ref) {
    auto* call = static_cast<Call*>(ref.call);
    const grpc::Status st = co_await serve_call(call, call->method, &ClientStreamingMethod::invoke);
    call->finish_tag.begin();
    call->finished = true;
    if (st.ok() && call->reply && call->reply->ok()) {
      call->stream.Finish(call->reply->value(), grpc::Status::OK, static_cast<CqTag*>(&call->finish_tag));
    } else {
      call->stream.FinishWithError(error_status(st, call->reply), static_cast<CqTag*>(&call->finish_tag));
    }
  }
};

template <class Service, class Req, class Resp, class H>
class BidiMethod final : public MethodImpl<BidiMethod<Service, Req, Resp, H>, MethodKind::kBidiStreaming, Service, void,
                                           grpc::ServerAsyncReaderWriter<Resp, Req>, H> {
 public:
  using BidiMethod::MethodImpl::MethodImpl;

  struct Call final : ServerCallBase {
    Call(ServerShard* s, BidiMethod* m) : ServerCallBase(s), method(m), stream(&ctx), rw(this, &stream) {}
    BidiMethod* method;
    grpc::ServerAsyncReaderWriter<Resp, Req> stream;
    ServerStream<Req, Resp> rw;
  };

 private:
  friend typename BidiMethod::MethodImpl;
  static Task<grpc::Status> invoke(ServerCallBase* base) {
    auto* call = static_cast<Call*>(base);
    return as_status_task(call->method->handler_(call->ctx, call->rw));
  }
  static Task<void> run(CallRef ref) { return BidiMethod::run_stream(std::move(ref)); }
};

}  // namespace internal

class Server {
 public:
  explicit Server(ServerOptions options = {});
  // Shuts down (at once: in-flight calls are cancelled) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds the generated service `S` (the class grpc_cpp_plugin names after
  // the service, e.g. kv::KV); its methods are then given handlers with
  // add_unary & co. Before start(). Errors: RuntimeError after start().
  template <class S>
  void add_service() {
    check_not_started();
    auto svc = std::make_unique<typename S::AsyncService>();
    service_names_.push_back(S::service_full_name());
    services_.push_back(std::move(svc));
  }

  // Handlers for each kind of method; `request` is the generated
  // AsyncService's Request<Method> member, e.g. &kv::KV::AsyncService::RequestGet.
  // `name` names the handler tasks (default: the method's full name,
  // "/package.Service/Method"); `options` sets a concurrency limit.
  // Errors: RuntimeError after start() or if the method's service was not
  // added with add_service(); std::invalid_argument for a negative
  // options.max_concurrency.
  template <class C, class Req, class Resp, class H>
  void add_unary(void (C::*request)(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                                    grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
                 H handler, std::string name = {}, MethodOptions options = {}) {
    add(std::make_unique<internal::UnaryMethod<C, Req, Resp, H>>(request, std::move(handler)), find<C>(),
        std::move(name), options, typeid(C), Req::descriptor(), Resp::descriptor());
  }
  //
  // A server-streaming handler may also be an async generator
  // (streams/async_generator.h) that co_yields the replies:
  //
  //   server.add_server_streaming(&kv::KV::AsyncService::RequestWatch,
  //       [&](grpc::ServerContext&, const kv::WatchRequest& req) -> corio::AsyncGenerator<kv::Event> {
  //         while (true) co_yield co_await next_change(req.prefix());
  //       });
  //
  // Each co_yield waits until gRPC has taken the previous message (one write
  // in flight), so the generator runs no further ahead than the client reads.
  // The call ends with OK when the generator ends, CANCELLED if the client
  // went away first, INTERNAL (with the message) if it raises.
  // Cancellation: when the call is cancelled (client, deadline, shutdown)
  //   while the generator is suspended in its own co_await, CancelledError
  //   is raised there; while it waits at a co_yield (a write in flight, or
  //   the client gone), it is closed with aclose(): GeneratorExit at the
  //   co_yield. Either way its catch blocks and destructors run.
  template <class C, class Req, class Resp, class H>
  void add_server_streaming(void (C::*request)(grpc::ServerContext*, Req*, grpc::ServerAsyncWriter<Resp>*,
                                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
                            H handler, std::string name = {}, MethodOptions options = {}) {
    add(std::make_unique<internal::ServerStreamingMethod<C, Req, Resp, H>>(request, std::move(handler)), find<C>(),
        std::move(name), options, typeid(C), Req::descriptor(), Resp::descriptor());
  }
  template <class C, class Req, class Resp, class H>
  void add_client_streaming(void (C::*request)(grpc::ServerContext*, grpc::ServerAsyncReader<Resp, Req>*,
                                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
                            H handler, std::string name = {}, MethodOptions options = {}) {
    add(std::make_unique<internal::ClientStreamingMethod<C, Req, Resp, H>>(request, std::move(handler)), find<C>(),
        std::move(name), options, typeid(C), Req::descriptor(), Resp::descriptor());
  }
  template <class C, class Req, class Resp, class H>
  void add_bidi_streaming(void (C::*request)(grpc::ServerContext*, grpc::ServerAsyncReaderWriter<Resp, Req>*,
                                             grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
                          H handler, std::string name = {}, MethodOptions options = {}) {
    add(std::make_unique<internal::BidiMethod<C, Req, Resp, H>>(request, std::move(handler)), find<C>(),
        std::move(name), options, typeid(C), Req::descriptor(), Resp::descriptor());
  }

  // Adds an interceptor around every handler of the server (see
  // Interceptor). Interceptors run in the order they were added: the first
  // added is the outermost. Before start().
  // Errors: RuntimeError after start(); std::invalid_argument for an empty
  //   function.
  void add_interceptor(Interceptor interceptor);

  // The full names of the services added, e.g. "kv.KV", in the order they
  // were added. Thread safety: any thread once start() has begun (the list
  // no longer changes then); before, the configuring thread.
  const std::vector<std::string>& service_names() const noexcept { return service_names_; }

  // Binds, starts the loop threads and begins serving.
  // Errors: RuntimeError if already started or a port cannot be bound;
  //   std::invalid_argument for threads < 1, or a method of an added
  //   service without a handler.
  void start();
  // The port bound for the first address (useful with port 0).
  int port() const noexcept { return ports_.empty() ? 0 : ports_.front(); }
  const std::vector<int>& ports() const noexcept { return ports_; }

  // Graceful shutdown: stops accepting calls at once, lets calls in flight
  // finish until `grace` has passed, then cancels the rest (their handlers
  // see CancelledError), and returns once every loop thread has ended.
  // Idempotent. Errors: RuntimeError when called from one of the server's
  // own loop threads (it would wait for itself).
  void shutdown(std::chrono::nanoseconds grace = std::chrono::seconds(0));
  // Blocks until shutdown() has completed (from any other thread).
  void wait();
  bool running() const noexcept;

 private:
  template <class C>
  grpc::Service* find() {
    check_not_started();
    for (auto& s : services_) {
      if (dynamic_cast<C*>(s.get()) != nullptr) return s.get();
    }
    throw RuntimeError("corio::rpc: add the method's service with add_service<S>() first");
  }
  // `cls` is the generated class that declares the method's Request member
  // (grpc_cpp_plugin's WithAsyncMethod_<Method>); with the message types it
  // tells the method's full name without asking gRPC per call.
  void add(std::unique_ptr<internal::MethodBase> m, grpc::Service* svc, std::string name, MethodOptions options,
           const std::type_info& cls, const google::protobuf::Descriptor* req,
           const google::protobuf::Descriptor* resp);
  void check_not_started() const;

  ServerOptions options_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::vector<std::string> service_names_;
  std::vector<std::unique_ptr<internal::MethodBase>> methods_;
  std::vector<Interceptor> interceptors_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<internal::ServerShard>> shards_;
  std::vector<std::thread> threads_;
  std::vector<int> ports_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Some method's name could not be resolved when it was added: gRPC's
  // interceptor hook then records every call's (it costs an allocation and
  // a few hundred instructions per call, so only then).
  bool record_method_names_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
};

}  // namespace corio::rpc

#endif  // CORIO_RPC_SERVER_H_
