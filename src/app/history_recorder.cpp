#include "app/history_recorder.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <unordered_map>
#include <utility>

#include "core/ip_addr.hpp"

namespace netpulse::app {

namespace {

using engine::Agg;
using engine::AggMap;

template <class K>
struct KeyAgg {
  K key;
  uint64_t bytes;
  uint64_t records;
};

// Fills b.entries with the `keys` keys of `all` with the most bytes (ties: the smaller key by
// `less`), sorted by key text, and b's other sums and cut bound. `all` holds unique keys;
// b.total_* must be set; `floor_cut` is a bound any key not listed has anyway (the overflow).
// Only the keys kept are formatted: a minute may hold a million keys, and a sampled one
// hundreds of thousands whose estimates tie at the cut.
template <class K, class Format, class Less>
void fill_top(std::vector<KeyAgg<K>>& all, size_t keys, Format&& format, Less&& less,
              uint64_t floor_cut, store::HistoryBucket& b) {
  std::vector<store::HistoryEntry>& out = b.entries;
  out.clear();
  out.reserve(std::min(keys, all.size()));
  uint64_t greatest_cut = 0;
  if (all.size() <= keys) {
    out.reserve(all.size());
    for (const auto& a : all) out.push_back({format(a.key), a.bytes, a.records});
  } else if (keys > 0) {
    auto more = [](const KeyAgg<K>& x, const KeyAgg<K>& y) { return x.bytes > y.bytes; };
    std::nth_element(all.begin(), all.begin() + static_cast<ptrdiff_t>(keys - 1), all.end(), more);
    const uint64_t t = all[keys - 1].bytes;
    thread_local std::vector<KeyAgg<K>> ties;  // kept: see minute_buckets
    ties.clear();
    for (const auto& a : all) {
      if (a.bytes > t) out.push_back({format(a.key), a.bytes, a.records});
      else if (a.bytes == t) ties.push_back(a);
      else greatest_cut = std::max(greatest_cut, a.bytes);
    }
    const size_t need = keys - out.size();
    if (ties.size() > need) {
      auto by_key = [&](const KeyAgg<K>& x, const KeyAgg<K>& y) { return less(x.key, y.key); };
      std::nth_element(ties.begin(), ties.begin() + static_cast<ptrdiff_t>(need), ties.end(), by_key);
      greatest_cut = std::max(greatest_cut, t);
      ties.resize(need);
    }
    for (const auto& a : ties) out.push_back({format(a.key), a.bytes, a.records});
  } else {
    for (const auto& a : all) greatest_cut = std::max(greatest_cut, a.bytes);
  }
  store::sort_entries(out);
  uint64_t kept_bytes = 0, kept_records = 0;
  for (const auto& e : out) {
    kept_bytes += e.bytes;
    kept_records += e.records;
  }
  // A sampled minute's estimates may add up to more than its exact totals.
  b.other_bytes = b.total_bytes > kept_bytes ? b.total_bytes - kept_bytes : 0;
  b.other_records = b.total_records > kept_records ? b.total_records - kept_records : 0;
  b.cut_bytes = std::max(greatest_cut, floor_cut);
}

// Address sums, IPv4 and IPv6 apart (as the engine keeps them).
struct AddressSums {
  AggMap<uint32_t> v4;
  AggMap<core::Ip6> v6;
  void add(const core::IpAddr& a, uint64_t bytes, uint32_t records) {
    if (a.is_v6) v6.add(a.bits, bytes, records);
    else v4.add(a.v4_value(), bytes, records);
  }
  void list(std::vector<KeyAgg<core::IpAddr>>& out) const {
    out.clear();
    out.reserve(v4.size() + v6.size());
    v4.for_each([&](const auto& e) { out.push_back({core::IpAddr::v4(e.key), e.bytes, e.records}); });
    v6.for_each([&](const auto& e) { out.push_back({core::IpAddr::v6(e.key), e.bytes, e.records}); });
  }
};

std::string ip_text(const core::IpAddr& a) {
  char buf[core::kMaxIpText];
  return std::string(buf, core::format_ip(a, buf));
}

}  // namespace

std::vector<store::HistoryBucket> minute_buckets(const engine::HistoryMinute& minute,
                                                 const core::ProtocolTable& protocols,
                                                 size_t keys, const std::string& origin) {
  uint64_t total_bytes = 0, total_records = 0, overflow = 0;
  double tau = 0;
  AggMap<uint32_t> protocol_sums;
  for (const auto& p : minute.parts) {
    total_bytes += p->total_bytes;
    total_records += p->total_records;
    overflow += p->overflow_bytes;
    tau = std::max(tau, double(p->tau));
    p->protocols.for_each([&](const auto& e) { protocol_sums.add(e.key, e.bytes, e.records); });
  }
  std::unordered_map<uint32_t, std::string> names;
  protocol_sums.for_each([&](const auto& e) { names.emplace(e.key, std::string(protocols.name(e.key))); });
  auto name_of = [&](uint32_t id) -> const std::string& {
    auto it = names.find(id);
    if (it == names.end()) it = names.emplace(id, std::string(protocols.name(id))).first;
    return it->second;
  };

  std::vector<store::HistoryBucket> out(4);
  for (size_t i = 0; i < 4; ++i) {
    out[i].resolution = store::Resolution::kMinute;
    out[i].start = minute.start;
    out[i].dimension = store::kDimensions[i];
    out[i].origin = origin;
    out[i].total_bytes = total_bytes;
    out[i].total_records = total_records;
  }

  // Protocols: exact, overflow included.
  std::vector<KeyAgg<uint32_t>> protos;
  protocol_sums.for_each([&](const auto& e) { protos.push_back({e.key, e.bytes, e.records}); });
  auto name_less = [&](uint32_t x, uint32_t y) { return name_of(x) < name_of(y); };
  fill_top(protos, keys, name_of, name_less, 0, out[0]);

  // Conversations, and their marginals per source and destination. The tables are the
  // thread's, emptied and kept: fresh ones of a few hundred thousand keys a minute would be
  // mapped, faulted in and unmapped each time, and each unmapping interrupts the engine's
  // cores to flush their TLBs.
  thread_local AddressSums src, dst;
  thread_local std::vector<KeyAgg<engine::Conv6>> convs;
  auto none = [](const auto&) {};
  src.v4.drain(none);
  src.v6.drain(none);
  dst.v4.drain(none);
  dst.v6.drain(none);
  convs.clear();
  size_t n = 0, n6 = 0;
  for (const auto& p : minute.parts) {
    n += p->conv4.size() + p->conv6.size();
    n6 += p->conv6.size();
  }
  // As many addresses as conversations at most: sized once, not doubled up to it; and not kept
  // at a flood's size for the quiet minutes after it.
  auto size_for = [](auto& table, size_t keys) {
    if (table.capacity() > 16 * std::max<size_t>(keys, 1024)) table.fit(keys);
    table.reserve(keys);
  };
  size_for(src.v4, n);
  size_for(dst.v4, n);
  size_for(src.v6, n6);
  size_for(dst.v6, n6);
  if (convs.capacity() > 16 * std::max<size_t>(n, 1024)) convs.shrink_to_fit();
  convs.reserve(n);
  for (const auto& p : minute.parts) {
    p->conv4.for_each([&](const auto& e) {
      const auto s = core::IpAddr::v4(e.key.src), d = core::IpAddr::v4(e.key.dst);
      src.add(s, e.bytes, e.records);
      dst.add(d, e.bytes, e.records);
      convs.push_back({engine::Conv6{s, d, e.key.protocol}, e.bytes, e.records});
    });
    p->conv6.for_each([&](const auto& e) {
      src.add(e.key.src, e.bytes, e.records);
      dst.add(e.key.dst, e.bytes, e.records);
      convs.push_back({e.key, e.bytes, e.records});
    });
  }
  thread_local std::vector<KeyAgg<core::IpAddr>> list;
  src.list(list);
  fill_top(list, keys, ip_text, std::less<>(), overflow, out[1]);
  dst.list(list);
  fill_top(list, keys, ip_text, std::less<>(), overflow, out[2]);
  fill_top(convs, keys, [&](const engine::Conv6& c) {
    return store::conversation_key(ip_text(c.src), ip_text(c.dst), name_of(c.protocol));
  }, [&](const engine::Conv6& x, const engine::Conv6& y) {
    if (x.src != y.src) return x.src < y.src;
    if (x.dst != y.dst) return x.dst < y.dst;
    return name_less(x.protocol, y.protocol);
  }, overflow, out[3]);
  // A source's or destination's conversations may have overflowed: listed sums may be short.
  out[1].error_bytes = out[2].error_bytes = overflow;
  if (tau > 0) {
    // A sampled minute (engine/history_accumulator.hpp; tau: the greatest threshold D of its
    // shards): a key's estimate X is unbiased with a standard error of at most sqrt(tau * X),
    // so the truth is within 4 sqrt(tau * X) of X but for odds of about 1 in 10,000; the
    // bucket states that for its largest key, which bounds every smaller one, both ways. A key
    // of W bytes is left out of the sample altogether with probability at most
    // exp(-W / tau): 1 in 20,000 at 10 tau, the least a key not listed is bounded by.
    auto four_sigma = [&](uint64_t x) {
      return static_cast<uint64_t>(std::ceil(4 * std::sqrt(tau * double(x))));
    };
    for (size_t i = 1; i < 4; ++i) {
      uint64_t largest = 0;
      for (const auto& e : out[i].entries) largest = std::max(largest, e.bytes);
      out[i].error_bytes = std::max(out[i].error_bytes, four_sigma(largest));
      const uint64_t cut = out[i].cut_bytes;
      out[i].cut_bytes = std::max(cut + (cut ? four_sigma(cut) : 0),
                                  static_cast<uint64_t>(std::ceil(10 * tau)));
    }
  }
  return out;
}

PaneHistory::PaneHistory(std::function<void(store::HistoryBucket)> sink,
                         const core::ProtocolTable& protocols,
                         std::function<engine::IpKey()> ip_key, size_t keys,
                         std::string origin)
    : sink_(std::move(sink)),
      protocols_(protocols),
      ip_key_(std::move(ip_key)),
      keys_(keys), origin_(std::move(origin)),
      // Every chunk it is given is a sample (bounded by its instance): no table limit applies.
      aggregator_(SIZE_MAX) {}

void PaneHistory::pane(int64_t start_ms, const engine::KeySums& sums, kafka::PaneSamples&& samples) {
  const int64_t minute = core::floor_div(start_ms, engine::kHistoryMinuteMs) * engine::kHistoryMinuteMs;
  Minute& m = minutes_[minute];
  // The pane's exact protocol sums (and so the minute's totals) go to the aggregator as a chunk
  // of their own, with no candidates; the partitions' samples follow as chunks (their protocol
  // sums empty), so minute_buckets builds every bucket as it does for `process`.
  engine::HistoryChunk exact;
  exact.start = minute;
  exact.sampled = true;
  sums.protocols.for_each([&](const auto& e) {
    if (e.key < engine::HistoryChunk::kDirectProtocols) {
      exact.direct[e.key].bytes += e.bytes;
      exact.direct[e.key].records += e.records;
    } else {
      exact.protocols.add(e.key, e.bytes, e.records);
    }
  });
  batch_.chunks.push_back(std::move(exact));
  if (!samples.complete) m.samples_complete = false;
  for (auto& part : samples.parts) {
    part.start = minute;
    batch_.chunks.push_back(std::move(part));
  }
  if (ip_key_() == engine::IpKey::kHost) return;
  sums.ip4.for_each([&](const auto& e) { m.ip4.add(e.key, e.bytes, e.records); });
  sums.ip6.for_each([&](const auto& e) { m.ip6.add(e.key, e.bytes, e.records); });
  if (sums.summary) m.floor += sums.summary->floor;
}

void PaneHistory::complete_below(int64_t ms) {
  batch_.complete_below = ms;
  aggregator_.add(std::move(batch_), [&](engine::HistoryMinute minute) {
    auto node = minutes_.extract(minute.start);
    Minute m = node.empty() ? Minute{} : std::move(node.mapped());
    if (m.samples_complete &&
        std::any_of(minute.parts.begin(), minute.parts.end(), [](const auto& p) { return p->tau > 0; }))
      ++sampled_;
    std::vector<store::HistoryBucket> buckets = minute_buckets(minute, protocols_, keys_, origin_);
    for (auto& part : minute.parts) aggregator_.recycle(std::move(part));
    // Which of buckets (protocol, src, dst, conversation) to write: the protocols always; the
    // instances' address dimension from the panes' exact sums; the rest estimated from the
    // samples, when every pane of the minute came with its samples.
    const engine::IpKey key = ip_key_();
    const size_t exact_dim = key == engine::IpKey::kSrc ? 1 : key == engine::IpKey::kDst ? 2 : 0;
    if (exact_dim != 0) {
      store::HistoryBucket& ip = buckets[exact_dim];
      AddressSums addresses;
      m.ip4.for_each([&](const auto& e) { addresses.v4.add(e.key, e.bytes, e.records); });
      m.ip6.for_each([&](const auto& e) { addresses.v6.add(e.key, e.bytes, e.records); });
      std::vector<KeyAgg<core::IpAddr>> list;
      addresses.list(list);
      // A summarized pane dropped addresses (their bytes are in the totals, not in the list)
      // and may have shortened the ones it kept by up to its floor.
      fill_top(list, keys_, ip_text, std::less<>(), m.floor, ip);
      ip.error_bytes = m.floor;
    }
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (i != 0 && i != exact_dim && !m.samples_complete) continue;
      sink_(std::move(buckets[i]));
      ++buckets_;
    }
  });
  batch_ = {};
}

