#include "corio/examples/kv/store.h"

#include <utility>

#include "corio/streams/async_generator.h"

namespace kv {

using corio::Task;
using corio::rpc::Reply;

std::int64_t Store::put(const std::string& key, const std::string& value) {
  map_[key] = value;
  Event e;
  e.set_kind(Event::PUT);
  e.set_key(key);
  e.set_value(value);
  e.set_revision(++revision_);
  publish(e);
  return revision_;
}

bool Store::erase(const std::string& key, std::int64_t* revision) {
  const bool existed = map_.erase(key) > 0;
  if (existed) {
    Event e;
    e.set_kind(Event::DELETE);
    e.set_key(key);
    e.set_revision(++revision_);
    publish(e);
  }
  *revision = revision_;
  return existed;
}

void Store::publish(const Event& e) {
  for (Watcher* w : watchers_) {
    if (e.key().compare(0, w->prefix.size(), w->prefix) != 0) continue;
    // Bounded: a watcher that falls behind loses events and is told how
    // many, instead of growing the server's memory.
    if (w->events.full()) {
      ++w->missed;
    } else {
      w->events.put_nowait(e);
    }
  }
}

void Store::serve(corio::rpc::Server& server) {
  server.add_service<KV>();
  server.add_unary(
      &KV::AsyncService::RequestGet,
      [this](grpc::ServerContext&, const Key& req) -> Task<Reply<GetReply>> {
        GetReply r;
        auto it = map_.find(req.key());
        if (it != map_.end()) {
          r.set_found(true);
          r.set_value(it->second);
        }
        co_return r;
      },
      "kv.KV/Get");
  server.add_unary(
      &KV::AsyncService::RequestPut,
      [this](grpc::ServerContext&, const Entry& req) -> Task<Reply<PutReply>> {
        if (req.key().empty()) co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty key");
        PutReply r;
        r.set_revision(put(req.key(), req.value()));
        co_return r;
      },
      "kv.KV/Put");
  server.add_unary(
      &KV::AsyncService::RequestDelete,
      [this](grpc::ServerContext&, const Key& req) -> Task<Reply<DeleteReply>> {
        DeleteReply r;
        std::int64_t rev;
        r.set_existed(erase(req.key(), &rev));
        r.set_revision(rev);
        co_return r;
      },
      "kv.KV/Delete");
  server.add_server_streaming(
      &KV::AsyncService::RequestWatch,
      // An async generator: each co_yield waits until the client's stream
      // has taken the previous event (flow control); a client cancel raises
      // CancelledError in events.get(), or closes the generator at its
      // co_yield, and the watcher is unlinked either way.
      [this](grpc::ServerContext&, const WatchRequest& req) -> corio::AsyncGenerator<Event> {
        Watcher w;
        w.prefix = req.prefix();
        watchers_.push_back(&w);
        // Unlinked however the generator ends: the client cancels (the
        // usual end of a watch) or goes away, or the server shuts down.
        struct Unlink {
          std::list<Watcher*>& list;
          Watcher* w;
          ~Unlink() { list.remove(w); }
        } unlink{watchers_, &w};
        for (;;) {
          Event e = co_await w.events.get();
          if (w.missed > 0) {
            Event lag;
            lag.set_kind(Event::LAGGED);
            lag.set_missed(std::exchange(w.missed, 0));
            co_yield lag;
          }
          co_yield e;
        }
      },
      "kv.KV/Watch");
  server.add_client_streaming(
      &KV::AsyncService::RequestPutMany,
      [this](grpc::ServerContext&, corio::rpc::ServerReader<Entry>& in) -> Task<Reply<PutManyReply>> {
        PutManyReply r;
        while (auto e = co_await in.read()) {
          if (e->key().empty()) co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty key");
          r.set_revision(put(e->key(), e->value()));
          r.set_count(r.count() + 1);
        }
        co_return r;
      },
      "kv.KV/PutMany");
  server.add_bidi_streaming(
      &KV::AsyncService::RequestSession,
      [this](grpc::ServerContext&, corio::rpc::ServerStream<Command, Result>& io) -> Task<grpc::Status> {
        while (auto cmd = co_await io.read()) {
          Result r;
          r.set_ok(true);
          switch (cmd->op_case()) {
            case Command::kGet: {
              auto it = map_.find(cmd->get().key());
              r.set_ok(it != map_.end());
              if (it != map_.end()) r.set_value(it->second);
              r.set_revision(revision_);
              break;
            }
            case Command::kPut:
              if (cmd->put().key().empty()) {
                r.set_ok(false);
                r.set_error("empty key");
              } else {
                r.set_revision(put(cmd->put().key(), cmd->put().value()));
              }
              break;
            case Command::kDelete: {
              std::int64_t rev;
              r.set_ok(erase(cmd->delete_().key(), &rev));
              r.set_revision(rev);
              break;
            }
            default:
              r.set_ok(false);
              r.set_error("empty command");
          }
          if (!co_await io.write(r)) break;
        }
        co_return grpc::Status::OK;
      },
      "kv.KV/Session");
}

}  // namespace kv
