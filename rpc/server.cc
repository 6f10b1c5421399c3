#include "corio/rpc/server.h"

#include <google/protobuf/descriptor.h>
#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/support/server_interceptor.h>

#include <cstdio>
#include <stdexcept>

namespace corio::rpc {

namespace internal {

namespace {

// A server call's finish tag. Nobody awaits it (the handler's task has
// ended), and a shard still accepting neither closes its queue nor stops
// its loop when a call goes (~ServerCallBase): a quiet event, as the done
// tag mostly is (see on_done).
void on_finished(CqTag* tag, bool ok) noexcept {
  ServerShard* shard = static_cast<ServerCallBase*>(static_cast<OpTag*>(tag)->owner)->shard;
  OpTag::on_fire(tag, ok);
  if (shard->accepting) shard->driver().event_was_quiet();
}

}  // namespace

ServerCallBase::ServerCallBase(ServerShard* s) noexcept : shard(s) {
  for (OpTag* t : {&request_tag, &done_tag, &read_tag, &write_tag, &finish_tag}) t->owner = this;
  finish_tag.fire = &on_finished;
  ++shard->live_calls;
}

ServerCallBase::~ServerCallBase() {
  // The last call: a stopping shard shuts its queue down (nothing can start
  // an operation on it any more, see stop_shard), and a drained one stops.
  if (--shard->live_calls == 0) {
    if (!shard->accepting) shard->close_queue();
    shard->maybe_stop();
  }
}

namespace {

// The done tag: the call is over (finished, cancelled, or past its
// deadline). A handler still running on a cancelled call is cancelled.
void on_done(CqTag* tag, bool) noexcept {
  auto* t = static_cast<OpTag*>(tag);
  auto* call = static_cast<ServerCallBase*>(t->owner);
  ServerShard* shard = call->shard;
  t->in_flight = false;
  // The handler first: a unary call's done tag mostly comes after its
  // handler ended, and IsCancelled() takes a lock (about 130 instructions).
  bool woke = false;
  if (call->handler && !call->handler.done() && call->ctx.IsCancelled()) {
    call->handler.cancel("corio::rpc: the call was cancelled (by the client, its deadline or shutdown)");
    woke = true;
  }
  call->unref();
  // Nothing for the loop to see: no task cancelled, and a shard still
  // accepting neither closes its queue nor stops its loop when a call goes
  // (~ServerCallBase).
  if (!woke && shard->accepting) shard->driver().event_was_quiet();
}

// gRPC's async API tells a handler nothing of the method it serves, and the
// one public place that learns it per call is a server interceptor factory,
// which gRPC calls for every call once any factory is installed (it then
// allocates a ServerRpcInfo per call: about 400 instructions and one
// malloc/free per call, measured with callgrind). So the server resolves
// each method's name once, when its handler is added (resolve_method_name),
// and installs this recorder only for a method it could not resolve. It
// records the name in the call's context and adds no interceptor, so gRPC's
// interceptor machinery stays idle. The name points into the generated
// service's static table.
class MethodNameRecorder final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    if (auto* ctx = dynamic_cast<CallContext*>(info->server_context())) ctx->method = info->method();
    return nullptr;
  }
};

bool kind_matches(const google::protobuf::MethodDescriptor* m, MethodKind kind) {
  const bool in = m->client_streaming(), out = m->server_streaming();
  switch (kind) {
    case MethodKind::kUnary:
      return !in && !out;
    case MethodKind::kServerStreaming:
      return !in && out;
    case MethodKind::kClientStreaming:
      return in && !out;
    case MethodKind::kBidiStreaming:
      return in && out;
  }
  return false;
}

bool signature_matches(const google::protobuf::MethodDescriptor* m, MethodKind kind,
                       const google::protobuf::Descriptor* req, const google::protobuf::Descriptor* resp) {
  return m != nullptr && m->input_type() == req && m->output_type() == resp && kind_matches(m, kind);
}

}  // namespace

