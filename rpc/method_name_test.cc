// How the server tells a handler's method without gRPC's per-call
// interceptor hook: internal::resolve_method, from the generated class that
// declares the Request member and the message types; and, end to end, the
// fallback when it cannot (the method recorded per call).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <mutex>
#include <string>
#include <typeinfo>
#include <vector>

#include "corio/loop/task_handle.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "corio/rpc/testing/twins_service.grpc.pb.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using corio::rpc::testing::Msg;
using corio::rpc::testing::Tester;
using namespace std::chrono_literals;

// The class a member pointer such as &Tester::AsyncService::RequestUnary
// belongs to, as add_unary & co see it.
template <class C, class... A>
const std::type_info& class_of(void (C::*)(A...)) {
  return typeid(C);
}

const google::protobuf::ServiceDescriptor* tester() {
  return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("corio.rpc.testing.Tester");
}

std::string resolved(const google::protobuf::MethodDescriptor* m) { return m == nullptr ? "" : m->full_name(); }

TEST(ResolveMethodTest, EveryKindOfTheGeneratedServiceByItsRequestMember) {
  const auto* d = Msg::descriptor();
  EXPECT_EQ(resolved(internal::resolve_method(tester(), MethodKind::kUnary,
                                              class_of(&Tester::AsyncService::RequestUnary), d, d)),
            "corio.rpc.testing.Tester.Unary");
  EXPECT_EQ(resolved(internal::resolve_method(tester(), MethodKind::kServerStreaming,
                                              class_of(&Tester::AsyncService::RequestServerStream), d, d)),
            "corio.rpc.testing.Tester.ServerStream");
  EXPECT_EQ(resolved(internal::resolve_method(tester(), MethodKind::kClientStreaming,
                                              class_of(&Tester::AsyncService::RequestClientStream), d, d)),
            "corio.rpc.testing.Tester.ClientStream");
  EXPECT_EQ(resolved(internal::resolve_method(tester(), MethodKind::kBidiStreaming,
                                              class_of(&Tester::AsyncService::RequestBidi), d, d)),
            "corio.rpc.testing.Tester.Bidi");
}

TEST(ResolveMethodTest, ANameTheDescriptorDoesNotConfirmFallsBackToTheUniqueSignature) {
  // A class named after no method of Tester: the kind and types decide.
  const auto* d = Msg::descriptor();
  EXPECT_EQ(resolved(internal::resolve_method(tester(), MethodKind::kClientStreaming, typeid(int), d, d)),
            "corio.rpc.testing.Tester.ClientStream");
}

// A service with two unary methods of the same types, in a pool of its own.
class AmbiguousTest : public ::testing::Test {
 protected:
  void SetUp() override {
    google::protobuf::FileDescriptorProto f;
    f.set_name("ambiguous.proto");
    f.set_package("amb");
    f.set_syntax("proto3");
    f.add_message_type()->set_name("M");
    auto* s = f.add_service();
    s->set_name("S");
    for (const char* name : {"A", "B"}) {
      auto* m = s->add_method();
      m->set_name(name);
      m->set_input_type(".amb.M");
      m->set_output_type(".amb.M");
    }
    ASSERT_NE(pool_.BuildFile(f), nullptr);
    service_ = pool_.FindServiceByName("amb.S");
    m_ = pool_.FindMessageTypeByName("amb.M");
  }
  google::protobuf::DescriptorPool pool_;
  const google::protobuf::ServiceDescriptor* service_ = nullptr;
  const google::protobuf::Descriptor* m_ = nullptr;
};

}  // namespace

// Shaped like grpc_cpp_plugin's output: the class is named after the method.
namespace amb {
template <class Base>
struct WithAsyncMethod_B {};
// An enclosing name ending in digits: its digits precede the class's length.
struct S2 {
  template <class Base>
  struct WithAsyncMethod_A {};
};
}  // namespace amb

