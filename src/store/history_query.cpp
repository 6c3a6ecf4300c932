#include "store/history_query.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <limits>
#include <map>
#include <utility>

namespace netpulse::store {
namespace {

constexpr std::string_view kTimeForms =
    "use ISO 8601 (2020-05-09T00:00:00Z), epoch milliseconds, now, or -90s/-5m/-1h/-7d/-2w";

std::string clip(std::string_view text) {
  return std::string(text.substr(0, 40)) + (text.size() > 40 ? "..." : "");
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "90s", "5m", "1h", "7d", "2w" (and bare digits as seconds when bare_seconds).
std::optional<core::TimeMs> parse_amount(std::string_view s, bool bare_seconds) {
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data()) return std::nullopt;
  const std::string_view unit(ptr, static_cast<size_t>(s.data() + s.size() - ptr));
  core::TimeMs scale = 0;
  if (unit == "s" || (unit.empty() && bare_seconds))
    scale = 1000;
  else if (unit == "m" || unit == "min")
    scale = kMinuteMs;
  else if (unit == "h")
    scale = kHourMs;
  else if (unit == "d")
    scale = kDayMs;
  else if (unit == "w")
    scale = 7 * kDayMs;
  else
    return std::nullopt;
  // Beyond a thousand years is a typo, and keeps the product far from overflow.
  if (v > static_cast<uint64_t>(1000 * 366 * kDayMs / scale)) return std::nullopt;
  return static_cast<core::TimeMs>(v) * scale;
}

core::TimeMs round_up(core::TimeMs v, core::TimeMs unit) {
  return core::floor_div(v + unit - 1, unit) * unit;
}

bool ranks_before(const MergedKey& a, const MergedKey& b) {
  if (a.bytes != b.bytes) return a.bytes > b.bytes;
  return a.key < b.key;
}

}  // namespace

// ---- Time ----

core::TimeMs history_now(core::TimeMs wall_clock, std::optional<core::TimeMs> newest_minute_start) {
  if (newest_minute_start) {
    const core::TimeMs end = *newest_minute_start + kMinuteMs;
    if (end < wall_clock - kDayMs) return end;
  }
  return wall_clock;
}

core::TimeMs history_now(Store& store, core::TimeMs wall_clock) {
  // Any minute bucket ending within the last day keeps the wall clock; the index of one day of
  // one dimension is small, while history_usage may scan the table.
  const auto recent = store.history_index(Dimension::kProtocol, wall_clock - kDayMs - kMinuteMs,
                                          std::numeric_limits<core::TimeMs>::max());
  std::optional<core::TimeMs> newest;
  for (const HistoryKey& k : recent)
    if (k.resolution == Resolution::kMinute) newest = std::max(newest.value_or(k.start), k.start);
  if (!newest) newest = store.history_usage(Resolution::kMinute).newest;
  return history_now(wall_clock, newest);
}

std::optional<core::TimeMs> parse_history_time(std::string_view text, core::TimeMs now,
                                               std::string* why) {
  auto fail = [&]() -> std::optional<core::TimeMs> {
    *why = "'" + clip(text) + "' is not a time: " + std::string(kTimeForms);
    return std::nullopt;
  };
  if (text.empty()) return fail();
  if (iequal(text, "now")) return now;
  if (text.front() == '-') {
    const auto amount = parse_amount(text.substr(1), false);
    if (!amount) return fail();
    return now - *amount;
  }
  if (all_digits(text)) {
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) return fail();
    return v;
  }
  if (auto t = core::parse_iso8601(text)) return t;
  return fail();
}

std::optional<core::TimeMs> parse_history_duration(std::string_view text, std::string* why) {
  auto d = parse_amount(text, true);
  if (!d || *d <= 0) {
    *why = "'" + clip(text) + "' is not a duration: use seconds (60) or 5m, 1h, 1d, 1w";
    return std::nullopt;
  }
  return d;
}

