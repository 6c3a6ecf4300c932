// The traffic history's routes (issue 17): GET /api/history (what is stored, "now", the
// settings), /api/top, /api/series and /api/sankey over store/history_query, answering in the
// JSON of the history API contract (docs/history.md). Holds its own Store connection behind a
// mutex, like ResultsApi. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/time.hpp"
#include "server/reply.hpp"
#include "server/request.hpp"
#include "store/store.hpp"

namespace netpulse::server {

inline constexpr size_t kDefaultTopLimit = 10;
inline constexpr size_t kDefaultSeriesLimit = 5;
inline constexpr size_t kDefaultSankeyLimit = 20;

class HistoryApi {
 public:
  // The settings the app knows, as {"enabled":bool,"keys_per_bucket":N,"resolutions":{"minute":
  // {"retention_seconds":N|null,"retention_bytes":N|null},"hour":{...},"day":{...}}}; members
  // left out are reported as null (enabled: false).
  using InfoSource = std::function<nlohmann::json()>;
  // The wall clock in ms since the epoch (tests fix it).
  using Clock = std::function<core::TimeMs()>;

  // store may be null: the routes then answer 503.
  explicit HistoryApi(std::unique_ptr<store::Store> store, InfoSource info = {}, Clock clock = {});

  // GET /api/history
  Reply history(const Request& req);
  // GET /api/top?dimension=&from=&to=&limit=&filter=
  Reply top(const Request& req);
  // GET /api/series?dimension=&from=&to=&step=&key= | &limit=&filter=
  Reply series(const Request& req);
  // GET /api/sankey?from=&to=&limit=&filter=
  Reply sankey(const Request& req);

 private:
  // Runs impl, answering store failures with 503.
  Reply guarded(Reply (HistoryApi::*impl)(const Request&), const Request& req);
  Reply history_impl(const Request& req);
  Reply top_impl(const Request& req);
  Reply series_impl(const Request& req);
  Reply sankey_impl(const Request& req);

  std::mutex mu_;
  std::unique_ptr<store::Store> store_;  // guarded by mu_
  InfoSource info_;
  Clock clock_;
};

}  // namespace netpulse::server
