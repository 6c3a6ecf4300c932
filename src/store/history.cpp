#include "store/history.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

namespace netpulse::store {
namespace {

// The entries blob (the `entries` column of table history; docs/history.md):
//
//   blob   := format count entry{count}
//   format := 0x01                       (one byte; a later layout gets a new number)
//   entry  := shared suffix_len suffix bytes records
//
// Every number is an unsigned LEB128 varint (7 bits a byte, low group first, high bit set on
// every byte but the last; at most 10 bytes, no bit beyond 64). `shared` is how many leading
// bytes the key has in common with the previous entry's key (0 for the first), `suffix` the
// suffix_len bytes after them: keys are sorted, so neighbouring addresses share most of their
// text. Keys compare as unsigned bytes (std::string's order) and are strictly ascending, which
// decode checks together with truncation (the count catches a cut between entries) and
// trailing bytes. An empty bucket is 0x01 0x00.
constexpr char kFormat = 0x01;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view blob, size_t& pos, uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (pos >= blob.size()) return false;
    const auto byte = static_cast<uint8_t>(blob[pos++]);
    const uint64_t group = byte & 0x7f;
    // The tenth byte may carry only the 64th bit.
    if (shift == 63 && group > 1) return false;
    v |= group << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Most bytes first; ties: the smaller key first (a stable, reproducible order).
bool ranks_before(uint64_t a_bytes, std::string_view a_key, uint64_t b_bytes,
                  std::string_view b_key) {
  if (a_bytes != b_bytes) return a_bytes > b_bytes;
  return a_key < b_key;
}

// Marks which of n items are in the top m of (bytes desc, key asc). O(n) on average.
// alloc: where the n-long order comes from.
template <typename BytesOf, typename KeyOf, typename Alloc = std::allocator<uint32_t>>
std::vector<bool> top_m(size_t n, size_t m, BytesOf bytes_of, KeyOf key_of,
                        const Alloc& alloc = Alloc()) {
  std::vector<bool> keep(n, m >= n);
  if (m >= n || m == 0) return keep;
  std::vector<uint32_t, Alloc> order(n, alloc);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(m - 1), order.end(),
                   [&](uint32_t a, uint32_t b) {
                     return ranks_before(bytes_of(a), key_of(a), bytes_of(b), key_of(b));
                   });
  for (size_t i = 0; i < m; ++i) keep[order[i]] = true;
  return keep;
}

// The first min(n, 8) bytes at p as a big-endian number, zero-padded on the right: comparing
// two keys' first 16 bytes so gives their order unless those are equal.
uint64_t big_endian(const char* p, size_t n) {
  uint64_t v;
  if (n >= 8) {
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
  }
  v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | (i < n ? static_cast<unsigned char>(p[i]) : 0u);
  return v;
}

// A key's first 16 bytes as two integers and its length: keys compare by these, the text only
// when both are longer (std::string's order, at a fraction of memcmp's cost per comparison).
struct PackedKey {
  uint64_t hi = 0, lo = 0;
  uint32_t size = 0;
  uint32_t index = 0;  // the caller's
};
PackedKey pack_key(std::string_view key, uint32_t index = 0) {
  return PackedKey{big_endian(key.data(), key.size()),
                   key.size() > 8 ? big_endian(key.data() + 8, key.size() - 8) : 0,
                   static_cast<uint32_t>(std::min<size_t>(key.size(), UINT32_MAX)), index};
}
// x < y, where text(k) is the key k was packed from.
template <class Text>
bool packed_less(const PackedKey& x, const PackedKey& y, Text&& text) {
  if (x.hi != y.hi) return x.hi < y.hi;
  if (x.lo != y.lo) return x.lo < y.lo;
  // Equal zero-padded prefixes and both keys within 16 bytes: the shorter is a prefix.
  if (x.size <= 16 && y.size <= 16) return x.size < y.size;
  return text(x) < text(y);
}

}  // namespace

