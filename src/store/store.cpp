#include "store/store.hpp"

#include <algorithm>

#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"

namespace netpulse::store {

void Store::put(std::span<const StoredResult> results, std::span<const Alert> alerts) {
  if (!results.empty()) put_results(results);
  if (!alerts.empty()) put_alerts(alerts);
}

std::vector<Alert> Store::latest_alerts(size_t limit) {
  std::vector<Alert> all = alerts(std::nullopt, 0);
  if (limit != 0 && all.size() > limit) all.erase(all.begin(), all.end() - limit);
  return all;
}

uint64_t Store::count_results(std::string_view query) {
  ResultFilter filter;
  filter.query = std::string(query);
  filter.limit = 0;
  return results(filter).size();
}

std::unique_ptr<Store> open_store(const std::string& uri, std::string* why) {
  std::string_view u = uri;
  if (u.starts_with("postgresql://") || u.starts_with("postgres://")) {
    return PostgresStore::open(uri, why);
  }
  std::string path;
  if (u.starts_with("sqlite:")) {
    u.remove_prefix(7);
    if (u.starts_with("//")) u.remove_prefix(2);  // sqlite:///abs/path, as in file URIs
    path = std::string(u);
  } else if (u.find("://") != std::string_view::npos) {
    if (why) {
      *why = "store " + std::string(u.substr(0, u.find("://"))) +
             "://...: unknown kind (use sqlite:PATH or postgresql://...)";
    }
    return nullptr;
  } else {
    path = uri;
  }
  if (path.empty()) {
    if (why) *why = "store " + uri + ": no file name";
    return nullptr;
  }
  return SqliteStore::open(path, why);
}

}  // namespace netpulse::store
