// Benchmarks of corio's streams module beside Boost.Asio 1.81.
//
//   bazel run -c opt //streams:streams_benchmark -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//       --benchmark_enable_random_interleaving=true
//
// Scenarios (each iteration processes the same input: 10,000 lines of 8 to
// 80 bytes, about 450 KB, or 4 MiB for the write scenarios):
//
//  1. Readline: parse the input line by line, each line returned as an
//     owned std::string.
//     BM_StreamReader_ReadlineBuffered   the whole input already buffered:
//                                        the parser alone, no waiting
//     BM_StreamReader_ReadlineFed        a feeder task feeds 4 KiB chunks,
//                                        yielding between them; the reader
//                                        task waits for each
//     BM_Asio_ReadUntilMemory            async_read_until(dynamic_buffer,
//                                        '\n') over an in-memory stream that
//                                        hands out 4 KiB per read_some,
//                                        completing through post() (Asio's
//                                        rule for an async op); line copied
//                                        out and erased from the buffer
//     BM_MemoryPipe_Readline             a writer task writes 4 KiB chunks
//                                        with drain() into memory_pipe(),
//                                        the reader task reads lines
//     BM_StreamReader_ReadlineSocket     a socketpair: a writer task writes
//                                        the input, a task on an
//                                        IoRegistration reads 64 KiB at a
//                                        time into a StreamReader, the
//                                        reader task reads lines
//     BM_Asio_ReadUntilSocket            the same over an Asio socketpair:
//                                        async_write of the input,
//                                        async_read_until on the other end
//  2. Write + drain: 4 MiB in 4 KiB writes, each followed by drain(), read
//     on the other side into a 64 KiB buffer.
//     BM_MemoryPipe_WriteDrain           corio, over memory_pipe() (default
//                                        64 KiB pipe and water marks)
//     BM_Asio_WriteSocket                Asio, async_write of each 4 KiB
//                                        chunk over a socketpair, the peer
//                                        reading with async_read_some: the
//                                        closest Asio has (it has no
//                                        in-memory stream with flow
//                                        control); so this row includes the
//                                        kernel's copies and is not
//                                        like for like
//
// Conventions as loop/loop_benchmark.cc: one loop or io_context per run
// (concurrency hint 1 for Asio), the timing loop inside one driver
// coroutine, the real clock.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "corio/loop/loop.h"
#include "corio/streams/streams.h"

namespace {

namespace asio = boost::asio;

constexpr int kLines = 10000;
constexpr std::size_t kChunk = 4096;
constexpr std::size_t kWriteTotal = 4 << 20;

// The input: kLines lines of 8 to 80 bytes, the same every run.
const std::string& LineInput() {
  static const std::string input = [] {
    std::string s;
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < kLines; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const std::size_t len = 7 + x % 73;
      for (std::size_t j = 0; j < len; ++j) s.push_back(static_cast<char>('a' + (x >> (j % 50)) % 26));
      s.push_back('\n');
    }
    return s;
  }();
  return input;
}

// Runs an Asio driver coroutine on `ctx` to completion, rethrowing failures.
void AsioRun(asio::io_context& ctx, asio::awaitable<void> driver) {
  std::exception_ptr failure;
  asio::co_spawn(ctx, std::move(driver), [&failure](std::exception_ptr e) { failure = e; });
  ctx.run();
  ctx.restart();
  if (failure) std::rethrow_exception(failure);
}

void SetLineCounters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kLines);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(LineInput().size()));
}

// Reads kLines lines from `r`.
corio::Task<void> ReadLines(corio::StreamReader& r) {
  for (int i = 0; i < kLines; ++i) {
    std::string line = co_await r.readline();
    benchmark::DoNotOptimize(line.data());
  }
}

// ---------------------------------------------------------------------------
// 1. Readline.

corio::Task<void> ReadlineBufferedDriver(benchmark::State& state) {
  for (auto _ : state) {
    corio::StreamReader r(1 << 20);
    r.feed_data(LineInput());
    co_await ReadLines(r);
  }
}

void BM_StreamReader_ReadlineBuffered(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, ReadlineBufferedDriver(state));
  SetLineCounters(state);
}
BENCHMARK(BM_StreamReader_ReadlineBuffered)->Unit(benchmark::kMicrosecond);

corio::Task<void> FeedChunks(corio::StreamReader& r) {
  const std::string_view in = LineInput();
  for (std::size_t pos = 0; pos < in.size(); pos += kChunk) {
    r.feed_data(in.substr(pos, kChunk));
    co_await corio::yield_now();
  }
  r.feed_eof();
}

