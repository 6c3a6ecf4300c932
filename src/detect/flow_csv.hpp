// Connection events from the CSV records a collector or capture writes (collect --format csv):
// the columns beyond a record's five (ports, IP protocol, TCP flags, packets, flow times), and
// the two directions of a captured connection joined into one. Shared by detect-flows and the
// detectors' tap of process and run, which read those inputs as CSV when a model needs them.
// Not thread-safe: a DirectionPairer per stream (CsvFlowColumns is read-only once made).
#pragma once

#include <algorithm>
#include <charconv>
#include <string_view>

#include "core/time.hpp"
#include "detect/flow_features.hpp"

namespace netpulse::detect {

// The columns beyond the five of a record that a CSV header may name (collect --format csv, and
// the collector or capture feeding detect-flows, process or run in CSV): what makes a flow-export
// input.
struct CsvFlowColumns {
  int packets = -1, src_port = -1, dst_port = -1, ip_protocol = -1, tcp_flags = -1, flow_start = -1,
      flow_end = -1;

  static CsvFlowColumns from_header(std::string_view header) {
    CsvFlowColumns x;
    int i = 0;
    while (!header.empty()) {
      const size_t comma = header.find(',');
      std::string_view name = header.substr(0, comma);
      while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.remove_suffix(1);
      for (auto [n, field] : {std::pair{"packets", &x.packets},
                              {"src_port", &x.src_port},
                              {"dst_port", &x.dst_port},
                              {"ip_protocol", &x.ip_protocol},
                              {"tcp_flags", &x.tcp_flags},
                              {"flow_start", &x.flow_start},
                              {"flow_end", &x.flow_end}})
        if (name == n) *field = i;
      header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
      ++i;
    }
    return x;
  }
  bool flow_export() const { return src_port >= 0 && dst_port >= 0 && ip_protocol >= 0; }

  // Adds the extra columns of a CSV line to the event (a column that is absent or not a
  // number is left out); the flow's first and last packet times to *start and *end when
  // both are there (else they are left alone).
  void read(std::string_view line, ConnectionEvent& c, core::TimeMs* start,
            core::TimeMs* end) const {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view cols[24];
    int n = 0;
    while (n < 24) {
      const size_t comma = line.find(',');
      cols[n++] = line.substr(0, comma);
      if (comma == std::string_view::npos) break;
      line.remove_prefix(comma + 1);
    }
    auto number = [&](int i, uint64_t& v) {
      if (i < 0 || i >= n) return false;
      const auto r = std::from_chars(cols[i].data(), cols[i].data() + cols[i].size(), v);
      return r.ec == std::errc() && r.ptr == cols[i].data() + cols[i].size();
    };
    uint64_t v = 0;
    if (number(ip_protocol, v) && v < 256) {
      c.ip_protocol = static_cast<uint8_t>(v);
      c.has |= ConnectionEvent::kIpProtocol;
    }
    uint64_t sp = 0, dp = 0;
    if (number(src_port, sp) && number(dst_port, dp) && sp < 65536 && dp < 65536) {
      c.src_port = static_cast<uint16_t>(sp);
      c.dst_port = static_cast<uint16_t>(dp);
      c.has |= ConnectionEvent::kPorts;
    }
    if (number(tcp_flags, v) && v < 256) {
      c.tcp_flags = static_cast<uint8_t>(v);
      c.has |= ConnectionEvent::kTcpFlags;
    }
    if (number(packets, v)) {
      c.src_packets = v;
      c.has |= ConnectionEvent::kPackets;
    }
    if (flow_start >= 0 && flow_end >= 0 && flow_start < n && flow_end < n) {
      const auto a = core::parse_datetime(cols[flow_start]);
      const auto b = core::parse_datetime(cols[flow_end]);
      if (a && b) {
        *start = *a;
        *end = std::max(*a, *b);
        c.duration_ms = *end - *a;
        c.has |= ConnectionEvent::kDuration;
      }
    }
  }
};

// Packet capture with --records flows writes the two directions of a connection as two
// records, the originator's first, one right after the other: this pairs them into one
// connection with both directions (a record not followed by its reverse had no reply).
class DirectionPairer {
 public:
  // Takes the next direction record; the connection it completes, or the one it shows had no
  // reply, goes to out (returns true).
  bool add(const ConnectionEvent& c, core::TimeMs start, core::TimeMs end, ConnectionEvent& out) {
    if (pending_ && is_reply(c)) {
      out = pending_event_;
      out.responder_flags = c.tcp_flags;
      out.dst_bytes = c.src_bytes;
      out.dst_packets = c.src_packets;
      if ((c.has & ConnectionEvent::kDuration) && (out.has & ConnectionEvent::kDuration))
        out.duration_ms = std::max(end, end_) - std::min(start, start_);
      pending_ = false;
      return true;
    }
    const bool had = flush(out);
    pending_event_ = c;
    pending_event_.has |= ConnectionEvent::kResponderFlags | ConnectionEvent::kDstBytes;
    pending_event_.responder_flags = 0;
    pending_event_.dst_bytes = 0;
    pending_event_.dst_packets = 0;
    start_ = start;
    end_ = end;
    pending_ = true;
    return had;
  }
  // Forgets the connection waiting for its reply (records were skipped: its reply may be gone,
  // and the next record is no reply to it).
  void clear() { pending_ = false; }
  // The connection still waiting for its reply, at the end of the input.
  bool flush(ConnectionEvent& out) {
    if (!pending_) return false;
    out = pending_event_;
    pending_ = false;
    return true;
  }

 private:
  bool is_reply(const ConnectionEvent& c) const {
    const ConnectionEvent& p = pending_event_;
    return c.src == p.dst && c.dst == p.src && c.src_port == p.dst_port &&
           c.dst_port == p.src_port && c.ip_protocol == p.ip_protocol;
  }
  ConnectionEvent pending_event_;
  core::TimeMs start_ = 0, end_ = 0;
  bool pending_ = false;
};

}  // namespace netpulse::detect