// The method of service `service` that a handler serves, or null. First by
// the class that declares its Request member: grpc_cpp_plugin names it
// WithAsyncMethod_<Method>, and the Itanium ABI (g++ and clang) spells a
// name in a type's mangled name as <length><identifier>, so the method's
// name can be read from typeid(cls).name(); the descriptor must confirm it
// (a method of that name, kind and message types). Else, by the kind and
// message types, when exactly one method of the service has them.
const google::protobuf::MethodDescriptor* resolve_method(const google::protobuf::ServiceDescriptor* service,
                                                         MethodKind kind, const std::type_info& cls,
                                                         const google::protobuf::Descriptor* req,
                                                         const google::protobuf::Descriptor* resp) {
  if (service == nullptr) return nullptr;
  static constexpr std::string_view kPrefix = "WithAsyncMethod_";
  const std::string_view mangled = cls.name();
  const std::size_t at = mangled.find(kPrefix);
  if (at != std::string_view::npos) {
    // The digits before the prefix end with its length; the digits before
    // those may belong to the enclosing name ("Tester2"), so try each.
    std::size_t first = at;
    while (first > 0 && mangled[first - 1] >= '0' && mangled[first - 1] <= '9') --first;
    for (std::size_t from = at; from-- > first;) {
      std::size_t len = 0;
      for (std::size_t i = from; i < at; ++i) len = len * 10 + static_cast<std::size_t>(mangled[i] - '0');
      if (len <= kPrefix.size() || at + len > mangled.size()) continue;
      const std::string_view method = mangled.substr(at + kPrefix.size(), len - kPrefix.size());
      const auto* m = service->FindMethodByName(std::string(method));
      if (signature_matches(m, kind, req, resp)) return m;
    }
  }
  const google::protobuf::MethodDescriptor* found = nullptr;
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    if (!signature_matches(m, kind, req, resp)) continue;
    if (found != nullptr) return nullptr;  // ambiguous
    found = m;
  }
  return found;
}

namespace {

// The status an exception from a handler or an interceptor ends its call
// with; CancelledError is rethrown.
grpc::Status status_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError&) {
    throw;
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "handler threw a non-standard exception");
  }
}

// The innermost step: the method's concurrency permit, the server's, then
// the handler.
Task<grpc::Status> run_handler(Chain* chain);

// The tag Server::shutdown() sends each shard's queue once gRPC's server is
// shut down: from then on the shard posts no request, and its queue is shut
// down on its own thread when no call is left. gRPC aborts the process when
// an operation starts on a queue that is shut down, and a handler may still
// start one after gRPC's Shutdown() has returned (the Finish of a handler
// that returns after its call was cancelled), so the queue must not be shut
// down from the thread that calls shutdown().
struct StopTag : CqTag {
  ServerShard* shard = nullptr;
};

void stop_shard(CqTag* tag, bool) noexcept {
  ServerShard* shard = static_cast<StopTag*>(tag)->shard;
  shard->accepting = false;
  if (shard->live_calls == 0) shard->close_queue();
}

}  // namespace

// The state of one call's way through the interceptors, in serve_call's
// frame; each Next refers to it with its level.
struct Chain {
  const std::vector<Interceptor>* interceptors;
  CallInfo* info;
  ServerCallBase* call;
  const CallLimits* limits;
  InnerFn inner;
  std::size_t reached = 0;  // levels entered so far

  // Runs level `level`: interceptor `level`, or past the last one the
  // handler. Exceptions but CancelledError become INTERNAL.
  static Task<grpc::Status> run(Chain* c, std::size_t level) {
    if (c->reached > level) {
      throw RuntimeError("corio::rpc: Next awaited twice (the rest of a call runs at most once)");
    }
    c->reached = level + 1;
    std::exception_ptr error;
    grpc::Status st;
    try {
      if (level < c->interceptors->size()) {
        st = co_await (*c->interceptors)[level](*c->info, Next(c, level + 1));
      } else {
        st = co_await run_handler(c);
      }
    } catch (...) {
      error = std::current_exception();
    }
    if (error) co_return status_of(error);
    co_return st;
  }
};