HistoryRecorder::HistoryRecorder(BucketSink sink, const core::ProtocolTable& protocols,
                                 size_t keys, std::string origin, size_t max_conversations,
                                 size_t sample, size_t max_queued_records)
    : sink_(std::move(sink)),
      protocols_(protocols),
      keys_(keys),
      origin_(std::move(origin)),
      // A sample keeps at most 2 K records a minute: within the table's bound.
      sample_(std::min(sample, std::max<size_t>(1, max_conversations / 2))),
      max_queued_(std::max<size_t>(1, max_queued_records)),
      aggregator_(std::max<size_t>(1, max_conversations)),
      thread_([this] { run(); }) {}

HistoryRecorder::~HistoryRecorder() { stop(); }

void HistoryRecorder::offer(engine::HistoryBatch batch) {
  const size_t n = batch.records();
  std::unique_lock lock(mu_);
  auto room = [&] { return queued_records_ == 0 || queued_records_ + n <= max_queued_ || stopping_; };
  if (!room()) {
    const auto t0 = std::chrono::steady_clock::now();
    not_full_.wait(lock, room);
    wait_us_ += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count());
  }
  queued_records_ += n;
  queue_.push_back(std::move(batch));
  not_empty_.notify_one();
}

void HistoryRecorder::stop() {
  std::lock_guard join(join_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HistoryRecorder::run() {
  while (true) {
    engine::HistoryBatch batch;
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued is recorded
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    const size_t n = batch.records();
    aggregator_.add(std::move(batch), [&](engine::HistoryMinute minute) {
      for (const auto& p : minute.parts) {
        overflow_ += p->overflow_records;
        if (p->tau > 0) ++sampled_;
      }
      auto buckets = minute_buckets(minute, protocols_, keys_, origin_);
      // The conversation tables are the bulk: the next minute reuses them.
      for (auto& part : minute.parts) aggregator_.recycle(std::move(part));
      minute = {};
      for (auto& b : buckets) {
        sink_(std::move(b));
        ++buckets_;
      }
      ++minutes_;
    }, &pool_);
    {
      std::lock_guard lock(mu_);
      queued_records_ -= n;
    }
    not_full_.notify_all();
    timespec cpu{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
      busy_us_ = static_cast<uint64_t>(cpu.tv_sec) * 1'000'000 + static_cast<uint64_t>(cpu.tv_nsec) / 1000;
  }
}

}  // namespace netpulse::app
