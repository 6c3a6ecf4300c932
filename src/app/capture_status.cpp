#include "app/capture_status.hpp"

#include <string>
#include <utility>
#include <vector>

namespace netpulse::app {

namespace {

using json = nlohmann::json;

std::string input_label(const std::string& s) {
  return "input=\"" + server::prometheus_label_value(s) + "\"";
}

}  // namespace

json capture_status(const capture::CaptureStats& s) {
  const capture::ProcessorStats& p = s.processor;
  return json{{"input", s.input},
              {"link", s.link},
              {"live", s.live},
              {"finished", s.finished},
              {"speed", s.speed > 0 ? json(s.speed) : json(nullptr)},
              {"packets", p.packets},
              {"wire_bytes", p.wire_bytes},
              {"ip_packets", p.ip_packets},
              {"ip_bytes", p.ip_bytes},
              {"not_ip", p.not_ip},
              {"truncated", p.truncated},
              {"bad_header", p.bad_header},
              {"fragments", p.fragments},
              {"records", p.records},
              {"guessed_records", p.guessed_records},
              {"flows_created", p.flows_created},
              {"flows_active", p.flows_active},
              {"flows_idle", p.flows_idle},
              {"flows_evicted", p.flows_evicted},
              {"flows_active_timeouts", p.flows_active_timeouts},
              {"flows_detected", p.flows_detected},
              {"flows_guessed", p.flows_guessed},
              {"kernel_drops", s.pcap.kernel_drops},
              {"interface_drops", s.pcap.if_drops},
              {"warning", s.warning.empty() ? json(nullptr) : json(s.warning)}};
}

void register_capture_metrics(server::MetricsRegistry& m, const capture::Capture& c) {
  using Pairs = std::vector<std::pair<std::string, double>>;
  const std::string label = input_label(c.options().input.text);
  struct Series {
    const char* name;
    const char* help;
    server::MetricType type;
    uint64_t (*read)(const capture::CaptureStats&);
  };
  static constexpr Series kSeries[] = {
      {"netpulse_capture_packets_total", "Packets captured (read from the file or interface)",
       server::MetricType::kCounter, [](const capture::CaptureStats& s) { return s.processor.packets; }},
      {"netpulse_capture_ip_bytes_total", "IP bytes of the captured IP packets",
       server::MetricType::kCounter, [](const capture::CaptureStats& s) { return s.processor.ip_bytes; }},
      {"netpulse_capture_skipped_total",
       "Captured packets with no IP packet to report (non-IP, cut inside the IP header, bad header)",
       server::MetricType::kCounter,
       [](const capture::CaptureStats& s) {
         return s.processor.not_ip + s.processor.truncated + s.processor.bad_header;
       }},
      {"netpulse_capture_records_total", "Records written (packets or flow directions)",
       server::MetricType::kCounter, [](const capture::CaptureStats& s) { return s.processor.records; }},
      {"netpulse_capture_guessed_records_total",
       "Records labelled by nDPI's port-based guess, before (or without) a completed detection",
       server::MetricType::kCounter,
       [](const capture::CaptureStats& s) { return s.processor.guessed_records; }},
      {"netpulse_capture_flows", "Flows tracked now", server::MetricType::kGauge,
       [](const capture::CaptureStats& s) { return s.processor.flows_active; }},
      {"netpulse_capture_flows_evicted_total",
       "Flows ended early because the flow table was full (oldest first)", server::MetricType::kCounter,
       [](const capture::CaptureStats& s) { return s.processor.flows_evicted; }},
      {"netpulse_capture_kernel_drops_total",
       "Packets the kernel dropped for lack of room in the capture ring (pcap_stats ps_drop)",
       server::MetricType::kCounter, [](const capture::CaptureStats& s) { return s.pcap.kernel_drops; }},
      {"netpulse_capture_interface_drops_total",
       "Packets dropped by the interface or its driver (pcap_stats ps_ifdrop)",
       server::MetricType::kCounter, [](const capture::CaptureStats& s) { return s.pcap.if_drops; }},
  };
  for (const Series& k : kSeries)
    m.add_family(k.name, k.help, k.type, [&c, label, read = k.read] {
      return Pairs{{label, static_cast<double>(read(c.stats()))}};
    });
}

}  // namespace netpulse::app
