#include "generate/control_command.hpp"

#include <charconv>
#include <cmath>
#include <vector>

namespace netpulse::generate {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

template <class T>
bool parse_whole(std::string_view s, T& out) {
  if (s.empty() || s.front() == '+' || s.front() == '-') return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_real(std::string_view s, double& out) {
  if (s.empty() || s.front() == '+') return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out);
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(42);
  out += '\'';
  out.append(s.substr(0, 40));
  out += '\'';
  return out;
}

// A percent field: a number 0..100 (the first key takes that share), "uniform", or "zipfS"
// (a Zipf law with exponent S; "zipf" alone keeps the exponent in force, or 1).
std::optional<std::string> parse_skew(std::string_view field, const char* what, const Skew& current,
                                      Skew& out) {
  if (field == "uniform") {
    out = Skew::uniform();
    return std::nullopt;
  }
  if (field.substr(0, 4) == "zipf") {
    const std::string_view exponent = field.substr(4);
    double s = current.kind == Skew::Kind::kZipf ? current.value : 1.0;
    if (!exponent.empty() && !parse_real(exponent, s))
      return std::string(what) + " Zipf exponent " + quoted(exponent) + " is not a number";
    out = Skew::zipf(s);
    return std::nullopt;
  }
  double p = 0;
  if (!parse_real(field, p))
    return std::string(what) + " " + quoted(field) + " is not a number (or uniform, zipfS)";
  out = Skew::first_percent(p);
  return std::nullopt;
}

}  // namespace

ChangeResult parse_change_command(std::string_view line, const TrafficParams& current) {
  ChangeResult result;
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    const size_t underscore = line.find('_', pos);
    parts.push_back(
        line.substr(pos, underscore == std::string_view::npos ? line.npos : underscore - pos));
    if (underscore == std::string_view::npos) break;
    pos = underscore + 1;
  }
  if (parts.size() != 6 || parts[0] != "change") {
    result.error =
        "change takes five values: "
        "change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_<protocolPercent>";
    return result;
  }
  TrafficParams p = current;
  if (!parse_whole(parts[1], p.rate)) {
    result.error = "rate " + quoted(parts[1]) + " is not a whole number >= 0";
    return result;
  }
  if (!parse_whole(parts[2], p.ips)) {
    result.error = "ipNum " + quoted(parts[2]) + " is not a whole number >= 1";
    return result;
  }
  if (!parse_whole(parts[3], p.protocols)) {
    result.error = "protocolNum " + quoted(parts[3]) + " is not a whole number >= 1";
    return result;
  }
  if (auto why = parse_skew(parts[4], "ipPercent", current.ip_skew, p.ip_skew)) {
    result.error = *why;
    return result;
  }
  if (auto why = parse_skew(parts[5], "protocolPercent", current.protocol_skew, p.protocol_skew)) {
    result.error = *why;
    return result;
  }
  if (auto why = validate(p)) {
    result.error = *why;
    return result;
  }
  result.params = p;
  return result;
}

std::string handle_generator_command(std::string_view line, Generator& generator) {
  line = trim(line);
  if (line.empty())
    return "error: empty command (expected start, stop, status or "
           "change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_<protocolPercent>)";
  if (line == "start") {
    generator.resume();
    return "ok";
  }
  if (line == "stop") {
    generator.pause();
    return "ok";
  }
  if (line == "status") {
    const GeneratorStatus s = generator.status();
    return "ok " + to_string(s.params) + " paused=" + (s.paused ? "true" : "false") +
           " records=" + std::to_string(s.records) +
           " event_time=" + core::format_iso8601(s.event_time);
  }
  if (line.substr(0, 7) == "change_" || line == "change") {
    ChangeResult r = parse_change_command(line, generator.params());
    if (!r.params) return "error: " + r.error;
    if (auto why = generator.set_params(*r.params)) return "error: " + *why;
    return "ok";
  }
  return "error: unknown command " + quoted(line) +
         " (expected start, stop, status or "
         "change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_<protocolPercent>)";
}

}  // namespace netpulse::generate
