// Questions over the traffic history (issue 17): the time arguments, the cover of a range by
// stored buckets, and a range's top keys, series and sankey, as plain values (server/history_api
// makes the JSON of the contract). Every answer states its effective range, resolution and
// bounds. Pure functions, except those taking a Store&: they use it from the calling thread
// only (a Store is not shared; see store.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/time.hpp"
#include "store/history.hpp"
#include "store/store.hpp"

namespace netpulse::store {

inline constexpr core::TimeMs kMinuteMs = 60'000;
inline constexpr core::TimeMs kHourMs = 3'600'000;
inline constexpr core::TimeMs kDayMs = 86'400'000;
inline constexpr core::TimeMs kMaxHistoryRangeMs = 400 * kDayMs;
// Ranges up to these lengths are aligned to minutes, then hours; longer ones to days.
inline constexpr core::TimeMs kMinuteRangeMs = 6 * kHourMs;
inline constexpr core::TimeMs kHourRangeMs = 14 * kDayMs;
inline constexpr size_t kMaxHistoryLimit = 1000;
// A series' default step gives at most this many points.
inline constexpr size_t kSeriesPoints = 300;

// ---- Time arguments ----

// The "now" of the history: the wall clock, except when the newest stored minute bucket ends
// more than a day before it; then the end of that bucket, so a replay of old traffic can be
// browsed with "-1h" and the defaults. newest_minute_start: the start of the newest minute bucket.
core::TimeMs history_now(core::TimeMs wall_clock, std::optional<core::TimeMs> newest_minute_start);
// The same, looking the newest minute bucket up in the store: in the index of the last day when
// there is one (cheap), else through history_usage.
core::TimeMs history_now(Store& store, core::TimeMs wall_clock);

// A time argument: ISO 8601 ("2020-05-09T00:00:00Z", with a fraction, with a space for the T,
// with an offset "+02:00"/"-0130", no zone meaning UTC, or a date alone), epoch milliseconds
// (digits only), "now", or "-90s", "-5m", "-1h", "-7d", "-2w" before now. A space where the
// offset's '+' was is accepted too: an unencoded '+' in a query string arrives as a space.
// Returns nullopt with a one-line reason.
std::optional<core::TimeMs> parse_history_time(std::string_view text, core::TimeMs now,
                                               std::string* why);
// A step or duration: seconds ("60") or a number with s, m, h, d or w. Returns ms (> 0).
std::optional<core::TimeMs> parse_history_duration(std::string_view text, std::string* why);

// [from, to), ms.
struct HistoryRange {
  core::TimeMs from = 0;
  core::TimeMs to = 0;
  core::TimeMs length() const { return to - from; }
  friend bool operator==(const HistoryRange&, const HistoryRange&) = default;
};

// The from/to arguments (absent: to = now, from = to - 1 h). Requires from < to and a range of
// at most 400 days. Reasons name the argument.
std::optional<HistoryRange> parse_history_range(std::optional<std::string_view> from,
                                                std::optional<std::string_view> to,
                                                core::TimeMs now, std::string* why);

// The resolution a range is aligned to: minutes up to 6 h, hours up to 14 d, else days.
Resolution alignment_for(core::TimeMs length);
// from rounded down and to rounded up to the resolution.
HistoryRange align_range(HistoryRange range, Resolution r);

// ---- Filters ----

// An address or a CIDR prefix ("10.0.0.0/8", "2001:db8::/32"; an address alone is a /32 or
// /128). Host bits of the prefix are ignored.
struct IpPrefix {
  core::IpAddr net;
  unsigned bits = 0;
  static std::optional<IpPrefix> parse(std::string_view text);
  bool contains(const core::IpAddr& a) const;
};

// The `filter` argument: comma-separated field=value terms, field in protocol, src, dst, key.
// Terms of one field are alternatives (any may match), different fields must all match. Which
// fields a dimension allows: src: src, key; dst: dst, key; protocol: protocol, key;
// conversation: all. A value.
class HistoryFilter {
 public:
  HistoryFilter() = default;
  // Empty text: no filter. Returns nullopt with a one-line reason.
  static std::optional<HistoryFilter> parse(std::string_view text, Dimension d, std::string* why);

  bool empty() const { return protocols_.empty() && src_.empty() && dst_.empty() && keys_.empty(); }
  // Whether a key of the filter's dimension matches.
  bool matches(std::string_view key) const;

