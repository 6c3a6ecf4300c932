// sFlow v5 wire format (sflow.org/sflow_version_5.txt), XDR: every field a big-endian 32-bit
// word, opaque data padded to 4 bytes.
//
//   datagram: version (5), agent address type (1 IPv4, 2 IPv6), agent address, sub-agent id,
//             sequence number, uptime (ms), number of samples, samples
//   sample:   tag (enterprise << 12 | format), length, body
//     0:1 flow sample:  sequence, source id (type << 24 | index), sampling rate, sample pool,
//                       drops, input, output, number of records, records
//     0:3 expanded:     sequence, source id type, source id index, sampling rate, sample pool,
//                       drops, input format, input value, output format, output value,
//                       number of records, records
//     0:2, 0:4          counter samples (counted, skipped)
//   record:   tag, length, body
//     0:1 raw packet header: header protocol, frame length, stripped, header length, header
//     0:3 sampled IPv4:     length, protocol, src, dst, src port, dst port, tcp flags, tos
//     0:4 sampled IPv6:     length, protocol, src (16), dst (16), src port, dst port, tcp flags,
//                           priority
//
// Bytes: the IP length of the sampled packet (the IP header's own length field; the sampled
// IPv4/IPv6 record's length). nfdump's sfcapd and pmacct's sfacctd count the frame length
// instead (layer 2 header and FCS included: 18 bytes more for untagged Ethernet, 22 with one
// VLAN tag); a comparison with them adds that overhead on its side.
#include "collect/sflow_decoder.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/packet_decode.hpp"

namespace netpulse::collect {

namespace {

inline uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline uint64_t be64(const uint8_t* p) {
  return uint64_t{be32(p)} << 32 | be32(p + 4);
}

// XDR pads opaque data to 4 bytes; lengths that are not multiples of 4 are skipped rounded up,
// as sflowtool does, but never past the container (the last item may lack its padding).
inline const uint8_t* advance_padded(const uint8_t* p, uint32_t length, const uint8_t* end) {
  const size_t padded = (size_t{length} + 3) & ~size_t{3};
  return static_cast<size_t>(end - p) < padded ? end : p + padded;
}

constexpr uint32_t tag_of(uint32_t enterprise, uint32_t format) {
  return enterprise << 12 | format;
}
constexpr uint32_t kFlowSample = tag_of(0, 1);
constexpr uint32_t kCounterSample = tag_of(0, 2);
constexpr uint32_t kExpandedFlowSample = tag_of(0, 3);
constexpr uint32_t kExpandedCounterSample = tag_of(0, 4);
constexpr uint32_t kRawPacketHeader = tag_of(0, 1);
constexpr uint32_t kSampledIpv4 = tag_of(0, 3);
constexpr uint32_t kSampledIpv6 = tag_of(0, 4);

constexpr size_t kFlowSampleFixed = 32;
constexpr size_t kExpandedFlowSampleFixed = 44;
constexpr size_t kRawHeaderFixed = 16;
constexpr size_t kSampledIpv4Size = 32;
constexpr size_t kSampledIpv6Size = 56;

// sFlow header protocols this decoder reads (the others: token ring, FDDI, PPP, MPLS, ...).
constexpr uint32_t kHeaderEthernet = 1;
constexpr uint32_t kHeaderIpv4 = 11;
constexpr uint32_t kHeaderIpv6 = 12;

// Sequence tracking. A datagram up to kReorderWindow behind the newest is late (not lost, not a
// restart); an uptime more than kUptimeSlackMs behind the newest, or a jump further than the
// window back or kMaxGap forward, is a restart of the agent.
constexpr int32_t kReorderWindow = 1024;
constexpr int32_t kUptimeSlackMs = 60'000;
constexpr int32_t kMaxGap = 1 << 24;

// Compact interface encoding: the top 2 bits are the format; only format 0 (one interface)
// names an interface. "Discarded" (1) and "multiple" (2) give 0, as for an unknown one.
inline uint32_t compact_interface(uint32_t v) {
  return v >> 30 == 0 ? v & 0x3fffffff : 0;
}

struct AgentKey {
  core::IpAddr agent;
  uint32_t sub_agent = 0;
  friend bool operator==(const AgentKey&, const AgentKey&) = default;
};

struct AgentKeyHash {
  size_t operator()(const AgentKey& k) const {
    uint64_t h = k.agent.bits.hi * 0x9e3779b97f4a7c15ULL;
    h ^= (k.agent.bits.lo + (uint64_t{k.sub_agent} << 1 | k.agent.is_v6)) * 0xc2b2ae3d27d4eb4fULL;
    return static_cast<size_t>(h ^ h >> 29);
  }
};

constexpr uint32_t kNoSlot = UINT32_MAX;

// One (agent, sub-agent): its statistics, its sequence state and its place in the
// least-recently-seen list that picks whom to forget when the table is full.
struct Agent {
  AgentKey key;
  ExporterStats stats;
  uint64_t first_seen = 0;  // order of appearance, for exporters()
  uint32_t last_sequence = 0;
  uint32_t last_uptime = 0;
  bool has_sequence = false;
  uint32_t newer = kNoSlot;
  uint32_t older = kNoSlot;
};

// The packet a flow sample reports: the raw header when it decodes, else a sampled IPv4/IPv6
// record.
struct SampleContents {
  const uint8_t* header = nullptr;
  uint32_t header_length = 0;
  uint32_t header_protocol = 0;
  uint32_t frame_length = 0;
  uint32_t stripped = 0;
  const uint8_t* sampled_ip = nullptr;  // body of a sampled IPv4 or IPv6 record
  bool sampled_is_v6 = false;
};

// What the sample's header says about every flow it yields.
struct SampleHeader {
  uint32_t sampling_rate = 0;
  uint32_t input_if = 0;
  uint32_t output_if = 0;
  uint32_t source_id = 0;
  uint32_t records = 0;
};

enum class SampleOutcome : uint8_t { kFlow, kBroken, kMissingRecords };

}  // namespace

struct SflowDecoder::State {
  size_t max_agents;
  std::vector<Agent> agents;  // slots; never more than max_agents
  std::unordered_map<AgentKey, uint32_t, AgentKeyHash> index;
  uint32_t newest = kNoSlot;
  uint32_t oldest = kNoSlot;
  uint64_t serial = 0;
  // The last agent looked up: consecutive datagrams mostly come from the same one.
  uint32_t cached_slot = kNoSlot;

