#include "detect/flow_model_detector.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <charconv>
#include <cstring>
#include <optional>

#include "core/time.hpp"
#include "detect/row_classifier.hpp"

namespace netpulse::detect {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) {
    if (!s.empty()) s += ',';
    s += n;
  }
  return s;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;  // labels never hold control bytes
    out.push_back(c);
  }
  out.push_back('"');
}

template <typename T>
void append_number(std::string& out, T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

FeatureMask model_features(const Model& m) {
  FeatureMask mask = features_used(m);
  for (const Model& part : m.parts) mask |= model_features(part);
  if (m.training.is_object() && m.training.contains("options")) {
    const auto& o = m.training["options"];
    if (o.is_object() && o.contains("features") && o["features"].is_array())
      for (const auto& name : o["features"])
        if (name.is_string()) {
          const int i = feature_index(name.get<std::string>());
          if (i >= 0) mask |= FeatureMask{1} << i;
        }
  }
  return mask;
}

std::vector<size_t> pick_flow_models(const std::vector<std::string>& stems,
                                     const std::vector<const Model*>& models, FlowInputKind kind,
                                     std::vector<size_t>* unreplaced) {
  const FeatureMask available = flow_feature_mask(kind);
  auto fits = [&](size_t i) { return (model_features(*models[i]) & ~available) == 0; };
  auto index_of = [&](const std::string& stem) -> std::optional<size_t> {
    for (size_t i = 0; i < stems.size(); ++i)
      if (stems[i] == stem) return i;
    return std::nullopt;
  };
  std::vector<size_t> picked;
  for (size_t i = 0; i < stems.size(); ++i) {
    const std::string& stem = stems[i];
    if (stem.rfind("flow-", 0) == 0) {
      if (fits(i))
        picked.push_back(i);
      else if (unreplaced && !index_of("line-" + stem.substr(5)))
        unreplaced->push_back(i);
    } else if (stem.rfind("line-", 0) == 0) {
      const auto flow = index_of("flow-" + stem.substr(5));
      if (!flow || !fits(*flow)) picked.push_back(i);
    }
  }
  return picked;
}

size_t FlowModelDetector::HoldHash::operator()(const HoldKey& k) const {
  uint64_t h = mix(k.a.bits.lo ^ (k.a.bits.hi * 0x9E3779B97F4A7C15ULL) ^ k.a.is_v6);
  h = mix(h ^ k.b.bits.lo ^ (k.b.bits.hi * 0xC2B2AE3D27D4EB4FULL) ^ (uint64_t{k.b.is_v6} << 1));
  return static_cast<size_t>(mix(h ^ (uint64_t{k.model} << 8) ^ static_cast<uint64_t>(k.kind)));
}

FlowModelDetector::FlowModelDetector(FlowInputKind kind, const FlowModelConfig& config,
                                     const core::ProtocolTable& protocols)
    : kind_(kind), config_(config), protocols_(protocols), features_(config.features, protocols) {
  config_.path_features = std::min(config_.path_features, FlowModelAlert::kMaxPath);
  assert(config_.max_held >= 3);
  order_.resize(64);
}

bool FlowModelDetector::add_model(const Model& m, std::string name, std::string* why) {
  if (models_.size() >= kMaxModels) {
    if (why) *why = name + ": at most " + std::to_string(kMaxModels) + " models";
    return false;
  }
  const FeatureMask available = flow_feature_mask(kind_);
  const FeatureMask missing = model_features(m) & ~available;
  if (missing != 0) {
    if (why)
      *why = name + ": needs features that " + std::string(input_kind_name(kind_)) +
             " input does not give: " + join(feature_names(missing)) +
             " (a model for this input is trained with --features " +
             join(feature_names(available)) + ")";
    return false;
  }
  models_.emplace_back(m);
  ScoreCache cache;
  const FeatureMask used = model_features(m);
  if (config_.score_cache && static_cast<size_t>(std::popcount(used)) <= kCacheFeatures) {
    for (size_t f = 0; f < kFeatureCount; ++f)
      if (used >> f & 1) cache.features.push_back(static_cast<uint8_t>(f));
    cache.slots.resize(kCacheSlots);
  }
  caches_.push_back(std::move(cache));
  names_.push_back(std::move(name));
  model_alerts_.push_back(0);
  return true;
}

bool FlowModelDetector::is_held(const HoldKey& k, core::TimeMs now) const {
  const core::TimeMs* t = held_.find(k);
  return t && now - *t < config_.hold_ms;
}

void FlowModelDetector::hold(const HoldKey& k, core::TimeMs now) {
  // Full: forget the least recently held subjects (stale order entries cost nothing).
  while (held_.size() >= config_.max_held && order_tail_ < order_head_) {
    const Held& h = order_[order_tail_++ & (order_.size() - 1)];
    const core::TimeMs* t = held_.find(h.key);
    if (t && *t == h.time) {
      held_.erase(h.key);
      ++held_evicted_;
    }
  }
  held_[k] = now;
  if (order_head_ - order_tail_ == order_.size()) {
    std::vector<Held> bigger(order_.size() * 2);
    for (uint64_t i = order_tail_; i < order_head_; ++i)
      bigger[i & (bigger.size() - 1)] = order_[i & (order_.size() - 1)];
    order_.swap(bigger);
  }
  order_[order_head_++ & (order_.size() - 1)] = Held{k, now};
}

void FlowModelDetector::expire_held(core::TimeMs now) {
  while (order_tail_ < order_head_) {
    const Held& h = order_[order_tail_ & (order_.size() - 1)];
    if (now - h.time < config_.hold_ms) break;
    const core::TimeMs* t = held_.find(h.key);
    if (t && *t == h.time) held_.erase(h.key);
    ++order_tail_;
  }
}

bool FlowModelDetector::confirmed(const HoldKey& k, core::TimeMs now) {
  if (config_.confirm <= 1) return true;
  if (pending_.size() >= config_.max_held && !pending_.find(k)) {
    pending_.clear();
    ++unconfirmed_resets_;
  }
  Pending& p = pending_[k];
  if (p.firings == 0 || now - p.first >= config_.confirm_ms) p = Pending{now, 0};
  if (++p.firings < config_.confirm) return false;
  pending_.erase(k);
  return true;
}

double FlowModelDetector::score(size_t m) {
  ScoreCache& cache = caches_[m];
  if (cache.features.empty()) return models_[m].score(row_.data());
  std::array<float, kCacheFeatures> key{};
  uint64_t h = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < cache.features.size(); ++i) {
    key[i] = row_[cache.features[i]];
    uint32_t bits;
    std::memcpy(&bits, &key[i], sizeof bits);
    h = (h ^ bits) * 0xff51afd7ed558ccdULL;
  }
  CacheSlot& slot = cache.slots[mix(h) & (kCacheSlots - 1)];
  if (slot.used && std::memcmp(slot.key.data(), key.data(), sizeof key) == 0) {
    ++cache_hits_;
    return slot.score;
  }
  slot.key = key;
  slot.score = models_[m].score(row_.data());
  slot.used = true;
  return slot.score;
}

