// How the server tells a handler's method without gRPC's per-call
// interceptor hook: internal::resolve_method, from the generated class that
// declares the Request member and the message types.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <typeinfo>

#include "corio/rpc/server.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using corio::rpc::testing::Msg;
using corio::rpc::testing::Tester;

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

}  // namespace
}  // namespace corio::rpc
