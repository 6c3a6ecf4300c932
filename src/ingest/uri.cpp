#include "ingest/uri.hpp"

#include <charconv>
#include <tuple>

namespace netpulse::ingest {

namespace {

// Ok with out.host and out.port set, or the reason hp is not HOST:PORT.
core::Status split_host_port(std::string_view hp, Uri& out) {
  std::string_view host, port;
  if (!hp.empty() && hp.front() == '[') {  // [::1]:12302
    const size_t close = hp.find(']');
    if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':')
      return core::Status::invalid_argument("expected [IPv6]:PORT");
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
  } else {
    const size_t colon = hp.rfind(':');
    if (colon == std::string_view::npos)
      return core::Status::invalid_argument("expected HOST:PORT");
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535)
    return core::Status::invalid_argument("expected HOST:PORT with a port from 0 to 65535");
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(value);
  return core::Status();
}

}  // namespace

core::Result<Uri> parse_uri(std::string_view text) {
  using core::Status;
  Uri u;
  u.text = std::string(text);
  if (text.empty()) return Status::invalid_argument("empty address");
  if (text == "-" || text == "stdin" || text == "stdout") {
    u.kind = Uri::Kind::kStdio;
    return u;
  }
  auto starts = [&](std::string_view p) { return text.substr(0, p.size()) == p; };
  if (starts("file:")) {
    u.kind = Uri::Kind::kFile;
    u.path = std::string(text.substr(5));
    if (u.path.substr(0, 2) == "//") u.path = u.path.substr(2);  // file:///abs/path
    if (u.path.empty()) return Status::invalid_argument("file: needs a path");
    return u;
  }
  if (starts("tcp-listen://")) {
    u.kind = Uri::Kind::kTcpListen;
    if (Status s = split_host_port(text.substr(13), u); !s.ok()) return s;
    return u;
  }
  if (starts("tcp://")) {
    u.kind = Uri::Kind::kTcp;
    if (Status s = split_host_port(text.substr(6), u); !s.ok()) return s;
    return u;
  }
  for (const auto& [scheme, kind, default_port] :
       {std::tuple{std::string_view("netflow://"), Uri::Kind::kNetflow, uint16_t{2055}},
        std::tuple{std::string_view("sflow://"), Uri::Kind::kSflow, uint16_t{6343}}}) {
    if (!starts(scheme)) continue;
    u.kind = kind;
    std::string_view rest = text.substr(scheme.size());
    if (const size_t q = rest.find('?'); q != std::string_view::npos) {
      u.query = std::string(rest.substr(q + 1));
      rest = rest.substr(0, q);
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    // HOST, :PORT, HOST:PORT, [IPv6] or [IPv6]:PORT; a bare IPv6 address needs brackets.
    const bool bracketed = !rest.empty() && rest.front() == '[';
    const size_t close = bracketed ? rest.find(']') : std::string_view::npos;
    if (bracketed && close == std::string_view::npos)
      return Status::invalid_argument("expected [IPv6]:PORT");
    const size_t colon = bracketed ? (close + 1 < rest.size() ? close + 1 : std::string_view::npos)
                                   : rest.rfind(':');
    std::string host(bracketed ? rest.substr(1, close - 1)
                     : colon == std::string_view::npos ? rest : rest.substr(0, colon));
    // An IPv6 address needs its brackets ("fe80::1:2055" has no one reading); "[]" is no host.
    if ((bracketed && host.empty()) || (!bracketed && host.find(':') != std::string::npos))
      return Status::invalid_argument("an IPv6 address goes in brackets: [ADDRESS]:PORT");
    if (colon == std::string_view::npos) {
      u.host = std::move(host);
      u.port = default_port;
      return u;
    }
    if (rest[colon] != ':') return Status::invalid_argument("expected HOST:PORT");
    if (Status s = split_host_port("x:" + std::string(rest.substr(colon + 1)), u); !s.ok())
      return s;
    u.host = std::move(host);
    return u;
  }
  // Packet captures: pcap:FILE and pcap-live:IFACE, each with an optional ?query.
  for (const auto& [scheme, kind] :
       {std::pair{std::string_view("pcap:"), Uri::Kind::kPcap},
        std::pair{std::string_view("pcap-live:"), Uri::Kind::kPcapLive}}) {
    if (!starts(scheme)) continue;
    u.kind = kind;
    std::string_view rest = text.substr(scheme.size());
    if (const size_t q = rest.find('?'); q != std::string_view::npos) {
      u.query = std::string(rest.substr(q + 1));
      rest = rest.substr(0, q);
    }
    if (kind == Uri::Kind::kPcap && rest.substr(0, 2) == "//") rest.remove_prefix(2);
    if (rest.empty())
      return Status::invalid_argument(kind == Uri::Kind::kPcap
                                          ? "pcap: needs a file (pcap:PATH, or pcap:- for stdin)"
                                          : "pcap-live: needs an interface (pcap-live:eth0)");
    u.path = std::string(rest);
    return u;
  }
  if (starts("kafka://")) {
    u.kind = Uri::Kind::kKafka;
    u.path = std::string(text.substr(8));
    return u;
  }
  if (text.find("://") != std::string_view::npos)
    return Status::invalid_argument(
        "unknown scheme (use file:, tcp://, tcp-listen://, kafka://, netflow://, sflow://, "
        "pcap:, pcap-live: or -)");
  u.kind = Uri::Kind::kFile;
  u.path = std::string(text);
  return u;
}

std::vector<std::pair<std::string_view, std::string_view>> query_pairs(std::string_view query) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    out.emplace_back(pair.substr(0, eq),
                     eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return out;
}

std::optional<std::string> query_value(std::string_view query, std::string_view key) {
  for (const auto& [k, v] : query_pairs(query))
    if (k == key) return std::string(v);
  return std::nullopt;
}

}  // namespace netpulse::ingest