void FlowModelDetector::add(const ConnectionEvent& c, std::vector<FlowModelAlert>& out) {
  ++flows_;
  features_.add(c, row_);
  const core::TimeMs now = std::max(c.time, newest_);
  newest_ = now;
  if (!warm_) {
    if (first_ == INT64_MIN) first_ = now;
    warm_ = !config_.warm_up ||
            (now - first_ >= config_.features.window_ms &&
             features_.connections() - warm_start_connections_ >= config_.features.host_window);
    if (!warm_) {
      ++warming_up_;
      return;
    }
  }
  expire_held(now);
  for (size_t m = 0; m < models_.size(); ++m) {
    const CompiledModel& model = models_[m];
    const double score = this->score(m);
    if (score < model.threshold()) continue;
    const auto id = static_cast<uint16_t>(m);
    const HoldKey pair{c.src, c.dst, id, HoldKind::kPair};
    const HoldKey source{c.src, core::IpAddr{}, id, HoldKind::kSource};
    const HoldKey destination{core::IpAddr{}, c.dst, id, HoldKind::kDestination};
    if (is_held(pair, now) ||
        (config_.hold_hosts && (is_held(source, now) || is_held(destination, now)))) {
      ++suppressed_;
      continue;
    }
    // Every subject counts the firing (no short-circuit), so each reaches confirm on its own;
    // hosts count whatever hold_hosts says (it decides what an alert holds, not what is
    // evidence), so a flood from spoofed sources is confirmed by its victim.
    const bool pair_ok = confirmed(pair, now);
    const bool source_ok = confirmed(source, now);
    const bool destination_ok = confirmed(destination, now);
    if (!(pair_ok | source_ok | destination_ok)) {
      ++unconfirmed_;
      continue;
    }
    hold(pair, now);
    if (config_.hold_hosts) {
      hold(source, now);
      hold(destination, now);
    }
    ++alerts_;
    ++model_alerts_[m];
    FlowModelAlert a;
    a.time = now;
    a.model = static_cast<uint32_t>(m);
    a.by = pair_ok     ? FlowModelAlert::By::kPair
           : source_ok ? FlowModelAlert::By::kSource
                       : FlowModelAlert::By::kDestination;
    a.src = c.src;
    a.dst = c.dst;
    a.has_label = c.has & ConnectionEvent::kLabel;
    a.label = c.label;
    a.service = static_cast<uint8_t>(row_[kService]);
    a.score = score;
    a.path_size = static_cast<uint8_t>(
        model.explain(row_.data(), true, a.path.data(), config_.path_features));
    for (size_t k = 0; k < a.path_size; ++k) a.values[k] = row_[a.path[k]];
    out.push_back(a);
  }
}

std::string FlowModelDetector::to_json(const FlowModelAlert& a) const {
  std::string out;
  out.reserve(256);
  out += "{\"time\":\"";
  out += core::format_iso8601(a.time);
  out += "\",\"detector\":";
  append_json_string(out, names_[a.model]);
  out += ",\"source\":\"";
  out += core::to_string(a.src);
  out += "\",\"destination\":\"";
  out += core::to_string(a.dst);
  out += "\",\"protocol\":";
  append_json_string(
      out, a.has_label ? protocols_.name(a.label) : feature_info(kService).vocabulary[a.service]);
  out += ",\"score\":";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, a.score, std::chars_format::fixed, 4);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
  out += a.by == FlowModelAlert::By::kPair     ? ",\"by\":\"pair\""
         : a.by == FlowModelAlert::By::kSource ? ",\"by\":\"source\""
                                               : ",\"by\":\"destination\"";
  out += ",\"features\":{";
  for (size_t k = 0; k < a.path_size; ++k) {
    const FeatureInfo& info = feature_info(a.path[k]);
    if (k) out.push_back(',');
    append_json_string(out, info.name);
    out.push_back(':');
    if (info.type == FeatureType::kCategorical)
      append_json_string(out, info.vocabulary[static_cast<size_t>(a.values[k])]);
    else
      append_number(out, a.values[k]);
  }
  out += "}}";
  return out;
}

}  // namespace netpulse::detect
