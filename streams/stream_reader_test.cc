#include "corio/streams/stream_reader.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/streams/errors.h"
#include "corio/streams/testing/streams_testing.h"
#include "corio/sync/errors.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::RecordingReadTransport;
using testing::settle;

CO_TEST(StreamReader, ReadGivesWhatIsBufferedUpToN) {
  StreamReader r;
  r.feed_data("hello world");
  EXPECT_EQ(co_await r.read(5), "hello");
  EXPECT_EQ(co_await r.read(100), " world");
  EXPECT_EQ(r.buffered(), 0u);
}

CO_TEST(StreamReader, ReadWaitsForDataThenReturnsWhatCame) {
  StreamReader r;
  std::vector<std::string> log;
  auto reader = create_task(co_invoke([&]() -> Task<> {
    log.push_back("reading");
    log.push_back("got " + co_await r.read(10));
  }));
  co_await settle();
  log.push_back("feeding");
  r.feed_data("abc");
  co_await reader;
  EXPECT_EQ(log, (std::vector<std::string>{"reading", "feeding", "got abc"}));
}

CO_TEST(StreamReader, ReadAtEofGivesEmpty) {
  StreamReader r;
  r.feed_data("x");
  r.feed_eof();
  EXPECT_EQ(co_await r.read(10), "x");
  EXPECT_TRUE(r.at_eof());
  EXPECT_EQ(co_await r.read(10), "");
  EXPECT_EQ(co_await r.read(0), "");
}

CO_TEST(StreamReader, ReadWithoutSizeReadsUntilEof) {
  StreamReader r;
  auto all = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.read(); }));
  r.feed_data("one ");
  co_await settle();
  r.feed_data("two");
  co_await settle();
  EXPECT_FALSE(all.done());
  r.feed_eof();
  EXPECT_EQ(co_await all, "one two");
}

CO_TEST(StreamReader, ReadIntoCopiesIntoTheCallersBuffer) {
  StreamReader r;
  r.feed_data("abcdef");
  char buf[4];
  std::size_t n = co_await r.read_into(buf);
  EXPECT_EQ(std::string(buf, n), "abcd");
  n = co_await r.read_into(buf);
  EXPECT_EQ(std::string(buf, n), "ef");
  r.feed_eof();
  EXPECT_EQ(co_await r.read_into(buf), 0u);
}

CO_TEST(StreamReader, ReadexactlyWaitsForEveryByte) {
  StreamReader r;
  auto exact = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readexactly(6); }));
  r.feed_data("abc");
  co_await settle();
  EXPECT_FALSE(exact.done());
  EXPECT_EQ(r.buffered(), 3u);  // nothing taken while waiting
  r.feed_data("defgh");
  EXPECT_EQ(co_await exact, "abcdef");
  EXPECT_EQ(co_await r.read(10), "gh");
}

CO_TEST(StreamReader, ReadexactlyAtEofRaisesIncompleteReadErrorWithThePartialBytes) {
  StreamReader r;
  r.feed_data("abc");
  r.feed_eof();
  try {
    co_await r.readexactly(5);
    ADD_FAILURE() << "no IncompleteReadError";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "abc");
    EXPECT_EQ(e.expected(), 5u);
  }
  EXPECT_TRUE(r.at_eof());
}

CO_TEST(StreamReader, ReadexactlyIntoFillsTheBuffer) {
  StreamReader r;
  r.feed_data("12345");
  char buf[3];
  co_await r.readexactly_into(buf);
  EXPECT_EQ(std::string(buf, 3), "123");
  r.feed_eof();
  try {
    co_await r.readexactly_into(buf);
    ADD_FAILURE() << "no IncompleteReadError";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "45");
  }
  EXPECT_EQ(std::string(buf, 3), "123");  // untouched
}

CO_TEST(StreamReader, ReaduntilFindsASeparatorSplitAcrossFeeds) {
  StreamReader r;
  auto until = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readuntil("\r\n"); }));
  r.feed_data("GET / HTTP/1.1\r");
  co_await settle();
  EXPECT_FALSE(until.done());
  r.feed_data("\nHost: x\r\n");
  EXPECT_EQ(co_await until, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(co_await r.readuntil("\r\n"), "Host: x\r\n");
}

