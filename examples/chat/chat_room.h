// ChatRoom: the state of a line-based chat server, shared by every
// connection. Each line a member sends is broadcast, as "name: line", to
// every member through one corio::Broadcast; a member that falls behind
// is told how many lines it missed, and one that stops reading altogether
// is dropped, so a slow client never slows the others or grows memory.
//
//   corio::ChatRoom room;
//   auto server = co_await corio::net::start_server(
//       [&room](corio::StreamReader& r, corio::StreamWriter& w) { return room.serve(r, w); }, "127.0.0.1", 0);
//
// The protocol (lines end with '\n'): on joining, "* welcome NAME" to the
// member, then "* NAME joined" to everyone (the member too); each line L a
// member sends reaches everyone as "NAME: L"; "* NAME left" when it
// disconnects, "* NAME dropped (not reading)" when it is dropped, "* you
// missed N lines" to a member that fell more than `history` lines behind.
#ifndef CORIO_EXAMPLES_CHAT_CHAT_ROOM_H_
#define CORIO_EXAMPLES_CHAT_CHAT_ROOM_H_

#include <chrono>
#include <cstddef>
#include <string>

#include "corio/loop/task.h"
#include "corio/streams/broadcast.h"
#include "corio/streams/stream_reader.h"
#include "corio/streams/stream_writer.h"

namespace corio {

struct ChatOptions {
  // Lines kept for members that are behind; a member further behind than
  // this loses the oldest and is told so.
  std::size_t history = 256;
  // A member whose socket accepts nothing for this long (its writer stuck
  // at the high-water mark) is dropped.
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(5);
};

// ChatRoom
//
// Errors: serve() lets no error out: a connection error, an over-long
//   line (StreamReader's limit) or a stuck reader ends that member only.
// Thread safety: the tasks of one loop.
// Cancellation: serve() cancelled (server shutdown) ends the member's two
//   tasks and announces it left.
class ChatRoom {
 public:
  explicit ChatRoom(ChatOptions options = {}) : options_(options), lines_(options.history) {}

  // Serves one member until it disconnects, is dropped or is cancelled.
  [[nodiscard]] Task<void> serve(StreamReader& reader, StreamWriter& writer);

  // Members connected now.
  std::size_t members() const noexcept { return members_; }
  // Members dropped for not reading, since the start.
  std::size_t dropped() const noexcept { return dropped_; }

 private:
  Task<void> read_lines(StreamReader& reader, std::string name);
  Task<void> forward(BroadcastSubscriber<std::string>& sub, StreamWriter& writer, bool& stuck);

  ChatOptions options_;
  Broadcast<std::string> lines_;
  std::size_t next_id_ = 0;
  std::size_t members_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace corio

#endif  // CORIO_EXAMPLES_CHAT_CHAT_ROOM_H_
