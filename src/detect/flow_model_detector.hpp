// NSL-KDD models on live connections: FlowFeatures turns each connection into a feature row,
// every model scores it, and a model that fires raises an alert unless it already alerted
// within the hold time (event time) on the same (source, destination) or, with hold_hosts, on
// the same source or the same destination: a flood from spoofed sources or a scan of many
// hosts is one alert per hold time, not one per flow. A model is refused when it needs a
// feature the input kind does not give. Not thread-safe: one detector per stream.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/flow_record.hpp"
#include "core/protocol_table.hpp"
#include "detect/compiled_model.hpp"
#include "detect/flat_map.hpp"
#include "detect/flow_features.hpp"
#include "detect/model.hpp"

namespace netpulse::detect {

// The features a model depends on: those its trees split on, and all those its training was
// restricted to (training.options.features, present only when restricted).
FeatureMask model_features(const Model& m);

// A directory of flow models holds two kinds: flow-X.json, trained on the features flow
// exports and captures give, and line-X.json, on the fewer that line records give. Of the
// models named `stems` (file names without ".json"), the indexes of those to run on `kind`
// input: each flow-X the input gives the features of, and each line-X whose flow-X is absent
// or cannot run on it; others (a flow-X without them, any other name) are left out.
// `unreplaced` (optional) receives the flow-X left out with no line-X to run instead.
std::vector<size_t> pick_flow_models(const std::vector<std::string>& stems,
                                     const std::vector<const Model*>& models, FlowInputKind kind,
                                     std::vector<size_t>* unreplaced = nullptr);

struct FlowModelConfig {
  FlowFeaturesConfig features;
  int64_t hold_ms = 10'000;  // no second alert for a held subject within this much event time
  // Hold the source and the destination of an alert as well as the pair (see above); false:
  // only the (model, source, destination) pair.
  bool hold_hosts = true;
  // Held subjects at most (REQUIRES: >= 3); beyond that the least recently alerted one is
  // forgotten (counted), so it may alert again before its hold time is over.
  size_t max_held = 65536;
  // An alert needs this many firings of the model on one subject (the pair, its source or
  // its destination, whatever hold_hosts says) within confirm_ms of event time: a flood, a
  // scan or a brute force fires on connection after connection, while a lone unusual
  // connection of normal traffic fires once. 1: every firing alerts.
  uint32_t confirm = 3;
  int64_t confirm_ms = 2000;
  size_t path_features = 6;  // features of the deciding path an alert shows (at most 8)
  // No scoring until both windows have filled once (features.window_ms of event time since
  // the first connection, and features.host_window connections): before that every count is
  // low because the history is short, not because the traffic is, which models trained on a
  // running stream read as an anomaly.
  bool warm_up = true;
  // Remember each model's score of recent rows (of the features it reads): busy traffic repeats
  // rows, since counts saturate and rates have two decimals, and a forest costs about 1 us a
  // row. Exact: a row is reused only when every feature the model reads is the same.
  bool score_cache = true;
};

struct FlowModelAlert {
  static constexpr size_t kMaxPath = 8;
  // The subject whose firings confirmed the alert: the pair (one attacker, one target), the
  // source (a scan), or the destination (a flood, from sources that may be spoofed).
  enum class By : uint8_t { kPair, kSource, kDestination };
  core::TimeMs time = 0;
  uint32_t model = 0;  // index in the order of add_model()
  By by = By::kPair;
  core::IpAddr src, dst;
  bool has_label = false;
  uint32_t label = 0;   // protocol id, when has_label
  uint8_t service = 0;  // the KDD service (the label when there is none)
  double score = 0;
  uint8_t path_size = 0;
  std::array<uint8_t, kMaxPath> path{};  // feature indexes, root first
  std::array<float, kMaxPath> values{};  // the connection's values of them
};

// Extractor, models and the held-subject table of one stream. Not thread-safe.
class FlowModelDetector {
 public:
  // REQUIRES: the table outlives the detector.
  FlowModelDetector(FlowInputKind kind, const FlowModelConfig& config,
                    const core::ProtocolTable& protocols);

  // Adds a model whose alerts carry `name`. Returns false, and why in *why (naming the
  // missing features and the --features list the input allows), when the model needs
  // features this input kind does not give, or when kMaxModels are loaded already.
  bool add_model(const Model& m, std::string name, std::string* why);
  size_t models() const { return models_.size(); }
  const std::string& name(size_t model) const { return names_[model]; }
  FlowInputKind kind() const { return kind_; }

  // Scores one connection; its alerts are appended to out.
  void add(const ConnectionEvent& c, std::vector<FlowModelAlert>& out);
  void add(const core::FlowRecord& r, std::vector<FlowModelAlert>& out) {
    add(connection_from_record(r), out);
  }

