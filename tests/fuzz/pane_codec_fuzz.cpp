// The Kafka pane codec (kafka/pane_codec.hpp): merge decodes whatever is on the panes topic.
// Properties: a decoded pane never holds more entries than it has lines; a pane or sample that
// decodes, encoded again and decoded, gives the same source, protocols, addresses, summary and
// sample records (the encoder never writes a duplicate key, so inputs with one are only
// decoded); marks decode alone.
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "fuzz_check.hpp"
#include "kafka/pane_codec.hpp"

using namespace netpulse;

namespace {

using Entries = std::map<std::string, std::pair<uint64_t, uint32_t>>;

Entries entries(const kafka::PaneChunk& p, bool* unique) {
  Entries out;
  *unique = true;
  for (const auto& e : p.protocols)
    *unique &= out.emplace("p " + e.name, std::pair{e.bytes, e.records}).second;
  for (const auto& a : p.addresses)
    *unique &= out.emplace("a " + core::to_string(a.ip), std::pair{a.bytes, a.records}).second;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto d = kafka::decode(text, &why);
  if (!d) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(int(bool(d->pane)) + int(bool(d->mark)) + int(bool(d->sample)) == 1);
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  core::ProtocolTable protocols;
  std::vector<kafka::EncodedMessage> out;
  if (d->pane) {
    const kafka::PaneChunk& p = *d->pane;
    FUZZ_CHECK(p.protocols.size() + p.addresses.size() <= lines + 1);
    bool unique = false;
    const Entries want = entries(p, &unique);
    if (!unique || p.chunks != 1) return 0;  // a chunk of many: its header counts them all
    engine::KeySums sums;
    for (const auto& e : p.protocols) sums.protocols.add(protocols.intern(e.name), e.bytes, e.records);
    for (const auto& a : p.addresses) {
      if (a.ip.is_v6) sums.ip6.add(a.ip.bits, a.bytes, a.records);
      else sums.ip4.add(a.ip.v4_value(), a.bytes, a.records);
    }
    if (p.summary) sums.summary = std::make_unique<engine::PaneSummary>(*p.summary);
    kafka::encode_pane(p.source, p.partition, p.pane, sums, protocols, out, SIZE_MAX);
    FUZZ_CHECK(out.size() == 1);
    auto again = kafka::decode(out[0].value, &why);
    FUZZ_CHECK(again && again->pane);
    bool u2 = false;
    FUZZ_CHECK(entries(*again->pane, &u2) == want);
    FUZZ_CHECK(again->pane->source == p.source && again->pane->partition == p.partition &&
               again->pane->pane == p.pane);
    FUZZ_CHECK(bool(again->pane->summary) == bool(p.summary));
    if (p.summary) {
      const auto& a = *again->pane->summary;
      const auto& b = *p.summary;
      FUZZ_CHECK(a.floor == b.floor && a.removed == b.removed);
      FUZZ_CHECK(std::equal(a.keys.registers().begin(), a.keys.registers().end(), b.keys.registers().begin()));
      FUZZ_CHECK(std::equal(a.squares.counters().begin(), a.squares.counters().end(), b.squares.counters().begin()));
    }
  } else if (d->sample) {
    const kafka::SampleChunk& s = *d->sample;
    FUZZ_CHECK(s.records.size() <= lines + 1);
    if (s.chunks != 1) return 0;
    engine::HistoryChunk c;
    c.delta = s.delta;
    for (const auto& r : s.records) {
      const uint32_t id = protocols.intern(r.protocol);
      if (!r.src.is_v6 && !r.dst.is_v6)
        c.v4.push_back({engine::Conv4{r.src.v4_value(), r.dst.v4_value(), id}, r.bytes});
      else
        c.v6.push_back({engine::Conv6{r.src, r.dst, id}, r.bytes});
    }
    kafka::encode_sample(s.source, s.partition, s.pane, c, protocols, out, SIZE_MAX);
    FUZZ_CHECK(out.size() == 1);
    auto again = kafka::decode(out[0].value, &why);
    FUZZ_CHECK(again && again->sample);
    const kafka::SampleChunk& t = *again->sample;
    FUZZ_CHECK(t.delta == s.delta && t.pane == s.pane && t.source == s.source);
    // IPv4 pairs first, then the others (the encoder's order), each in input order.
    std::vector<std::tuple<std::string, std::string, std::string, uint32_t>> want, got;
    for (int v6 = 0; v6 < 2; ++v6)
      for (const auto& r : s.records)
        if ((r.src.is_v6 || r.dst.is_v6) == bool(v6))
          want.emplace_back(core::to_string(r.src), core::to_string(r.dst), r.protocol, r.bytes);
    for (const auto& r : t.records)
      got.emplace_back(core::to_string(r.src), core::to_string(r.dst), r.protocol, r.bytes);
    FUZZ_CHECK(got == want);
  }
  return 0;
}