std::optional<HistoryRange> parse_history_range(std::optional<std::string_view> from,
                                                std::optional<std::string_view> to,
                                                core::TimeMs now, std::string* why) {
  HistoryRange r;
  r.to = now;
  if (to) {
    auto t = parse_history_time(*to, now, why);
    if (!t) {
      *why = "to: " + *why;
      return std::nullopt;
    }
    r.to = *t;
  }
  r.from = r.to - kHourMs;
  if (from) {
    auto t = parse_history_time(*from, now, why);
    if (!t) {
      *why = "from: " + *why;
      return std::nullopt;
    }
    r.from = *t;
  }
  if (r.from >= r.to) {
    *why = "from (" + core::format_iso8601(r.from) + ") must be before to (" +
           core::format_iso8601(r.to) + ")";
    return std::nullopt;
  }
  if (r.length() > kMaxHistoryRangeMs) {
    *why = "the range from " + core::format_iso8601(r.from) + " to " + core::format_iso8601(r.to) +
           " is longer than 400 days";
    return std::nullopt;
  }
  return r;
}

Resolution alignment_for(core::TimeMs length) {
  if (length <= kMinuteRangeMs) return Resolution::kMinute;
  if (length <= kHourRangeMs) return Resolution::kHour;
  return Resolution::kDay;
}

HistoryRange align_range(HistoryRange range, Resolution r) {
  const core::TimeMs unit = resolution_ms(r);
  return {core::floor_div(range.from, unit) * unit, round_up(range.to, unit)};
}

// ---- Filters ----

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const size_t slash = text.find('/');
  auto addr = core::parse_ip(text.substr(0, slash));
  if (!addr) return std::nullopt;
  IpPrefix p;
  p.net = *addr;
  const unsigned full = addr->is_v6 ? 128 : 32;
  p.bits = full;
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    if (!all_digits(len) || len.size() > 3) return std::nullopt;
    unsigned v = 0;
    std::from_chars(len.data(), len.data() + len.size(), v);
    if (v > full) return std::nullopt;
    p.bits = v;
  }
  return p;
}

bool IpPrefix::contains(const core::IpAddr& a) const {
  if (a.is_v6 != net.is_v6) return false;
  if (!net.is_v6) {
    if (bits == 0) return true;
    const uint32_t mask = bits >= 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
    return (a.v4_value() & mask) == (net.v4_value() & mask);
  }
  auto mask_of = [](unsigned n) -> uint64_t {
    return n == 0 ? 0 : n >= 64 ? ~uint64_t{0} : ~(~uint64_t{0} >> n);
  };
  const uint64_t hi = mask_of(std::min(bits, 64u));
  const uint64_t lo = mask_of(bits > 64 ? bits - 64 : 0);
  return (a.bits.hi & hi) == (net.bits.hi & hi) && (a.bits.lo & lo) == (net.bits.lo & lo);
}

std::optional<HistoryFilter> HistoryFilter::parse(std::string_view text, Dimension d,
                                                  std::string* why) {
  HistoryFilter f;
  f.dimension_ = d;
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view term = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (term.empty()) continue;  // "a=1," and the like
    const size_t eq = term.find('=');
    if (eq == std::string_view::npos) {
      *why =
          "filter term '" + clip(term) + "' is not field=value (fields: protocol, src, dst, key)";
      return std::nullopt;
    }
    const std::string_view field = trim(term.substr(0, eq));
    const std::string_view value = trim(term.substr(eq + 1));
    const bool conv = d == Dimension::kConversation;
    bool applies = false;
    if (field == "protocol")
      applies = conv || d == Dimension::kProtocol;
    else if (field == "src")
      applies = conv || d == Dimension::kSrc;
    else if (field == "dst")
      applies = conv || d == Dimension::kDst;
    else if (field == "key")
      applies = true;
    else {
      *why = "unknown filter field '" + clip(field) + "' (protocol, src, dst, key)";
      return std::nullopt;
    }
    if (!applies) {
      *why = "filter field '" + std::string(field) + "' does not apply to dimension " +
             to_string(d) + " (use " + (conv ? "protocol, src, dst or key" : to_string(d)) +
             (conv ? "" : " or key") + ")";
      return std::nullopt;
    }
    if (value.empty()) {
      *why = "filter term '" + clip(term) + "' has no value";
      return std::nullopt;
    }
    if (field == "protocol") {
      std::string p(value);
      for (char& c : p) c = lower(c);
      f.protocols_.push_back(std::move(p));
    } else if (field == "key") {
      f.keys_.emplace_back(value);
    } else {
      auto prefix = IpPrefix::parse(value);
      if (!prefix) {
        *why = "filter " + std::string(field) + "='" + clip(value) +
               "' is not an address or CIDR (10.0.0.0/8, 2001:db8::/32)";
        return std::nullopt;
      }
      (field == "src" ? f.src_ : f.dst_).push_back(*prefix);
    }
  }
  return f;
}

