// In-memory streams: a connected StreamReader/StreamWriter pair with no
// socket behind it, for tests and for wiring tasks together with the same
// API a network connection will have (the net module's open_connection
// gives the same two types).
//
//   auto [reader, writer] = corio::memory_pipe();       // one way
//   writer.write("ping\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();      // "ping\n"
//
//   auto [a, b] = corio::memory_stream_pair();          // two ways
//   a.writer.write("x");  co_await b.reader.readexactly(1);
//
// The model is a socket: each direction has the writer's transport buffer
// (with the high/low water marks StreamWriter::drain() honours), then a
// pipe of `pipe_capacity` bytes (the kernel's socket buffer), then the
// reader's buffer (which pauses the transport above 2 x limit). Bytes that
// fit into the pipe are moved there by write() itself; the reading end
// gets them on a later loop iteration, as from a socket. So a writer facing
// a reader that does not read fills the reader (2 x limit plus one pipe's
// worth), then the pipe, then its own buffer up to the high-water mark,
// where drain() stops it: memory stays bounded.
//
// Ending: close() on a writer flushes what it buffered, then the other end
// reads EOF and the writer's wait_closed() returns; write_eof() sends EOF
// and leaves the other direction open. Once the reading end of a direction
// is gone (its last StreamReader handle dropped, or its transport closed),
// writes into it fail the writer's connection with BrokenPipeError, which
// drain() raises. abort() drops the buffer and resets the other end
// (ConnectionResetError on its reads). Dropping the last handle of an end
// closes it (close(), not abort()).
//
// get_extra_info("sockname") / ("peername") give std::string names (see
// MemoryPipeOptions).
//
// Errors: memory_pipe()/memory_stream_pair() throw RuntimeError without a
//   running loop and ValueError for a zero pipe_capacity or limit, or a
//   low-water mark above the high-water mark.
// Thread safety: the loop's thread only; the streams move data only while
//   their loop runs.
// Cancellation: see StreamReader and StreamWriter (both cancel safe).
#ifndef CORIO_STREAMS_MEMORY_PIPE_H_
#define CORIO_STREAMS_MEMORY_PIPE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "corio/streams/stream_reader.h"
#include "corio/streams/stream_writer.h"
#include "corio/streams/transport.h"

namespace corio {

struct MemoryPipeOptions {
  // Bytes in flight between the two ends in each direction.
  std::size_t pipe_capacity = 64 * 1024;
  // The StreamReader limit of the reading end(s).
  std::size_t limit = StreamReader::kDefaultLimit;
  // The write buffer's water marks; low defaults to high / 4 (asyncio).
  std::size_t high_water = WriteTransport::kDefaultHighWater;
  std::optional<std::size_t> low_water;
  // get_extra_info("sockname") of the first end (the writer of
  // memory_pipe()) and the second; each is the other's "peername".
  std::string first_name = "memory:0";
  std::string second_name = "memory:1";
};

// One direction: what `writer` writes, `reader` reads.
struct MemoryPipe {
  StreamReader reader;
  StreamWriter writer;
};
MemoryPipe memory_pipe(const MemoryPipeOptions& options = {});

// One end of a two-way in-memory connection.
struct MemoryStream {
  StreamReader reader;
  StreamWriter writer;
};
// Two connected ends: what one writes, the other reads.
std::pair<MemoryStream, MemoryStream> memory_stream_pair(const MemoryPipeOptions& options = {});

}  // namespace corio

#endif  // CORIO_STREAMS_MEMORY_PIPE_H_
