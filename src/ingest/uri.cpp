#include "ingest/uri.hpp"

#include <charconv>
#include <tuple>

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
    if (bracketed && close == std::string_view::npos) {
      *why = "expected [IPv6]:PORT";
      return std::nullopt;
    }
    const size_t colon = bracketed ? (close + 1 < rest.size() ? close + 1 : std::string_view::npos)
                                   : rest.rfind(':');
    std::string host(bracketed ? rest.substr(1, close - 1)
                     : colon == std::string_view::npos ? rest : rest.substr(0, colon));
    // An IPv6 address needs its brackets ("fe80::1:2055" has no one reading); "[]" is no host.
    if ((bracketed && host.empty()) || (!bracketed && host.find(':') != std::string::npos)) {
      *why = "an IPv6 address goes in brackets: [ADDRESS]:PORT";
      return std::nullopt;
    }
    if (colon == std::string_view::npos) {
      u.host = std::move(host);
      u.port = default_port;
      return u;
    }
    std::string with_port = "x:" + std::string(rest.substr(colon + 1));
    if (rest[colon] != ':' || !split_host_port(with_port, u, why)) {
      if (rest[colon] != ':') *why = "expected HOST:PORT";
      return std::nullopt;
    }
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
    if (rest.empty()) {
      *why = kind == Uri::Kind::kPcap ? "pcap: needs a file (pcap:PATH, or pcap:- for stdin)"
                                      : "pcap-live: needs an interface (pcap-live:eth0)";
      return std::nullopt;
    }
    u.path = std::string(rest);
    return u;
  }
  if (starts("kafka://")) {
    u.kind = Uri::Kind::kKafka;
    u.path = std::string(text.substr(8));
    return u;
  }
  if (text.find("://") != std::string_view::npos) {
    *why = "unknown scheme (use file:, tcp://, tcp-listen://, kafka://, netflow://, sflow://, "
           "pcap:, pcap-live: or -)";
    return std::nullopt;
  }
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
