// Helpers for the server tests: an in-memory Store, a tiny HTTP client over a raw socket (so
// tests can send malformed requests too) and a WebSocket client (Boost.Beast, synchronous,
// with a receive timeout).
//
// The sockets are in server_test_support.cpp, compiled once into netpulse_test_support: Asio
// and Beast instantiated in every test file that includes this header cost about a minute of
// compiling each (three under -O3 with ASan), which CI paid seven times.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace netpulse::server::testing {

// Keeps rows in memory with the store's replace rule: same (query, window_end, params).
class FakeStore final : public store::Store {
 public:
  void put_results(std::span<const store::StoredResult> results) override {
    std::lock_guard lock(mu_);
    for (const auto& r : results) {
      auto it = std::find_if(rows_.begin(), rows_.end(), [&](const store::StoredResult& x) {
        return x.query == r.query && x.window_end == r.window_end && x.params_json == r.params_json;
      });
      if (it != rows_.end())
        *it = r;
      else
        rows_.push_back(r);
    }
  }
  void put_alerts(std::span<const store::Alert> alerts) override {
    std::lock_guard lock(mu_);
    alerts_.insert(alerts_.end(), alerts.begin(), alerts.end());
  }
  std::vector<store::StoredResult> results(const store::ResultFilter& f) override {
    std::lock_guard lock(mu_);
    std::vector<store::StoredResult> out;
    for (const auto& r : rows_) {
      if (r.query != f.query) continue;
      if (f.since && r.window_end < *f.since) continue;
      if (f.until && r.window_end >= *f.until) continue;
      out.push_back(r);
    }
    std::stable_sort(out.begin(), out.end(),
                     [](auto& a, auto& b) { return a.window_end < b.window_end; });
    if (f.limit && out.size() > f.limit) out.resize(f.limit);
    return out;
  }
  std::optional<store::StoredResult> latest(std::string_view query) override {
    std::lock_guard lock(mu_);
    std::optional<store::StoredResult> best;
    for (const auto& r : rows_)
      if (r.query == query && (!best || r.window_end > best->window_end)) best = r;
    return best;
  }
  uint64_t delete_results(std::string_view query) override {
    std::lock_guard lock(mu_);
    const size_t before = rows_.size();
    std::erase_if(rows_, [&](const store::StoredResult& r) { return r.query == query; });
    return before - rows_.size();
  }
  std::vector<store::Alert> alerts(std::optional<core::TimeMs> since, size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<store::Alert> out;
    for (const auto& a : alerts_)
      if (!since || a.time >= *since) out.push_back(a);
    if (limit && out.size() > limit) out.resize(limit);
    return out;
  }
  std::string describe() const override { return "fake"; }

  size_t size() {
    std::lock_guard lock(mu_);
    return rows_.size();
  }

 private:
  std::mutex mu_;
  std::vector<store::StoredResult> rows_;
  std::vector<store::Alert> alerts_;
};

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// Parses one HTTP/1.1 response (with Content-Length) from raw bytes.
inline std::optional<HttpReply> parse_reply(const std::string& raw) {
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return std::nullopt;
  HttpReply r;
  r.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    const size_t n = std::stoul(it->second);
    if (r.body.size() < n) return std::nullopt;
    r.body.resize(n);
  }
  return r;
}

// Sends raw bytes on a new connection and reads one reply (until it is complete, the server
// closes, or the timeout passes).
std::optional<HttpReply> raw_exchange(uint16_t port, const std::string& bytes,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Upgrades a raw socket to a WebSocket on /ws, sends `bytes` as they are, and reports whether
// the server then closed the connection (false: it stayed open for 5 s, or the upgrade failed).
bool server_closes_after(uint16_t port, const std::string& bytes);

inline HttpReply http(uint16_t port, const std::string& method, const std::string& target,
                      const std::string& body = "", const std::string& token = "",
                      const std::string& content_type = "application/json") {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  req += "\r\n" + body;
  auto r = raw_exchange(port, req);
  return r ? *r : HttpReply{};
}

// A WebSocket client: writes are synchronous; reads are one pending async_read driven by
// run_one_until, so a read that times out stays pending for the next call.
class WsTestClient {
 public:
  explicit WsTestClient(uint16_t port, const std::string& target = "/ws");
  ~WsTestClient();
  WsTestClient(const WsTestClient&) = delete;
  WsTestClient& operator=(const WsTestClient&) = delete;

  void send(const std::string& text);
  // Like send(), but a connection the server has already failed (it may close while a large
  // message is still being written: a broken pipe or a reset) is an answer, not an exception:
  // returns false and the client counts as closed.
  bool try_send(const std::string& text);
  void send_binary(const std::string& bytes);
  // Reads messages until one satisfies pred (returned) or the time is up.
  std::optional<nlohmann::json> wait_for(
      const std::function<bool(const nlohmann::json&)>& pred,
      std::chrono::milliseconds within = std::chrono::seconds(5));
  std::optional<nlohmann::json> reply(int id) {
    return wait_for([id](const nlohmann::json& j) {
      return j.value("type", "") == "reply" && j.value("id", -1) == id;
    });
  }
  bool closed() const;
  size_t received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netpulse::server::testing
