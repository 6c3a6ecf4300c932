// Traffic history (issue 17): per-minute rollups of bytes and records per protocol, per source
// and destination address and per conversation, with hourly and daily rollups made from them.
// A bucket keeps the top M keys of its dimension plus what was left out ("other"), and two
// bounds that let every answer over it state its error: cut_bytes bounds the bytes of any key
// not listed, error_bytes how much a listed key's stored bytes may fall short of the truth.
// Both are 0 when the bucket is exact. Pure values and functions here; thread-safe.
// Storage: Store::put_history and friends (SQLite and PostgreSQL, same schema); queries over a
// range: store/history_query.hpp. Format of the entries blob and the bounds: docs/history.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace netpulse::store {

enum class Dimension : uint8_t { kProtocol, kSrc, kDst, kConversation };
inline constexpr Dimension kDimensions[] = {Dimension::kProtocol, Dimension::kSrc,
                                            Dimension::kDst, Dimension::kConversation};
// "protocol", "src", "dst", "conversation".
const char* to_string(Dimension d);
std::optional<Dimension> parse_dimension(std::string_view name);

enum class Resolution : uint8_t { kMinute, kHour, kDay };
inline constexpr Resolution kResolutions[] = {Resolution::kMinute, Resolution::kHour,
                                              Resolution::kDay};
// "minute", "hour", "day".
const char* to_string(Resolution r);
std::optional<Resolution> parse_resolution(std::string_view name);
// 60'000, 3'600'000, 86'400'000. Buckets start at multiples of it (UTC).
core::TimeMs resolution_ms(Resolution r);

// A conversation's key text: "SRC DST PROTOCOL" (single spaces; addresses as the line format
// writes them). Protocol, src and dst keys are the protocol name and the address text.
std::string conversation_key(std::string_view src, std::string_view dst, std::string_view protocol);
// Splits a conversation key; false if it is not one.
bool split_conversation_key(std::string_view key, std::string_view* src, std::string_view* dst,
                            std::string_view* protocol);

struct HistoryEntry {
  std::string key;
  uint64_t bytes = 0;
  uint64_t records = 0;
  friend bool operator==(const HistoryEntry&, const HistoryEntry&) = default;
};

// One bucket of one dimension written by one origin.
struct HistoryBucket {
  Resolution resolution = Resolution::kMinute;
  core::TimeMs start = 0;  // a multiple of resolution_ms
  Dimension dimension = Dimension::kProtocol;
  // Which writer: the instance name (process --instance-name), "" for a single writer. Buckets
  // of several origins over the same time add up.
  std::string origin;
  uint64_t total_bytes = 0;  // every record of the bucket, listed or not
  uint64_t total_records = 0;
  uint64_t other_bytes = 0;  // the records of keys not listed
  uint64_t other_records = 0;
  uint64_t cut_bytes = 0;    // any key not listed has at most this many bytes here
  uint64_t error_bytes = 0;  // a listed key's true bytes <= its bytes + error_bytes
  std::vector<HistoryEntry> entries;  // sorted by key, keys unique
  friend bool operator==(const HistoryBucket&, const HistoryBucket&) = default;
};

// Identifies a stored bucket.
struct HistoryKey {
  Resolution resolution = Resolution::kMinute;
  core::TimeMs start = 0;
  std::string origin;
  friend bool operator==(const HistoryKey&, const HistoryKey&) = default;
};

// The entries as one compact blob (the stored form), and back. decode returns false, leaving
// out unspecified, when the blob is malformed (truncated, keys unsorted or repeated).
std::string encode_entries(std::span<const HistoryEntry> entries);
bool decode_entries(std::string_view blob, std::vector<HistoryEntry>& out);

// Sorts entries by key (std::string's order), the way buckets keep them.
void sort_entries(std::vector<HistoryEntry>& entries);

// Keeps the m keys with the most bytes (ties: smaller key first), moving the rest into other
// and raising cut_bytes to the greatest bytes moved. m == 0 keeps none.
void cut_to_top(HistoryBucket& bucket, size_t m);

// One key summed over several buckets, with its bound.
struct MergedKey {
  std::string key;
  uint64_t bytes = 0;
  uint64_t records = 0;
  // true bytes <= bytes + error_bytes: error_bytes of the buckets that list the key plus
  // cut_bytes of those that do not.
  uint64_t error_bytes = 0;
};

// The sum of buckets of one dimension (any resolutions, starts and origins, none twice).
struct Merged {
  uint64_t total_bytes = 0;
  uint64_t total_records = 0;
  // A key listed in no bucket has at most this many bytes (the sum of cut_bytes).
  uint64_t absent_bound = 0;
  std::vector<MergedKey> keys;  // every key listed in any bucket, sorted by key
};
Merged merge_buckets(std::span<const HistoryBucket> buckets);

namespace detail {
class KeySums;
}

// The bucket of resolution `to` starting at `start` made from finer buckets of one origin and
// dimension (the minutes of an hour, the hours of a day), cut to the top m keys. Its bounds
// follow from the parts' (docs/history.md), so a rolled-up answer states its error too.
// The parts are added one at a time and each distinct key is held once, so they need not be in
// memory together: the store writer reads the minutes of an hour one by one.
class RollUp {
 public:
  RollUp(Resolution to, core::TimeMs start, size_t m);
  ~RollUp();
  RollUp(const RollUp&) = delete;
  RollUp& operator=(const RollUp&) = delete;

  // Throws std::invalid_argument for a part of another dimension or origin than the first's.
  void add(const HistoryBucket& part);
  size_t parts() const { return parts_; }
  // The bucket; the RollUp is spent.
  HistoryBucket take() &&;

 private:
  size_t m_;
  size_t parts_ = 0;
  HistoryBucket out_;
  std::unique_ptr<detail::KeySums> sums_;
};

// RollUp over parts already in memory.
HistoryBucket roll_up(std::span<const HistoryBucket> parts, Resolution to, core::TimeMs start,
                      size_t m);

}  // namespace netpulse::store