void sort_entries(std::vector<HistoryEntry>& entries) {
  // In place, with the thread's scratch: a bucket's entries are half a megabyte, and a block
  // that size is mapped for it and unmapped when freed, which interrupts every other core
  // running the process (the engine's) to flush its TLB.
  thread_local std::vector<PackedKey> packed;
  packed.clear();
  packed.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    packed.push_back(pack_key(entries[i].key, static_cast<uint32_t>(i)));
  std::sort(packed.begin(), packed.end(), [&](const PackedKey& x, const PackedKey& y) {
    return packed_less(x, y, [&](const PackedKey& k) -> const std::string& { return entries[k.index].key; });
  });
  // packed[i].index is where entry i comes from: follow each cycle of that permutation once.
  for (size_t i = 0; i < packed.size(); ++i) {
    if (packed[i].index == i || packed[i].index == UINT32_MAX) continue;
    HistoryEntry held = std::move(entries[i]);
    size_t at = i;
    for (;;) {
      const size_t from = packed[at].index;
      packed[at].index = UINT32_MAX;  // placed
      if (from == i) {
        entries[at] = std::move(held);
        break;
      }
      entries[at] = std::move(entries[from]);
      at = from;
    }
  }
}

const char* to_string(Dimension d) {
  switch (d) {
    case Dimension::kProtocol:
      return "protocol";
    case Dimension::kSrc:
      return "src";
    case Dimension::kDst:
      return "dst";
    case Dimension::kConversation:
      return "conversation";
  }
  return "?";
}

std::optional<Dimension> parse_dimension(std::string_view name) {
  for (Dimension d : kDimensions) {
    if (name == to_string(d)) return d;
  }
  return std::nullopt;
}

const char* to_string(Resolution r) {
  switch (r) {
    case Resolution::kMinute:
      return "minute";
    case Resolution::kHour:
      return "hour";
    case Resolution::kDay:
      return "day";
  }
  return "?";
}

std::optional<Resolution> parse_resolution(std::string_view name) {
  for (Resolution r : kResolutions) {
    if (name == to_string(r)) return r;
  }
  return std::nullopt;
}

core::TimeMs resolution_ms(Resolution r) {
  switch (r) {
    case Resolution::kMinute:
      return 60'000;
    case Resolution::kHour:
      return 3'600'000;
    case Resolution::kDay:
      return 86'400'000;
  }
  return 60'000;
}

std::string conversation_key(std::string_view src, std::string_view dst,
                             std::string_view protocol) {
  std::string key;
  key.reserve(src.size() + dst.size() + protocol.size() + 2);
  key.append(src);
  key.push_back(' ');
  key.append(dst);
  key.push_back(' ');
  key.append(protocol);
  return key;
}

bool split_conversation_key(std::string_view key, std::string_view* src, std::string_view* dst,
                            std::string_view* protocol) {
  // Addresses never contain a space, so the first two spaces split; the protocol is the rest.
  const size_t a = key.find(' ');
  if (a == std::string_view::npos || a == 0) return false;
  const size_t b = key.find(' ', a + 1);
  if (b == std::string_view::npos || b == a + 1 || b + 1 >= key.size()) return false;
  if (src) *src = key.substr(0, a);
  if (dst) *dst = key.substr(a + 1, b - a - 1);
  if (protocol) *protocol = key.substr(b + 1);
  return true;
}

std::string encode_entries(std::span<const HistoryEntry> entries) {
  std::string out;
  size_t reserve = 1;
  for (const HistoryEntry& e : entries) reserve += e.key.size() + 8;
  out.reserve(reserve);
  out.push_back(kFormat);
  put_varint(out, entries.size());
  std::string_view previous;
  for (const HistoryEntry& e : entries) {
    const std::string_view key = e.key;
    const size_t limit = std::min(previous.size(), key.size());
    size_t shared = 0;
    while (shared < limit && previous[shared] == key[shared]) ++shared;
    put_varint(out, shared);
    put_varint(out, key.size() - shared);
    out.append(key.substr(shared));
    put_varint(out, e.bytes);
    put_varint(out, e.records);
    previous = key;
  }
  return out;
}

