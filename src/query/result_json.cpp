#include "query/result_json.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

namespace netpulse::query {

std::optional<QueryKind> parse_query_name(std::string_view name) {
  for (size_t i = 0; i < kQueryCount; ++i)
    if (kQueryNames[i] == name) return static_cast<QueryKind>(i);
  return std::nullopt;
}

void append_number(double v, std::string& out) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

namespace {

void append_uint(uint64_t v, std::string& out) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_time(core::TimeMs t, std::string& out) {
  char buf[32];
  char* end = core::format_iso8601(t, buf);
  out += '"';
  out.append(buf, end);
  out += '"';
}

}  // namespace

void append_json(const WindowResult& r, QueryKind q, std::string& out) {
  out += "{\"window_start\":";
  append_time(r.window_start, out);
  out += ",\"window_end\":";
  append_time(r.window_end, out);
  out += ",\"query\":\"";
  out += kQueryNames[static_cast<size_t>(q)];
  out += "\",\"params\":{\"T\":";
  append_uint(static_cast<uint64_t>(r.params.T), out);
  switch (q) {
    case QueryKind::kProtocolShare:
    case QueryKind::kIpShare:
      out += ",\"H\":";
      append_number(r.params.H, out);
      break;
    case QueryKind::kProtocolTopk:
    case QueryKind::kIpTopk:
      out += ",\"k\":";
      append_uint(static_cast<uint64_t>(r.params.k), out);
      break;
    case QueryKind::kProtocolOutliers:
    case QueryKind::kIpOutliers:
      out += ",\"X\":";
      append_number(r.params.X, out);
      break;
  }
  out += "},\"records\":";
  append_uint(r.records, out);
  out += ",\"total_bytes\":";
  append_uint(r.total_bytes, out);
  out += ",\"keys\":";
  const bool protocol = q <= QueryKind::kProtocolOutliers;
  append_uint(protocol ? r.protocol_keys : r.ip_keys, out);
  out += ",\"rows\":[";
  bool first = true;
  for (const ResultRow& row : r.of(q)) {
    if (!first) out += ',';
    first = false;
    // Keys are protocol labels ([A-Za-z0-9_.-]) or addresses: nothing to escape.
    out += "{\"key\":\"";
    out += row.key;
    out += "\",\"bytes\":";
    append_uint(row.bytes, out);
    out += ",\"share\":";
    append_number(row.share, out);
    out += ",\"z\":";
    if (row.z) append_number(*row.z, out);
    else out += "null";
    out += '}';
  }
  out += ']';
  if (!protocol && r.ip_approximate) {
    out += ",\"approximate\":{\"epsilon\":";
    append_number(r.ip_approximate->epsilon, out);
    out += ",\"keys_estimated\":";
    append_uint(r.ip_approximate->keys_estimated, out);
    out += '}';
  }
  out += '}';
}

void JsonLinesSink::emit(const WindowResult& r) {
  for (size_t q = 0; q < kQueryCount; ++q) {
    append_json(r, static_cast<QueryKind>(q), buffer_);
    buffer_ += '\n';
  }
  if (buffer_.size() > (1 << 20)) flush();
}

void JsonLinesSink::flush() {
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0 && error_.empty()) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = std::strerror(errno);
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace netpulse::query
