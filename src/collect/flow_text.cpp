#include "collect/flow_text.hpp"

#include <charconv>
#include <cstring>

#include "core/time.hpp"

namespace netpulse::collect {

namespace {

constexpr uint64_t kMaxRecordBytes = 4294967295ULL;
constexpr uint64_t kMaxSplit = 1024;

void put_number(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void put_ip(std::string& out, const core::IpAddr& a) {
  char buf[core::kMaxIpText];
  out.append(buf, core::format_ip(a, buf));
}

void put_time(std::string& out, core::TimeMs t) {
  char buf[32];
  out.append(buf, core::format_line_time(t, buf));
}

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

size_t FlowText::append(const ExportedFlow& f, std::string& out) const {
  const core::TimeMs time = flow_time_ == FlowTime::kStart ? f.start
                            : flow_time_ == FlowTime::kEnd ? f.end
                                                           : f.received;
  const std::string_view label = services_.name(f.ip_protocol, f.src_port, f.dst_port);
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
  size_t records = 0;
  do {
    const uint64_t bytes = left > kMaxRecordBytes ? kMaxRecordBytes : left;
    left -= bytes;
    put_time(out, time);
    out += sep;
    out.append(label);
    out += sep;
    put_ip(out, f.src);
    out += sep;
    put_ip(out, f.dst);
    out += sep;
    put_number(out, bytes);
    if (format_ == TextFormat::kCsv) {
      // The extra columns ride on the first record of a split flow only, so they add up too.
      const bool first = records == 0;
      out += ',';
      put_number(out, first ? packets : 0);
      out += ',';
      put_number(out, f.src_port);
      out += ',';
      put_number(out, f.dst_port);
      out += ',';
      put_number(out, f.ip_protocol);
      out += ',';
      put_number(out, f.tcp_flags);
      out += ',';
      put_number(out, f.input_if);
      out += ',';
      put_number(out, f.output_if);
      out += ',';
      put_ip(out, f.exporter);
      out += ',';
      put_number(out, f.sampling_rate);
      out += ',';
      put_time(out, f.start);
      out += ',';
      put_time(out, f.end);
    }
    out += '\n';
    ++records;
  } while (left > 0);
  return records;
}

}  // namespace netpulse::collect
