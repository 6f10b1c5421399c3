// StreamWriter over the in-memory transports of memory_pipe.h: writing,
// flow control (drain at the water marks), closing and half-closing.
#include "corio/streams/stream_writer.h"

#include <any>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/streams/errors.h"
#include "corio/streams/memory_pipe.h"
#include "corio/streams/testing/streams_testing.h"
#include "corio/sync/errors.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::settle;

// Small buffers, so that flow control shows with a few bytes.
MemoryPipeOptions small_pipe() {
  MemoryPipeOptions o;
  o.pipe_capacity = 16;
  o.limit = 8;
  o.high_water = 32;
  o.low_water = 8;
  return o;
}

CO_TEST(StreamWriter, WhatIsWrittenIsReadInOrder) {
  auto [reader, writer] = memory_pipe();
  writer.write("hello ");
  writer.write("world\n");
  co_await writer.drain();
  EXPECT_EQ(co_await reader.readline(), "hello world\n");
}

CO_TEST(StreamWriter, WritelinesWritesEachInOrderWithNothingBetween) {
  auto [reader, writer] = memory_pipe();
  std::vector<std::string> lines{"a\n", "b\n"};
  writer.writelines(lines);
  writer.writelines({"c", "d\n"});
  EXPECT_EQ(co_await reader.readline(), "a\n");
  EXPECT_EQ(co_await reader.readline(), "b\n");
  EXPECT_EQ(co_await reader.readline(), "cd\n");
}

CO_TEST(StreamWriter, DataArrivesOnALaterIterationAsFromASocket) {
  auto [reader, writer] = memory_pipe();
  writer.write("x");
  EXPECT_EQ(reader.buffered(), 0u);
  co_await yield_now();
  EXPECT_EQ(reader.buffered(), 1u);
}

CO_TEST(StreamWriter, DrainReturnsAtOnceAtOrBelowTheHighWaterMark) {
  auto [reader, writer] = memory_pipe(small_pipe());
  writer.write(std::string(16 + 32, 'x'));  // fills the pipe, then the buffer to the mark
  EXPECT_EQ(writer.transport().get_write_buffer_size(), 32u);
  auto drain = create_task(writer.drain());
  co_await yield_now();
  EXPECT_TRUE(drain.done());
}

CO_TEST(StreamWriter, AWriterFacingAReaderThatNeverReadsStopsAtTheHighWaterMark) {
  const MemoryPipeOptions o = small_pipe();
  // Named members, not a structured binding: clang 14 cannot capture
  // one in a lambda.
  MemoryPipe pipe = memory_pipe(o);
  StreamReader& reader = pipe.reader;
  StreamWriter& writer = pipe.writer;
  std::size_t written = 0;
  auto producer = create_task(co_invoke([&]() -> Task<> {
    for (;;) {
      writer.write("0123");
      written += 4;
      co_await writer.drain();
    }
  }));
  co_await sleep(1s);  // long enough for anything that could move to move
  EXPECT_FALSE(producer.done());
  // The reader paused its transport above 2 x limit, after one pipe's worth
  // at most; the pipe is full; the writer stopped just above its mark.
  EXPECT_GT(reader.buffered(), 2 * o.limit);
  EXPECT_LE(reader.buffered(), 2 * o.limit + o.pipe_capacity);
  const std::size_t buffered = writer.transport().get_write_buffer_size();
  EXPECT_GT(buffered, o.high_water);
  EXPECT_LE(buffered, o.high_water + 4);
  EXPECT_EQ(written, reader.buffered() + o.pipe_capacity + buffered);
  const std::size_t stuck_at = written;
  co_await sleep(1s);
  EXPECT_EQ(written, stuck_at);  // bounded: nothing more was written
  producer.cancel();
  CO_ASSERT_THROW(co_await producer, CancelledError);
}

CO_TEST(StreamWriter, DrainResumesOnceTheReaderBringsTheBufferToTheLowWaterMark) {
  const MemoryPipeOptions o = small_pipe();
  // Named members, not a structured binding: clang 14 cannot capture
  // one in a lambda.
  MemoryPipe pipe = memory_pipe(o);
  StreamReader& reader = pipe.reader;
  StreamWriter& writer = pipe.writer;
  writer.write(std::string(100, 'x'));  // far above the mark
  std::vector<std::string> log;
  auto drain = create_task(co_invoke([&]() -> Task<> {
    co_await writer.drain();
    log.push_back("drained at " + std::to_string(writer.transport().get_write_buffer_size()));
  }));
  co_await sleep(10ms);
  EXPECT_FALSE(drain.done());
  std::size_t read = 0;
  while (!drain.done()) {
    read += (co_await reader.read(4)).size();
    log.push_back("read " + std::to_string(read));
    co_await yield_now();
  }
  // The drain returned as soon as the buffer was at 8 bytes or less, not
  // at the high-water mark.
  CO_ASSERT_FALSE(log.empty());
  EXPECT_LE(writer.transport().get_write_buffer_size(), o.low_water.value());
  EXPECT_EQ(log.back().rfind("drained at ", 0), 0u) << log.back();
  EXPECT_LE(std::stoul(log.back().substr(11)), o.low_water.value());
  // Everything arrives.
  writer.close();
  std::string rest = co_await reader.read();
  EXPECT_EQ(read + rest.size(), 100u);
}

