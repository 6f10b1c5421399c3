#include "corio/rpc/benchmark/servers.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "corio/sync/event.h"

namespace corio::rpc::bench {
namespace {

using corio::rpc::testing::Msg;
using corio::rpc::testing::Tester;

// ---- corio ----
class CorioServer final : public BenchServer {
 public:
  CorioServer(int port, int threads) {
    ServerOptions o;
    o.addresses = {"127.0.0.1:" + std::to_string(port)};
    o.threads = threads;
    server_ = std::make_unique<Server>(o);
    server_->add_service<Tester>();
    server_->add_unary(
        &Tester::AsyncService::RequestUnary,
        [](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
          Msg r;
          r.set_text(req.text());
          r.set_n(req.n() + 1);
          co_return r;
        },
        "Tester/Unary");
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [](grpc::ServerContext&, const Msg& req, ServerWriter<Msg>& out) -> Task<grpc::Status> {
          Msg m;
          m.set_text(req.text());
          if (req.text() == kIdle) {
            // Watch-style: one message, then nothing until the call ends
            // (the client cancels: CancelledError here).
            if (!co_await out.write(m)) co_return grpc::Status::CANCELLED;
            Event never;
            co_await never.wait();
            co_return grpc::Status::OK;
          }
          for (int i = 0; i < req.n(); ++i) {
            m.set_n(i);
            if (!co_await out.write(m)) co_return grpc::Status::CANCELLED;
          }
          co_return grpc::Status::OK;
        },
        "Tester/ServerStream");
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [](grpc::ServerContext&, ServerReader<Msg>&) -> Task<Reply<Msg>> {
                                    co_return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
                                  });
    server_->add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                                [](grpc::ServerContext&, ServerStream<Msg, Msg>&) -> Task<grpc::Status> {
                                  co_return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
                                });
    server_->start();
  }
  int port() const override { return server_->port(); }
  void shutdown() override { server_->shutdown(std::chrono::milliseconds(100)); }

 private:
  std::unique_ptr<Server> server_;
};

// ---- plain completion-queue server ----
class CqServer final : public BenchServer {
 public:
  CqServer(int port, int threads) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&service_);
    for (int i = 0; i < threads; ++i) cqs_.push_back(b.AddCompletionQueue());
    server_ = b.BuildAndStart();
    if (!server_ || port_ == 0) throw std::runtime_error("cq server: bind failed");
    for (auto& cq : cqs_) {
      threads_.emplace_back([this, cq = cq.get()] { serve(cq); });
    }
  }
  int port() const override { return port_; }
  void shutdown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    for (auto& cq : cqs_) cq->Shutdown();
    for (auto& t : threads_) t.join();
  }

 private:
  struct Call {
    virtual ~Call() = default;
    virtual void proceed(bool ok) = 0;
  };
  struct UnaryCall final : Call {
    UnaryCall(CqServer* s, grpc::ServerCompletionQueue* cq) : s(s), cq(cq), responder(&ctx) {
      s->service_.RequestUnary(&ctx, &req, &responder, cq, cq, this);
    }
    void proceed(bool ok) override {
      if (finishing || !ok) {
        delete this;
        return;
      }
      new UnaryCall(s, cq);
      reply.set_text(req.text());
      reply.set_n(req.n() + 1);
      finishing = true;
      responder.Finish(reply, grpc::Status::OK, this);
    }
    CqServer* s;
    grpc::ServerCompletionQueue* cq;
    grpc::ServerContext ctx;
    Msg req, reply;
    grpc::ServerAsyncResponseWriter<Msg> responder;
    bool finishing = false;
  };
  // A server-streaming call. Its done tag (AsyncNotifyWhenDone) is how a
  // completion-queue server learns that a call it is not writing to was
  // cancelled, which a Watch-style stream needs (corio's server registers
  // one for every call too); the call is freed once both the done tag and
  // its last operation are back.
  struct StreamCall final : Call {
    struct DoneTag final : Call {
      StreamCall* call;
      void proceed(bool) override { call->on_done(); }
    };
    StreamCall(CqServer* s, grpc::ServerCompletionQueue* cq) : s(s), cq(cq), writer(&ctx) {
      done.call = this;
      ctx.AsyncNotifyWhenDone(&done);
      s->service_.RequestServerStream(&ctx, &req, &writer, cq, cq, this);
    }
    void on_done() {
      done_back = true;
      if (!op_pending) delete this;
    }
    void proceed(bool ok) override {
      op_pending = false;
      if (state == kRequest && !ok) {
        delete this;  // shutting down: neither the call nor its done tag started
        return;
      }
      if (state == kFinish || state == kWaiting) {
        if (done_back) delete this;
        return;
      }
      if (state == kRequest) new StreamCall(s, cq);
      op_pending = true;
      if (!ok) {
        state = kFinish;
        writer.Finish(grpc::Status::CANCELLED, this);
        return;
      }
      // The text once per call, as the corio handler does (setting it for
      // every message cost this server ~90 instructions a message that the
      // corio one does not spend).
      if (state == kRequest) m.set_text(req.text());
      if (state == kRequest && req.text() == kIdle) {
        // Watch-style: one message, then nothing until the done tag.
        state = kWaiting;
        writer.Write(m, this);
        return;
      }
      if (sent < req.n()) {
        state = kWriting;
        m.set_n(sent++);
        writer.Write(m, this);
        return;
      }
      state = kFinish;
      writer.Finish(grpc::Status::OK, this);
    }
    enum { kRequest, kWriting, kWaiting, kFinish } state = kRequest;
    CqServer* s;
    grpc::ServerCompletionQueue* cq;
    grpc::ServerContext ctx;
    Msg req, m;
    grpc::ServerAsyncWriter<Msg> writer;
    DoneTag done;
    int sent = 0;
    bool op_pending = true;  // the request, then each write and the finish
    bool done_back = false;
  };
  // ClientStream and Bidi, answered UNIMPLEMENTED as the corio server's
  // handlers answer them: the same service as the corio server, with the
  // same methods requested. (Without them, calls to those methods would
  // wait forever, and this server's queue would hold fewer outstanding
  // tags: Debian's libgrpc checks every completion against that list, so
  // the comparison per message would not be like for like.)
  template <typename Stream, auto kRequest>
  struct UnimplementedCall final : Call {
    UnimplementedCall(CqServer* s, grpc::ServerCompletionQueue* cq) : s(s), cq(cq), stream(&ctx) {
      (s->service_.*kRequest)(&ctx, &stream, cq, cq, this);
    }
    void proceed(bool ok) override {
      if (finishing || !ok) {
        delete this;
        return;
      }
      new UnimplementedCall(s, cq);
      finishing = true;
      finish();
    }
    void finish() {
      const grpc::Status st(grpc::StatusCode::UNIMPLEMENTED, "");
      if constexpr (requires { stream.FinishWithError(st, this); }) {
        stream.FinishWithError(st, this);
      } else {
        stream.Finish(st, this);
      }
    }
    CqServer* s;
    grpc::ServerCompletionQueue* cq;
    grpc::ServerContext ctx;
    Stream stream;
    bool finishing = false;
  };
  using ClientStreamCall =
      UnimplementedCall<grpc::ServerAsyncReader<Msg, Msg>, &Tester::AsyncService::RequestClientStream>;
  using BidiCall = UnimplementedCall<grpc::ServerAsyncReaderWriter<Msg, Msg>, &Tester::AsyncService::RequestBidi>;
  void serve(grpc::ServerCompletionQueue* cq) {
    for (int i = 0; i < 4; ++i) {
      new UnaryCall(this, cq);
      new StreamCall(this, cq);
      new ClientStreamCall(this, cq);
      new BidiCall(this, cq);
    }
    void* tag;
    bool ok;
    while (cq->Next(&tag, &ok)) static_cast<Call*>(tag)->proceed(ok);
  }

  Tester::AsyncService service_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