namespace {

Task<grpc::Status> run_handler(Chain* c) {
  // Method first, then server (see ServerOptions::max_concurrency); given
  // back in the reverse order when the guards go.
  SemaphoreGuard method_permit, server_permit;
  if (c->limits != nullptr) {
    if (c->limits->method) method_permit = co_await c->limits->method->scoped();
    if (c->limits->server != nullptr) server_permit = co_await c->limits->server->scoped();
    // Past shutdown's grace gRPC cancels the calls left one by one, and a
    // cancelled handler's permit may reach a waiting call before that
    // call's own cancel does: it must not start its handler then.
    if (c->call->shard->past_grace()) [[unlikely]] {
      throw CancelledError("corio::rpc: the server shut down while the call waited for a concurrency permit");
    }
  }
  co_return co_await c->inner(c->call);
}

std::string_view method_name(const ServerCallBase* call, const MethodBase* method) {
  if (!method->full_name.empty()) return method->full_name;
  return call->ctx.method != nullptr ? std::string_view(call->ctx.method) : std::string_view(method->name);
}

}  // namespace

grpc::Status handler_error(ServerCallBase* call, const std::exception_ptr& error) {
  if (is_cancelled_error(error)) {
    call->ctx.TryCancel();
    std::rethrow_exception(error);
  }
  return status_of(error);
}

Task<grpc::Status> serve_call(ServerCallBase* call, MethodBase* method, InnerFn inner) {
  const CallLimits* limits = call->shard->limits(method->index);
  std::exception_ptr error;
  grpc::Status st;
  if (method->interceptors->empty() && limits == nullptr) {
    // Nothing around the handler: run it straight from here, without the
    // chain's two frames, which a call would otherwise keep for as long as
    // it lives (a Watch stream for hours).
    try {
      st = co_await inner(call);
    } catch (...) {
      error = std::current_exception();
    }
    if (error && !is_cancelled_error(error)) co_return status_of(error);
  } else {
    CallInfo info(method_name(call, method), method->kind, &call->ctx);
    Chain chain{method->interceptors, &info, call, limits, inner};
    try {
      st = co_await Chain::run(&chain, 0);
    } catch (...) {
      error = std::current_exception();  // CancelledError: the rest became statuses
    }
  }
  if (error) {
    call->ctx.TryCancel();
    std::rethrow_exception(error);
  }
  co_return st;
}

void start_handler(ServerCallBase* call, MethodBase* method, bool ok, Task<void> (*make)(CallRef)) noexcept {
  ServerShard* shard = call->shard;
  if (!ok) {
    // The server is shutting down: the call never started, so gRPC hands
    // back neither its done tag nor any other (grpc#10136).
    delete call;
    return;
  }
  // The done tag now will come back: it holds a reference from here.
  call->done_tag.fire = &on_done;
  call->done_tag.begin();
  // Keep the method's requests posted.
  if (shard->accepting) {
    try {
      method->request(shard);
    } catch (...) {
      shard->loop().call_exception_handler(
          {"corio::rpc: could not post a new request for " + std::string(method_name(call, method)),
           std::current_exception(),
           {}});
    }
  }
  try {
    if (!method->name.empty() || !method->full_name.empty()) {
      TaskHandle<void> task = create_task(shard->loop(), make(CallRef(call)));
      task.base()->set_name_source(method);
      call->handler = std::move(task);
    } else {
      // A method whose name gRPC tells per call (MethodNameRecorder).
      call->handler = create_task(shard->loop(), make(CallRef(call)), std::string(method_name(call, method)));
    }
  } catch (...) {
    // Out of memory: the call is cancelled; its tags release it.
    call->ctx.TryCancel();
  }
  call->unref();  // the request's reference; the task holds its own
}

ServerShard::ServerShard(std::unique_ptr<grpc::ServerCompletionQueue> cq)
    : cq_(cq.get()), driver_(std::unique_ptr<grpc::CompletionQueue>(cq.release())) {}

void ServerShard::close_queue() noexcept {
  if (closing_ || driver_.shutting_down()) return;
  closing_ = true;
  if (loop_ == nullptr || loop_->pending_task_count() == 0) {
    driver_.shutdown();
    return;
  }
  // Tasks that handlers left behind may be in client calls on this queue,
  // which would hold it open (a queue drains only once every operation is
  // back): they are cancelled now, their in-flight operations with them,
  // and the queue is shut down once their first steps ran, so that what
  // their cleanup starts at once still finds it open.
  try {
    loop_->call_soon([this] {
      loop_->cancel_all_tasks("corio::rpc: server shut down");
      loop_->call_soon([this] { driver_.shutdown(); });
    });
  } catch (...) {
    driver_.shutdown();  // out of memory: the tasks are cancelled after the drain
  }
}