bool decode_entries(std::string_view blob, std::vector<HistoryEntry>& out) {
  out.clear();
  if (blob.empty() || blob[0] != kFormat) return false;
  size_t pos = 1;
  uint64_t count = 0;
  if (!get_varint(blob, pos, count)) return false;
  // Every entry takes at least four bytes: a count beyond that is a lie, not a reason to reserve.
  if (count > (blob.size() - pos) / 4) return false;
  // Reserved once, so a reference to the previous entry stays valid while the next is built
  // in place (/api/top decodes ~2 million entries per request).
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t shared = 0, suffix = 0;
    if (!get_varint(blob, pos, shared) || !get_varint(blob, pos, suffix)) return false;
    if (suffix > blob.size() - pos) return false;
    const std::string_view tail = blob.substr(pos, suffix);
    pos += suffix;
    if (out.empty()) {
      if (shared != 0) return false;
      out.emplace_back().key.assign(tail);
    } else {
      const std::string& previous = out.back().key;
      if (shared > previous.size()) return false;
      // Strictly ascending, decided at the first byte after the shared part when it differs.
      bool ascending;
      if (shared == previous.size()) {
        ascending = !tail.empty();
      } else if (tail.empty()) {
        ascending = false;  // a proper prefix of the previous key sorts before it
      } else if (tail[0] != previous[shared]) {
        ascending =
            static_cast<unsigned char>(tail[0]) > static_cast<unsigned char>(previous[shared]);
      } else {
        ascending = std::string_view(previous).substr(shared) < tail;  // not a shortest form
      }
      if (!ascending) return false;  // unsorted or repeated
      std::string key;
      key.reserve(shared + tail.size());
      key.append(previous, 0, shared);
      key.append(tail);
      out.emplace_back().key = std::move(key);
    }
    HistoryEntry& e = out.back();
    if (!get_varint(blob, pos, e.bytes) || !get_varint(blob, pos, e.records)) return false;
  }
  return pos == blob.size();
}

void cut_to_top(HistoryBucket& bucket, size_t m) {
  auto& entries = bucket.entries;
  if (entries.size() <= m) return;
  const std::vector<bool> keep = top_m(
      entries.size(), m, [&](size_t i) { return entries[i].bytes; },
      [&](size_t i) -> std::string_view { return entries[i].key; });
  size_t w = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (keep[i]) {
      if (w != i) entries[w] = std::move(entries[i]);
      ++w;
      continue;
    }
    bucket.other_bytes += entries[i].bytes;
    bucket.other_records += entries[i].records;
    // A listed key may be short by error_bytes, so once moved out it may have had that much more.
    bucket.cut_bytes = std::max(bucket.cut_bytes, entries[i].bytes + bucket.error_bytes);
  }
  entries.resize(w);
}

// Memory straight from mmap when on, handed back with munmap as soon as it is freed; malloc's
// otherwise. A roll-up holds an hour's distinct keys (hundreds of thousands of conversations)
// for a moment once an hour. Taken from the writer thread's malloc arena, those pages stayed at
// the arena's top as free memory that malloc_trim does not return for a thread's arena, and
// resident memory stepped up at every hour boundary (the soak of 2026-12-04).
template <class T>
class Mapped {
 public:
  using value_type = T;
  explicit Mapped(bool on) noexcept : on_(on) {}
  template <class U>
  Mapped(const Mapped<U>& other) noexcept : on_(other.on()) {}
  bool on() const noexcept { return on_; }

  T* allocate(size_t n) {
    if (!on_) return std::allocator<T>().allocate(n);
    void* p = ::mmap(nullptr, std::max<size_t>(n * sizeof(T), 1), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (!on_) return std::allocator<T>().deallocate(p, n);
    ::munmap(p, std::max<size_t>(n * sizeof(T), 1));
  }
  friend bool operator==(const Mapped& a, const Mapped& b) noexcept { return a.on_ == b.on_; }

 private:
  bool on_;
};

namespace detail {

// Hash aggregation of bucket entries by key, then one sort of the distinct keys. /api/top merges
// ~200 buckets of 10,000 keys mostly shared between them: each entry costs one probe, whatever
// the number of buckets (a k-way merge pays log2(k) key comparisons per entry, twice as slow
// there). Keys are packed (PackedKey: index into keys and sums, kEmpty in a free slot).
class KeySums {
 public:
  // own: copy each new key, so a bucket may be freed once added (a roll-up reads its parts one
  // at a time), and take the tables from mmap (Mapped); otherwise the keys are views into the
  // buckets, which must outlive take().
  explicit KeySums(size_t expected, bool own)
      : keys_(Mapped<std::string_view>(own)),
        packed_(Mapped<Key>(own)),
        sums_(Mapped<Sums>(own)),
        table_(Mapped<Key>(own)) {
    keys_.reserve(expected);
    packed_.reserve(expected);
    sums_.reserve(expected);
    while (capacity_ < 2 * expected) capacity_ *= 2;
    table_.assign(capacity_, Key{0, 0, 0, kEmpty});
  }

