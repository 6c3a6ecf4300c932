#include "kafka/pane_merge.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

namespace netpulse::kafka {

PaneMerge::PaneMerge(const engine::EngineConfig& config, engine::EngineControl& control,
                     core::ProtocolTable& protocols, engine::WindowQueries& queries)
    : config_(config), control_(control), protocols_(protocols), queries_(queries),
      planner_(config) {}

std::optional<std::string> PaneMerge::check_source(const SourceInfo& s) {
  if (!source_) {
    std::lock_guard lock(view_mu_);
    source_ = s;
    partitions_.assign(static_cast<size_t>(s.partitions), Partition{});
    config_.time_unit_ms = s.unit_ms;
    config_.ip_key = s.ip_key;
    shard_ = std::make_unique<engine::WindowShard>(0, 1, config_);
    return std::nullopt;
  }
  if (s == *source_) return std::nullopt;
  return "message from topic " + s.topic + " (" + std::to_string(s.partitions) +
         " partitions, unit " + std::to_string(s.unit_ms) + " ms, ip-key " +
         engine::to_string(s.ip_key) + ") does not match the first one (" + source_->topic + ", " +
         std::to_string(source_->partitions) + " partitions, unit " +
         std::to_string(source_->unit_ms) + " ms, ip-key " + engine::to_string(source_->ip_key) +
         "): instances must read one topic with the same --time-unit and --ip-key";
}

void PaneMerge::saw(int32_t partition, std::string_view owner) {
  Partition& p = partitions_[static_cast<size_t>(partition)];
  p.last_message_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (!owner.empty() && owner != p.owner) p.owner = owner;
}

std::optional<std::string> PaneMerge::accept(Decoded&& d, std::string_view owner) {
  const SourceInfo& s = d.source();
  if (auto why = check_source(s)) {
    counters_.rejected.fetch_add(1, std::memory_order_relaxed);
    return why;
  }
  std::lock_guard lock(view_mu_);
  if (d.mark) {
    counters_.marks.fetch_add(1, std::memory_order_relaxed);
    saw(d.mark->partition, owner);
    Partition& p = partitions_[static_cast<size_t>(d.mark->partition)];
    switch (d.mark->kind) {
      case Mark::Kind::kEnd:
        p.state = State::kEnd;
        break;
      case Mark::Kind::kIdle:
        if (p.state != State::kEnd) p.state = State::kIdle;
        break;
      case Mark::Kind::kCompleteBelow:
        // A restarted instance replays from its checkpoint and marks lower bounds again: a
        // partition's bound only moves up.
        if (p.state != State::kEnd) p.state = State::kActive;
        p.complete_below = std::max(p.complete_below, d.mark->complete_below);
        break;
    }
    return std::nullopt;
  }
  if (d.sample) {
    SampleChunk& c = *d.sample;
    counters_.sample_messages.fetch_add(1, std::memory_order_relaxed);
    saw(c.partition, owner);
    if (folded_below_ && c.pane < *folded_below_) {
      counters_.ignored.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    Pending& pend = pending_[c.pane][c.partition];
    if (pend.samples.size() != c.chunks) pend.samples.assign(c.chunks, std::nullopt);
    pend.samples[c.chunk] = std::move(c);  // a replay's is the same
    return std::nullopt;
  }
  PaneChunk& c = *d.pane;
  counters_.pane_messages.fetch_add(1, std::memory_order_relaxed);
  saw(c.partition, owner);
  Partition& part = partitions_[static_cast<size_t>(c.partition)];
  part.newest_pane = std::max(part.newest_pane, c.pane);
  newest_pane_ = std::max(newest_pane_, c.pane);
  if (folded_below_ && c.pane < *folded_below_) {
    counters_.ignored.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  Pending& pend = pending_[c.pane][c.partition];
  if (pend.chunks.size() != c.chunks) pend.chunks.assign(c.chunks, std::nullopt);
  // A replayed pane encodes to the same chunks: replacing one keeps the sums exact.
  pend.chunks[c.chunk] = std::move(c);
  return std::nullopt;
}

// When any partition summarized its part of a pane (its instance's memory budget), the pane is
// summarized here too. Each partition's listed bytes are lower bounds within its floor (0 for
// an exact one), so their sums are lower bounds within the sum of the floors; the bytes no
// partition holds add up; the HyperLogLogs merge and the F2 sketches, being linear, add up, once
// the exact partitions' addresses are added to them with their bytes. close_before() then
// trims the pane to this merge's m.
void PaneMerge::merge_summaries(const std::map<int32_t, Pending>& parts, engine::KeySums& sums) {
  const auto summary_of = [](const Pending& pend) -> const engine::PaneSummary* {
    if (pend.chunks.empty() || !pend.chunks.front()) return nullptr;
    return pend.chunks.front()->summary.get();  // chunk 0 carries it
  };
  if (std::none_of(parts.begin(), parts.end(), [&](const auto& p) { return summary_of(p.second); }))
    return;
  if (!sums.summary) sums.summary = std::make_unique<engine::PaneSummary>();
  engine::PaneSummary& sum = *sums.summary;
  sum.summarized = true;
  for (const auto& [partition, pend] : parts) {
    if (const engine::PaneSummary* part = summary_of(pend)) {
      sum.floor += part->floor;
      sum.removed += part->removed;
      sum.keys.merge(part->keys);
      sum.squares.merge(part->squares);
      continue;
    }
    for (const auto& chunk : pend.chunks) {
      if (!chunk) continue;
      for (const auto& a : chunk->addresses) sum.add_key(engine::sketch_hash(a.ip), a.bytes);
    }
  }
}

PaneSamples PaneMerge::samples_of(std::map<int32_t, Pending>& parts, int64_t pane) {
  PaneSamples out;
  for (auto& [partition, pend] : parts) {
    if (pend.chunks.empty()) continue;  // a sample without its pane: nothing to estimate
    const bool whole = !pend.samples.empty() &&
                       std::all_of(pend.samples.begin(), pend.samples.end(),
                                   [](const auto& c) { return c.has_value(); });
    if (!whole) {
      out.complete = false;
      continue;
    }
    engine::HistoryChunk part;
    part.start = pane * config_.time_unit_ms;
    part.sampled = true;
    part.delta = pend.samples.front()->delta;
    for (auto& chunk : pend.samples) {
      for (const auto& r : chunk->records) {
        const uint32_t id = protocols_.intern(r.protocol);
        if (!r.src.is_v6 && !r.dst.is_v6)
          part.v4.push_back({engine::Conv4{r.src.v4_value(), r.dst.v4_value(), id}, r.bytes});
        else
          part.v6.push_back({engine::Conv6{r.src, r.dst, id}, r.bytes});
      }
      chunk.reset();
    }
    out.parts.push_back(std::move(part));
  }
  return out;
}

void PaneMerge::fold_below(int64_t bound) {
  while (!pending_.empty() && pending_.begin()->first < bound) {
    auto node = pending_.extract(pending_.begin());
    const int64_t pane = node.key();
    engine::KeySums& sums = shard_->pane_sums(pane);
    merge_summaries(node.mapped(), sums);
    uint64_t records = 0;
    {
      std::lock_guard lock(view_mu_);
      for (const auto& [partition, pend] : node.mapped())
        partitions_[static_cast<size_t>(partition)].merged_pane = pane;
    }
    for (auto& [partition, pend] : node.mapped()) {
      for (auto& chunk : pend.chunks) {
        // Marks follow their panes on one partition of the panes topic, so a pane below a
        // partition's mark is whole; a missing chunk would mean a lost message.
        if (!chunk) continue;
        if (chunk->chunk == 0) records += chunk->records;
        for (const auto& p : chunk->protocols)
          sums.protocols.add(protocols_.intern(p.name), p.bytes, p.records);
        for (const auto& a : chunk->addresses) {
          if (!a.ip.is_v6) sums.ip4.add(a.ip.v4_value(), a.bytes, a.records);
          else sums.ip6.add(a.ip.bits, a.bytes, a.records);
        }
      }
    }
    if (records > 0) planner_.add(pane, records);
    counters_.records.fetch_add(records, std::memory_order_relaxed);
    if (observer_) observer_->pane(pane * config_.time_unit_ms, sums, samples_of(node.mapped(), pane));
  }
  const int64_t max = std::numeric_limits<int64_t>::max(), unit = config_.time_unit_ms;
  if (observer_ && bound > std::numeric_limits<int64_t>::min() / unit)
    observer_->complete_below(bound >= max / unit ? max : bound * unit);
  // Whole panes are final: compact them, and let the memory budget summarize them if needed.
  if (shard_) shard_->close_before(bound);
}

void PaneMerge::emit(std::optional<int64_t> complete_below) {
  windows_.clear();
  planner_.plan(complete_below, control_.params(), windows_);
  for (const auto& pw : windows_) {
    shard_->move_window(pw.lo, pw.hi);
    const engine::WindowAggregate& w = shard_->window();
    engine::WindowInfo info;
    info.start = pw.lo * config_.time_unit_ms;
    info.end = pw.hi * config_.time_unit_ms;
    info.params = pw.params;
    info.records = w.records;
    info.protocol = w.protocol;
    info.ip = w.ip;
    info.shards = 1;
    engine::WindowApprox approx;
    shard_->add_approx(approx);
    approx.apply(info);
    queries_.prepare(info);
    queries_.select(0, *shard_);
    queries_.finish(info);
    counters_.windows.fetch_add(1, std::memory_order_relaxed);
  }
  if (!windows_.empty()) shard_->evict_before(planner_.evict_bound());
  queries_.flush();
}

void PaneMerge::advance() {
  if (!source_) return;
  int64_t bound = std::numeric_limits<int64_t>::max();
  bool any_active = false;
  for (const Partition& p : partitions_) {
    switch (p.state) {
      case State::kUnknown:
        return;  // not heard from yet: it may still hold the oldest records
      case State::kActive:
        bound = std::min(bound, p.complete_below);
        any_active = true;
        break;
      case State::kIdle:
      case State::kEnd:
        break;
    }
  }
  if (!any_active && !all_ended()) {
    // Only idle and ended partitions: everything published so far is complete.
    if (pending_.empty()) return;
    bound = pending_.rbegin()->first + 1;
  }
  if (bound == std::numeric_limits<int64_t>::max()) {
    finish();
    return;
  }
  if (folded_below_ && bound <= *folded_below_) return;
  fold_below(bound);
  {
    std::lock_guard lock(view_mu_);
    folded_below_ = bound;
  }
  counters_.watermark_ms.store(bound * config_.time_unit_ms, std::memory_order_relaxed);
  emit(bound);
}

void PaneMerge::finish() {
  if (!source_) return;
  fold_below(std::numeric_limits<int64_t>::max());
  emit(std::nullopt);
  std::lock_guard lock(view_mu_);
  folded_below_ = std::numeric_limits<int64_t>::max();
}

std::string_view to_string(PartitionView::State s) {
  switch (s) {
    case PartitionView::State::kUnknown: return "unknown";
    case PartitionView::State::kActive: return "active";
    case PartitionView::State::kIdle: return "idle";
    case PartitionView::State::kEnded: return "ended";
  }
  return "unknown";
}

ClusterView PaneMerge::cluster() const {
  std::lock_guard lock(view_mu_);
  ClusterView v;
  v.source = source_;
  if (!source_) return v;
  const int64_t unit = source_->unit_ms;
  const auto ms = [unit](int64_t pane) -> std::optional<int64_t> {
    if (pane == std::numeric_limits<int64_t>::min() || pane == std::numeric_limits<int64_t>::max())
      return std::nullopt;
    return pane * unit;
  };
  v.newest_pane_ms = ms(newest_pane_);
  if (folded_below_ == std::numeric_limits<int64_t>::max()) {
    // finish(): everything received is merged.
    if (v.newest_pane_ms) v.merged_below_ms = *v.newest_pane_ms + unit;
  } else if (folded_below_) {
    v.merged_below_ms = ms(*folded_below_);
  }
  for (size_t i = 0; i < partitions_.size(); ++i) {
    const Partition& p = partitions_[i];
    PartitionView pv;
    pv.partition = static_cast<int32_t>(i);
    switch (p.state) {
      case State::kUnknown: pv.state = PartitionView::State::kUnknown; break;
      case State::kActive: pv.state = PartitionView::State::kActive; break;
      case State::kIdle: pv.state = PartitionView::State::kIdle; break;
      case State::kEnd: pv.state = PartitionView::State::kEnded; break;
    }
    pv.owner = p.owner;
    pv.complete_below_ms = ms(p.complete_below);
    pv.newest_pane_ms = ms(p.newest_pane);
    pv.merged_pane_ms = ms(p.merged_pane);
    if (p.last_message_ms != std::numeric_limits<int64_t>::min()) pv.last_message_ms = p.last_message_ms;
    v.partitions.push_back(std::move(pv));
  }
  return v;
}

bool PaneMerge::all_ended() const {
  if (!source_) return false;
  return std::all_of(partitions_.begin(), partitions_.end(),
                     [](const Partition& p) { return p.state == State::kEnd; });
}

}  // namespace netpulse::kafka