void ServerShard::run(const std::vector<std::unique_ptr<MethodBase>>& methods, int per_method, int server_limit) {
  EventLoop loop;
  loop_ = &loop;
  loop.set_event_source(&driver_);
  // Destroyed before the loop, once no task waits on them any more.
  struct Limits {
    ServerShard* shard;
    ~Limits() {
      shard->limits_.clear();
      shard->server_limit_.reset();
    }
  } limits{this};
  if (server_limit > 0) server_limit_ = std::make_unique<Semaphore>(server_limit);
  // An entry only for a method with a limit: without any, limits_ stays
  // empty and the bare path costs what it did before limits existed.
  for (const auto& m : methods) {
    if (m->options.max_concurrency <= 0 && server_limit_ == nullptr) continue;
    limits_.resize(methods.size());
    auto l = std::make_unique<CallLimits>();
    if (m->options.max_concurrency > 0) l->method = std::make_unique<Semaphore>(m->options.max_concurrency);
    l->server = server_limit_.get();
    limits_[m->index] = std::move(l);
  }
  for (const auto& m : methods) {
    for (int i = 0; i < per_method; ++i) m->request(this);
  }
  // Until the queue has handed back every tag after shutdown and no call
  // is left (maybe_stop); then whatever tasks handlers left behind are
  // cancelled.
  driver_.set_on_drained([](void* self) { static_cast<ServerShard*>(self)->maybe_stop(); }, this);
  while (!(driver_.drained() && live_calls == 0)) loop.run_forever();
  loop.cancel_all_tasks("corio::rpc: server shut down");
  while (loop.pending_task_count() > 0) loop.run_once(false);
  loop.set_event_source(nullptr);
  loop_ = nullptr;
}

}  // namespace internal

Task<grpc::Status> Next::operator()() const { return internal::Chain::run(chain_, level_); }

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() {
  if (running()) {
    try {
      shutdown(std::chrono::nanoseconds(0));
    } catch (...) {
    }
  }
}

void Server::check_not_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) throw RuntimeError("corio::rpc: the server has already been started");
}

void Server::add(std::unique_ptr<internal::MethodBase> m, grpc::Service* svc, std::string name, MethodOptions options,
                 const std::type_info& cls, const google::protobuf::Descriptor* req,
                 const google::protobuf::Descriptor* resp) {
  if (options.max_concurrency < 0) {
    throw std::invalid_argument("corio::rpc: MethodOptions::max_concurrency must be >= 0");
  }
  for (std::size_t i = 0; i < services_.size(); ++i) {
    if (services_[i].get() != svc) continue;
    const auto* desc = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_names_[i]);
    if (const auto* method = internal::resolve_method(desc, m->kind, cls, req, resp)) {
      m->full_name = "/" + method->service()->full_name() + "/" + method->name();
    }
  }
  if (m->full_name.empty()) record_method_names_ = true;
  m->service = svc;
  m->name = std::move(name);
  m->index = methods_.size();
  m->options = options;
  m->interceptors = &interceptors_;
  methods_.push_back(std::move(m));
}

void Server::add_interceptor(Interceptor interceptor) {
  check_not_started();
  if (!interceptor) throw std::invalid_argument("corio::rpc: add_interceptor() of an empty function");
  interceptors_.push_back(std::move(interceptor));
}

