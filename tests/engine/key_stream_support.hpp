// Appending to a KeyStream as Pipeline::route_keys does, one batch of records at a time, for the
// tests of the stream and of the shards that read it. Header-only.
#pragma once

#include <cstdint>
#include <vector>

#include "core/flow_record.hpp"
#include "engine/record_buffer.hpp"

namespace netpulse::engine::testing {

// Appends the records keyed by their src: room made once, then each record packed in one unit
// at the stream's end when its key is IPv4 and its time packs, else escaped.
inline void append_keys(KeyStream& stream, const std::vector<core::FlowRecord>& batch) {
  if (batch.empty()) return;
  stream.prepare(batch.size(), batch.front().time);
  PackedKey* at = stream.end();
  for (const core::FlowRecord& r : batch) {
    const int64_t dt = KeyStream::offset(r.time, stream.base());
    at = !r.src.is_v6 && KeyStream::packs(dt)
             ? KeyStream::put4(at, dt, r.protocol, r.bytes, r.src.v4_value())
             : KeyStream::put_escaped(at, r.time, r.protocol, r.bytes, r.src);
  }
  stream.end_at(at);
}

}  // namespace netpulse::engine::testing
