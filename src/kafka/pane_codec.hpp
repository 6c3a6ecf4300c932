// The messages Kafka instances of `netpulse process` publish for `netpulse merge`: the per-key
// sums of one pane (one time unit) of one source partition, and marks saying how far a
// partition is complete. Text, so `kcat` shows them as they are:
//
//   netpulse-pane 1 TOPIC PARTITION PARTITIONS UNIT_MS IP_KEY PANE CHUNK CHUNKS RECORDS
//   s FLOOR REMOVED                   (a summarized pane only, chunk 0 only: see below)
//   h REGISTERS                       (  "  : 8192 hex digits, the 4096 HyperLogLog registers)
//   f COUNTER COUNTER ...             (  "  : 640 signed integers, the F2 sketch row after row)
//   p PROTOCOL BYTES RECORDS          (one line per protocol)
//   a ADDRESS BYTES RECORDS           (one line per address)
//
//   netpulse-mark 1 TOPIC PARTITION PARTITIONS UNIT_MS IP_KEY complete-below PANE | idle | end
//
//   netpulse-sample 1 TOPIC PARTITION PARTITIONS UNIT_MS IP_KEY PANE CHUNK CHUNKS DELTA
//   c SOURCE DESTINATION PROTOCOL BYTES   (one line per record kept)
//
// A sample message carries the records a pane's threshold sample kept (engine/
// history_accumulator.hpp: each record of w bytes kept with probability min(1, w / DELTA);
// DELTA 0: every record), from which merge estimates the conversations of traffic history (the
// pane's sums hold no conversations). Published with its pane, before the mark that covers it;
// a merge that does not know the kind rejects the message and keeps the pane. Key
// "TOPIC/PARTITION/PANE/sample/CHUNK"; its candidates in the order the records came, so a
// replayed pane's sample encodes to the same messages.
//
// A pane with many addresses is cut into chunks (a Kafka message has a size limit); entries
// are sorted so a replayed pane encodes to exactly the same messages. Keys:
// "TOPIC/PARTITION/PANE/CHUNK" and "TOPIC/PARTITION/mark". Pure; thread-safe.
//
// A pane that the memory budget summarized (engine::PaneSummary, spec section 9) lists its m
// addresses with lower bounds of their bytes, and chunk 0 carries the summary in three lines,
// all or none: `s` the floor (every address's true bytes are at most what is listed, 0 if not
// listed, plus FLOOR) and the bytes no address holds any more; `h` the HyperLogLog registers,
// two hex digits each (0 to 53), in register order; `f` the F2 sketch's 5 x 128 counters. An
// exact pane has none of them and encodes byte for byte as before they existed; a reader that
// does not know them refuses a summarized pane ("bad pane entry") rather than misread it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "engine/history_accumulator.hpp"
#include "engine/window_shard.hpp"

namespace netpulse::kafka {

// What every message says about where it comes from; merge checks that all agree.
struct SourceInfo {
  std::string topic;
  int32_t partitions = 0;
  int64_t unit_ms = 1000;
  engine::IpKey ip_key = engine::IpKey::kSrc;
  friend bool operator==(const SourceInfo&, const SourceInfo&) = default;
};

struct PaneChunk {
  SourceInfo source;
  int32_t partition = 0;
  int64_t pane = 0;
  uint32_t chunk = 0, chunks = 1;
  uint64_t records = 0;  // the whole pane's accepted records (repeated in every chunk)
  struct Protocol {
    std::string name;
    uint64_t bytes;
    uint32_t records;
  };
  struct Address {
    core::IpAddr ip;
    uint64_t bytes;
    uint32_t records;
  };
  std::vector<Protocol> protocols;  // all in chunk 0
  std::vector<Address> addresses;
  // Chunk 0 of a summarized pane: floor, removed and sketches (summarized = true); else null.
  // Shared and immutable, so a chunk stays a cheap value to copy.
  std::shared_ptr<const engine::PaneSummary> summary;
};

// A pane's conversation sample, or a chunk of it. Protocols by name: ids are per process.
struct SampleChunk {
  SourceInfo source;
  int32_t partition = 0;
  int64_t pane = 0;
  uint32_t chunk = 0, chunks = 1;
  uint64_t delta = 0;
  struct Record {
    core::IpAddr src, dst;
    std::string protocol;
    uint32_t bytes;
  };
  std::vector<Record> records;
};

struct Mark {
  enum class Kind { kCompleteBelow, kIdle, kEnd };
  SourceInfo source;
  int32_t partition = 0;
  Kind kind = Kind::kCompleteBelow;
  int64_t complete_below = 0;  // kCompleteBelow: every pane below it has been published
};

struct EncodedMessage {
  std::string key;
  std::string value;
};

// Addresses per chunk: about 40 bytes each, so a chunk stays well under Kafka's 1 MB default.
inline constexpr size_t kAddressesPerChunk = 16384;

// Encodes a pane's sums as one or more messages, appended to `out`. When sums.summary is
// summarized, chunk 0 carries it (PartitionState trims such a pane to m addresses first).
void encode_pane(const SourceInfo& source, int32_t partition, int64_t pane,
                 const engine::KeySums& sums, const core::ProtocolTable& protocols,
                 std::vector<EncodedMessage>& out, size_t per_chunk = kAddressesPerChunk);
EncodedMessage encode_mark(const SourceInfo& source, const Mark& mark);

// Records a sample message holds at most (about 400 KB of IPv6 records).
inline constexpr size_t kSampleRecordsPerChunk = 4096;

// Encodes a pane's sample (engine::HistoryLog::sample's candidates and threshold) as one or
// more messages, appended to `out`.
void encode_sample(const SourceInfo& source, int32_t partition, int64_t pane,
                   const engine::HistoryChunk& sample, const core::ProtocolTable& protocols,
                   std::vector<EncodedMessage>& out, size_t per_chunk = kSampleRecordsPerChunk);

// Decodes one message. Returns the reason in *why on a malformed message.
struct Decoded {
  std::optional<PaneChunk> pane;
  std::optional<Mark> mark;
  std::optional<SampleChunk> sample;
  const SourceInfo& source() const {
    return pane ? pane->source : mark ? mark->source : sample->source;
  }
};
std::optional<Decoded> decode(std::string_view value, std::string* why);

}  // namespace netpulse::kafka
