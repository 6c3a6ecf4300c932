#include "server/control_api.hpp"

#include <cmath>

#include "core/time.hpp"

namespace netpulse::server {

using nlohmann::json;

json to_json(const engine::QueryParams& p) {
  return json{{"H", p.H}, {"T", p.T}, {"k", p.k}, {"X", p.X}};
}

namespace {

json percent_json(const generate::Skew& s) {
  if (s.kind == generate::Skew::Kind::kFirstPercent) return s.value;
  return nullptr;
}

std::string skew_text(const generate::Skew& s) {
  return generate::to_string(s);
}

ApiResult not_object() {
  return ApiResult::error(400, "the body must be a JSON object");
}

// A whole number in [lo, hi] (JSON integers, or floats with no fraction such as 5.0).
bool whole(const json& v, int64_t lo, int64_t hi, int64_t& out) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi)) return false;
      out = static_cast<int64_t>(u);
    } else {
      out = v.get<int64_t>();
    }
    return out >= lo && out <= hi;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
        d > static_cast<double>(hi))
      return false;
    out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

}  // namespace

json to_json(const generate::TrafficParams& p) {
  return json{{"rate", p.rate},
              {"ips", p.ips},
              {"protocols", p.protocols},
              {"ipPercent", percent_json(p.ip_skew)},
              {"protocolPercent", percent_json(p.protocol_skew)},
              {"ipSkew", skew_text(p.ip_skew)},
              {"protocolSkew", skew_text(p.protocol_skew)}};
}

ApiResult ControlApi::set_processor_params(const json& patch) {
  if (!processor_) return ApiResult::error(409, "this process has no processor");
  if (!patch.is_object()) return not_object();
  if (patch.empty()) return ApiResult::error(400, "give at least one of H, T, k, X");
  std::lock_guard lock(mu_);
  engine::QueryParams p = processor_->params();
  for (const auto& [name, v] : patch.items()) {
    if (name == "H" || name == "X") {
      if (!v.is_number() || !std::isfinite(v.get<double>()))
        return ApiResult::error(400, name + " is not a number");
      (name == "H" ? p.H : p.X) = v.get<double>();
    } else if (name == "T" || name == "k") {
      int64_t n = 0;
      if (!whole(v, INT64_MIN / 2, INT64_MAX / 2, n))
        return ApiResult::error(400, name + " is not a whole number");
      (name == "T" ? p.T : p.k) = n;
    } else {
      return ApiResult::error(
          400, "unknown parameter '" + name.substr(0, 40) + "' (expected H, T, k, X)");
    }
  }
  if (core::Status s = processor_->set_params(p); !s.ok())
    return ApiResult::error(400, s.message());
  return {200, json{{"params", to_json(processor_->params())}}};
}

ApiResult ControlApi::start_processor() {
  if (!processor_) return ApiResult::error(409, "this process has no processor");
  processor_->resume();
  return {200, processor_json()};
}

ApiResult ControlApi::stop_processor() {
  if (!processor_) return ApiResult::error(409, "this process has no processor");
  processor_->pause();
  return {200, processor_json()};
}

ApiResult ControlApi::set_generator_params(const json& patch) {
  if (!generator_) return ApiResult::error(409, "this process has no generator (use netpulse run)");
  if (!patch.is_object()) return not_object();
  if (patch.empty())
    return ApiResult::error(
        400, "give at least one of rate, ips, protocols, ipPercent, protocolPercent");
  std::lock_guard lock(mu_);
  generate::TrafficParams p = generator_->params();
  for (const auto& [name, v] : patch.items()) {
    int64_t n = 0;
    if (name == "rate") {
      if (!whole(v, 0, static_cast<int64_t>(generate::kMaxRate), n))
        return ApiResult::error(
            400, "rate must be a whole number from 0 to " + std::to_string(generate::kMaxRate));
      p.rate = static_cast<uint64_t>(n);
    } else if (name == "ips") {
      if (!whole(v, 1, static_cast<int64_t>(generate::kMaxAddresses), n))
        return ApiResult::error(
            400, "ips must be a whole number from 1 to " + std::to_string(generate::kMaxAddresses));
      p.ips = static_cast<uint32_t>(n);
    } else if (name == "protocols") {
      if (!whole(v, 1, static_cast<int64_t>(generate::kMaxProtocols), n))
        return ApiResult::error(400, "protocols must be a whole number from 1 to " +
                                         std::to_string(generate::kMaxProtocols));
      p.protocols = static_cast<uint32_t>(n);
    } else if (name == "ipPercent" || name == "protocolPercent") {
      generate::Skew& skew = name == "ipPercent" ? p.ip_skew : p.protocol_skew;
      if (v.is_null()) {
        skew = generate::Skew::uniform();
      } else if (v.is_number() && v.get<double>() >= 0 && v.get<double>() <= 100) {
        skew = generate::Skew::first_percent(v.get<double>());
      } else {
        return ApiResult::error(400,
                                name + " must be a percentage from 0 to 100 (or null: uniform)");
      }
    } else {
      return ApiResult::error(400,
                              "unknown parameter '" + name.substr(0, 40) +
                                  "' (expected rate, ips, protocols, ipPercent, protocolPercent)");
    }
  }
  if (auto why = generator_->set_params(p)) return ApiResult::error(400, *why);
  return {200, json{{"params", to_json(generator_->params())}}};
}

ApiResult ControlApi::start_generator() {
  if (!generator_) return ApiResult::error(409, "this process has no generator (use netpulse run)");
  generator_->resume();
  return {200, generator_json()};
}

ApiResult ControlApi::stop_generator() {
  if (!generator_) return ApiResult::error(409, "this process has no generator (use netpulse run)");
  generator_->pause();
  return {200, generator_json()};
}

json ControlApi::processor_json() const {
  if (!processor_) return nullptr;
  return json{{"running", !processor_->paused()},
              {"params", to_json(processor_->params())},
              {"max_window", processor_->max_window()}};
}

json ControlApi::generator_json() const {
  if (!generator_) return nullptr;
  const generate::GeneratorStatus s = generator_->status();
  return json{
      {"running", !s.paused},
      {"params", to_json(s.params)},
      {"records", s.records},
      {"event_time", s.event_time > 0 ? json(core::format_iso8601(s.event_time)) : json(nullptr)},
      {"fell_behind", s.fell_behind}};
}

}  // namespace netpulse::server
