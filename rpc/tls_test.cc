// TLS: the server with grpc::SslServerCredentials and the test
// certificates of rpc/testing/certs (see the README there).
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using testing::make;
using testing::Msg;
using testing::run_client;
using testing::Tester;

// A file of the test's runfiles (the working directory is the workspace's).
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kCerts = "rpc/testing/certs/";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({read_file(kCerts + "server.key"), read_file(kCerts + "server.pem")});
    ServerOptions options;
    options.credentials = grpc::SslServerCredentials(ssl);
    server_ = std::make_unique<Server>(options);
    testing::add_echo_handlers_but_unary(*server_);
    server_->add_unary(&Tester::AsyncService::RequestUnary,
                       [this](grpc::ServerContext& ctx, const Msg& req) -> Task<Reply<Msg>> {
                         ++handler_runs_;
                         auto kind = ctx.auth_context()->FindPropertyValues("transport_security_type");
                         std::lock_guard<std::mutex> lock(mu_);
                         security_ = kind.empty() ? "none" : std::string(kind[0].data(), kind[0].size());
                         co_return make(req.text() + "!", req.n() + 1);
                       });
    server_->start();
  }
  void TearDown() override { server_->shutdown(1s); }

  // A call to 127.0.0.1 that expects the server's certificate to name
  // `host` (no name resolution: the system resolver, c-ares, leaks a few
  // bytes LeakSanitizer would report).
  Reply<Msg> call(const std::shared_ptr<grpc::ChannelCredentials>& creds, const std::string& host) {
    grpc::ChannelArguments args;
    if (host != "127.0.0.1") args.SetSslTargetNameOverride(host);
    auto stub = Tester::NewStub(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()), creds, args));
    std::optional<Reply<Msg>> out;
    run_client([&]() -> Task<void> {
      CallOptions options;
      options.timeout = 10s;
      out.emplace(co_await unary(*stub, &Tester::Stub::PrepareAsyncUnary, make("secret", 1), options));
    });
    return std::move(*out);
  }

  std::unique_ptr<Server> server_;
  std::atomic<int> handler_runs_{0};
  // Written on the server's thread (the reply that orders it before the
  // test's read goes through a socket, which TSan cannot see).
  std::mutex mu_;
  std::string security_;
  std::string security() {
    std::lock_guard<std::mutex> lock(mu_);
    return security_;
  }
};

TEST_F(TlsTest, RoundTripWithTheTestCa) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(kCerts + "ca.pem");
  auto r = call(grpc::SslCredentials(ssl), "localhost");
  ASSERT_TRUE(r.ok()) << r.status().error_message();
  EXPECT_EQ(r->text(), "secret!");
  EXPECT_EQ(security(), "ssl");
}

TEST_F(TlsTest, TheCertificateCoversTheLoopbackAddress) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(kCerts + "ca.pem");
  auto r = call(grpc::SslCredentials(ssl), "127.0.0.1");
  EXPECT_TRUE(r.ok()) << r.status().error_message();
}

TEST_F(TlsTest, ANameTheCertificateDoesNotCoverIsRefused) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(kCerts + "ca.pem");
  auto r = call(grpc::SslCredentials(ssl), "elsewhere.test");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(handler_runs_, 0);
}

TEST_F(TlsTest, AnInsecureClientCannotTalkToIt) {
  auto r = call(grpc::InsecureChannelCredentials(), "127.0.0.1");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::UNAVAILABLE) << r.status().error_message();
  EXPECT_EQ(handler_runs_, 0);
}

TEST_F(TlsTest, AClientThatDoesNotTrustTheCaIsRefused) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(kCerts + "other-ca.pem");  // signed nothing here
  auto r = call(grpc::SslCredentials(ssl), "localhost");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(handler_runs_, 0);
}

}  // namespace
}  // namespace corio::rpc