namespace {

TEST_F(AmbiguousTest, TwoMethodsOfOneSignatureAreToldApartByTheClassName) {
  EXPECT_EQ(
      resolved(internal::resolve_method(service_, MethodKind::kUnary, typeid(amb::WithAsyncMethod_B<int>), m_, m_)),
      "amb.S.B");
  EXPECT_EQ(
      resolved(internal::resolve_method(service_, MethodKind::kUnary, typeid(amb::S2::WithAsyncMethod_A<int>), m_, m_)),
      "amb.S.A");
}

TEST_F(AmbiguousTest, WithoutAClassNameTwoMethodsOfOneSignatureStayUnresolved) {
  // The server then records each call's method through gRPC's hook instead.
  EXPECT_EQ(internal::resolve_method(service_, MethodKind::kUnary, typeid(int), m_, m_), nullptr);
}

TEST_F(AmbiguousTest, AClassNamedAfterAMethodOfAnotherKindIsNotTaken) {
  EXPECT_EQ(
      internal::resolve_method(service_, MethodKind::kServerStreaming, typeid(amb::WithAsyncMethod_B<int>), m_, m_),
      nullptr);
}

// The fallback, end to end. Twins has two methods of one signature, and
// this service class wraps the generated Request members in members of its
// own (as a hand-written adapter might), so neither the class name nor the
// signature tells the method when a handler is added: the server records
// each call's method through gRPC's interceptor hook instead.
using corio::rpc::testing::Pair;
using corio::rpc::testing::Twins;

struct WrappedTwins {
  class AsyncService : public Twins::AsyncService {
   public:
    void RequestFirst(grpc::ServerContext* ctx, Pair* req, grpc::ServerAsyncResponseWriter<Pair>* w,
                      grpc::CompletionQueue* cq, grpc::ServerCompletionQueue* ncq, void* tag) {
      RequestA(ctx, req, w, cq, ncq, tag);
    }
    void RequestSecond(grpc::ServerContext* ctx, Pair* req, grpc::ServerAsyncResponseWriter<Pair>* w,
                       grpc::CompletionQueue* cq, grpc::ServerCompletionQueue* ncq, void* tag) {
      RequestB(ctx, req, w, cq, ncq, tag);
    }
  };
  static constexpr char const* service_full_name() { return Twins::service_full_name(); }
};

class MethodNameFallbackTest : public ::testing::Test {
 protected:
  auto handler(std::string letter) {
    return [this, letter](grpc::ServerContext&, const Pair&) -> Task<Reply<Pair>> {
      {
        std::lock_guard<std::mutex> lock(mu_);
        task_names_.push_back(current_task().get_name());
      }
      Pair p;
      p.set_text(letter);
      co_return p;
    };
  }
  // Each handler records its task's name and answers with its own letter;
  // with `intercept`, an interceptor records CallInfo::method().
  void start(bool intercept) {
    server_ = std::make_unique<Server>();
    if (intercept) {
      server_->add_interceptor([this](CallInfo& call, Next next) -> Task<grpc::Status> {
        {
          std::lock_guard<std::mutex> lock(mu_);
          methods_.emplace_back(call.method());
        }
        co_return co_await next();
      });
    }
    server_->add_service<WrappedTwins>();
    server_->add_unary(&WrappedTwins::AsyncService::RequestFirst, handler("A"));
    server_->add_unary(&WrappedTwins::AsyncService::RequestSecond, handler("B"));
    server_->start();
    stub_ = Twins::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  // Calls B, then A; the letters that answered.
  std::string call_both() {
    std::string answers;
    testing::run_client([&]() -> Task<void> {
      Pair req;
      auto b = co_await unary(*stub_, &Twins::Stub::PrepareAsyncB, req);
      auto a = co_await unary(*stub_, &Twins::Stub::PrepareAsyncA, req);
      answers = (b.ok() ? b->text() : b.status().error_message()) + (a.ok() ? a->text() : a.status().error_message());
    });
    return answers;
  }
  void TearDown() override {
    if (server_) server_->shutdown(0s);
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Twins::Stub> stub_;
  // Written on the server's thread, read on this one after the replies
  // (ordered through a socket, which TSan does not see).
  std::mutex mu_;
  std::vector<std::string> task_names_, methods_;
};

TEST_F(MethodNameFallbackTest, TheseHandlersAreOnTheFallbackPath) {
  const auto* twins = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("corio.rpc.testing.Twins");
  const auto* p = Pair::descriptor();
  EXPECT_EQ(
      internal::resolve_method(twins, MethodKind::kUnary, class_of(&WrappedTwins::AsyncService::RequestFirst), p, p),
      nullptr);
  EXPECT_EQ(
      internal::resolve_method(twins, MethodKind::kUnary, class_of(&WrappedTwins::AsyncService::RequestSecond), p, p),
      nullptr);
}

TEST_F(MethodNameFallbackTest, HandlerTasksAreNamedAfterTheMethodOfEachCall) {
  start(/*intercept=*/false);  // the bare path
  EXPECT_EQ(call_both(), "BA");
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(task_names_, (std::vector<std::string>{"/corio.rpc.testing.Twins/B", "/corio.rpc.testing.Twins/A"}));
}

TEST_F(MethodNameFallbackTest, InterceptorsAndTasksSeeTheMethodOfEachCall) {
  start(/*intercept=*/true);
  EXPECT_EQ(call_both(), "BA");
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(methods_, (std::vector<std::string>{"/corio.rpc.testing.Twins/B", "/corio.rpc.testing.Twins/A"}));
  EXPECT_EQ(task_names_, (std::vector<std::string>{"/corio.rpc.testing.Twins/B", "/corio.rpc.testing.Twins/A"}));
}

}  // namespace
}  // namespace corio::rpc