  ~KeySums() {
    for (auto [chunk, size] : arena_) Mapped<char>(true).deallocate(chunk, size);
  }
  KeySums(const KeySums&) = delete;
  KeySums& operator=(const KeySums&) = delete;

  void add(const HistoryBucket& b) {
    merged_.total_bytes += b.total_bytes;
    merged_.total_records += b.total_records;
    merged_.absent_bound += b.cut_bytes;
    // Once the table outgrows the caches, fetch the slot of an entry a few ahead.
    constexpr size_t kAhead = 8;
    const size_t n = b.entries.size();
    for (size_t j = 0; j < n; ++j) {
      if (j + kAhead < n) __builtin_prefetch(&table_[slot_of(pack_key(b.entries[j + kAhead].key))]);
      const HistoryEntry& e = b.entries[j];
      const std::string_view key = e.key;
      Key k = pack_key(key);
      size_t s = slot_of(k);
      uint32_t i;
      for (;;) {
        const Key& slot = table_[s];
        i = slot.index;
        if (i == kEmpty) break;
        if (slot.hi == k.hi && slot.lo == k.lo && slot.size == k.size &&
            (k.size <= 16 || keys_[i] == key)) {
          break;
        }
        s = (s + 1) & (capacity_ - 1);
      }
      if (i == kEmpty) {
        i = static_cast<uint32_t>(keys_.size());
        k.index = i;
        table_[s] = k;
        keys_.push_back(own() ? keep(key) : key);
        packed_.push_back(k);
        sums_.emplace_back();
        if (2 * keys_.size() > capacity_) grow();
      }
      Sums& sum = sums_[i];
      sum.bytes += e.bytes;
      sum.records += e.records;
      sum.listing_cut += b.cut_bytes;
      sum.listing_error += b.error_bytes;
    }
  }

  size_t size() const { return keys_.size(); }
  std::string_view key(size_t i) const { return keys_[i]; }
  uint64_t bytes(size_t i) const { return sums_[i].bytes; }
  uint64_t records(size_t i) const { return sums_[i].records; }
  // The bound: error_bytes of the buckets listing the key plus cut_bytes of the others, i.e.
  // absent_bound - (cut_bytes of the listing buckets) + (error_bytes of the listing buckets).
  uint64_t error_bytes(size_t i) const {
    return merged_.absent_bound - sums_[i].listing_cut + sums_[i].listing_error;
  }
  // Totals and absent_bound so far; keys stay empty.
  const Merged& totals() const { return merged_; }

  Merged take() && {
    decltype(table_)(table_.get_allocator()).swap(table_);  // freed before the output grows
    std::sort(packed_.begin(), packed_.end(), [&](const Key& x, const Key& y) {
      return packed_less(x, y, [&](const Key& k) { return keys_[k.index]; });
    });
    merged_.keys.reserve(packed_.size());
    for (const Key& k : packed_) {
      merged_.keys.push_back(
          {std::string(keys_[k.index]), bytes(k.index), records(k.index), error_bytes(k.index)});
    }
    return std::move(merged_);
  }

 private:
  using Key = PackedKey;
  struct Sums {
    uint64_t bytes = 0, records = 0, listing_cut = 0, listing_error = 0;
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  // A copy of key in the arena: mapped chunks of 256 KiB (or one the key's size), not a
  // std::string (and an allocation) per key; an hour of conversations is a few hundred thousand
  // distinct keys.
  std::string_view keep(std::string_view key) {
    if (key.size() > arena_left_) {
      const size_t size = std::max(kChunk, key.size());
      arena_.push_back({Mapped<char>(true).allocate(size), size});
      arena_next_ = arena_.back().first;
      arena_left_ = size;
    }
    std::memcpy(arena_next_, key.data(), key.size());
    const std::string_view copy(arena_next_, key.size());
    arena_next_ += key.size();
    arena_left_ -= key.size();
    return copy;
  }

