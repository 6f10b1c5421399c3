// SocketAddress: an IPv4, IPv6 or Unix-domain socket address.
//
//   auto a = corio::net::SocketAddress::ip("127.0.0.1", 8080);
//   auto u = corio::net::SocketAddress::unix_path("/tmp/app.sock");
//
// Errors: ip() throws std::invalid_argument for a string that is not a
//   numeric IPv4/IPv6 address (names go through resolve(), resolve.h);
//   unix_path() for a path too long for sockaddr_un.
// Thread safety: a plain value type.
#ifndef CORIO_NET_ADDRESS_H_
#define CORIO_NET_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace corio::net {

class SocketAddress {
 public:
  SocketAddress() noexcept : storage_{}, len_(0) {}
  SocketAddress(const sockaddr* sa, socklen_t len);
  static SocketAddress ip(const std::string& host, std::uint16_t port);
  static SocketAddress unix_path(const std::string& path);

  int family() const noexcept { return storage_.ss_family; }
  // The port of an IP address (0 for a Unix one).
  std::uint16_t port() const noexcept;
  // "1.2.3.4:80", "[::1]:80" or the Unix path.
  std::string to_string() const;

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  socklen_t* size_ptr() noexcept { return &len_; }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

 private:
  sockaddr_storage storage_;
  socklen_t len_;
};

}  // namespace corio::net

#endif  // CORIO_NET_ADDRESS_H_
