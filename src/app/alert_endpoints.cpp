#include "app/alert_endpoints.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>

#include "core/net.hpp"
#include "core/time.hpp"
#include "server/web_app.hpp"

namespace netpulse::app {

namespace {

using nlohmann::json;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::optional<std::chrono::milliseconds> duration_or_zero(const std::string& v) {
  if (v == "0") return std::chrono::milliseconds(0);
  if (auto ms = core::parse_duration_ms(v)) return std::chrono::milliseconds(*ms);
  return std::nullopt;
}

bool whole(const std::string& v, uint64_t lo, uint64_t hi, uint64_t& out) {
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(v);
  return out >= lo && out <= hi;
}

// Applies one of netpulse's own query parameters; false when `name` is not one of them.
// *why is set when it is one but the value is bad.
bool apply_param(EndpointSpec& spec, const std::string& name, const std::string& v,
                 std::string* why) {
  EndpointPolicy& p = spec.policy;
  uint64_t n = 0;
  if (name == "detector") {
    for (const auto& d : split(v, ','))
      if (!d.empty()) p.filter.detectors.push_back(d);
    if (p.filter.detectors.empty()) *why = "detector=: give one or more detector names";
  } else if (name == "min-score") {
    char* end = nullptr;
    p.filter.min_score = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(p.filter.min_score))
      *why = "min-score='" + v + "' is not a number";
  } else if (name == "key") {
    for (const auto& k : split(v, ',')) {
      if (k.empty()) continue;
      auto m = parse_key_match(k, why);
      if (!m) return true;
      p.filter.keys.push_back(*m);
    }
    if (p.filter.keys.empty()) *why = "key=: give an address, a prefix (10.0.0.0/8) or a key";
  } else if (name == "dedup") {
    auto d = duration_or_zero(v);
    if (!d)
      *why = "dedup='" + v + "' is not a duration (60s, 5m; 0: off)";
    else
      p.dedup = *d;
  } else if (name == "rate") {
    if (!whole(v, 0, 1'000'000, n))
      *why = "rate='" + v + "': alerts a minute per detector, 0 to 1000000 (0: unlimited)";
    else
      p.rate = static_cast<uint32_t>(n);
  } else if (name == "retries") {
    if (!whole(v, 0, 100, n))
      *why = "retries='" + v + "': a whole number from 0 to 100";
    else
      p.retries = static_cast<uint32_t>(n);
  } else if (name == "backoff") {
    auto d = core::parse_duration_ms(v);
    if (!d)
      *why = "backoff='" + v + "' is not a duration (500ms, 2s)";
    else
      p.backoff = std::chrono::milliseconds(*d);
  } else if (name == "timeout") {
    auto d = core::parse_duration_ms(v);
    if (!d)
      *why = "timeout='" + v + "' is not a duration (5s)";
    else
      spec.timeout = std::chrono::milliseconds(*d);
  } else if (name == "queue") {
    if (!whole(v, 1, 1'000'000, n))
      *why = "queue='" + v + "': a whole number from 1 to 1000000";
    else
      p.queue = n;
  } else if (name == "name") {
    if (v.empty()) *why = "name=: empty";
    spec.name = v;
  } else if (name == "format" && spec.kind == EndpointSpec::Kind::kWebhook) {
    if (v == "slack")
      spec.slack = true;
    else if (v == "json")
      spec.slack = false;
    else
      *why = "format='" + v + "': json or slack";
  } else {
    return false;
  }
  return true;
}

// "HOST:PORT" or "[V6]:PORT"; with default_port, the port may be left out.
bool parse_authority(const std::string& a, int default_port, EndpointSpec& spec, std::string* why) {
  std::string text = a;
  const size_t bracket = text.rfind(']');
  const size_t colon = text.rfind(':');
  const bool has_port =
      colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  if (!has_port) {
    if (default_port < 0) {
      *why = "expected HOST:PORT";
      return false;
    }
    text += ":" + std::to_string(default_port);
  }
  auto hp = server::parse_host_port(text, why);
  if (!hp) return false;
  if (hp->second == 0) {
    *why = "port 0 is not a destination";
    return false;
  }
  spec.host = hp->first;
  spec.port = hp->second;
  return true;
}

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The detector's reasons: the detail's "why" when it has one, else its fields as k=v.
std::string reasons(const std::string& detail_json) {
  const json d = json::parse(detail_json, nullptr, false);
  if (d.is_discarded() || !d.is_object()) return detail_json;
  if (auto it = d.find("why"); it != d.end() && it->is_string()) return it->get<std::string>();
  // Nested objects (a detector's "features") are spelled out in place.
  std::string out;
  const std::function<void(const json&)> add = [&](const json& obj) {
    for (const auto& [k, v] : obj.items()) {
      if (v.is_object()) {
        add(v);
        continue;
      }
      if (!out.empty()) out += ", ";
      out += k + "=" +
             (v.is_string()         ? v.get<std::string>()
              : v.is_number_float() ? number_text(v.get<double>())
                                    : v.dump());
    }
  };
  add(d);
  return out;
}

std::string sd_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

// --- webhook ------------------------------------------------------------------------------

class WebhookSender final : public AlertSender {
 public:
  explicit WebhookSender(const EndpointSpec& s) : spec_(s) {}
  std::string kind() const override { return "webhook"; }

