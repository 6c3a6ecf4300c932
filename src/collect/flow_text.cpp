#include "collect/flow_text.hpp"

#include <charconv>
#include <cstring>

#include "core/time.hpp"

namespace netpulse::collect {

namespace {

constexpr uint64_t kMaxRecordBytes = 4294967295ULL;
constexpr uint64_t kMaxSplit = 1024;
constexpr size_t kMaxLabel = 32;
// The longest record: time 23, label 32, two IPv6 addresses 2 x 45, bytes 10, and in CSV the
// extra columns (numbers up to 20 digits, an address, two times), with separators.
constexpr size_t kMaxText = 23 + 33 + 2 * 46 + 11 + 2 * 21 + 6 * 11 + 46 + 11 + 2 * 24 + 2;

char* put_number(char* p, uint64_t v) { return std::to_chars(p, p + 20, v).ptr; }

}  // namespace

std::optional<FlowTime> parse_flow_time(std::string_view text) {
  if (text == "start") return FlowTime::kStart;
  if (text == "end") return FlowTime::kEnd;
  if (text == "received") return FlowTime::kReceived;
  return std::nullopt;
}

std::string_view FlowText::header() const {
  if (format_ == TextFormat::kLine) return {};
  return "time,protocol,src,dst,bytes,packets,src_port,dst_port,ip_protocol,tcp_flags,input_if,"
         "output_if,exporter,sampling_rate,flow_start,flow_end\n";
}

char* FlowText::put_time(char* p, core::TimeMs t) {
  const int64_t second = core::floor_div(t, 1000);
  if (second != cached_second_) {
    char buf[32];
    core::format_line_time(second * 1000, buf);  // "YYYY-MM-DD HH:MM:SS.000"
    std::memcpy(prefix_, buf, sizeof prefix_);
    cached_second_ = second;
  }
  std::memcpy(p, prefix_, sizeof prefix_);
  const auto ms = static_cast<unsigned>(t - second * 1000);
  p[20] = static_cast<char>('0' + ms / 100);
  p[21] = static_cast<char>('0' + ms / 10 % 10);
  p[22] = static_cast<char>('0' + ms % 10);
  return p + 23;
}

size_t FlowText::append(const ExportedFlow& f, std::string& out) {
  return append(f, services_.name(f.ip_protocol, f.src_port, f.dst_port), out);
}

size_t FlowText::append(const ExportedFlow& f, std::string_view label, std::string& out) {
  if (label.size() > kMaxLabel) label = label.substr(0, kMaxLabel);
  const core::TimeMs time = time_of(f);
  const char sep = format_ == TextFormat::kLine ? ' ' : ',';
  // Saturating: a lying exporter's 2^64 bytes times its sampling rate stays a (huge) number.
  uint64_t left = f.sampling_rate > 1 && f.bytes > UINT64_MAX / f.sampling_rate
                      ? UINT64_MAX
                      : f.bytes * f.sampling_rate;
  const uint64_t packets = f.sampling_rate > 1 && f.packets > UINT64_MAX / f.sampling_rate
                               ? UINT64_MAX
                               : f.packets * f.sampling_rate;
  // More than 4 TiB in one flow record is no real flow (a 400 Gbit/s link needs 80 s for it):
  // refuse it rather than write a thousand records of a lying exporter's number.
  if (left > kMaxRecordBytes * kMaxSplit) return 0;
  // Formatted in a buffer on the stack and appended once: the collector writes millions of
  // these a second on its one receiving thread.
  char buf[kMaxText + 8];
  size_t records = 0;
  do {
    const uint64_t bytes = left > kMaxRecordBytes ? kMaxRecordBytes : left;
    left -= bytes;
    char* p = put_time(buf, time);
    *p++ = sep;
    std::memcpy(p, label.data(), label.size());
    p += label.size();
    *p++ = sep;
    p = core::format_ip(f.src, p);
    *p++ = sep;
    p = core::format_ip(f.dst, p);
    *p++ = sep;
    p = put_number(p, bytes);
    if (format_ == TextFormat::kCsv) {
      // The extra columns ride on the first record of a split flow only, so they add up too.
      const bool first = records == 0;
      for (uint64_t v : {first ? packets : 0, uint64_t{f.src_port}, uint64_t{f.dst_port},
                         uint64_t{f.ip_protocol}, uint64_t{f.tcp_flags}, uint64_t{f.input_if},
                         uint64_t{f.output_if}}) {
        *p++ = ',';
        p = put_number(p, v);
      }
      *p++ = ',';
      p = core::format_ip(f.exporter, p);
      *p++ = ',';
      p = put_number(p, f.sampling_rate);
      *p++ = ',';
      p = put_time(p, f.start);
      *p++ = ',';
      p = put_time(p, f.end);
    }
    *p++ = '\n';
    out.append(buf, p);
    ++records;
  } while (left > 0);
  return records;
}

}  // namespace netpulse::collect
