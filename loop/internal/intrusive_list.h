// A doubly-linked intrusive list: nodes live in their owners (usually an
// awaiter inside a coroutine frame), so waiting never allocates.
#ifndef CORIO_LOOP_INTERNAL_INTRUSIVE_LIST_H_
#define CORIO_LOOP_INTERNAL_INTRUSIVE_LIST_H_

#include <cassert>
#include <cstddef>

namespace corio::internal {

struct ListNode {
  ListNode* prev = nullptr;
  ListNode* next = nullptr;
  bool linked() const noexcept { return prev != nullptr; }
};

// FIFO list of T, where T derives from ListNode. Not thread-safe.
template <class T>
class IntrusiveList {
 public:
  IntrusiveList() noexcept { head_.prev = head_.next = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_.next == &head_; }
  std::size_t size() const noexcept { return size_; }

  void push_back(T* item) noexcept {
    ListNode* n = item;
    assert(!n->linked());
    n->prev = head_.prev;
    n->next = &head_;
    head_.prev->next = n;
    head_.prev = n;
    ++size_;
  }
  void push_front(T* item) noexcept {
    ListNode* n = item;
    assert(!n->linked());
    n->next = head_.next;
    n->prev = &head_;
    head_.next->prev = n;
    head_.next = n;
    ++size_;
  }
  T* front() const noexcept { return empty() ? nullptr : static_cast<T*>(head_.next); }
  T* back() const noexcept { return empty() ? nullptr : static_cast<T*>(head_.prev); }
  T* pop_front() noexcept {
    if (empty()) return nullptr;
    T* item = static_cast<T*>(head_.next);
    erase(item);
    return item;
  }
  // Unlinks `item`, which must be in this list.
  void erase(T* item) noexcept {
    ListNode* n = item;
    assert(n->linked());
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = nullptr;
    --size_;
  }
  // Visits every item; `fn` must not unlink others than the one it is given.
  template <class F>
  void for_each(F&& fn) {
    for (ListNode* n = head_.next; n != &head_;) {
      ListNode* next = n->next;
      fn(static_cast<T*>(n));
      n = next;
    }
  }

 private:
  ListNode head_;
  std::size_t size_ = 0;
};

// IntrusiveRing: the same FIFO list of T in one pointer (IntrusiveList is
// three: its sentinel node and its size), for lists held by many objects
// and seldom used, such as a task's done waiters (every task holds one, a
// few ever have an entry). No size; the nodes form a ring without a
// sentinel, `head_` the first of them. Not thread-safe.
template <class T>
class IntrusiveRing {
 public:
  IntrusiveRing() noexcept = default;
  IntrusiveRing(const IntrusiveRing&) = delete;
  IntrusiveRing& operator=(const IntrusiveRing&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(T* item) noexcept {
    ListNode* n = item;
    assert(!n->linked());
    if (head_ == nullptr) {
      n->prev = n->next = n;
      head_ = n;
      return;
    }
    n->prev = head_->prev;
    n->next = head_;
    head_->prev->next = n;
    head_->prev = n;
  }
  T* front() const noexcept { return static_cast<T*>(head_); }
  // Walks the ring: O(n), for tests and debugging.
  std::size_t count() const noexcept {
    std::size_t n = 0;
    if (head_ == nullptr) return 0;
    const ListNode* p = head_;
    do {
      ++n;
      p = p->next;
    } while (p != head_);
    return n;
  }
  T* pop_front() noexcept {
    if (head_ == nullptr) return nullptr;
    T* item = static_cast<T*>(head_);
    erase(item);
    return item;
  }
  // Unlinks `item`, which must be in this list.
  void erase(T* item) noexcept {
    ListNode* n = item;
    assert(n->linked());
    if (n->next == n) {
      head_ = nullptr;
    } else {
      n->prev->next = n->next;
      n->next->prev = n->prev;
      if (head_ == n) head_ = n->next;
    }
    n->prev = n->next = nullptr;
  }

 private:
  ListNode* head_ = nullptr;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_INTRUSIVE_LIST_H_
