// What the NetFlow/IPFIX and sFlow fuzz targets share: the input is a run of datagrams, each a
// two-byte big-endian length and its bytes, from one of four exporters (a byte each), decoded in
// order by one decoder so templates and held data carry from one datagram to the next.
// Properties: a call reports exactly the flows it appends; the flows of the whole run never
// outnumber its bytes (no record takes less than a byte, so a decoder that claims more has
// made records up, e.g. from a zero-length template); held records never outnumber the bytes
// either; the exporters' flow counters add up to no more than the flows reported (an exporter
// forgotten for room takes its counters with it). Each datagram sits in a
// buffer of exactly its size.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "collect/flow_export.hpp"
#include "fuzz_check.hpp"

namespace netpulse::fuzz {

template <class Decoder>
void decode_datagrams(Decoder& decoder, const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  std::vector<collect::ExportedFlow> out;
  uint64_t bytes = 0, flows = 0;
  while (!in.empty()) {
    collect::ExporterAddress from;
    from.address = core::IpAddr::v4(0xc6336401 + (in.byte() & 3));  // 198.51.100.1-4
    from.port = 2055;
    const size_t n = size_t{in.byte()} << 8 | in.byte();
    const std::string_view d = in.take(n);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[d.size() + 1]);
    std::memcpy(buf.get(), d.data(), d.size());
    const size_t before = out.size();
    const collect::DecodeResult r = decoder.decode(buf.get(), d.size(), from, 1'700'000'000'000, out);
    FUZZ_CHECK(out.size() - before == r.flows);
    bytes += d.size();
    flows += r.flows;
    FUZZ_CHECK(flows <= bytes);
    FUZZ_CHECK(r.held <= d.size());
    if (out.size() > 4096) out.clear();
  }
  uint64_t counted = 0;
  for (const auto& e : decoder.exporters()) counted += e.flows;
  FUZZ_CHECK(counted <= flows);
}

}  // namespace netpulse::fuzz
