// ByteBuffer: the growable byte queue behind StreamReader and the memory
// transports. Bytes are appended at the back and consumed from the front;
// consuming only moves an offset, and the consumed prefix is given back
// (one memmove of what is left) when an append would otherwise have to
// grow the storage or the prefix outweighs the rest, so each byte is moved
// at most a bounded number of times. The unread bytes are always
// contiguous, which lets readuntil() search them with one memmem-like scan.
//
// (absl::Cord would spare the copy into the buffer, but a separator
// search over a chunked rope needs extra work at every chunk boundary, and
// a line-sized read would pay Cord's per-chunk bookkeeping; a flat buffer
// is simpler and faster for the line and frame parsing streams do.)
#ifndef CORIO_STREAMS_INTERNAL_BYTE_BUFFER_H_
#define CORIO_STREAMS_INTERNAL_BYTE_BUFFER_H_

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace corio::internal {

class ByteBuffer {
 public:
  // Storage kept after the buffer runs empty; more is given back then, so
  // a burst does not pin its memory for the stream's whole life.
  static constexpr std::size_t kKeepCapacity = 256 * 1024;

  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  std::size_t size() const noexcept { return buf_.size() - head_; }
  bool empty() const noexcept { return head_ == buf_.size(); }
  // The unread bytes; valid until the next non-const call.
  std::string_view view() const noexcept { return std::string_view(buf_.data() + head_, buf_.size() - head_); }

  // Errors: std::bad_alloc, with the buffer unchanged.
  void append(std::string_view data) {
    if (data.empty()) return;
    if (head_ != 0 && (head_ >= size() || buf_.size() + data.size() > buf_.capacity())) compact();
    buf_.append(data);
  }

  // Drops the first `n` unread bytes (n <= size()).
  void consume(std::size_t n) noexcept {
    head_ += n;
    if (head_ == buf_.size()) clear();
  }
  // Moves the first `n` unread bytes (n <= size()) into a string.
  std::string take(std::size_t n) {
    if (n == size() && head_ == 0) {  // all of it: hand the storage over
      std::string out = std::move(buf_);
      buf_ = std::string();
      head_ = 0;
      return out;
    }
    std::string out(buf_.data() + head_, n);
    consume(n);
    return out;
  }
  // Copies the first `n` unread bytes (n <= size()) to `dst` and drops them.
  void take_into(char* dst, std::size_t n) noexcept {
    if (n != 0) std::memcpy(dst, buf_.data() + head_, n);
    consume(n);
  }
  void clear() noexcept {
    head_ = 0;
    buf_.clear();
    if (buf_.capacity() > kKeepCapacity) std::string().swap(buf_);
  }

 private:
  void compact() noexcept {
    buf_.erase(0, head_);
    head_ = 0;
  }

  std::string buf_;
  std::size_t head_ = 0;
};

}  // namespace corio::internal

#endif  // CORIO_STREAMS_INTERNAL_BYTE_BUFFER_H_
