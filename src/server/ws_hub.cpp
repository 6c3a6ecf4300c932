#include "server/ws_hub.hpp"

#include <algorithm>

#include "server/metrics.hpp"

namespace netpulse::server {

WsHub::WsHub(size_t result_history, size_t alert_history)
    : result_history_(result_history), alert_history_(alert_history) {}

void WsHub::join(const std::shared_ptr<WsClient>& client) {
  std::lock_guard lock(mu_);
  for (const auto& m : alerts_) client->push(m);
  for (const auto& m : results_) client->push(m);
  sent_.fetch_add(alerts_.size() + results_.size());
  clients_.push_back(client);
}

void WsHub::leave(const WsClient* client) {
  std::lock_guard lock(mu_);
  std::erase_if(clients_, [client](const auto& c) { return c.get() == client; });
}

void WsHub::clear_clients() {
  std::vector<std::shared_ptr<WsClient>> gone;
  {
    std::lock_guard lock(mu_);
    gone.swap(clients_);
  }
}

void WsHub::broadcast(const std::shared_ptr<const std::string>& message) {
  // Under the lock, so every client sees messages in one order and a joining client gets each
  // message exactly once (from the history or from here).
  for (const auto& c : clients_) c->push(message);
  sent_.fetch_add(clients_.size());
}

void WsHub::publish_result(const std::string& result_object) {
  auto m =
      std::make_shared<const std::string>("{\"type\":\"result\",\"result\":" + result_object + "}");
  std::lock_guard lock(mu_);
  results_.push_back(m);
  if (results_.size() > result_history_) results_.pop_front();
  broadcast(m);
}

void WsHub::publish_alert(const std::string& alert_object) {
  auto m =
      std::make_shared<const std::string>("{\"type\":\"alert\",\"alert\":" + alert_object + "}");
  std::lock_guard lock(mu_);
  alerts_.push_back(m);
  if (alerts_.size() > alert_history_) alerts_.pop_front();
  broadcast(m);
}

void WsHub::publish_status(const std::string& status_object) {
  auto m =
      std::make_shared<const std::string>("{\"type\":\"status\",\"status\":" + status_object + "}");
  std::lock_guard lock(mu_);
  broadcast(m);
}

size_t WsHub::clients() const {
  std::lock_guard lock(mu_);
  return clients_.size();
}

void WsHub::register_metrics(MetricsRegistry& registry) {
  registry.add("netpulse_websocket_clients", "WebSocket clients connected", MetricType::kGauge,
               [this] { return static_cast<double>(clients()); });
  registry.add("netpulse_websocket_messages_total", "Messages queued to WebSocket clients",
               MetricType::kCounter, [this] { return static_cast<double>(messages_sent()); });
  registry.add("netpulse_websocket_dropped_clients_total",
               "WebSocket clients disconnected because they could not keep up",
               MetricType::kCounter, [this] { return static_cast<double>(clients_dropped()); });
}

}  // namespace netpulse::server