  // The alert as one JSON object (no newline), in the style of the rule detector's:
  // {"time":..,"detector":..,"source":..,"destination":..,"protocol":..,"score":..,
  //  "by":"pair"|"source"|"destination","features":{..}}.
  std::string to_json(const FlowModelAlert& a) const;

  const FlowFeatures& features() const { return features_; }
  // The feature row of the connection add() took last.
  const FeatureRow& last_row() const { return row_; }
  uint64_t flows() const { return flows_; }            // connections taken (scored, or warming up)
  uint64_t warming_up() const { return warming_up_; }  // of which not scored: warm-up
  bool warm() const { return warm_; }  // the last connection was scored (warm-up is over)
  // Connections were lost (an input's gap): no scoring until the windows have filled again,
  // as at the start (with config.warm_up; the held subjects are kept).
  void restart_warm_up() {
    if (!config_.warm_up) return;
    warm_ = false;
    first_ = INT64_MIN;
    warm_start_connections_ = features_.connections();
  }
  uint64_t alerts() const { return alerts_; }
  uint64_t alerts(size_t model) const { return model_alerts_[model]; }
  uint64_t suppressed() const { return suppressed_; }    // firings held back by the hold time
  uint64_t unconfirmed() const { return unconfirmed_; }  // firings waiting for confirm firings
  uint64_t cache_hits() const { return cache_hits_; }    // scores taken from the score cache
  // Times the table of unconfirmed subjects was full (max_held) and emptied.
  uint64_t unconfirmed_resets() const { return unconfirmed_resets_; }
  uint64_t held_evicted() const { return held_evicted_; }
  size_t held() const { return held_.size(); }

 private:
  enum class HoldKind : uint8_t { kPair, kSource, kDestination };
  struct HoldKey {
    core::IpAddr a, b;
    uint16_t model = 0;
    HoldKind kind = HoldKind::kPair;
    friend bool operator==(const HoldKey&, const HoldKey&) = default;
  };
  struct HoldHash {
    size_t operator()(const HoldKey& k) const;
  };
  struct Held {
    HoldKey key;
    core::TimeMs time;
  };
  struct Pending {  // firings on a subject since `first`, not yet an alert
    core::TimeMs first = 0;
    uint32_t firings = 0;
  };

  bool is_held(const HoldKey& k, core::TimeMs now) const;
  void hold(const HoldKey& k, core::TimeMs now);
  void expire_held(core::TimeMs now);
  // Counts a firing on k; true when k has had config_.confirm within confirm_ms.
  bool confirmed(const HoldKey& k, core::TimeMs now);

  FlowInputKind kind_;
  FlowModelConfig config_;
  const core::ProtocolTable& protocols_;
  FlowFeatures features_;
  std::vector<CompiledModel> models_;
  // The score cache of one model (config.score_cache; only for models reading at most
  // kCacheFeatures features): direct-mapped, kCacheSlots slots of the features' values and
  // the score.
  static constexpr size_t kCacheFeatures = 16, kCacheSlots = size_t{1} << 16;
  struct CacheSlot {
    std::array<float, kCacheFeatures> key;
    double score;
    bool used = false;
  };
  struct ScoreCache {
    std::vector<uint8_t> features;  // the columns the model reads; empty: no cache
    std::vector<CacheSlot> slots;
  };
  double score(size_t model);  // of row_, through the model's cache
  std::vector<ScoreCache> caches_;
  std::vector<std::string> names_;
  std::vector<uint64_t> model_alerts_;
  FeatureRow row_{};
  // Held subjects -> the time of their last alert; the order they were held in (event time
  // never goes back), to expire and evict from the oldest. An order entry whose time differs
  // from the map's is stale (the subject was held again) and is skipped.
  FlatMap<HoldKey, core::TimeMs, HoldHash> held_;
  std::vector<Held> order_;  // ring
  // Subjects with firings short of confirm, at most max_held (when full it is emptied,
  // counted in unconfirmed_resets_: an attack fires again at once, a lone firing is forgotten).
  FlatMap<HoldKey, Pending, HoldHash> pending_;
  uint64_t order_head_ = 0, order_tail_ = 0;
  core::TimeMs newest_ = INT64_MIN, first_ = INT64_MIN;
  uint64_t warm_start_connections_ = 0;  // features_.connections() when warm-up (re)started
  bool warm_ = false;
  uint64_t flows_ = 0, warming_up_ = 0, alerts_ = 0, suppressed_ = 0, held_evicted_ = 0;
  uint64_t unconfirmed_ = 0, unconfirmed_resets_ = 0, cache_hits_ = 0;
};

}  // namespace netpulse::detect
