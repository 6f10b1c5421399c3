// Reply<T>: what a unary or client-streaming handler returns, and what a
// unary client call gives back: a message, or a non-OK grpc::Status.
//
//   corio::Task<corio::rpc::Reply<GetReply>> get(grpc::ServerContext&, const GetRequest& req) {
//     if (!found) co_return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such key");
//     GetReply r;  ...;  co_return r;
//   }
#ifndef CORIO_RPC_REPLY_H_
#define CORIO_RPC_REPLY_H_

#include <grpcpp/support/status.h>

#include <optional>
#include <stdexcept>
#include <utility>

namespace corio::rpc {

// Reply
//
// Holds a T (status() is OK) or a non-OK status. An OK status without a
// message is turned into INTERNAL ("handler returned OK without a reply"),
// so that a reply is never silently empty.
// Errors: value() of a reply that holds a status throws std::logic_error.
// Thread safety: a plain value type.
template <class T>
class Reply {
 public:
  // A reference rather than a value: `co_return msg;` then moves the
  // message once, straight into the reply (a protobuf message's move is a
  // construction and a swap, a visible share of a small unary call).
  Reply(const T& value) : value_(value) {}                   // implicit on purpose
  Reply(T&& value) : value_(std::move(value)) {}             // implicit on purpose
  Reply(grpc::Status status) : status_(std::move(status)) {  // implicit on purpose
    if (status_.ok()) status_ = grpc::Status(grpc::StatusCode::INTERNAL, "handler returned OK without a reply");
  }
  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  // OK when a message is held.
  const grpc::Status& status() const noexcept { return status_; }
  T& value() & {
    if (!value_) throw std::logic_error("corio::rpc::Reply holds status: " + status_.error_message());
    return *value_;
  }
  const T& value() const& {
    if (!value_) throw std::logic_error("corio::rpc::Reply holds status: " + status_.error_message());
    return *value_;
  }
  T&& value() && { return std::move(value()); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::optional<T> value_;
  grpc::Status status_;
};

}  // namespace corio::rpc

#endif  // CORIO_RPC_REPLY_H_
