#include "ingest/uri.hpp"

#include <charconv>

namespace netpulse::ingest {

namespace {

bool split_host_port(std::string_view hp, Uri& out, std::string* why) {
  std::string_view host, port;
  if (!hp.empty() && hp.front() == '[') {  // [::1]:12302
    const size_t close = hp.find(']');
    if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':') {
      *why = "expected [IPv6]:PORT";
      return false;
    }
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
  } else {
    const size_t colon = hp.rfind(':');
    if (colon == std::string_view::npos) {
      *why = "expected HOST:PORT";
      return false;
    }
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    *why = "expected HOST:PORT with a port from 0 to 65535";
    return false;
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

std::optional<Uri> parse_uri(std::string_view text, std::string* why) {
  Uri u;
  u.text = std::string(text);
  std::string scratch;
  if (!why) why = &scratch;
  if (text.empty()) {
    *why = "empty address";
    return std::nullopt;
  }
  if (text == "-" || text == "stdin" || text == "stdout") {
    u.kind = Uri::Kind::kStdio;
    return u;
  }
  auto starts = [&](std::string_view p) { return text.substr(0, p.size()) == p; };
  if (starts("file:")) {
    u.kind = Uri::Kind::kFile;
    u.path = std::string(text.substr(5));
    if (u.path.substr(0, 2) == "//") u.path = u.path.substr(2);  // file:///abs/path
    if (u.path.empty()) {
      *why = "file: needs a path";
      return std::nullopt;
    }
    return u;
  }
  if (starts("tcp-listen://")) {
    u.kind = Uri::Kind::kTcpListen;
    if (!split_host_port(text.substr(13), u, why)) return std::nullopt;
    return u;
  }
  if (starts("tcp://")) {
    u.kind = Uri::Kind::kTcp;
    if (!split_host_port(text.substr(6), u, why)) return std::nullopt;
    return u;
  }
  if (starts("kafka://")) {
    u.kind = Uri::Kind::kKafka;
    u.path = std::string(text.substr(8));
    return u;
  }
  if (text.find("://") != std::string_view::npos) {
    *why = "unknown scheme (use file:, tcp://, tcp-listen://, kafka:// or -)";
    return std::nullopt;
  }
  u.kind = Uri::Kind::kFile;
  u.path = std::string(text);
  return u;
}

}  // namespace netpulse::ingest