corio::Task<void> ReadlineFedDriver(benchmark::State& state) {
  for (auto _ : state) {
    corio::StreamReader r;
    co_await corio::gather(FeedChunks(r), ReadLines(r));
  }
}

void BM_StreamReader_ReadlineFed(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, ReadlineFedDriver(state));
  SetLineCounters(state);
}
BENCHMARK(BM_StreamReader_ReadlineFed)->Unit(benchmark::kMicrosecond);

// An Asio AsyncReadStream over a string: each read_some copies up to 4 KiB
// and completes through post(), as an Asio operation that has its data at
// once must (it never calls the handler from inside the initiation).
class AsioMemoryStream {
 public:
  using executor_type = asio::any_io_executor;
  AsioMemoryStream(executor_type ex, std::string_view data) : ex_(ex), data_(data) {}
  executor_type get_executor() const noexcept { return ex_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& bufs) {
          const std::size_t left = data_.size() - pos_;
          const std::size_t n = asio::buffer_copy(bufs, asio::buffer(data_.data() + pos_, std::min(left, kChunk)));
          pos_ += n;
          boost::system::error_code ec;
          // A zero-length read succeeds, as on a socket (read_until makes
          // one to complete through the executor when the line is there).
          if (left == 0 && asio::buffer_size(bufs) != 0) ec = asio::error::eof;
          asio::post(ex_, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
        },
        token, buffers);
  }

 private:
  executor_type ex_;
  std::string_view data_;
  std::size_t pos_ = 0;
};

template <class Stream>
asio::awaitable<void> AsioReadLines(Stream& s) {
  std::string buf;
  for (int i = 0; i < kLines; ++i) {
    const std::size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), '\n', asio::use_awaitable);
    std::string line = buf.substr(0, n);
    buf.erase(0, n);
    benchmark::DoNotOptimize(line.data());
  }
}

asio::awaitable<void> AsioReadUntilMemoryDriver(benchmark::State& state) {
  auto ex = co_await asio::this_coro::executor;
  for (auto _ : state) {
    AsioMemoryStream s(ex, LineInput());
    co_await AsioReadLines(s);
  }
}

void BM_Asio_ReadUntilMemory(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioRun(ctx, AsioReadUntilMemoryDriver(state));
  SetLineCounters(state);
}
BENCHMARK(BM_Asio_ReadUntilMemory)->Unit(benchmark::kMicrosecond);

corio::Task<void> WriteChunks(corio::StreamWriter& w, std::string_view data) {
  for (std::size_t pos = 0; pos < data.size(); pos += kChunk) {
    w.write(data.substr(pos, kChunk));
    co_await w.drain();
  }
  w.close();
}

corio::Task<void> MemoryPipeReadlineDriver(benchmark::State& state) {
  for (auto _ : state) {
    auto [reader, writer] = corio::memory_pipe();
    co_await corio::gather(WriteChunks(writer, LineInput()), ReadLines(reader));
  }
}

void BM_MemoryPipe_Readline(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, MemoryPipeReadlineDriver(state));
  SetLineCounters(state);
}
BENCHMARK(BM_MemoryPipe_Readline)->Unit(benchmark::kMicrosecond);

// Reads the socket into `r` until EOF, 64 KiB at a time (a stand-in for the
// net module's socket transport, without its flow control).
corio::Task<void> SocketToReader(corio::IoRegistration& reg, corio::StreamReader r) {
  static thread_local char buf[64 * 1024];
  for (;;) {
    co_await reg.readable();
    const ssize_t n = ::read(reg.fd(), buf, sizeof buf);
    if (n > 0) {
      r.feed_data(std::string_view(buf, static_cast<std::size_t>(n)));
      if (n < static_cast<ssize_t>(sizeof buf)) reg.clear_readable();
    } else if (n == 0) {
      r.feed_eof();
      co_return;
    } else if (errno == EAGAIN) {
      reg.clear_readable();
    } else {
      throw std::system_error(errno, std::generic_category(), "read");
    }
  }
}

// Writes all of `data` to the socket, then shuts its sending side down.
corio::Task<void> WriteToSocket(corio::IoRegistration& reg, std::string_view data) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    const ssize_t n = ::write(reg.fd(), data.data() + pos, data.size() - pos);
    if (n > 0) {
      pos += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "write");
    reg.clear_writable();
    co_await reg.writable();
  }
}