CO_TEST(StreamWriter, CancelMidDrainLosesNoByte) {
  auto [reader, writer] = memory_pipe(small_pipe());
  std::string sent;
  for (int i = 0; i < 20; ++i) sent += "line " + std::to_string(i) + "\n";
  writer.write(sent);
  auto drain = create_task(writer.drain());
  co_await settle();
  EXPECT_FALSE(drain.done());
  drain.cancel();
  CO_ASSERT_THROW(co_await drain, CancelledError);
  writer.close();
  EXPECT_EQ(co_await reader.read(), sent);
}

CO_TEST(StreamWriter, CloseSendsWhatIsBufferedThenEof) {
  auto [reader, writer] = memory_pipe(small_pipe());
  const std::string data(200, 'z');
  writer.write(data);
  writer.close();
  EXPECT_TRUE(writer.is_closing());
  writer.write("dropped");  // after close(): dropped, as in asyncio
  EXPECT_EQ(co_await reader.read(), data);
  EXPECT_TRUE(reader.at_eof());
}

CO_TEST(StreamWriter, WaitClosedReturnsOnceTheBufferIsFlushed) {
  // Named members, not a structured binding: clang 14 cannot capture
  // one in a lambda.
  MemoryPipe pipe = memory_pipe(small_pipe());
  StreamReader& reader = pipe.reader;
  StreamWriter& writer = pipe.writer;
  writer.write(std::string(100, 'a'));
  writer.close();
  std::vector<std::string> log;
  auto closed = create_task(co_invoke([&]() -> Task<> {
    co_await writer.wait_closed();
    log.push_back("closed");
  }));
  co_await sleep(10ms);
  // 100 bytes cannot all leave while nobody reads: the reader takes 2 x 8
  // plus one pipe's worth, and the pipe holds 16.
  EXPECT_TRUE(log.empty());
  log.push_back("reading");
  EXPECT_EQ((co_await reader.read()).size(), 100u);
  co_await closed;
  EXPECT_EQ(log, (std::vector<std::string>{"reading", "closed"}));
}

CO_TEST(StreamWriter, WriteEofHalfClosesAndTheOtherDirectionGoesOn) {
  auto [a, b] = memory_stream_pair();
  EXPECT_TRUE(a.writer.can_write_eof());
  a.writer.write("request");
  a.writer.write_eof();
  EXPECT_EQ(co_await b.reader.read(), "request");
  EXPECT_TRUE(b.reader.at_eof());
  b.writer.write("response");
  b.writer.close();
  EXPECT_EQ(co_await a.reader.read(), "response");
}

CO_TEST(StreamWriter, WriteAfterWriteEofRaisesRuntimeError) {
  auto [reader, writer] = memory_pipe();
  writer.write_eof();
  EXPECT_THROW(writer.write("late"), RuntimeError);
  co_return;
}

CO_TEST(StreamWriter, DrainRaisesOnceTheReadingEndIsGone) {
  auto pipe = std::make_unique<MemoryPipe>(memory_pipe(small_pipe()));
  StreamWriter writer = pipe->writer;
  pipe.reset();  // the reader's last handle: its end closes
  co_await settle();
  writer.write("into the void");
  CO_ASSERT_THROW(co_await writer.drain(), ConnectionError);
  CO_ASSERT_THROW(co_await writer.wait_closed(), BrokenPipeError);
}

CO_TEST(StreamWriter, DrainRaisesTheReadersExceptionOfATwoWayStream) {
  auto [a, b] = memory_stream_pair();
  b.writer.transport().abort();  // resets a
  co_await settle();
  CO_ASSERT_THROW(co_await a.reader.read(1), ConnectionResetError);
  CO_ASSERT_THROW(co_await a.writer.drain(), ConnectionResetError);
}

// The in-memory stream's errors are OSErrors with the errno a socket's
// would carry, so code written against sockets handles them alike.
CO_TEST(StreamWriter, InMemoryResetCarriesEconnreset) {
  auto [a, b] = memory_stream_pair();
  b.writer.transport().abort();
  co_await settle();
  int code = 0;
  try {
    co_await a.reader.read(1);
  } catch (const OSError& e) {
    code = e.code();
  }
  CO_ASSERT_EQ(code, ECONNRESET);
}

