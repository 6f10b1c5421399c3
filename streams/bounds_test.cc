// Compile-time bounds of the streams module's public types (as Tokio
// asserts Send/Sync/Unpin): what can be copied or moved, and that the
// awaitables are awaited directly as cancellable suspension points rather
// than through the relay Task puts around foreign awaitables.
#include <string>
#include <type_traits>
#include <vector>

#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/streams/streams.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

template <class A>
constexpr bool kDirect = internal::kLoopAwaitable<A>;

// Handles: copies share one stream.
static_assert(std::is_copy_constructible_v<StreamReader>);
static_assert(std::is_nothrow_move_constructible_v<StreamReader>);
static_assert(std::is_copy_constructible_v<StreamWriter>);
static_assert(std::is_nothrow_move_constructible_v<StreamWriter>);
static_assert(std::is_nothrow_move_constructible_v<MemoryPipe>);

// Reads and waits are Tasks or awaiters, which are awaited directly.
static_assert(std::is_same_v<decltype(std::declval<StreamReader&>().readline()), ReadLineAwaiter>);
static_assert(std::is_same_v<decltype(std::declval<StreamReader&>().readuntil("\r\n")), ReadUntilAwaiter>);
static_assert(kDirect<ReadUntilAwaiter>);
static_assert(std::is_nothrow_move_constructible_v<ReadUntilAwaiter>);
static_assert(kDirect<ReadLineAwaiter>);
static_assert(std::is_nothrow_move_constructible_v<ReadLineAwaiter>);
// A task idle in readline() keeps its awaiter in its frame: it holds no
// more than any WaitList wait does (no separator, no search position).
static_assert(sizeof(ReadLineAwaiter) == sizeof(internal::WaitListAwaiter));
static_assert(std::is_same_v<decltype(std::declval<StreamWriter&>().drain()), Task<void>>);
static_assert(kDirect<Task<std::string>>);
static_assert(kDirect<internal::WaitListAwaiter>);

// Generators: move-only, and next()/aclose() awaited directly.
static_assert(!std::is_copy_constructible_v<AsyncGenerator<int>>);
static_assert(std::is_nothrow_move_constructible_v<AsyncGenerator<int>>);
static_assert(std::is_nothrow_move_assignable_v<AsyncGenerator<int>>);
static_assert(kDirect<decltype(std::declval<AsyncGenerator<int>&>().next())>);
static_assert(kDirect<decltype(std::declval<AsyncGenerator<int>&>().aclose())>);
static_assert(
    std::is_same_v<decltype(std::declval<internal::GeneratorStep<int, false>&>().await_resume()), std::optional<int>>);
// ... and usable with wait_for like any other awaitable.
static_assert(internal::OtherAwaitable<decltype(std::declval<AsyncGenerator<int>&>().next())>);

// Broadcast: the broadcast itself stays put; subscribers are move-only.
static_assert(!std::is_copy_constructible_v<Broadcast<int>>);
static_assert(!std::is_move_constructible_v<Broadcast<int>>);
static_assert(!std::is_copy_constructible_v<BroadcastSubscriber<int>>);
static_assert(std::is_nothrow_move_constructible_v<BroadcastSubscriber<int>>);

// async_with's resources.
static_assert(AsyncResource<StreamWriter>);
static_assert(AsyncResource<AsyncGenerator<int>>);
static_assert(!AsyncResource<StreamReader>);

// Errors: the ordinary ones are std::exceptions; GeneratorExit, like
// CancelledError, is not.
static_assert(std::is_base_of_v<Error, IncompleteReadError>);
static_assert(std::is_base_of_v<Error, LimitOverrunError>);
static_assert(std::is_base_of_v<ConnectionError, ConnectionResetError>);
static_assert(std::is_base_of_v<ConnectionError, BrokenPipeError>);
static_assert(std::is_base_of_v<OSError, ConnectionError>);
static_assert(std::is_base_of_v<Error, OSError>);
static_assert(std::is_base_of_v<Error, LaggedError>);
static_assert(!std::is_base_of_v<std::exception, GeneratorExit>);

TEST(StreamsBounds, Compiles) { SUCCEED(); }

}  // namespace
}  // namespace corio
