// Fan-out of live messages to the WebSocket clients: results, alerts and status. It keeps the
// results of the last windows and the last alerts so a client that connects sees recent
// history at once, then everything new, in publication order. Thread-safe: publish from any
// thread (the engine's, the server's); clients join and leave from the server's threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace netpulse::server {

// One connected client, as the hub sees it. push() must not block: it queues the message
// for the client's own writer. A client that cannot keep up closes itself.
class WsClient {
 public:
  virtual ~WsClient() = default;
  virtual void push(std::shared_ptr<const std::string> message) = 0;
};

class MetricsRegistry;

class WsHub {
 public:
  // Keeps the last `result_history` result messages and `alert_history` alert messages.
  explicit WsHub(size_t result_history = 6 * 120, size_t alert_history = 100);

  // Sends the history to the client, then every message published after.
  void join(const std::shared_ptr<WsClient>& client);
  void leave(const WsClient* client);
  // Forgets every client (the server stops).
  void clear_clients();

  // result: a spec section 4 object; sent as {"type":"result","result":{...}}.
  void publish_result(const std::string& result_object);
  // alert: an alert object; sent as {"type":"alert","alert":{...}}.
  void publish_alert(const std::string& alert_object);
  // status: the /api/status object; sent as {"type":"status","status":{...}}; not kept.
  void publish_status(const std::string& status_object);

  size_t clients() const;
  uint64_t messages_sent() const { return sent_.load(); }
  uint64_t clients_dropped() const { return dropped_.load(); }
  void count_dropped() { dropped_.fetch_add(1); }

  // netpulse_websocket_clients, netpulse_websocket_messages_total, ...
  void register_metrics(MetricsRegistry& registry);

 private:
  void broadcast(const std::shared_ptr<const std::string>& message);

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<WsClient>> clients_;
  std::deque<std::shared_ptr<const std::string>> results_, alerts_;
  size_t result_history_, alert_history_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace netpulse::server