CO_TEST(StreamWriter, GetExtraInfoGivesTheNamesOfBothEnds) {
  MemoryPipeOptions o;
  o.first_name = "client";
  o.second_name = "server";
  auto [a, b] = memory_stream_pair(o);
  EXPECT_EQ(std::any_cast<std::string>(a.writer.get_extra_info("sockname")), "client");
  EXPECT_EQ(std::any_cast<std::string>(a.writer.get_extra_info("peername")), "server");
  EXPECT_EQ(std::any_cast<std::string>(b.writer.get_extra_info("peername")), "client");
  EXPECT_EQ(std::any_cast<int>(a.writer.get_extra_info("socket", 7)), 7);
  co_return;
}

CO_TEST(StreamWriter, WaterMarksAreValidated) {
  auto [reader, writer] = memory_pipe();
  EXPECT_THROW(writer.transport().set_write_buffer_limits(10, 20), ValueError);
  writer.transport().set_write_buffer_limits(100, 10);
  EXPECT_EQ(writer.transport().get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{100, 10}));
  MemoryPipeOptions bad;
  bad.high_water = 4;
  bad.low_water = 5;
  EXPECT_THROW(memory_pipe(bad), ValueError);
  co_return;
}

CO_TEST(StreamWriter, LoweringTheHighWaterMarkPausesAndRaisingItResumes) {
  auto [reader, writer] = memory_pipe(small_pipe());
  writer.write(std::string(16 + 20, 'x'));  // 20 in the buffer, below 32
  EXPECT_FALSE(writer.protocol().writing_paused());
  writer.transport().set_write_buffer_limits(10, 5);
  EXPECT_TRUE(writer.protocol().writing_paused());
  writer.transport().set_write_buffer_limits(64, 32);
  EXPECT_FALSE(writer.protocol().writing_paused());
  co_return;
}

CO_TEST(StreamWriter, DroppingTheWriterClosesItsEnd) {
  auto pipe = std::make_unique<MemoryPipe>(memory_pipe());
  StreamReader reader = pipe->reader;
  pipe->writer.write("last words");
  pipe.reset();
  EXPECT_EQ(co_await reader.read(), "last words");
}

// A write transport that only records what it is given.
class RecordingWriteTransport final : public WriteTransport {
 public:
  void close() override { closing_ = true; }
  bool is_closing() const override { return closing_; }
  void write(std::string_view data) override { written.append(data); }
  void write_eof() override {}
  bool can_write_eof() const override { return false; }
  std::size_t get_write_buffer_size() const override { return 0; }
  void set_write_buffer_limits(std::size_t, std::size_t) override {}
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override { return {0, 0}; }
  void abort() override { closing_ = true; }
  std::string written;

 private:
  bool closing_ = false;
};

TEST(StreamWriter, ACopyKeepsATransportProtocolAndReaderWithSeparateOwnersAlive) {
  auto transport = std::make_shared<RecordingWriteTransport>();
  StreamReader reader;
  auto protocol = std::make_shared<StreamReaderProtocol>(reader);
  std::weak_ptr<RecordingWriteTransport> transport_alive = transport;
  std::weak_ptr<StreamReaderProtocol> protocol_alive = protocol;
  std::weak_ptr<internal::ReaderState> reader_alive = reader.state();
  auto original = std::make_unique<StreamWriter>(transport, protocol, reader);
  transport.reset();
  protocol.reset();
  reader = StreamReader();
  StreamWriter copy = *original;
  original.reset();
  EXPECT_FALSE(transport_alive.expired());
  EXPECT_FALSE(protocol_alive.expired());
  EXPECT_FALSE(reader_alive.expired());
  copy.write("kept");
  EXPECT_EQ(transport_alive.lock()->written, "kept");
  EXPECT_EQ(&copy.protocol(), protocol_alive.lock().get());
  copy = StreamWriter(std::make_shared<RecordingWriteTransport>(), std::make_shared<StreamReaderProtocol>());
  EXPECT_TRUE(transport_alive.expired());
  EXPECT_TRUE(protocol_alive.expired());
  EXPECT_TRUE(reader_alive.expired());
}

TEST(StreamWriter, ARejectedConstructionKeepsNothing) {
  auto protocol = std::make_shared<StreamReaderProtocol>();
  std::weak_ptr<StreamReaderProtocol> protocol_alive = protocol;
  EXPECT_THROW(StreamWriter(nullptr, std::move(protocol)), std::invalid_argument);
  EXPECT_TRUE(protocol_alive.expired());
}

TEST(StreamReaderProtocol, ReaderIsEmptyWithoutOneAndTheSameStreamWithOne) {
  StreamReaderProtocol none;
  EXPECT_FALSE(none.reader().has_value());
  StreamReader reader;
  StreamReaderProtocol with(reader);
  ASSERT_TRUE(with.reader().has_value());
  EXPECT_EQ(with.reader()->state(), reader.state());
  with.data_received("fed");
  EXPECT_EQ(reader.buffered(), 3u);
}

}  // namespace
}  // namespace corio