bool HistoryFilter::matches(std::string_view key) const {
  if (!keys_.empty() && std::find(keys_.begin(), keys_.end(), key) == keys_.end()) return false;
  auto address_in = [](std::string_view text, const std::vector<IpPrefix>& prefixes) {
    if (prefixes.empty()) return true;
    core::IpAddr a;
    if (!core::parse_ip(text.data(), text.data() + text.size(), a)) return false;
    for (const IpPrefix& p : prefixes)
      if (p.contains(a)) return true;
    return false;
  };
  auto protocol_in = [this](std::string_view name) {
    if (protocols_.empty()) return true;
    for (const std::string& p : protocols_)
      if (iequal(name, p)) return true;
    return false;
  };
  switch (dimension_) {
    case Dimension::kProtocol:
      return protocol_in(key);
    case Dimension::kSrc:
      return address_in(key, src_);
    case Dimension::kDst:
      return address_in(key, dst_);
    case Dimension::kConversation: {
      if (protocols_.empty() && src_.empty() && dst_.empty()) return true;
      std::string_view src, dst, protocol;
      if (!split_conversation_key(key, &src, &dst, &protocol)) return false;
      return protocol_in(protocol) && address_in(src, src_) && address_in(dst, dst_);
    }
  }
  return false;
}

// ---- The cover ----

std::vector<HistoryKey> plan_cover(std::span<const HistoryKey> index, HistoryRange range,
                                   core::TimeMs step_ms) {
  auto fits = [&](const HistoryKey& k) {
    const core::TimeMs end = k.start + resolution_ms(k.resolution);
    if (k.start < range.from || end > range.to) return false;
    return step_ms <= 0 || (k.start - range.from) / step_ms == (end - 1 - range.from) / step_ms;
  };
  // Per origin, the starts of the days and hours chosen (usually one origin; a handful at most).
  struct Chosen {
    std::string_view origin;
    std::vector<core::TimeMs> days, hours;
  };
  std::vector<Chosen> chosen;
  auto of = [&chosen](std::string_view origin) -> Chosen& {
    for (Chosen& c : chosen)
      if (c.origin == origin) return c;
    chosen.push_back({origin, {}, {}});
    return chosen.back();
  };
  auto has = [](const std::vector<core::TimeMs>& sorted, core::TimeMs start) {
    return std::binary_search(sorted.begin(), sorted.end(), start);
  };
  std::vector<bool> use(index.size(), false);
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i].resolution != Resolution::kDay || !fits(index[i])) continue;
    use[i] = true;
    of(index[i].origin).days.push_back(index[i].start);
  }
  for (Chosen& c : chosen) std::sort(c.days.begin(), c.days.end());
  for (size_t i = 0; i < index.size(); ++i) {
    const HistoryKey& k = index[i];
    if (k.resolution != Resolution::kHour || !fits(k)) continue;
    Chosen& c = of(k.origin);
    if (has(c.days, core::floor_div(k.start, kDayMs) * kDayMs)) continue;
    use[i] = true;
    c.hours.push_back(k.start);
  }
  for (Chosen& c : chosen) std::sort(c.hours.begin(), c.hours.end());
  std::vector<HistoryKey> out;
  for (size_t i = 0; i < index.size(); ++i) {
    const HistoryKey& k = index[i];
    if (k.resolution == Resolution::kMinute && fits(k)) {
      const Chosen& c = of(k.origin);
      use[i] = !has(c.days, core::floor_div(k.start, kDayMs) * kDayMs) &&
               !has(c.hours, core::floor_div(k.start, kHourMs) * kHourMs);
    }
    if (use[i]) out.push_back(k);
  }
  return out;
}

Cover load_cover(Store& store, Dimension d, HistoryRange requested, core::TimeMs step_ms) {
  Cover c;
  c.store = &store;
  c.info.dimension = d;
  c.info.resolution = alignment_for(requested.length());
  c.info.range = align_range(requested, c.info.resolution);
  const std::vector<HistoryKey> index = store.history_index(d, c.info.range.from, c.info.range.to);
  const std::vector<HistoryKey> keys = plan_cover(index, c.info.range, step_ms);
  if (!keys.empty()) c.buckets = store.history_buckets(d, keys);
  c.info.buckets = c.buckets.size();
  return c;
}