  explicit State(size_t max) : max_agents(max == 0 ? 1 : max) {}

  void unlink(uint32_t slot) {
    Agent& a = agents[slot];
    if (a.newer != kNoSlot)
      agents[a.newer].older = a.older;
    else
      newest = a.older;
    if (a.older != kNoSlot)
      agents[a.older].newer = a.newer;
    else
      oldest = a.newer;
    a.newer = a.older = kNoSlot;
  }

  void push_newest(uint32_t slot) {
    Agent& a = agents[slot];
    a.older = newest;
    a.newer = kNoSlot;
    if (newest != kNoSlot) agents[newest].newer = slot;
    newest = slot;
    if (oldest == kNoSlot) oldest = slot;
  }

  Agent& lookup(const AgentKey& key) {
    if (cached_slot != kNoSlot && agents[cached_slot].key == key) return agents[cached_slot];
    uint32_t slot;
    if (auto it = index.find(key); it != index.end()) {
      slot = it->second;
      unlink(slot);
    } else {
      if (agents.size() < max_agents) {
        slot = static_cast<uint32_t>(agents.size());
        agents.emplace_back();
      } else {
        // Full: forget the agent silent longest.
        slot = oldest;
        unlink(slot);
        index.erase(agents[slot].key);
      }
      Agent& a = agents[slot];
      a = Agent{};
      a.key = key;
      a.first_seen = serial++;
      a.stats.protocol = ExportProtocol::kSflowV5;
      a.stats.agent = key.agent;
      a.stats.domain = key.sub_agent;
      index.emplace(key, slot);
    }
    push_newest(slot);
    cached_slot = slot;
    return agents[slot];
  }
};

namespace {

void track_sequence(Agent& a, uint32_t sequence, uint32_t uptime) {
  if (!a.has_sequence) {
    a.has_sequence = true;
    a.last_sequence = sequence;
    a.last_uptime = uptime;
    return;
  }
  // Differences modulo 2^32, read as signed: both counters wrap (the uptime after 49.7 days).
  const int32_t step = static_cast<int32_t>(sequence - a.last_sequence);
  const int32_t uptime_step = static_cast<int32_t>(uptime - a.last_uptime);
  if (uptime_step < -kUptimeSlackMs || step < -kReorderWindow || step > kMaxGap) {
    ++a.stats.sequence_resets;
  } else if (step > 0) {
    a.stats.lost += static_cast<uint32_t>(step - 1);
  } else {
    return;  // a late or repeated datagram: the newest stays the reference
  }
  a.last_sequence = sequence;
  a.last_uptime = uptime;
}

// Reads the records of a flow sample body [p, end) whose fixed part is already read.
SampleOutcome read_records(const uint8_t* p, const uint8_t* end, uint32_t records,
                           SampleContents& c) {
  for (uint32_t i = 0; i < records; ++i) {
    if (end - p < 8) return SampleOutcome::kMissingRecords;
    const uint32_t tag = be32(p);
    const uint32_t length = be32(p + 4);
    p += 8;
    if (length > static_cast<size_t>(end - p)) return SampleOutcome::kBroken;
    switch (tag) {
      case kRawPacketHeader: {
        if (length < kRawHeaderFixed) return SampleOutcome::kBroken;
        const uint32_t header_length = be32(p + 12);
        if (header_length > length - kRawHeaderFixed) return SampleOutcome::kBroken;
        if (c.header == nullptr) {
          c.header_protocol = be32(p);
          c.frame_length = be32(p + 4);
          c.stripped = be32(p + 8);
          c.header_length = header_length;
          c.header = p + kRawHeaderFixed;
        }
        break;
      }
      case kSampledIpv4:
      case kSampledIpv6: {
        const bool v6 = tag == kSampledIpv6;
        if (length < (v6 ? kSampledIpv6Size : kSampledIpv4Size)) return SampleOutcome::kBroken;
        if (c.sampled_ip == nullptr) {
          c.sampled_ip = p;
          c.sampled_is_v6 = v6;
        }
        break;
      }
      default:
        break;  // extended switch / router / gateway / user / URL data, enterprise records
    }
    p = advance_padded(p, length, end);
  }
  return SampleOutcome::kFlow;
}

// Fills a flow from the sample's packet; false when the sample has none to report.
bool packet_of_sample(const SampleContents& c, ExportedFlow& f) {
  if (c.header != nullptr) {
    core::LinkType link;
    bool known = true;
    switch (c.header_protocol) {
      case kHeaderEthernet:
        link = core::LinkType::kEthernet;
        break;
      case kHeaderIpv4:
      case kHeaderIpv6:
        link = core::LinkType::kRawIp;
        break;
      default:
        link = core::LinkType::kRawIp;
        known = false;
        break;
    }
    core::PacketInfo info;
    if (known &&
        core::decode_packet(link, c.header, c.header_length, info) == core::PacketStatus::kOk) {
      f.src = info.src;
      f.dst = info.dst;
      f.src_port = info.src_port;
      f.dst_port = info.dst_port;
      f.ip_protocol = info.ip_protocol;
      f.tcp_flags = info.tcp_flags;
      f.bytes = info.ip_length;
      if (!info.ip_length_from_header) {
        // Offload: the header gives no length; the frame length less what precedes the IP
        // header and what the agent stripped (the FCS) is the IP length.
        const uint64_t before = uint64_t{info.l3_offset} + c.stripped;
        if (c.frame_length > before) f.bytes = c.frame_length - before;
      }
      return true;
    }
  }
  if (c.sampled_ip != nullptr) {
    const uint8_t* p = c.sampled_ip;
    f.bytes = be32(p);
    f.ip_protocol = static_cast<uint8_t>(be32(p + 4));
    if (c.sampled_is_v6) {
      f.src = core::IpAddr::v6(core::Ip6{be64(p + 8), be64(p + 16)});
      f.dst = core::IpAddr::v6(core::Ip6{be64(p + 24), be64(p + 32)});
      p += 40;
    } else {
      f.src = core::IpAddr::v4(be32(p + 8));
      f.dst = core::IpAddr::v4(be32(p + 12));
      p += 16;
    }
    f.src_port = static_cast<uint16_t>(be32(p));
    f.dst_port = static_cast<uint16_t>(be32(p + 4));
    f.tcp_flags = static_cast<uint8_t>(be32(p + 8));
    return true;
  }
  return false;
}

}  // namespace

SflowDecoder::SflowDecoder(size_t max_agents) : state_(std::make_unique<State>(max_agents)) {}
SflowDecoder::~SflowDecoder() = default;

DecodeResult SflowDecoder::decode(const uint8_t* data, size_t size, const ExporterAddress& from,
                                  core::TimeMs received, std::vector<ExportedFlow>& out) {
  DecodeResult result;
  // A datagram too broken to name its agent is counted against its UDP source, sub-agent 0.
  auto reject = [&](DecodeStatus status) {
    Agent& a = state_->lookup(AgentKey{from.address, 0});
    a.stats.from = from;
    ++a.stats.datagrams;
    ++a.stats.malformed;
    result.status = status;
    return result;
  };
  if (size < 8) return reject(DecodeStatus::kTooShort);
  if (be32(data) != 5) return reject(DecodeStatus::kBadVersion);
  const uint32_t address_type = be32(data + 4);
  if (address_type != 1 && address_type != 2) return reject(DecodeStatus::kBadLength);
  const size_t address_size = address_type == 1 ? 4 : 16;
  const size_t header_size = 8 + address_size + 16;
  if (size < header_size) return reject(DecodeStatus::kTooShort);

  const uint8_t* p = data + 8;
  AgentKey key;
  key.agent = address_type == 1 ? core::IpAddr::v4(be32(p))
                                : core::IpAddr::v6(core::Ip6{be64(p), be64(p + 8)});
  p += address_size;
  key.sub_agent = be32(p);
  const uint32_t sequence = be32(p + 4);
  const uint32_t uptime = be32(p + 8);
  const uint32_t samples = be32(p + 12);
  p += 16;

  Agent& agent = state_->lookup(key);
  ExporterStats& stats = agent.stats;
  stats.from = from;
  ++stats.datagrams;
  track_sequence(agent, sequence, uptime);

  auto fail = [&](DecodeStatus status) {
    ++stats.malformed;
    if (result.status == DecodeStatus::kOk) result.status = status;
  };

  const uint8_t* const end = data + size;
  // Every sample consumes at least its 8-byte tag and length, so the loop ends with the data
  // whatever the count says.
  for (uint32_t i = 0; i < samples; ++i) {
    if (end - p < 8) {
      fail(DecodeStatus::kBadLength);  // fewer samples than announced
      break;
    }
    const uint32_t tag = be32(p);
    const uint32_t length = be32(p + 4);
    p += 8;
    if (length > static_cast<size_t>(end - p)) {
      fail(DecodeStatus::kBadSample);
      break;
    }
    const uint8_t* body = p;
    const uint8_t* body_end = p + length;
    p = advance_padded(p, length, end);

    if (tag == kCounterSample || tag == kExpandedCounterSample) {
      ++stats.counter_samples;
      continue;
    }
    if (tag != kFlowSample && tag != kExpandedFlowSample) continue;  // enterprise or unknown

    SampleHeader h;
    if (tag == kFlowSample) {
      if (length < kFlowSampleFixed) {
        fail(DecodeStatus::kBadSample);
        continue;
      }
      h.source_id = be32(body + 4);
      h.sampling_rate = be32(body + 8);
      h.input_if = compact_interface(be32(body + 20));
      h.output_if = compact_interface(be32(body + 24));
      h.records = be32(body + 28);
      body += kFlowSampleFixed;
    } else {
      if (length < kExpandedFlowSampleFixed) {
        fail(DecodeStatus::kBadSample);
        continue;
      }
      // The expanded form exists for indexes past 24 bits; domain keeps the compact layout.
      h.source_id = be32(body + 4) << 24 | (be32(body + 8) & 0x00ffffff);
      h.sampling_rate = be32(body + 12);
      h.input_if = be32(body + 24) == 0 ? be32(body + 28) : 0;
      h.output_if = be32(body + 32) == 0 ? be32(body + 36) : 0;
      h.records = be32(body + 40);
      body += kExpandedFlowSampleFixed;
    }

    SampleContents contents;
    const SampleOutcome outcome = read_records(body, body_end, h.records, contents);
    if (outcome == SampleOutcome::kBroken) {
      fail(DecodeStatus::kBadSample);
      continue;
    }
    if (outcome == SampleOutcome::kMissingRecords) {
      fail(DecodeStatus::kBadLength);
      continue;
    }
    if (h.sampling_rate != 0) stats.sampling_rate = h.sampling_rate;

    ExportedFlow& f = out.emplace_back();
    if (!packet_of_sample(contents, f)) {
      out.pop_back();
      ++stats.skipped_samples;
      continue;
    }
    f.start = f.end = f.received = received;
    f.exporter = key.agent;
    f.packets = 1;
    f.sampling_rate = h.sampling_rate == 0 ? 1 : h.sampling_rate;
    f.input_if = h.input_if;
    f.output_if = h.output_if;
    f.domain = h.source_id;
    f.protocol = ExportProtocol::kSflowV5;
    ++result.flows;
  }
  stats.flows += result.flows;
  return result;
}

std::vector<ExporterStats> SflowDecoder::exporters() const {
  std::vector<const Agent*> live;
  live.reserve(state_->agents.size());
  for (const Agent& a : state_->agents) live.push_back(&a);
  std::sort(live.begin(), live.end(),
            [](const Agent* a, const Agent* b) { return a->first_seen < b->first_seen; });
  std::vector<ExporterStats> stats;
  stats.reserve(live.size());
  for (const Agent* a : live) stats.push_back(a->stats);
  return stats;
}

}  // namespace netpulse::collect
