// The four result functions of the original REST service over the store: list (paged by
// since/until/limit), latest, insert (validated against spec section 4) and delete. Holds its
// own Store connection (the StoreWriter has another) behind a mutex. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "server/reply.hpp"
#include "server/request.hpp"
#include "store/store.hpp"

namespace netpulse::server {

inline constexpr size_t kDefaultResultLimit = 1000;
inline constexpr size_t kMaxResultLimit = 10000;
// Results one POST may carry.
inline constexpr size_t kMaxPostedResults = 10000;

class ResultsApi {
 public:
  using PostedHandler = std::function<void(const store::StoredResult&)>;

  // store may be null: the routes then answer 503. on_posted sees each stored posted result
  // (the WebSocket push).
  ResultsApi(std::unique_ptr<store::Store> store, PostedHandler on_posted = {});

  // GET /api/results/{query}?since=&until=&limit=
  Reply list(const Request& req);
  // GET /api/results/{query}/latest
  Reply latest(const Request& req);
  // POST /api/results/{query}: one spec object or an array of them.
  Reply post(const Request& req);
  // DELETE /api/results/{query}
  Reply remove(const Request& req);

  // Alerts, newest last: GET /api/alerts?since=&limit=
  Reply alerts(const Request& req);

 private:
  std::optional<Reply> check(const Request& req) const;
  // Runs impl, answering store failures with 503 (or 400 for data the store refused).
  Reply guarded(Reply (ResultsApi::*impl)(const Request&), const Request& req);
  Reply list_impl(const Request& req);
  Reply latest_impl(const Request& req);
  Reply post_impl(const Request& req);
  Reply remove_impl(const Request& req);
  Reply alerts_impl(const Request& req);

  std::mutex mu_;
  std::unique_ptr<store::Store> store_;
  PostedHandler on_posted_;
};

}  // namespace netpulse::server
