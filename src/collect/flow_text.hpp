// Writes exported flows as flow records in netpulse's line format or CSV (spec section 1): the
// record's time chosen by --flow-time, the service table's label, src, dst and the bytes scaled
// by the sampling rate. CSV keeps what the line format cannot carry (packets, ports, IP
// protocol, TCP flags, interfaces, exporter, sampling rate, both flow times) in extra columns,
// which netpulse's CSV reader ignores and the detectors and other tools can use. A flow of more
// than 4294967295 bytes (the record's limit) becomes several records that add up to it, so no
// byte is lost from a window. Not thread-safe: one per thread.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "collect/flow_export.hpp"
#include "collect/service_table.hpp"
#include "core/time.hpp"

namespace netpulse::collect {

enum class FlowTime : uint8_t { kStart, kEnd, kReceived };
std::optional<FlowTime> parse_flow_time(std::string_view text);

enum class TextFormat : uint8_t { kLine, kCsv };

class FlowText {
 public:
  FlowText(const ServiceTable& services, FlowTime flow_time, TextFormat format)
      : services_(services), flow_time_(flow_time), format_(format) {}

  // The CSV header line with its '\n' (empty for the line format).
  std::string_view header() const;
  // Appends the flow's record(s) to out and returns how many (a zero-byte flow is one record,
  // as the exporter reported it). Returns 0 and appends nothing for an implausible flow of
  // more than 4 TiB (after sampling), which the caller counts.
  size_t append(const ExportedFlow& f, std::string& out);
  // The same with the label given (packet capture: nDPI's name). REQUIRES: label is 1 to 32
  // characters of the record label alphabet (a longer one is cut at 32).
  size_t append(const ExportedFlow& f, std::string_view label, std::string& out);
  // The record time --flow-time picks for a flow.
  core::TimeMs time_of(const ExportedFlow& f) const {
    return flow_time_ == FlowTime::kStart ? f.start
           : flow_time_ == FlowTime::kEnd ? f.end
                                          : f.received;
  }

 private:
  // Writes "YYYY-MM-DD HH:MM:SS.mmm" at p (the date and second cached: flows of one export
  // share them); returns the end.
  char* put_time(char* p, core::TimeMs t);

  const ServiceTable& services_;
  FlowTime flow_time_;
  TextFormat format_;
  int64_t cached_second_ = INT64_MIN;
  char prefix_[20] = {};  // the cached second, as YYYY-MM-DD HH:MM:SS and a dot
};

}  // namespace netpulse::collect