CO_TEST(StreamReader, ReaduntilWithoutSeparatorWithinTheLimitLeavesTheDataReadable) {
  StreamReader r(8);
  r.feed_data("0123456789abc");
  try {
    co_await r.readuntil("\n");
    ADD_FAILURE() << "no LimitOverrunError";
  } catch (const LimitOverrunError& e) {
    EXPECT_EQ(e.consumed(), 13u);
  }
  EXPECT_EQ(r.buffered(), 13u);
  EXPECT_EQ(co_await r.read(100), "0123456789abc");
}

CO_TEST(StreamReader, ReaduntilWithSeparatorBeyondTheLimitLeavesTheDataReadable) {
  StreamReader r(4);
  r.feed_data("abcdef\nxy");
  try {
    co_await r.readuntil("\n");
    ADD_FAILURE() << "no LimitOverrunError";
  } catch (const LimitOverrunError& e) {
    EXPECT_EQ(e.consumed(), 6u);  // where the separator starts
  }
  EXPECT_EQ(co_await r.readexactly(7), "abcdef\n");
  EXPECT_EQ(co_await r.read(10), "xy");
}

CO_TEST(StreamReader, ReaduntilAtEofRaisesIncompleteReadErrorAndTakesTheRest) {
  StreamReader r;
  r.feed_data("no newline");
  r.feed_eof();
  try {
    co_await r.readuntil("\n");
    ADD_FAILURE() << "no IncompleteReadError";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "no newline");
    EXPECT_FALSE(e.expected().has_value());
  }
  EXPECT_TRUE(r.at_eof());
}

CO_TEST(StreamReader, ReaduntilRejectsAnEmptySeparator) {
  StreamReader r;
  CO_ASSERT_THROW(co_await r.readuntil(""), ValueError);
}

CO_TEST(StreamReader, ReadlineGivesLinesThenThePartialLastOneAtEof) {
  StreamReader r;
  r.feed_data("one\ntwo\nthree");
  r.feed_eof();
  EXPECT_EQ(co_await r.readline(), "one\n");
  EXPECT_EQ(co_await r.readline(), "two\n");
  EXPECT_EQ(co_await r.readline(), "three");
  EXPECT_EQ(co_await r.readline(), "");
}

CO_TEST(StreamReader, ReadlineOverTheLimitDiscardsThatLine) {
  StreamReader r(4);
  r.feed_data("toolongline\nok\n");
  CO_ASSERT_THROW(co_await r.readline(), LimitOverrunError);
  EXPECT_EQ(co_await r.readline(), "ok\n");
}

CO_TEST(StreamReader, AtEofOnlyOnceTheBufferIsDrained) {
  StreamReader r;
  r.feed_data("x");
  r.feed_eof();
  EXPECT_FALSE(r.at_eof());
  co_await r.read(1);
  EXPECT_TRUE(r.at_eof());
}

CO_TEST(StreamReader, SetExceptionWakesAWaitingReadWithTheError) {
  StreamReader r;
  auto reading = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readline(); }));
  co_await settle();
  r.set_exception(std::make_exception_ptr(ConnectionResetError()));
  CO_ASSERT_THROW(co_await reading, ConnectionResetError);
  // Later reads raise it too, before looking at the buffer (asyncio).
  CO_ASSERT_THROW(co_await r.read(1), ConnectionResetError);
}

CO_TEST(StreamReader, ASecondWaitingReaderRaisesRuntimeError) {
  StreamReader r;
  auto first = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.read(1); }));
  co_await settle();
  CO_ASSERT_THROW(co_await r.readline(), RuntimeError);
  r.feed_data("z");
  EXPECT_EQ(co_await first, "z");
}

CO_TEST(StreamReader, FeedDataAfterFeedEofRaises) {
  StreamReader r;
  r.feed_eof();
  EXPECT_THROW(r.feed_data("late"), InvalidStateError);
  co_return;
}

CO_TEST(StreamReader, ZeroLimitIsRejected) {
  EXPECT_THROW(StreamReader(0), ValueError);
  co_return;
}

CO_TEST(StreamReader, CancelMidReadLosesNoByte) {
  StreamReader r;
  r.feed_data("01234");
  auto reading = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readexactly(10); }));
  co_await settle();
  reading.cancel();
  CO_ASSERT_THROW(co_await reading, CancelledError);
  r.feed_data("56789");
  EXPECT_EQ(co_await r.readexactly(10), "0123456789");
}