void apply_filter(std::span<HistoryBucket> buckets, const HistoryFilter& filter) {
  if (filter.empty()) return;
  for (HistoryBucket& b : buckets) {
    std::erase_if(b.entries, [&](const HistoryEntry& e) { return !filter.matches(e.key); });
    // Keys cut into "other" cannot be matched: the filtered totals are the matching listed
    // keys' only, while cut_bytes still bounds a matching key that was cut (absent_bound).
    b.total_bytes = b.total_records = 0;
    for (const HistoryEntry& e : b.entries) {
      b.total_bytes += e.bytes;
      b.total_records += e.records;
    }
    b.other_bytes = b.other_records = 0;
  }
}

// ---- Top ----

std::vector<uint32_t> rank_keys(const Merged& merged, size_t limit) {
  std::vector<uint32_t> order(merged.keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  auto before = [&](uint32_t a, uint32_t b) {
    return ranks_before(merged.keys[a], merged.keys[b]);
  };
  if (order.size() > limit) {
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(limit), order.end(),
                     before);
    order.resize(limit);
  }
  std::sort(order.begin(), order.end(), before);
  return order;
}

TopAnswer top_of(const CoverInfo& info, std::span<const HistoryBucket> buckets, size_t limit,
                 bool filtered) {
  TopAnswer a;
  a.info = info;
  a.filtered = filtered;
  Merged merged = merge_buckets(buckets);
  a.total_bytes = merged.total_bytes;
  a.total_records = merged.total_records;
  a.absent_bound = merged.absent_bound;
  a.exact = true;
  for (const HistoryBucket& b : buckets)
    a.exact = a.exact && b.cut_bytes == 0 && b.error_bytes == 0;

  const std::vector<uint32_t> order = rank_keys(merged, limit);
  std::vector<bool> in_rows(merged.keys.size(), false);
  uint64_t row_bytes = 0, row_records = 0;
  a.rows.reserve(order.size());
  for (uint32_t i : order) {
    MergedKey& k = merged.keys[i];
    in_rows[i] = true;
    row_bytes += k.bytes;
    row_records += k.records;
    TopRow r;
    r.key = std::move(k.key);
    r.bytes = k.bytes;
    r.records = k.records;
    r.error_bytes = k.error_bytes;
    r.share = a.total_bytes ? static_cast<double>(k.bytes) / static_cast<double>(a.total_bytes) : 0;
    a.rows.push_back(std::move(r));
  }
  a.other_bytes = a.total_bytes - std::min(a.total_bytes, row_bytes);
  a.other_records = a.total_records - std::min(a.total_records, row_records);
  if (!a.exact) {
    // A listed key below the rows is bounded by its own bytes + error_bytes, which may exceed
    // the last row's; fold those into absent_bound so the contract's one bound holds.
    const uint64_t last = a.rows.empty() ? 0 : a.rows.back().bytes + a.rows.back().error_bytes;
    for (size_t i = 0; i < merged.keys.size(); ++i) {
      if (in_rows[i]) continue;
      const uint64_t bound = merged.keys[i].bytes + merged.keys[i].error_bytes;
      if (bound > last) a.absent_bound = std::max(a.absent_bound, bound);
    }
  }
  return a;
}

TopAnswer history_top(Store& store, Dimension d, HistoryRange requested, size_t limit,
                      const HistoryFilter& filter) {
  assert(limit >= 1);
  Cover c = load_cover(store, d, requested);
  apply_filter(c.buckets, filter);
  return top_of(c.info, c.buckets, limit, !filter.empty());
}

// ---- Series ----

core::TimeMs series_step(HistoryRange aligned, Resolution r, core::TimeMs requested_step) {
  const core::TimeMs unit = resolution_ms(r);
  if (requested_step <= 0) {
    const core::TimeMs units = std::max<core::TimeMs>(1, aligned.length() / unit);
    const core::TimeMs per_point = (units + static_cast<core::TimeMs>(kSeriesPoints) - 1) /
                                   static_cast<core::TimeMs>(kSeriesPoints);
    return std::max<core::TimeMs>(1, per_point) * unit;
  }
  return round_up(std::max(requested_step, kMinuteMs), unit);
}

