#include "app/collector_status.hpp"

#include <string>
#include <utility>
#include <vector>

namespace netpulse::app {

namespace {

using json = nlohmann::json;

std::string exporter_key(const collect::ExporterStats& e) {
  const std::string ip = core::to_string(e.from.address);
  return (e.from.address.is_v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(e.from.port);
}

// Exporter text needs no escaping, but the input URI is the user's.
std::string label_value(const std::string& s) { return server::prometheus_label_value(s); }

// sFlow statistics are per agent (and sub-agent, in `domain`): two switches relayed through
// one host share the UDP source, so the agent address keeps their series apart.
std::string exporter_labels(const collect::ExporterStats& e) {
  std::string labels = "exporter=\"" + label_value(exporter_key(e)) + "\",protocol=\"" +
                       collect::to_string(e.protocol) + "\",domain=\"" +
                       std::to_string(e.domain) + "\"";
  if (e.protocol == collect::ExportProtocol::kSflowV5)
    labels += ",agent=\"" + core::to_string(e.agent) + "\"";
  return labels;
}

}  // namespace

json collector_status(const collect::CollectorStats& s) {
  json sockets = json::array();
  for (const auto& k : s.sockets)
    sockets.push_back({{"input", k.input},
                       {"port", k.port},
                       {"receive_buffer_bytes", k.buffer_bytes},
                       {"kernel_drops", k.kernel_drops}});
  json exporters = json::array();
  for (const auto& e : s.exporters)
    exporters.push_back({{"exporter", exporter_key(e)},
                         {"agent", e.protocol == collect::ExportProtocol::kSflowV5
                                       ? json(core::to_string(e.agent))
                                       : json(nullptr)},
                         {"protocol", collect::to_string(e.protocol)},
                         {"domain", e.domain},
                         {"datagrams", e.datagrams},
                         {"flows", e.flows},
                         {"lost", e.lost},
                         {"malformed", e.malformed},
                         {"template_misses", e.template_misses},
                         {"held_dropped", e.held_dropped},
                         {"templates", e.templates},
                         {"sequence_resets", e.sequence_resets},
                         {"counter_samples", e.counter_samples},
                         {"sampling_rate", e.sampling_rate ? e.sampling_rate : 1}});
  return json{{"datagrams", s.datagrams},  {"flows", s.flows},
              {"records", s.records},      {"lost", s.lost},
              {"kernel_drops", s.kernel_drops}, {"malformed", s.malformed},
              {"template_misses", s.template_misses}, {"implausible", s.implausible},
              {"future", s.future},
              {"sockets", sockets},        {"exporters", exporters}};
}

void register_collector_metrics(server::MetricsRegistry& m, const collect::Collector& c) {
  using Pairs = std::vector<std::pair<std::string, double>>;
  struct Counter {
    const char* name;
    const char* help;
    uint64_t collect::ExporterStats::*member;
  };
  static constexpr Counter kCounters[] = {
      {"netpulse_collector_datagrams_total", "Export datagrams received, per exporter",
       &collect::ExporterStats::datagrams},
      {"netpulse_collector_flows_total", "Flow records decoded, per exporter",
       &collect::ExporterStats::flows},
      {"netpulse_collector_lost_total",
       "Estimated from sequence-number gaps, per exporter, in the protocol's unit (v5 flows, "
       "v9 datagrams, IPFIX records, sFlow datagrams)",
       &collect::ExporterStats::lost},
      {"netpulse_collector_malformed_total", "Datagrams, or parts, that could not be decoded",
       &collect::ExporterStats::malformed},
      {"netpulse_collector_template_misses_total",
       "Data sets that arrived before their template (held, decoded when it came)",
       &collect::ExporterStats::template_misses},
      {"netpulse_collector_held_dropped_total",
       "Held data dropped before its template came (hold full)",
       &collect::ExporterStats::held_dropped},
  };
  for (const Counter& k : kCounters)
    m.add_family(k.name, k.help, server::MetricType::kCounter, [&c, member = k.member] {
      Pairs out;
      for (const auto& e : c.stats().exporters)
        out.emplace_back(exporter_labels(e), static_cast<double>(e.*member));
      return out;
    });
  m.add_family("netpulse_collector_kernel_drops_total",
               "Datagrams the kernel dropped on a collector socket (receive buffer full)",
               server::MetricType::kCounter, [&c] {
                 Pairs out;
                 for (const auto& s : c.stats().sockets)
                   out.emplace_back("input=\"" + label_value(s.input) + "\"",
                                    static_cast<double>(s.kernel_drops));
                 return out;
               });
}

}  // namespace netpulse::app