int MakeSocketPair(int fds[2]) { return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds); }

corio::Task<void> ReadlineSocketDriver(benchmark::State& state, int a, int b) {
  corio::IoRegistration ra(a);
  corio::IoRegistration rb(b);
  for (auto _ : state) {
    corio::StreamReader r;
    auto pump = corio::create_task(SocketToReader(ra, r));
    co_await corio::gather(WriteToSocket(rb, LineInput()), ReadLines(r));
    pump.cancel();  // it waits for more, or for an EOF that never comes
    try {
      co_await pump;
    } catch (const corio::CancelledError&) {
    }
  }
}

void BM_StreamReader_ReadlineSocket(benchmark::State& state) {
  int fds[2];
  if (MakeSocketPair(fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  {
    corio::EventLoop loop;
    corio::run_until_complete(loop, ReadlineSocketDriver(state, fds[0], fds[1]));
  }
  ::close(fds[0]);
  ::close(fds[1]);
  SetLineCounters(state);
}
BENCHMARK(BM_StreamReader_ReadlineSocket)->Unit(benchmark::kMicrosecond);

using AsioLocalSocket = asio::local::stream_protocol::socket;

asio::awaitable<void> AsioWriteAll(AsioLocalSocket& s, std::string_view data) {
  co_await asio::async_write(s, asio::buffer(data.data(), data.size()), asio::use_awaitable);
}

asio::awaitable<void> AsioReadUntilSocketDriver(benchmark::State& state, AsioLocalSocket& a, AsioLocalSocket& b) {
  using namespace asio::experimental::awaitable_operators;
  for (auto _ : state) co_await (AsioWriteAll(b, LineInput()) && AsioReadLines(a));
}

void BM_Asio_ReadUntilSocket(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioLocalSocket a(ctx);
  AsioLocalSocket b(ctx);
  asio::local::connect_pair(a, b);
  AsioRun(ctx, AsioReadUntilSocketDriver(state, a, b));
  SetLineCounters(state);
}
BENCHMARK(BM_Asio_ReadUntilSocket)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// 2. Write + drain.

const std::string& WriteChunk() {
  static const std::string chunk(kChunk, 'w');
  return chunk;
}

corio::Task<void> WriteDrainAll(corio::StreamWriter& w) {
  for (std::size_t sent = 0; sent < kWriteTotal; sent += kChunk) {
    w.write(WriteChunk());
    co_await w.drain();
  }
  w.close();
}

corio::Task<void> ReadAllInto(corio::StreamReader& r) {
  static thread_local char buf[64 * 1024];
  std::size_t got = 0;
  while (std::size_t n = co_await r.read_into(buf)) got += n;
  if (got != kWriteTotal) throw std::runtime_error("short read");
}

corio::Task<void> MemoryPipeWriteDrainDriver(benchmark::State& state) {
  for (auto _ : state) {
    auto [reader, writer] = corio::memory_pipe();
    co_await corio::gather(WriteDrainAll(writer), ReadAllInto(reader));
  }
}

void BM_MemoryPipe_WriteDrain(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, MemoryPipeWriteDrainDriver(state));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kWriteTotal));
}
BENCHMARK(BM_MemoryPipe_WriteDrain)->Unit(benchmark::kMicrosecond);

asio::awaitable<void> AsioWriteChunks(AsioLocalSocket& s) {
  for (std::size_t sent = 0; sent < kWriteTotal; sent += kChunk) {
    co_await asio::async_write(s, asio::buffer(WriteChunk()), asio::use_awaitable);
  }
}

asio::awaitable<void> AsioReadTotal(AsioLocalSocket& s) {
  static thread_local char buf[64 * 1024];
  std::size_t got = 0;
  while (got < kWriteTotal) got += co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
}

asio::awaitable<void> AsioWriteDriver(benchmark::State& state, AsioLocalSocket& a, AsioLocalSocket& b) {
  using namespace asio::experimental::awaitable_operators;
  for (auto _ : state) co_await (AsioWriteChunks(b) && AsioReadTotal(a));
}

void BM_Asio_WriteSocket(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioLocalSocket a(ctx);
  AsioLocalSocket b(ctx);
  asio::local::connect_pair(a, b);
  AsioRun(ctx, AsioWriteDriver(state, a, b));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kWriteTotal));
}
BENCHMARK(BM_Asio_WriteSocket)->Unit(benchmark::kMicrosecond);

}  // namespace