SeriesAnswer history_series(Store& store, Dimension d, HistoryRange requested, core::TimeMs step_ms,
                            std::optional<std::string_view> key, size_t limit,
                            const HistoryFilter& filter) {
  assert(limit >= 1);
  SeriesAnswer a;
  a.filtered = !filter.empty();
  const Resolution r = alignment_for(requested.length());
  a.step_ms = series_step(align_range(requested, r), r, step_ms);

  // The keys: the one asked for, or the top of the range exactly as /api/top ranks them (its
  // cover may use coarser buckets than the steps allow, and ranks cut keys the same way).
  std::vector<std::string> keys;
  if (key) {
    keys.emplace_back(*key);
  } else {
    TopAnswer top = history_top(store, d, requested, limit, filter);
    for (TopRow& row : top.rows) keys.push_back(std::move(row.key));
  }

  Cover c = load_cover(store, d, requested, a.step_ms);
  apply_filter(c.buckets, filter);
  a.info = c.info;
  const HistoryRange range = c.info.range;
  const size_t n = static_cast<size_t>((range.length() + a.step_ms - 1) / a.step_ms);
  a.times.resize(n);
  for (size_t i = 0; i < n; ++i) a.times[i] = range.from + static_cast<core::TimeMs>(i) * a.step_ms;
  a.total_bytes.assign(n, 0);
  std::vector<uint64_t> total_records(n, 0);
  std::vector<bool> present(n, false);

  a.series.resize(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    a.series[k].key = keys[k];
    a.series[k].bytes.assign(n, 0);
    a.series[k].records.assign(n, 0);
    a.series[k].error_bytes.assign(n, 0);
  }
  for (const HistoryBucket& b : c.buckets) {
    const size_t i = static_cast<size_t>((b.start - range.from) / a.step_ms);
    if (i >= n) continue;  // outside the plan; cannot happen with a conforming store
    present[i] = true;
    a.total_bytes[i] += b.total_bytes;
    total_records[i] += b.total_records;
    for (SeriesLine& line : a.series) {
      const auto it =
          std::lower_bound(b.entries.begin(), b.entries.end(), line.key,
                           [](const HistoryEntry& e, const std::string& k) { return e.key < k; });
      if (it != b.entries.end() && it->key == line.key) {
        line.bytes[i] += it->bytes;
        line.records[i] += it->records;
        line.error_bytes[i] += b.error_bytes;
      } else {
        line.error_bytes[i] += b.cut_bytes;
      }
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (!present[i]) a.missing.push_back(i);
  if (!key) {
    SeriesLine other;
    other.key = "other";
    other.bytes = a.total_bytes;
    other.records = total_records;
    for (const SeriesLine& line : a.series)
      for (size_t i = 0; i < n; ++i) {
        other.bytes[i] -= std::min(other.bytes[i], line.bytes[i]);
        other.records[i] -= std::min(other.records[i], line.records[i]);
      }
    a.series.push_back(std::move(other));
  }
  return a;
}

// ---- Sankey ----

SankeyAnswer sankey_of(TopAnswer top) {
  SankeyAnswer s;
  std::vector<std::string> sources, protocols, destinations;
  std::map<std::pair<std::string, std::string>, size_t> link_at;
  std::vector<SankeyLink> first, second;
  auto add_node = [](std::vector<std::string>& column, std::string name) {
    if (std::find(column.begin(), column.end(), name) == column.end())
      column.push_back(std::move(name));
  };
  auto add_link = [&](std::vector<SankeyLink>& links, std::string from, std::string to,
                      uint64_t value) {
    auto [it, fresh] = link_at.try_emplace({from, to}, links.size());
    if (fresh) links.push_back({std::move(from), std::move(to), 0});
    links[it->second].value += value;
  };
  for (const TopRow& row : top.rows) {
    std::string_view src, dst, protocol;
    if (!split_conversation_key(row.key, &src, &dst, &protocol)) continue;
    std::string s_node = "src " + std::string(src);
    std::string p_node = "proto " + std::string(protocol);
    std::string d_node = "dst " + std::string(dst);
    add_node(sources, s_node);
    add_node(protocols, p_node);
    add_node(destinations, d_node);
    add_link(first, s_node, p_node, row.bytes);
    add_link(second, std::move(p_node), std::move(d_node), row.bytes);
  }
  for (auto* column : {&sources, &protocols, &destinations})
    for (std::string& name : *column) s.nodes.push_back(std::move(name));
  s.links = std::move(first);
  for (SankeyLink& l : second) s.links.push_back(std::move(l));
  s.top = std::move(top);
  return s;
}

SankeyAnswer history_sankey(Store& store, HistoryRange requested, size_t limit,
                            const HistoryFilter& filter) {
  return sankey_of(history_top(store, Dimension::kConversation, requested, limit, filter));
}

}  // namespace netpulse::store
