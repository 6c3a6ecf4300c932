#include "kafka/partition_state.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "core/time.hpp"

namespace netpulse::kafka {

namespace {

std::string opt(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "none"; }

bool read_opt(std::string_view text, std::string_view name, std::optional<int64_t>& out) {
  if (text.substr(0, name.size()) != name || text.size() <= name.size() ||
      text[name.size()] != '=')
    return false;
  text.remove_prefix(name.size() + 1);
  if (text == "none") {
    out.reset();
    return true;
  }
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return false;
  out = v;
  return true;
}

}  // namespace

std::string Checkpoint::encode() const {
  return "netpulse-checkpoint 1 max=" + opt(max) + " published=" + opt(published);
}

std::optional<Checkpoint> Checkpoint::decode(int64_t offset, std::string_view md) {
  Checkpoint c;
  c.offset = offset;
  constexpr std::string_view kHead = "netpulse-checkpoint 1 ";
  if (md.substr(0, kHead.size()) != kHead) return std::nullopt;
  md.remove_prefix(kHead.size());
  const auto sp = md.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  if (!read_opt(md.substr(0, sp), "max", c.max) || !read_opt(md.substr(sp + 1), "published", c.published))
    return std::nullopt;
  return c;
}

engine::ShardBudget partition_budget(const engine::EngineConfig& config, int32_t partitions) {
  engine::ShardBudget b = engine::budget_for(config, 1).value_or(engine::ShardBudget{});
  if (b.bytes == 0) return engine::ShardBudget{};  // unbounded or refused
  // budget_for gives the open panes (lateness + 2 per shard) a quarter of the budget at 128
  // bytes an address. An instance holds nothing else of the window state, but publishing a
  // pane costs about as much again (its sorted copy, its text, the producer's queue), and its
  // open panes are those of every partition it is assigned: up to all of the topic's. Sharing
  // the quarter among all of them bounds the worst case whatever the group assigns, and keeps
  // the limit a function of the flags alone (a replay summarizes where the first run did).
  const size_t p = static_cast<size_t>(std::max<int32_t>(partitions, 1));
  b.open_keys = std::max(b.open_keys / p, 2 * b.summary_keys);
  return b;
}

size_t pane_sample(size_t per_minute, int64_t unit_ms) {
  if (per_minute == 0) return 0;
  const int64_t panes = std::max<int64_t>(1, engine::kHistoryMinuteMs / std::max<int64_t>(unit_ms, 1));
  return std::max<size_t>(32, (per_minute + static_cast<size_t>(panes) - 1) / static_cast<size_t>(panes));
}

PartitionState::PartitionState(const engine::EngineConfig& config, const Checkpoint& from,
                               const engine::ShardBudget& budget, size_t sample)
    : unit_ms_(config.time_unit_ms), lateness_ms_(config.lateness * config.time_unit_ms),
      ip_key_(config.ip_key), max_(from.max), published_(from.published),
      next_offset_(from.offset),
      ip_limit_(budget.bytes != 0 && budget.bytes != SIZE_MAX ? budget.open_keys : SIZE_MAX),
      summarizer_(budget.summary_keys), sample_(sample) {}

PartitionState::Outcome PartitionState::add(int64_t offset, const core::FlowRecord& r) {
  next_offset_ = offset + 1;
  // The same rule as the in-process engine, on this partition's order.
  if (max_ && r.time < *max_ - lateness_ms_) return Outcome::kLate;
  const std::optional<int64_t> before = max_;
  if (!max_ || r.time > *max_) max_ = r.time;
  const int64_t index = core::floor_div(r.time, unit_ms_);
  if (published_ && index < *published_) return Outcome::kPublished;
  if (cur_ == nullptr || index != cur_index_) {
    auto [it, inserted] = panes_.try_emplace(index);
    if (inserted) {
      it->second.first_offset = offset;
      it->second.max_before = before;
      it->second.sums.ip_limit = ip_limit_;
      // The pane's start seeds the sample's coins: a replay draws the same ones.
      it->second.sample.start = index * unit_ms_;
    }
    cur_ = &it->second;
    cur_index_ = index;
  }
  engine::KeySums& s = cur_->sums;
  s.protocols.add(r.protocol, r.bytes, 1);
  if (sample_ != kNoSample) engine::HistoryLog::sample(cur_->sample, r, sample_);
  const auto add_ip = [this, &s](const core::IpAddr& a, uint32_t bytes) {
    summarizer_.add(s, a, bytes);
  };
  switch (ip_key_) {
    case engine::IpKey::kSrc:
      add_ip(r.src, r.bytes);
      break;
    case engine::IpKey::kDst:
      add_ip(r.dst, r.bytes);
      break;
    case engine::IpKey::kHost:
      add_ip(r.src, r.bytes);
      if (!(r.dst == r.src)) add_ip(r.dst, r.bytes);
      break;
  }
  return Outcome::kAccepted;
}

std::optional<int64_t> PartitionState::take_complete(
    std::vector<std::pair<int64_t, engine::KeySums>>& out, Samples* samples) {
  if (!max_) return std::nullopt;
  const int64_t bound = core::floor_div(*max_ - lateness_ms_, unit_ms_);
  if (published_ && bound <= *published_) return std::nullopt;
  while (!panes_.empty() && panes_.begin()->first < bound) {
    auto node = panes_.extract(panes_.begin());
    if (cur_ == &node.mapped()) cur_ = nullptr;
    if (node.mapped().sums.summary) summarizer_.trim(node.mapped().sums);
    out.emplace_back(node.key(), std::move(node.mapped().sums));
    if (samples && sample_ != kNoSample) samples->emplace_back(node.key(), std::move(node.mapped().sample));
  }
  published_ = bound;
  return bound;
}

void PartitionState::take_all(std::vector<std::pair<int64_t, engine::KeySums>>& out,
                              Samples* samples) {
  for (auto& [index, pane] : panes_) {
    if (pane.sums.summary) summarizer_.trim(pane.sums);
    out.emplace_back(index, std::move(pane.sums));
    if (samples && sample_ != kNoSample) samples->emplace_back(index, std::move(pane.sample));
  }
  if (!panes_.empty()) published_ = std::max(published_.value_or(INT64_MIN), panes_.rbegin()->first + 1);
  panes_.clear();
  cur_ = nullptr;
}

Checkpoint PartitionState::checkpoint() const {
  Checkpoint c;
  c.published = published_;
  if (panes_.empty()) {
    c.offset = next_offset_;
    c.max = max_;
    return c;
  }
  // Panes are not created in offset order when records arrive out of order: take the least.
  const Pane* first = nullptr;
  for (const auto& [index, pane] : panes_)
    if (first == nullptr || pane.first_offset < first->first_offset) first = &pane;
  c.offset = first->first_offset;
  c.max = first->max_before;
  return c;
}

}  // namespace netpulse::kafka