  bool send(const Delivery& d, std::string* error) override {
    namespace beast = boost::beast;
    namespace http = beast::http;
    namespace net = boost::asio;
    using tcp = net::ip::tcp;
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    http::request<http::string_body> req{http::verb::post, spec_.target, 11};
    const bool v6 = spec_.host.find(':') != std::string::npos;
    req.set(http::field::host,
            (v6 ? "[" + spec_.host + "]" : spec_.host) + ":" + std::to_string(spec_.port));
    req.set(http::field::user_agent, "netpulse");
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    req.body() = webhook_body(d, spec_.slack);
    req.prepare_payload();
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    beast::error_code failed;
    std::string stage = "resolve";
    resolver.async_resolve(
        spec_.host, std::to_string(spec_.port),
        [&](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) {
            failed = ec;
            return;
          }
          stage = "connect";
          stream.expires_after(spec_.timeout);
          stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
            if (ec) {
              failed = ec;
              return;
            }
            stage = "send";
            http::async_write(stream, req, [&](beast::error_code ec, size_t) {
              if (ec) {
                failed = ec;
                return;
              }
              stage = "answer";
              http::async_read(stream, buffer, parser,
                               [&](beast::error_code ec, size_t) { failed = ec; });
            });
          });
        });
    ioc.run();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (failed) {
      *error = stage + ": " +
               (failed == beast::error::timeout ? std::string("timed out") : failed.message());
      return false;
    }
    const auto& res = parser.get();
    if (res.result_int() / 100 != 2) {
      *error = "HTTP " + std::to_string(res.result_int()) + " " + std::string(res.reason());
      return false;
    }
    return true;
  }

 private:
  EndpointSpec spec_;
};

// --- syslog -------------------------------------------------------------------------------

class SyslogSender final : public AlertSender {
 public:
  explicit SyslogSender(const EndpointSpec& s)
      : spec_(s), tcp_(s.kind == EndpointSpec::Kind::kSyslogTcp) {
    char host[256] = {0};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::strcpy(host, "-");
    hostname_ = host;
    for (char& c : hostname_)
      if (c <= 32 || c >= 127) c = '-';
  }
  ~SyslogSender() override { disconnect(); }
  std::string kind() const override { return "syslog"; }