  size_t slot_of(const Key& k) const {
    uint64_t h = k.hi * 0x9E3779B97F4A7C15ull ^ (k.lo + k.size) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return static_cast<size_t>(h * 0x94D049BB133111EBull >> 20) & (capacity_ - 1);
  }
  void grow() {
    capacity_ *= 2;
    table_.assign(capacity_, Key{0, 0, 0, kEmpty});
    for (const Key& k : packed_) {
      size_t s = slot_of(k);
      while (table_[s].index != kEmpty) s = (s + 1) & (capacity_ - 1);
      table_[s] = k;
    }
  }

  bool own() const { return keys_.get_allocator().on(); }

  Merged merged_;
  static constexpr size_t kChunk = 256 * 1024;
  std::vector<std::pair<char*, size_t>> arena_;  // the copied keys when own()
  char* arena_next_ = nullptr;
  size_t arena_left_ = 0;
  std::vector<std::string_view, Mapped<std::string_view>> keys_;
  std::vector<Key, Mapped<Key>> packed_;
  std::vector<Sums, Mapped<Sums>> sums_;
  // Open addressing, linear probing, at most half full; a slot holds the packed key, so a probe
  // reads one place.
  size_t capacity_ = 1024;
  std::vector<Key, Mapped<Key>> table_;
};

}  // namespace detail

using detail::KeySums;

Merged merge_buckets(std::span<const HistoryBucket> buckets) {
  size_t most = 0;
  for (const HistoryBucket& b : buckets) most = std::max(most, b.entries.size());
  KeySums sums(most, /*own=*/false);
  for (const HistoryBucket& b : buckets) sums.add(b);
  return std::move(sums).take();
}

// An hour of conversations is a few hundred thousand keys: starting the tables at a few thousand
// saves the first dozen doublings (each a new mapping and a copy); a protocol hour, with a
// handful of keys, touches only the hash table's 8,192 slots (192 KiB).
RollUp::RollUp(Resolution to, core::TimeMs start, size_t m)
    : m_(m), sums_(std::make_unique<KeySums>(4096, /*own=*/true)) {
  out_.resolution = to;
  out_.start = start;
}

RollUp::~RollUp() = default;

void RollUp::add(const HistoryBucket& part) {
  if (parts_ == 0) {
    out_.dimension = part.dimension;
    out_.origin = part.origin;
  } else if (part.dimension != out_.dimension || part.origin != out_.origin) {
    throw std::invalid_argument("roll_up: parts of different dimensions or origins");
  }
  ++parts_;
  out_.other_bytes += part.other_bytes;
  out_.other_records += part.other_records;
  sums_->add(part);
}

HistoryBucket RollUp::take() && {
  HistoryBucket out = std::move(out_);
  const KeySums& sums = *sums_;
  const Merged& totals = sums.totals();
  out.total_bytes = totals.total_bytes;
  out.total_records = totals.total_records;
  out.cut_bytes = totals.absent_bound;
  // The top m straight from the sums: only the kept keys become strings, and only they are
  // sorted (merge_buckets would copy and sort every key of the hour).
  const size_t n = sums.size();
  const std::vector<bool> keep = top_m(
      n, m_, [&](size_t i) { return sums.bytes(i); }, [&](size_t i) { return sums.key(i); },
      Mapped<uint32_t>(true));
  std::vector<uint32_t> kept;
  kept.reserve(std::min(m_, n));
  for (size_t i = 0; i < n; ++i) {
    if (keep[i]) {
      kept.push_back(static_cast<uint32_t>(i));
      out.error_bytes = std::max(out.error_bytes, sums.error_bytes(i));
    } else {
      out.other_bytes += sums.bytes(i);
      out.other_records += sums.records(i);
      out.cut_bytes = std::max(out.cut_bytes, sums.bytes(i) + sums.error_bytes(i));
    }
  }
  std::sort(kept.begin(), kept.end(),
            [&](uint32_t a, uint32_t b) { return sums.key(a) < sums.key(b); });
  out.entries.reserve(kept.size());
  for (uint32_t i : kept) {
    out.entries.push_back({std::string(sums.key(i)), sums.bytes(i), sums.records(i)});
  }
  sums_.reset();
  return out;
}

HistoryBucket roll_up(std::span<const HistoryBucket> parts, Resolution to, core::TimeMs start,
                      size_t m) {
  RollUp r(to, start, m);
  for (const HistoryBucket& p : parts) r.add(p);
  return std::move(r).take();
}

}  // namespace netpulse::store