void Server::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) throw RuntimeError("corio::rpc: the server has already been started");
  }
  if (options_.threads < 1) throw std::invalid_argument("corio::rpc: ServerOptions::threads must be at least 1");
  if (options_.max_concurrency < 0 || (options_.max_concurrency > 0 && options_.max_concurrency < options_.threads)) {
    throw std::invalid_argument(
        "corio::rpc: ServerOptions::max_concurrency must be 0 (no limit) or at least `threads` (it is split across "
        "the loops)");
  }
  // Every method of an added service needs a handler.
  for (std::size_t i = 0; i < services_.size(); ++i) {
    const auto* desc = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_names_[i]);
    std::size_t handled = 0;
    for (const auto& m : methods_) handled += m->service == services_[i].get();
    if (desc != nullptr && handled != static_cast<std::size_t>(desc->method_count())) {
      throw std::invalid_argument("corio::rpc: service " + service_names_[i] + " has " +
                                  std::to_string(desc->method_count()) + " methods but " + std::to_string(handled) +
                                  " handlers");
    }
  }
  // What ServerShard::run makes of the limits: a method has none on any
  // loop when neither it nor the server has one (each loop's share of a
  // server limit is at least 1).
  for (auto& m : methods_) {
    m->bare = interceptors_.empty() && m->options.max_concurrency <= 0 && options_.max_concurrency <= 0;
  }
  grpc::ServerBuilder builder;
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureServerCredentials();
  ports_.assign(options_.addresses.size(), 0);
  for (std::size_t i = 0; i < options_.addresses.size(); ++i) {
    builder.AddListeningPort(options_.addresses[i], creds, &ports_[i]);
  }
  for (auto& s : services_) builder.RegisterService(s.get());
  if (options_.max_receive_message_size >= 0) builder.SetMaxReceiveMessageSize(options_.max_receive_message_size);
  if (options_.max_send_message_size >= 0) builder.SetMaxSendMessageSize(options_.max_send_message_size);
  if (record_method_names_) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<internal::MethodNameRecorder>());
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (int i = 0; i < options_.threads; ++i) cqs.push_back(builder.AddCompletionQueue());
  server_ = builder.BuildAndStart();
  bool bound = server_ != nullptr;
  for (int p : ports_) bound = bound && p != 0;
  if (!bound) {
    if (server_) server_->Shutdown();
    for (auto& cq : cqs) {
      cq->Shutdown();
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
      }
    }
    server_.reset();
    throw RuntimeError("corio::rpc: could not bind every address (in use, or malformed)");
  }
  for (auto& cq : cqs) shards_.push_back(std::make_unique<internal::ServerShard>(std::move(cq)));
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
  }
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    // This loop's share of the server's limit: the first loops take one
    // more when it does not divide evenly.
    const int n = options_.threads, limit = options_.max_concurrency;
    const int share = limit / n + (static_cast<int>(i) < limit % n ? 1 : 0);
    threads_.emplace_back([this, s = shards_[i].get(), share] {
      try {
        s->run(methods_, options_.requests_per_method, share);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "corio::rpc: a server loop ended with an error: %s\n", e.what());
      }
    });
  }
}

bool Server::running() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return started_ && !stopped_;
}

void Server::shutdown(std::chrono::nanoseconds grace) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!started_) return;
    if (EventLoop* here = EventLoop::current()) {
      for (auto& s : shards_) {
        if (&s->loop() == here) {
          throw RuntimeError("corio::rpc: Server::shutdown() called from one of the server's own loop threads");
        }
      }
    }
    if (stopping_) {
      cv_.wait(lock, [&] { return stopped_; });
      return;
    }
    stopping_ = true;
  }
  // gRPC: stop accepting; wait for calls in flight until the deadline, then
  // cancel them (their done tags cancel the handler tasks). Not from a thread
  // that drives a queue: the loops keep driving theirs meanwhile.
  const auto deadline = std::chrono::system_clock::now() + grace;
  for (auto& s : shards_) s->set_grace_end(deadline);
  server_->Shutdown(deadline);
  // Each loop shuts its own queue down (stop_shard). An alarm due at once
  // delivers the tag: a loop cannot end before it has taken it. The alarms
  // go before the queues do, the tags after.
  std::vector<internal::StopTag> stop(shards_.size());
  {
    std::vector<grpc::Alarm> alarms(shards_.size());
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      stop[i].fire = &internal::stop_shard;
      stop[i].shard = shards_[i].get();
      internal::hand_off(&stop[i]);
      alarms[i].Set(shards_[i]->cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), static_cast<internal::CqTag*>(&stop[i]));
    }
    for (auto& t : threads_) t.join();
  }
  threads_.clear();
  shards_.clear();
  server_.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void Server::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !started_ || stopped_; });
}

}  // namespace corio::rpc