  bool send(const Delivery& d, std::string* error) override {
    std::string msg = syslog_message(d, hostname_, static_cast<int>(::getpid()));
    if (tcp_) msg = std::to_string(msg.size()) + " " + msg;  // RFC 6587 octet counting
    if (fd_ >= 0 && tcp_ && peer_closed()) disconnect();
    if (fd_ < 0 && !connect_to(error)) return false;
    size_t done = 0;
    while (done < msg.size()) {
      const ssize_t n = ::send(fd_, msg.data() + done, msg.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(spec_.timeout.count())) <= 0) {
          *error = "send: timed out";
          disconnect();
          return false;
        }
        continue;
      }
      if (n < 0) {
        *error = std::string("send: ") + std::strerror(errno);
        disconnect();
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

 private:
  bool peer_closed() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char buf[256];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool connect_to(std::string* error) {
    const core::Result<int> fd = core::connect_socket(
        spec_.host, spec_.port, !tcp_, static_cast<int>(spec_.timeout.count()), "syslog");
    if (!core::ok_or_why(fd.status(), error)) return false;
    fd_ = *fd;
    // Sends wait at most the timeout (send() polls on EAGAIN).
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return true;
  }

  EndpointSpec spec_;
  bool tcp_;
  std::string hostname_;
  int fd_ = -1;
};

}  // namespace

std::optional<EndpointSpec> parse_webhook_uri(const std::string& text, std::string* why) {
  EndpointSpec spec;
  spec.kind = EndpointSpec::Kind::kWebhook;
  if (text.rfind("https://", 0) == 0) {
    *why = "https is not supported: use http:// (a local relay can add TLS)";
    return std::nullopt;
  }
  if (text.rfind("http://", 0) != 0) {
    *why = "expected http://HOST[:PORT]/PATH";
    return std::nullopt;
  }
  std::string rest = text.substr(7);
  if (const size_t hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);
  const size_t path_at = rest.find_first_of("/?");
  const std::string authority = rest.substr(0, path_at);
  std::string path = path_at == std::string::npos ? "/" : rest.substr(path_at);
  if (authority.empty() || authority.find('@') != std::string::npos) {
    *why = authority.empty() ? "no host" : "user:password@ is not supported";
    return std::nullopt;
  }
  if (!parse_authority(authority, 80, spec, why)) return std::nullopt;
  std::string query;
  if (const size_t q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path.resize(q);
  }
  if (path.empty()) path = "/";
  std::string kept;  // the query parameters that are the server's
  if (!query.empty()) {
    for (const std::string& part : split(query, '&')) {
      if (part.empty()) continue;
      const size_t eq = part.find('=');
      const std::string name = part.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
      why->clear();
      if (apply_param(spec, name, value, why)) {
        if (!why->empty()) return std::nullopt;
      } else {
        kept += (kept.empty() ? "" : "&") + part;
      }
    }
  }
  spec.target = kept.empty() ? path : path + "?" + kept;
  return spec;
}

std::optional<EndpointSpec> parse_syslog_uri(const std::string& text, std::string* why) {
  EndpointSpec spec;
  std::string rest;
  if (text.rfind("udp://", 0) == 0) {
    spec.kind = EndpointSpec::Kind::kSyslogUdp;
    rest = text.substr(6);
  } else if (text.rfind("tcp://", 0) == 0) {
    spec.kind = EndpointSpec::Kind::kSyslogTcp;
    rest = text.substr(6);
  } else {
    *why = "expected udp://HOST:PORT or tcp://HOST:PORT";
    return std::nullopt;
  }
  std::string query;
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) {
    *why = "a syslog destination has no path";
    return std::nullopt;
  }
  if (!parse_authority(rest, 514, spec, why)) return std::nullopt;
  for (const std::string& part : split(query, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string name = part.substr(0, eq);
    why->clear();
    if (!apply_param(spec, name, eq == std::string::npos ? "" : part.substr(eq + 1), why)) {
      *why = "unknown parameter '" + name +
             "' (expected detector, min-score, key, dedup, rate, retries, backoff, timeout, queue, "
             "name)";
      return std::nullopt;
    }
    if (!why->empty()) return std::nullopt;
  }
  return spec;
}