CO_TEST(StreamReader, CancelAfterTheWakeKeepsTheBytesForTheNextRead) {
  StreamReader r;
  auto reading = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readline(); }));
  co_await settle();
  r.feed_data("line\n");  // wakes the reader ...
  reading.cancel();       // ... which is cancelled before it runs
  CO_ASSERT_THROW(co_await reading, CancelledError);
  EXPECT_EQ(co_await r.readline(), "line\n");
}

CO_TEST(StreamReader, PausesItsTransportAboveTwiceTheLimitAndResumesAtTheLimit) {
  StreamReader r(4);
  RecordingReadTransport t;
  r.set_transport(&t);
  r.feed_data("12345678");  // 8: not above 2 x 4
  EXPECT_TRUE(t.calls.empty());
  r.feed_data("9");  // 9 > 8
  EXPECT_EQ(t.calls, std::vector<std::string>{"pause"});
  r.feed_data("abc");                        // paused already: no second call
  EXPECT_EQ(co_await r.read(7), "1234567");  // 5 left: above the limit
  EXPECT_EQ(t.calls, std::vector<std::string>{"pause"});
  EXPECT_EQ(co_await r.read(1), "8");  // 4 left: at the limit
  EXPECT_EQ(t.calls, (std::vector<std::string>{"pause", "resume"}));
}

CO_TEST(StreamReader, AReadThatMustWaitResumesAPausedTransport) {
  StreamReader r(2);
  RecordingReadTransport t;
  r.set_transport(&t);
  r.feed_data("12345");  // paused above 4
  auto exact = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readexactly(8); }));
  co_await settle();
  EXPECT_EQ(t.calls, (std::vector<std::string>{"pause", "resume"}));
  r.feed_data("678");
  EXPECT_EQ(co_await exact, "12345678");
}

CO_TEST(StreamReader, CopiesShareOneStream) {
  StreamReader a;
  StreamReader b = a;
  a.feed_data("shared");
  EXPECT_EQ(co_await b.read(10), "shared");
}

// readline()/readuntil() are awaiters with no frame: the waiting task is
// woken only once its read can finish, not for every chunk.
CO_TEST(StreamReader, AWaitingReadlineStaysParkedUntilTheLineIsComplete) {
  StreamReader r;
  auto reading = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readline(); }));
  co_await settle();
  r.feed_data("ab");
  EXPECT_EQ(r.state()->waiter().size(), 1u);  // still parked: no wake for a part line
  r.feed_data("c\nd");
  EXPECT_EQ(r.state()->waiter().size(), 0u);
  EXPECT_EQ(co_await reading, "abc\n");
  EXPECT_EQ(r.buffered(), 1u);
}

CO_TEST(StreamReader, ReadlineUnderTimeoutIsCancelSafe) {
  StreamReader r;
  r.feed_data("part");
  CO_ASSERT_THROW(co_await timeout(5ms, r.readline()), TimeoutError);
  r.feed_data(" two\n");
  EXPECT_EQ(co_await timeout(1s, r.readline()), "part two\n");
  CO_ASSERT_THROW(co_await wait_for(r.readuntil("!"), 5ms), TimeoutError);
  EXPECT_EQ(r.buffered(), 0u);
}

// Two tasks reading one stream: bytes a woken readline() was to take,
// taken by another read before it ran, make it raise rather than wait.
CO_TEST(StreamReader, AReadlineWhoseLineAnotherTaskTookRaisesRuntimeError) {
  StreamReader r;
  auto reading = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readline(); }));
  co_await settle();
  r.feed_data("x\n");                    // wakes the readline ...
  EXPECT_EQ(co_await r.read(2), "x\n");  // ... but this read, which need not wait, takes the line first
  CO_ASSERT_THROW(co_await reading, RuntimeError);
}

// read(), read_into(), readexactly() and readexactly_into() are frameless
// awaiters too.
CO_TEST(StreamReader, AWaitingReadexactlyStaysParkedUntilEveryByteIsThere) {
  StreamReader r;
  auto exact = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readexactly(4); }));
  co_await settle();
  r.feed_data("ab");
  EXPECT_EQ(r.state()->waiter().size(), 1u);  // still parked: two bytes short
  r.feed_data("cde");
  EXPECT_EQ(r.state()->waiter().size(), 0u);
  EXPECT_EQ(co_await exact, "abcd");
  EXPECT_EQ(r.buffered(), 1u);
}