// ---- callback API server ----
class CallbackService final : public Tester::CallbackService {
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const Msg* req, Msg* reply) override {
    reply->set_text(req->text());
    reply->set_n(req->n() + 1);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  grpc::ServerWriteReactor<Msg>* ServerStream(grpc::CallbackServerContext*, const Msg* req) override {
    class Writer final : public grpc::ServerWriteReactor<Msg> {
     public:
      explicit Writer(const Msg* req) : n_(req->n()), idle_(req->text() == kIdle) {
        m_.set_text(req->text());
        if (idle_) {
          StartWrite(&m_);  // Watch-style: one message, then nothing until OnCancel
          return;
        }
        next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          finish(grpc::Status::CANCELLED);
          return;
        }
        if (!idle_) next();
      }
      void OnCancel() override {
        if (idle_) finish(grpc::Status::CANCELLED);
      }
      void OnDone() override { delete this; }

     private:
      void next() {
        if (sent_ >= n_) {
          finish(grpc::Status::OK);
          return;
        }
        m_.set_n(sent_++);
        StartWrite(&m_);
      }
      // OnCancel may come while a write is in flight: Finish once.
      void finish(grpc::Status st) {
        if (std::exchange(finished_, true)) return;
        Finish(std::move(st));
      }
      Msg m_;
      int n_;
      bool idle_;
      bool finished_ = false;
      int sent_ = 0;
    };
    return new Writer(req);
  }
};

class CallbackServer final : public BenchServer {
 public:
  CallbackServer(int port, int threads) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&service_);
    (void)threads;  // gRPC sizes the callback executor itself
    server_ = b.BuildAndStart();
    if (!server_ || port_ == 0) throw std::runtime_error("callback server: bind failed");
  }
  int port() const override { return port_; }
  void shutdown() override { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100)); }

 private:
  CallbackService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace

std::unique_ptr<BenchServer> start_server(const std::string& kind, int port, int threads) {
  if (kind == "corio") return std::make_unique<CorioServer>(port, threads);
  if (kind == "cq") return std::make_unique<CqServer>(port, threads);
  if (kind == "callback") return std::make_unique<CallbackServer>(port, threads);
  throw std::invalid_argument("unknown server kind " + kind);
}

}  // namespace corio::rpc::bench