std::string alert_summary(const Delivery& d) {
  const store::Alert& a = d.alert;
  switch (d.kind) {
    case Delivery::Kind::kTest:
      return "netpulse test alert: " + reasons(a.detail_json);
    case Delivery::Kind::kSummary:
      return "netpulse: " + reasons(a.detail_json);
    case Delivery::Kind::kAlert:
      break;
  }
  std::string s = "netpulse alert: " + a.detector + " on " + a.source;
  if (a.detector == "rule")
    s += " (value " + number_text(a.score) + ")";
  else
    s += " (score " + number_text(a.score) + ")";
  s += " at " + core::format_iso8601(a.time);
  const std::string why = reasons(a.detail_json);
  if (!why.empty() && why != "{}") s += ": " + why;
  return s;
}

std::string webhook_body(const Delivery& d, bool slack) {
  constexpr auto replace = json::error_handler_t::replace;
  if (slack) return json{{"text", alert_summary(d)}}.dump(-1, ' ', false, replace);
  json detail = json::parse(d.alert.detail_json, nullptr, false);
  if (detail.is_discarded()) detail = d.alert.detail_json;
  return json{{"kind", kind_name(d.kind)},    {"time", core::format_iso8601(d.alert.time)},
              {"detector", d.alert.detector}, {"source", d.alert.source},
              {"score", d.alert.score},       {"detail", std::move(detail)},
              {"summary", alert_summary(d)}}
      .dump(-1, ' ', false, replace);
}

std::string syslog_message(const Delivery& d, const std::string& hostname, int pid) {
  // Facility local0 (16); warning for alerts, notice for summaries, informational for tests.
  const int severity = d.kind == Delivery::Kind::kAlert     ? 4
                       : d.kind == Delivery::Kind::kSummary ? 5
                                                            : 6;
  const store::Alert& a = d.alert;
  std::string m = "<" + std::to_string(16 * 8 + severity) + ">1 " + core::format_iso8601(a.time) +
                  " " + hostname + " netpulse " + std::to_string(pid) + " " +
                  std::string(kind_name(d.kind)) + " [netpulse@32473 kind=\"" +
                  std::string(kind_name(d.kind)) + "\" detector=\"" + sd_escape(a.detector) +
                  "\" source=\"" + sd_escape(a.source) + "\" score=\"" + number_text(a.score) +
                  "\" time=\"" + core::format_iso8601(a.time) + "\" detail=\"" +
                  sd_escape(a.detail_json) + "\"] " + alert_summary(d);
  for (char& c : m)
    if (c == '\n' || c == '\r') c = ' ';
  return m;
}

std::unique_ptr<AlertSender> make_sender(const EndpointSpec& spec) {
  if (spec.kind == EndpointSpec::Kind::kWebhook) return std::make_unique<WebhookSender>(spec);
  return std::make_unique<SyslogSender>(spec);
}

std::vector<EndpointConfig> make_endpoints(const std::vector<EndpointSpec>& specs) {
  std::vector<EndpointConfig> out;
  std::map<std::string, int> seen;
  for (const EndpointSpec& s : specs) {
    std::string name = s.name;
    if (name.empty()) {
      const bool v6 = s.host.find(':') != std::string::npos;
      const std::string hp = (v6 ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port);
      name = s.kind == EndpointSpec::Kind::kWebhook     ? "webhook " + hp
             : s.kind == EndpointSpec::Kind::kSyslogUdp ? "syslog udp " + hp
                                                        : "syslog tcp " + hp;
    }
    if (const int n = ++seen[name]; n > 1) name += "#" + std::to_string(n);
    out.push_back({name, s.policy, make_sender(s)});
  }
  return out;
}

}  // namespace netpulse::app