// A read parked for more than twice the limit does not pause the transport
// that must bring those bytes.
CO_TEST(StreamReader, AParkedReadexactlyAboveTwiceTheLimitKeepsTheTransportReading) {
  StreamReader r(2);
  RecordingReadTransport t;
  r.set_transport(&t);
  auto exact = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readexactly(8); }));
  co_await settle();
  r.feed_data("12345");  // above 2 x 2, but the read needs more
  r.feed_data("678");
  EXPECT_EQ(co_await exact, "12345678");
  EXPECT_TRUE(t.calls.empty());
}

CO_TEST(StreamReader, AParkedReadToEofKeepsTheTransportReading) {
  StreamReader r(2);
  RecordingReadTransport t;
  r.set_transport(&t);
  auto all = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.read(); }));
  co_await settle();
  r.feed_data("abcdef");
  r.feed_data("ghij");
  r.feed_eof();
  EXPECT_EQ(co_await all, "abcdefghij");
  EXPECT_TRUE(t.calls.empty());
}

// Once no read waits, the next chunk above twice the limit pauses it.
CO_TEST(StreamReader, ACancelledParkedReadLetsTheNextChunkPauseTheTransport) {
  StreamReader r(2);
  RecordingReadTransport t;
  r.set_transport(&t);
  auto exact = create_task(co_invoke([&r]() -> Task<std::string> { co_return co_await r.readexactly(8); }));
  co_await settle();
  r.feed_data("12345");
  exact.cancel();
  CO_ASSERT_THROW(co_await exact, CancelledError);
  EXPECT_TRUE(t.calls.empty());
  r.feed_data("6");
  EXPECT_EQ(t.calls, std::vector<std::string>{"pause"});
  EXPECT_EQ(co_await r.read(6), "123456");
}

CO_TEST(StreamReader, ReadexactlyUnderTimeoutIsCancelSafe) {
  StreamReader r;
  r.feed_data("par");
  CO_ASSERT_THROW(co_await timeout(5ms, r.readexactly(6)), TimeoutError);
  EXPECT_EQ(r.buffered(), 3u);
  r.feed_data("tly");
  EXPECT_EQ(co_await timeout(1s, r.readexactly(6)), "partly");
}

CO_TEST(StreamReader, AReadIntoWhoseBytesAnotherTaskTookRaisesRuntimeError) {
  StreamReader r;
  char buf[4];
  auto reading = create_task(co_invoke([&r, &buf]() -> Task<std::size_t> { co_return co_await r.read_into(buf); }));
  co_await settle();
  r.feed_data("xy");                    // wakes the read_into ...
  EXPECT_EQ(co_await r.read(2), "xy");  // ... but this read, which need not wait, takes the bytes first
  CO_ASSERT_THROW(co_await reading, RuntimeError);
}

TEST(StreamReader, AKeepaliveWithAnotherOwnerLivesAsLongAsTheLastCopy) {
  StreamReader source;
  auto keepalive = std::make_shared<int>(7);
  std::weak_ptr<int> keepalive_alive = keepalive;
  std::weak_ptr<internal::ReaderState> state_alive = source.state();
  auto original = std::make_unique<StreamReader>(source.state(), std::move(keepalive));
  source = StreamReader();
  StreamReader copy = *original;
  original.reset();
  EXPECT_FALSE(keepalive_alive.expired());
  EXPECT_FALSE(state_alive.expired());
  copy.feed_data("still here");
  EXPECT_EQ(copy.buffered(), 10u);
  copy = StreamReader();
  EXPECT_TRUE(keepalive_alive.expired());
  EXPECT_TRUE(state_alive.expired());
}

TEST(StreamReader, AStateAliasingItsKeepalivesOwnerSharesOneCount) {
  auto owner = std::make_shared<internal::ReaderState>(16);
  std::weak_ptr<internal::ReaderState> owner_alive = owner;
  StreamReader reader(std::shared_ptr<internal::ReaderState>(owner, owner.get()), owner);
  owner.reset();
  // No block of its own: the handle counts on the owner itself.
  EXPECT_EQ(owner_alive.use_count(), 1);
  reader = StreamReader();
  EXPECT_TRUE(owner_alive.expired());
}

}  // namespace
}  // namespace corio