 private:
  Dimension dimension_ = Dimension::kProtocol;
  std::vector<std::string> protocols_;  // lower case
  std::vector<IpPrefix> src_, dst_;
  std::vector<std::string> keys_;
};

// ---- The cover ----

// Which stored buckets answer [range) aligned to `resolution` (a range already aligned):
// per origin, days that fit, then hours that fit outside the chosen days, then minutes outside
// both, so no time is counted twice. A bucket fits when it lies inside the range and, with a
// step (> 0, a multiple of resolution_ms), inside one step counted from range.from.
// index: Store::history_index of the range. The result keeps the index's order.
std::vector<HistoryKey> plan_cover(std::span<const HistoryKey> index, HistoryRange range,
                                   core::TimeMs step_ms = 0);

// What an answer stands on.
struct CoverInfo {
  Dimension dimension = Dimension::kProtocol;
  Resolution resolution = Resolution::kMinute;  // the alignment
  HistoryRange range;                           // effective: aligned
  size_t buckets = 0;                           // stored buckets used
};

// The buckets go back to the store when the cover ends (Store::recycle_history).
struct Cover {
  CoverInfo info;
  std::vector<HistoryBucket> buckets;
  Store* store = nullptr;

  Cover() = default;
  Cover(Cover&&) = default;
  Cover& operator=(Cover&&) = default;
  Cover(const Cover&) = delete;
  Cover& operator=(const Cover&) = delete;
  ~Cover() {
    if (!store || buckets.empty()) return;
    try {
      store->recycle_history(std::move(buckets));
    } catch (...) {  // only memory to reuse: nothing lost
    }
  }
};

// Aligns the requested range, plans the cover over the store's index and loads the buckets.
Cover load_cover(Store& store, Dimension d, HistoryRange requested, core::TimeMs step_ms = 0);
// Drops the entries the filter rejects; the buckets' totals become those of the kept entries
// (other 0), their bounds stay (a key cut into "other" may match, so it is still bounded).
void apply_filter(std::span<HistoryBucket> buckets, const HistoryFilter& filter);

// ---- Answers ----

struct TopRow {
  std::string key;
  uint64_t bytes = 0;
  uint64_t records = 0;
  uint64_t error_bytes = 0;  // true bytes <= bytes + error_bytes
  double share = 0;          // bytes / total_bytes
};

struct TopAnswer {
  CoverInfo info;
  bool filtered = false;
  // Every record of the range; filtered: the matching listed keys' only.
  uint64_t total_bytes = 0;
  uint64_t total_records = 0;
  std::vector<TopRow> rows;  // bytes desc, key asc
  uint64_t other_bytes = 0;  // total minus the rows
  uint64_t other_records = 0;
  // A key listed in no bucket has at most this many bytes (the buckets' cut_bytes summed),
  // raised where needed so that max(absent_bound, last row's bytes + error_bytes) bounds every
  // key not in rows (a listed key's own error may exceed the last row's).
  uint64_t absent_bound = 0;
  bool exact = false;  // no bucket used was cut or carried an error
};

// Ranks merged keys: the indices of the top `limit` by bytes desc, key asc, in that order.
std::vector<uint32_t> rank_keys(const Merged& merged, size_t limit);
// The top of buckets already loaded (and filtered).
TopAnswer top_of(const CoverInfo& info, std::span<const HistoryBucket> buckets, size_t limit,
                 bool filtered);
// REQUIRES: 1 <= limit.
TopAnswer history_top(Store& store, Dimension d, HistoryRange requested, size_t limit,
                      const HistoryFilter& filter);

struct SeriesLine {
  std::string key;  // "other": the rest of the total
  std::vector<uint64_t> bytes, records;
  std::vector<uint64_t> error_bytes;  // empty for "other"
};

struct SeriesAnswer {
  CoverInfo info;
  bool filtered = false;
  core::TimeMs step_ms = 0;
  std::vector<core::TimeMs> times;    // each step's start
  std::vector<SeriesLine> series;     // with a key: that key; else the top keys, then "other"
  std::vector<uint64_t> total_bytes;  // per step; filtered: the matching keys'
  std::vector<size_t> missing;        // steps without any stored bucket
};

// The step: 0 means the smallest multiple of the resolution giving at most 300 points; any
// other is rounded up to a multiple of the resolution.
core::TimeMs series_step(HistoryRange aligned, Resolution r, core::TimeMs requested_step);
// key: one series; none: the top `limit` keys of the range and "other". REQUIRES: 1 <= limit.
SeriesAnswer history_series(Store& store, Dimension d, HistoryRange requested, core::TimeMs step_ms,
                            std::optional<std::string_view> key, size_t limit,
                            const HistoryFilter& filter);

struct SankeyLink {
  std::string source, target;  // node names: "src ADDR", "proto NAME", "dst ADDR"
  uint64_t value = 0;
};

struct SankeyAnswer {
  TopAnswer top;  // the top conversations; its info, totals and exactness are the sankey's
  std::vector<std::string> nodes;  // sources, protocols, destinations, each by first rank
  std::vector<SankeyLink> links;   // src -> proto, then proto -> dst
};

// The top `limit` conversations as links source -> protocol -> destination. Each column's
// links sum to the rows' bytes. REQUIRES: 1 <= limit; filter parsed for kConversation.
SankeyAnswer history_sankey(Store& store, HistoryRange requested, size_t limit,
                            const HistoryFilter& filter);
SankeyAnswer sankey_of(TopAnswer top);

}  // namespace netpulse::store
