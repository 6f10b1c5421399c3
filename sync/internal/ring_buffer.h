// A growable FIFO ring buffer for Queue and Channel: amortised O(1) push
// and pop with no allocation once warm (std::deque frees and allocates a
// block every few hundred bytes of traffic), move-only types welcome.
#ifndef CORIO_SYNC_INTERNAL_RING_BUFFER_H_
#define CORIO_SYNC_INTERNAL_RING_BUFFER_H_

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace corio::internal {

template <class T>
class RingBuffer {
 public:
  RingBuffer() noexcept = default;
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;
  ~RingBuffer() {
    clear();
    if (buf_ != nullptr) std::allocator<T>().deallocate(buf_, cap_);
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  // Appends; strong guarantee (on an exception nothing changed).
  template <class... A>
  void emplace_back(A&&... args) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(buf_ + ((head_ + size_) & (cap_ - 1)))) T(std::forward<A>(args)...);
    ++size_;
  }
  void push(T&& v) { emplace_back(std::move(v)); }
  void push(const T& v) { emplace_back(v); }
  // Inserts before the oldest element; strong guarantee.
  void push_front(T&& v) {
    if (size_ == cap_) grow();
    const std::size_t head = (head_ + cap_ - 1) & (cap_ - 1);
    ::new (static_cast<void*>(buf_ + head)) T(std::move(v));
    head_ = head;
    ++size_;
  }

  T& front() noexcept { return buf_[head_]; }
  // Removes and returns the oldest element. Precondition: !empty().
  T pop() noexcept(std::is_nothrow_move_constructible_v<T>) {
    T& slot = buf_[head_];
    T v(std::move(slot));
    slot.~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    return v;
  }
  void clear() noexcept {
    while (size_ > 0) {
      buf_[head_].~T();
      head_ = (head_ + 1) & (cap_ - 1);
      --size_;
    }
    head_ = 0;
  }

 private:
  void grow() {
    const std::size_t cap = cap_ == 0 ? 8 : cap_ * 2;
    T* buf = std::allocator<T>().allocate(cap);
    std::size_t moved = 0;
    try {
      for (; moved < size_; ++moved) {
        ::new (static_cast<void*>(buf + moved)) T(std::move_if_noexcept(buf_[(head_ + moved) & (cap_ - 1)]));
      }
    } catch (...) {
      for (std::size_t i = 0; i < moved; ++i) buf[i].~T();
      std::allocator<T>().deallocate(buf, cap);
      throw;
    }
    if (buf_ != nullptr) {
      for (std::size_t i = 0; i < size_; ++i) buf_[(head_ + i) & (cap_ - 1)].~T();
      std::allocator<T>().deallocate(buf_, cap_);
    }
    buf_ = buf;
    cap_ = cap;
    head_ = 0;
  }

  T* buf_ = nullptr;
  std::size_t cap_ = 0;  // zero or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace corio::internal

#endif  // CORIO_SYNC_INTERNAL_RING_BUFFER_H_
