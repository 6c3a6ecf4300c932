// NetFlow v5 / v9 / IPFIX decoding. The order of this file: wire readers; template compilation
// into flat steps; the record loops (the hot path); per-exporter state (templates, hold,
// sampling, sequence numbers); the three header decoders.
#include "collect/netflow_decoder.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

namespace netpulse::collect {
namespace {

// ---- Wire readers. REQUIRES: the bytes read lie inside the datagram (callers check first).

inline uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

inline uint32_t be32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  return v;
}

inline uint64_t be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

// An unsigned integer in 1..8 bytes: RFC 7011 reduced-size encoding lets an exporter send a
// counter in fewer bytes than its type. REQUIRES: 1 <= n <= 8.
inline uint64_t be_uint(const uint8_t* p, unsigned n) {
  switch (n) {
    case 1:
      return p[0];
    case 2:
      return be16(p);
    case 4:
      return be32(p);
    case 8:
      return be64(p);
    default: {
      uint64_t v = 0;
      for (unsigned i = 0; i < n; ++i) v = v << 8 | p[i];
      return v;
    }
  }
}

// The low 16 / 32 bits of a 1..8-byte integer: ports and interfaces sent wider than their type.
inline uint16_t low16(const uint8_t* p, unsigned n) {
  return n >= 2 ? be16(p + n - 2) : p[0];
}
inline uint32_t low32(const uint8_t* p, unsigned n) {
  return n >= 4 ? be32(p + n - 4) : static_cast<uint32_t>(be_uint(p, n));
}

bool all_zero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

uint32_t clamp_rate(uint64_t r) {
  return r > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(r);
}

// ---- Information elements read (IANA IPFIX numbers; NetFlow v9 uses the same for these).

namespace ie {
constexpr uint16_t kOctetDeltaCount = 1;
constexpr uint16_t kPacketDeltaCount = 2;
constexpr uint16_t kProtocol = 4;
constexpr uint16_t kTcpFlags = 6;
constexpr uint16_t kSrcPort = 7;
constexpr uint16_t kSrcV4 = 8;
constexpr uint16_t kInputIf = 10;
constexpr uint16_t kDstPort = 11;
constexpr uint16_t kDstV4 = 12;
constexpr uint16_t kOutputIf = 14;
constexpr uint16_t kEndUptime = 21;
constexpr uint16_t kStartUptime = 22;
constexpr uint16_t kOutOctets = 23;
constexpr uint16_t kOutPackets = 24;
constexpr uint16_t kSrcV6 = 27;
constexpr uint16_t kDstV6 = 28;
constexpr uint16_t kIcmpV4 = 32;
constexpr uint16_t kSamplingInterval = 34;
constexpr uint16_t kSamplerId = 48;
constexpr uint16_t kSamplerRandomInterval = 50;
constexpr uint16_t kOctetTotalCount = 85;
constexpr uint16_t kPacketTotalCount = 86;
constexpr uint16_t kIcmpV6 = 139;
constexpr uint16_t kStartSeconds = 150;
constexpr uint16_t kEndSeconds = 151;
constexpr uint16_t kStartMillis = 152;
constexpr uint16_t kEndMillis = 153;
constexpr uint16_t kStartMicros = 154;
constexpr uint16_t kEndMicros = 155;
constexpr uint16_t kStartNanos = 156;
constexpr uint16_t kEndNanos = 157;
constexpr uint16_t kStartDeltaMicros = 158;
constexpr uint16_t kEndDeltaMicros = 159;
constexpr uint16_t kSystemInitMillis = 160;
constexpr uint16_t kSelectorId = 302;
constexpr uint16_t kPacketInterval = 305;
constexpr uint16_t kPacketSpace = 306;
}  // namespace ie

constexpr uint16_t kVariableLength = 0xFFFF;
// The largest record a set can carry: a set is at most 65535 bytes with its 4-byte header.
constexpr uint32_t kMaxRecordSize = 65535 - 4;

// What a step does with the bytes it covers.
enum class Op : uint8_t {
  kSkip,
  kBytes,
  kPackets,
  kProtocol,
  kTcpFlags,
  kSrcPort,
  kDstPort,
  kSrcV4,
  kDstV4,
  kSrcV6,
  kDstV6,
  kSrcV6IfSet,  // the template carries both families: the IPv6 field only when not ::
  kDstV6IfSet,
  kInputIf,
  kOutputIf,
  kIcmp,
  kStart,
  kEnd,
  kRate,            // IE 34 / 50: the rate itself
  kPacketInterval,  // IE 305
  kPacketSpace,     // IE 306
  kSamplerId,       // IE 48 / 302
  kSystemInit,      // IE 160
};

enum class TimeKind : uint8_t { kNone, kUptime, kSeconds, kMillis, kNtp, kDeltaMicros };

// Fixed-length templates: offset into the record. Variable-length ones: steps in field order,
// offset unused, length kVariableLength for a field whose length the record carries.
struct Step {
  uint16_t offset;
  uint16_t length;
  Op op;
};

struct FieldSpec {
  uint16_t id;
  uint16_t length;
  bool skip;  // enterprise-specific, or a v9 options scope field (scope types reuse IE numbers)
};

// A template compiled once into the steps its records need.
struct Template {
  std::vector<Step> steps;
  std::vector<uint8_t> spec;  // the template record as received, to recognise a refresh cheaply
  uint32_t record_size = 0;   // fixed: exact; variable: the least a record can take
  bool variable = false;
  bool options = false;
  bool yields_flows = false;
  bool has_icmp = false;
  bool has_rate = false;
  bool has_packet_interval = false;
  bool has_packet_space = false;
  bool has_sampler_id = false;
  bool has_system_init = false;
  TimeKind start = TimeKind::kNone;
  TimeKind end = TimeKind::kNone;
};

bool length_fits(uint16_t id, uint16_t length) {
  switch (id) {
    case ie::kSrcV4:
    case ie::kDstV4:
      return length == 4;
    case ie::kSrcV6:
    case ie::kDstV6:
      return length == 16;
    case ie::kStartMicros:
    case ie::kEndMicros:
    case ie::kStartNanos:
    case ie::kEndNanos:
      return length == 8;
    default:
      return length >= 1 && length <= 8;
  }
}

TimeKind time_kind(uint16_t id) {
  switch (id) {
    case ie::kStartUptime:
    case ie::kEndUptime:
      return TimeKind::kUptime;
    case ie::kStartSeconds:
    case ie::kEndSeconds:
      return TimeKind::kSeconds;
    case ie::kStartMillis:
    case ie::kEndMillis:
      return TimeKind::kMillis;
    case ie::kStartMicros:
    case ie::kEndMicros:
    case ie::kStartNanos:
    case ie::kEndNanos:
      return TimeKind::kNtp;
    case ie::kStartDeltaMicros:
    case ie::kEndDeltaMicros:
      return TimeKind::kDeltaMicros;
    default:
      return TimeKind::kNone;
  }
}

// Compiles a template. nullopt: one that cannot be right (no fields, records of zero bytes or
// longer than any set).
std::optional<Template> compile(std::span<const FieldSpec> fields, bool options) {
  if (fields.empty()) return std::nullopt;
  // The first usable occurrence of the first IE in `ids` the template has.
  auto first_of = [&](std::initializer_list<uint16_t> ids) -> int {
    for (uint16_t id : ids) {
      for (size_t i = 0; i < fields.size(); ++i) {
        const FieldSpec& f = fields[i];
        if (!f.skip && f.id == id && length_fits(id, f.length)) return static_cast<int>(i);
      }
    }
    return -1;
  };
  std::vector<Op> ops(fields.size(), Op::kSkip);
  auto assign = [&](int i, Op op) {
    if (i >= 0) ops[static_cast<size_t>(i)] = op;
    return i >= 0;
  };
  Template t;
  t.options = options;
  if (!options) {
    bool flow = false;
    flow |=
        assign(first_of({ie::kOctetDeltaCount, ie::kOctetTotalCount, ie::kOutOctets}), Op::kBytes);
    flow |= assign(first_of({ie::kPacketDeltaCount, ie::kPacketTotalCount, ie::kOutPackets}),
                   Op::kPackets);
    assign(first_of({ie::kProtocol}), Op::kProtocol);
    assign(first_of({ie::kTcpFlags}), Op::kTcpFlags);
    assign(first_of({ie::kSrcPort}), Op::kSrcPort);
    assign(first_of({ie::kDstPort}), Op::kDstPort);
    const int src4 = first_of({ie::kSrcV4}), dst4 = first_of({ie::kDstV4});
    const int src6 = first_of({ie::kSrcV6}), dst6 = first_of({ie::kDstV6});
    flow |= assign(src4, Op::kSrcV4);
    flow |= assign(dst4, Op::kDstV4);
    flow |= assign(src6, src4 >= 0 ? Op::kSrcV6IfSet : Op::kSrcV6);
    flow |= assign(dst6, dst4 >= 0 ? Op::kDstV6IfSet : Op::kDstV6);
    assign(first_of({ie::kInputIf}), Op::kInputIf);
    assign(first_of({ie::kOutputIf}), Op::kOutputIf);
    t.has_icmp = assign(first_of({ie::kIcmpV4, ie::kIcmpV6}), Op::kIcmp);
    const int start = first_of({ie::kStartMillis, ie::kStartMicros, ie::kStartNanos,
                                ie::kStartDeltaMicros, ie::kStartUptime, ie::kStartSeconds});
    const int end = first_of({ie::kEndMillis, ie::kEndMicros, ie::kEndNanos, ie::kEndDeltaMicros,
                              ie::kEndUptime, ie::kEndSeconds});
    if (assign(start, Op::kStart)) t.start = time_kind(fields[static_cast<size_t>(start)].id);
    if (assign(end, Op::kEnd)) t.end = time_kind(fields[static_cast<size_t>(end)].id);
    t.yields_flows = flow;
  } else {
    t.has_system_init = assign(first_of({ie::kSystemInitMillis}), Op::kSystemInit);
  }
  t.has_rate = assign(first_of({ie::kSamplingInterval, ie::kSamplerRandomInterval}), Op::kRate);
  t.has_packet_interval = assign(first_of({ie::kPacketInterval}), Op::kPacketInterval);
  t.has_packet_space = assign(first_of({ie::kPacketSpace}), Op::kPacketSpace);
  t.has_sampler_id = assign(first_of({ie::kSamplerId, ie::kSelectorId}), Op::kSamplerId);

  t.variable = std::any_of(fields.begin(), fields.end(),
                           [](const FieldSpec& f) { return f.length == kVariableLength; });
  uint64_t size = 0;  // wide: many long fields may add up past 32 bits of nonsense
  if (!t.variable) {
    for (const FieldSpec& f : fields) size += f.length;
    if (size == 0 || size > kMaxRecordSize) return std::nullopt;
    uint16_t offset = 0;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (ops[i] != Op::kSkip) t.steps.push_back(Step{offset, fields[i].length, ops[i]});
      offset = static_cast<uint16_t>(offset + fields[i].length);
    }
  } else {
    for (size_t i = 0; i < fields.size(); ++i) {
      const FieldSpec& f = fields[i];
      if (f.length == kVariableLength) {
        size += 1;  // at least its one-byte length
        t.steps.push_back(Step{0, kVariableLength, Op::kSkip});
        continue;
      }
      size += f.length;
      if (ops[i] == Op::kSkip && !t.steps.empty() && t.steps.back().op == Op::kSkip &&
          t.steps.back().length != kVariableLength &&
          t.steps.back().length + f.length < kVariableLength) {
        t.steps.back().length = static_cast<uint16_t>(t.steps.back().length + f.length);
        continue;
      }
      t.steps.push_back(Step{0, f.length, ops[i]});
    }
    if (size > kMaxRecordSize) return std::nullopt;
  }
  t.record_size = static_cast<uint32_t>(size);
  return t;
}

// ---- Records.

// Values a record carries that are not flow fields as they stand.
struct Extras {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t rate = 0;
  uint64_t packet_interval = 0;
  uint64_t packet_space = 0;
  uint64_t sampler_id = 0;
  uint64_t system_init = 0;
  uint16_t icmp = 0;
};

inline core::Ip6 read_ip6(const uint8_t* p) {
  return core::Ip6{be64(p), be64(p + 8)};
}

inline void apply(Op op, const uint8_t* p, unsigned len, ExportedFlow& f, Extras& x) {
  switch (op) {
    case Op::kSkip:
      break;
    case Op::kBytes:
      f.bytes = be_uint(p, len);
      break;
    case Op::kPackets:
      f.packets = be_uint(p, len);
      break;
    case Op::kProtocol:
      f.ip_protocol = p[len - 1];
      break;
    case Op::kTcpFlags:
      f.tcp_flags = p[len - 1];
      break;
    case Op::kSrcPort:
      f.src_port = low16(p, len);
      break;
    case Op::kDstPort:
      f.dst_port = low16(p, len);
      break;
    case Op::kSrcV4:
      if (!f.src.is_v6) f.src = core::IpAddr::v4(be32(p));
      break;
    case Op::kDstV4:
      if (!f.dst.is_v6) f.dst = core::IpAddr::v4(be32(p));
      break;
    case Op::kSrcV6:
      f.src = core::IpAddr::v6(read_ip6(p));
      break;
    case Op::kDstV6:
      f.dst = core::IpAddr::v6(read_ip6(p));
      break;
    case Op::kSrcV6IfSet: {
      const core::Ip6 a = read_ip6(p);
      if (a.hi | a.lo) f.src = core::IpAddr::v6(a);
      break;
    }
    case Op::kDstV6IfSet: {
      const core::Ip6 a = read_ip6(p);
      if (a.hi | a.lo) f.dst = core::IpAddr::v6(a);
      break;
    }
    case Op::kInputIf:
      f.input_if = low32(p, len);
      break;
    case Op::kOutputIf:
      f.output_if = low32(p, len);
      break;
    case Op::kIcmp:
      x.icmp = low16(p, len);
      break;
    case Op::kStart:
      x.start = be_uint(p, len);
      break;
    case Op::kEnd:
      x.end = be_uint(p, len);
      break;
    case Op::kRate:
      x.rate = be_uint(p, len);
      break;
    case Op::kPacketInterval:
      x.packet_interval = be_uint(p, len);
      break;
    case Op::kPacketSpace:
      x.packet_space = be_uint(p, len);
      break;
    case Op::kSamplerId:
      x.sampler_id = be_uint(p, len);
      break;
    case Op::kSystemInit:
      x.system_init = be_uint(p, len);
      break;
  }
}

// Reads one record of a variable-length template starting at p; returns its end, or nullptr
// when it runs past `end`.
const uint8_t* read_variable_record(const Template& t, const uint8_t* p, const uint8_t* end,
                                    ExportedFlow& f, Extras& x) {
  for (const Step& s : t.steps) {
    size_t len = s.length;
    if (len == kVariableLength) {
      if (p >= end) return nullptr;
      len = *p++;
      if (len == 255) {
        if (end - p < 2) return nullptr;
        len = be16(p);
        p += 2;
      }
      if (static_cast<size_t>(end - p) < len) return nullptr;
      p += len;
      continue;
    }
    if (static_cast<size_t>(end - p) < len) return nullptr;
    apply(s.op, p, static_cast<unsigned>(len), f, x);
    p += len;
  }
  return p;
}

// The rate a record states itself; 0 when it states none.
uint64_t own_rate(const Template& t, const Extras& x) {
  if (t.has_packet_interval && x.packet_interval != 0) {
    if (!t.has_packet_space) return x.packet_interval;
    const uint64_t i = x.packet_interval;
    return (i + x.packet_space + i / 2) / i;
  }
  return t.has_rate ? x.rate : 0;
}

constexpr int64_t kNtpToUnixSeconds = 2208988800;

enum class UptimeBase : uint8_t { kHeader, kSystemInit, kUnknown };

struct SamplerRate {
  uint64_t id;
  uint32_t rate;
};

// Everything a data set's records share: the flow's constant fields and the time bases.
struct SetContext {
  ExportedFlow proto;
  core::TimeMs export_ms = 0;
  int64_t export_us = 0;
  uint32_t sys_uptime = 0;
  UptimeBase uptime = UptimeBase::kHeader;
  core::TimeMs system_init_ms = 0;
  const std::vector<SamplerRate>* samplers = nullptr;
};

inline core::TimeMs to_time(TimeKind kind, uint64_t raw, uint32_t uptime, const SetContext& c) {
  switch (kind) {
    case TimeKind::kUptime:
      if (c.uptime == UptimeBase::kSystemInit) {  // unsigned: a garbage init time must not overflow
        return static_cast<core::TimeMs>(static_cast<uint64_t>(c.system_init_ms) +
                                         static_cast<uint32_t>(raw));
      }
      return c.export_ms - static_cast<int32_t>(uptime - static_cast<uint32_t>(raw));
    case TimeKind::kSeconds:
      return static_cast<core::TimeMs>(raw * 1000u);
    case TimeKind::kMillis:
      return static_cast<core::TimeMs>(raw);
    case TimeKind::kNtp: {
      int64_t secs = static_cast<int64_t>(raw >> 32);
      if (secs < 0x80000000LL) secs += 0x100000000LL;  // RFC 4330 era 1: after 2036
      // To the nearest nanosecond first: exporters truncate when they make the fraction, so
      // exactly 1 ms comes as 0.99999993 ms and would floor to 0.
      const uint64_t ns = ((raw & 0xFFFFFFFFu) * 1'000'000'000u + (uint64_t{1} << 31)) >> 32;
      return (secs - kNtpToUnixSeconds) * 1000 + static_cast<int64_t>(ns / 1'000'000);
    }
    case TimeKind::kDeltaMicros: {
      const auto delta = static_cast<int64_t>(std::min<uint64_t>(raw, uint64_t{1} << 48));
      return core::floor_div(c.export_us - delta, 1000);
    }
    case TimeKind::kNone:
      break;
  }
  return c.export_ms;
}

inline uint32_t sampler_rate(const SetContext& c, uint64_t id) {
  for (const SamplerRate& s : *c.samplers) {
    if (s.id == id) return s.rate;
  }
  return 0;
}

inline void finish(const Template& t, const SetContext& c, ExportedFlow& f, const Extras& x) {
  if (t.start != TimeKind::kNone || t.end != TimeKind::kNone) {
    uint32_t uptime = c.sys_uptime;
    if (c.uptime == UptimeBase::kUnknown) {
      uptime = static_cast<uint32_t>(t.end == TimeKind::kUptime ? x.end : x.start);
    }
    if (t.start != TimeKind::kNone) f.start = to_time(t.start, x.start, uptime, c);
    if (t.end != TimeKind::kNone) f.end = to_time(t.end, x.end, uptime, c);
    if (t.start == TimeKind::kNone) f.start = f.end;
    if (t.end == TimeKind::kNone) f.end = f.start;
  }
  if (t.has_icmp && f.dst_port == 0) f.dst_port = x.icmp;
  if (t.has_rate || t.has_packet_interval || t.has_sampler_id) {
    uint64_t rate = own_rate(t, x);
    if (rate == 0 && t.has_sampler_id) rate = sampler_rate(c, x.sampler_id);
    if (rate != 0) f.sampling_rate = clamp_rate(rate);
  }
}

// Room for `more` flows without giving up the vector's geometric growth.
void reserve_more(std::vector<ExportedFlow>& out, size_t more) {
  const size_t need = out.size() + more;
  if (need > out.capacity()) out.reserve(std::max(need, out.capacity() * 2));
}

struct SetOutcome {
  uint32_t flows = 0;
  uint32_t records = 0;
  bool truncated = false;  // a variable-length record ran past the set
};

SetOutcome decode_flows(const Template& t, const uint8_t* p, size_t n, const SetContext& c,
                        std::vector<ExportedFlow>& out) {
  SetOutcome r;
  if (!t.variable) {
    const size_t count = n / t.record_size;  // what is left over is padding
    r.records = static_cast<uint32_t>(count);
    if (!t.yields_flows) return r;
    reserve_more(out, count);
    const Step* steps = t.steps.data();
    const size_t nsteps = t.steps.size();
    for (size_t i = 0; i < count; ++i, p += t.record_size) {
      ExportedFlow& f = out.emplace_back(c.proto);
      Extras x;
      for (size_t s = 0; s < nsteps; ++s) {
        apply(steps[s].op, p + steps[s].offset, steps[s].length, f, x);
      }
      finish(t, c, f, x);
    }
    r.flows = r.records;
    return r;
  }
  const uint8_t* end = p + n;
  while (static_cast<size_t>(end - p) >= t.record_size) {
    ExportedFlow f = c.proto;
    Extras x;
    const uint8_t* next = read_variable_record(t, p, end, f, x);
    if (next == nullptr) {
      r.truncated = true;
      break;
    }
    p = next;
    ++r.records;
    if (!t.yields_flows) continue;
    finish(t, c, f, x);
    out.push_back(f);
    ++r.flows;
  }
  return r;
}

// Calls on(extras) for each record of an options data set.
template <class OnRecord>
SetOutcome for_each_options_record(const Template& t, const uint8_t* p, size_t n, OnRecord on) {
  SetOutcome r;
  const uint8_t* end = p + n;
  ExportedFlow unused;
  while (static_cast<size_t>(end - p) >= t.record_size) {
    Extras x;
    if (!t.variable) {
      for (const Step& s : t.steps) apply(s.op, p + s.offset, s.length, unused, x);
      p += t.record_size;
    } else {
      const uint8_t* next = read_variable_record(t, p, end, unused, x);
      if (next == nullptr) {
        r.truncated = true;
        break;
      }
      p = next;
    }
    ++r.records;
    on(x);
  }
  return r;
}

// ---- Keys.

inline size_t mix(size_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h;
}

struct ScopeKey {
  core::IpAddr address;
  uint16_t port;
  ExportProtocol protocol;
  uint32_t domain;
  friend bool operator==(const ScopeKey&, const ScopeKey&) = default;
};

struct ScopeKeyHash {
  size_t operator()(const ScopeKey& k) const {
    size_t h = mix(0, k.address.bits.hi);
    h = mix(h, k.address.bits.lo);
    return mix(h, uint64_t{k.port} << 48 | uint64_t{k.address.is_v6} << 40 |
                      uint64_t{static_cast<uint8_t>(k.protocol)} << 32 | k.domain);
  }
};

struct ExporterKey {
  ExporterAddress from;
  ExportProtocol protocol;
  uint32_t domain;
  friend bool operator==(const ExporterKey&, const ExporterKey&) = default;
};

struct ExporterKeyHash {
  size_t operator()(const ExporterKey& k) const {
    return ScopeKeyHash{}(ScopeKey{k.from.address, k.from.port, k.protocol, k.domain});
  }
};

// Reorder windows, in each protocol's sequence unit (see the header).
constexpr uint32_t kV5ReorderWindow = 2048;
constexpr uint32_t kV9ReorderWindow = 64;
constexpr uint32_t kIpfixReorderWindow = 4096;

constexpr size_t kV5HeaderSize = 24;
constexpr size_t kV5RecordSize = 48;
constexpr uint32_t kV5MaxRecords = 30;
constexpr size_t kV9HeaderSize = 20;
constexpr size_t kIpfixHeaderSize = 16;
constexpr size_t kMaxSamplers = 256;

// ---- Per-exporter state.

struct Scope;

struct Exporter {
  ExporterKey key;
  ExporterStats stats;
  Scope* scope = nullptr;
  bool sequence_known = false;
  uint32_t next_sequence = 0;
  bool sequence_seen = false;
  uint32_t newest_sequence = 0;  // the greatest sequence number seen (modulo 2^32)
  std::list<std::list<Exporter>::iterator>::iterator lru;
};

// Header times a data set needs, kept with it while it is held.
struct HeaderTimes {
  core::TimeMs export_ms = 0;
  uint32_t sys_uptime = 0;
};

struct HeldSet {
  uint16_t template_id;
  Exporter* exporter;  // whose datagram carried it; its stats count what becomes of it
  HeaderTimes times;
  core::TimeMs received;
  std::vector<uint8_t> body;
  size_t cost() const { return body.size() + kHeldSetOverhead; }
};

// What an exporter address and domain share across source ports. Invariant: no held set's
// template id is in `templates` (a template's arrival releases its held sets).
struct Scope {
  ScopeKey key;
  std::unordered_map<uint16_t, Template> templates;
  std::list<HeldSet> held;  // oldest first
  size_t held_bytes = 0;
  uint32_t default_rate = 0;  // last announced by an options record; 0: none
  std::vector<SamplerRate> samplers;
  bool system_init_known = false;
  core::TimeMs system_init_ms = 0;
  size_t users = 0;  // exporters (source ports) using it
};

// One datagram being decoded.
struct Message {
  Exporter* exporter = nullptr;
  Scope* scope = nullptr;
  bool ipfix = false;
  HeaderTimes times;
  core::TimeMs received = 0;
  std::vector<ExportedFlow>* out = nullptr;
  DecodeResult result;
  bool malformed = false;
  uint32_t data_records = 0;
  bool records_uncertain = false;

  void fail(DecodeStatus s) {
    if (result.status == DecodeStatus::kOk) result.status = s;
    malformed = true;
  }
};

void track_sequence(Exporter& e, uint32_t sequence, std::optional<uint32_t> units,
                    uint32_t reorder_window) {
  // While the expectation is unknown (the last message's record count was), a message from
  // behind the newest one seen is late: it must not set the expectation back, or the next
  // message would count the distance as loss (a template datagram delivered after its data).
  if (!e.sequence_known && e.sequence_seen) {
    const auto behind = static_cast<int32_t>(sequence - e.newest_sequence);
    if (behind < 0 && -static_cast<int64_t>(behind) <= reorder_window) return;
  }
  if (!e.sequence_seen || static_cast<int32_t>(sequence - e.newest_sequence) > 0)
    e.newest_sequence = sequence;
  e.sequence_seen = true;
  if (e.sequence_known) {
    const auto gap = static_cast<int32_t>(sequence - e.next_sequence);
    if (gap > 0) {
      e.stats.lost += static_cast<uint64_t>(gap);
    } else if (gap < 0) {
      if (-static_cast<int64_t>(gap) <= reorder_window) return;  // late: expectation stands
      ++e.stats.sequence_resets;
    }
  }
  e.sequence_known = units.has_value();
  if (units) e.next_sequence = sequence + *units;
}

}  // namespace

struct NetflowDecoder::State {
  using ExporterList = std::list<Exporter>;

  NetflowDecoderOptions options;
  ExporterList exporters;                 // first-seen order
  std::list<ExporterList::iterator> lru;  // least recently active first
  std::unordered_map<ExporterKey, ExporterList::iterator, ExporterKeyHash> by_key;
  std::unordered_map<ScopeKey, std::unique_ptr<Scope>, ScopeKeyHash> scopes;
  size_t held_bytes = 0;
  Exporter* last = nullptr;       // most datagrams come from the exporter of the one before
  std::vector<FieldSpec> fields;  // reused by template parsing

  explicit State(NetflowDecoderOptions o) : options(o) {
    options.max_exporters = std::max<size_t>(options.max_exporters, 1);
  }

  Exporter& exporter(const ExporterAddress& from, ExportProtocol protocol, uint32_t domain) {
    const ExporterKey key{from, protocol, domain};
    if (last != nullptr && last->key == key) return *last;
    auto found = by_key.find(key);
    if (found != by_key.end()) {
      Exporter& e = *found->second;
      lru.splice(lru.end(), lru, e.lru);
      last = &e;
      return e;
    }
    if (exporters.size() >= options.max_exporters) evict_oldest();
    exporters.emplace_back();
    auto it = std::prev(exporters.end());
    Exporter& e = *it;
    e.key = key;
    e.stats.from = from;
    e.stats.protocol = protocol;
    e.stats.domain = domain;
    e.lru = lru.insert(lru.end(), it);
    by_key.emplace(key, it);
    const ScopeKey scope_key{from.address, from.port, protocol, domain};
    std::unique_ptr<Scope>& scope = scopes[scope_key];
    if (!scope) {
      scope = std::make_unique<Scope>();
      scope->key = scope_key;
    }
    ++scope->users;
    e.scope = scope.get();
    last = &e;
    return e;
  }

  void evict_oldest() {
    const ExporterList::iterator victim = lru.front();
    lru.pop_front();
    Scope* scope = victim->scope;
    for (auto h = scope->held.begin(); h != scope->held.end();) {
      if (h->exporter != &*victim) {
        ++h;
        continue;
      }
      scope->held_bytes -= h->cost();
      held_bytes -= h->cost();
      h = scope->held.erase(h);
    }
    // Every held set of a scope came from one of its users, so a scope left unused holds none.
    if (--scope->users == 0) scopes.erase(scope->key);
    by_key.erase(victim->key);
    if (last == &*victim) last = nullptr;
    exporters.erase(victim);
  }

  // ---- The hold.

  void drop_oldest_held(Scope& s) {
    HeldSet& h = s.held.front();
    ++h.exporter->stats.held_dropped;
    s.held_bytes -= h.cost();
    held_bytes -= h.cost();
    s.held.pop_front();
  }

  void hold(Message& m, uint16_t template_id, const uint8_t* p, size_t n) {
    Scope& s = *m.scope;
    Exporter& e = *m.exporter;
    ++m.result.template_misses;
    ++e.stats.template_misses;
    m.records_uncertain = true;
    const size_t cost = n + kHeldSetOverhead;
    if (cost > options.max_held_bytes_per_exporter) {
      ++e.stats.held_dropped;
      return;
    }
    while (s.held_bytes + cost > options.max_held_bytes_per_exporter) drop_oldest_held(s);
    if (held_bytes + cost > options.max_held_bytes_total) {
      ++e.stats.held_dropped;
      return;
    }
    s.held.push_back(HeldSet{template_id, &e, m.times, m.received, std::vector<uint8_t>(p, p + n)});
    s.held_bytes += cost;
    held_bytes += cost;
    ++m.result.held;
  }

  // Decodes the held sets a newly stored template unlocks; their flows join this call's.
  void release_held(Message& m, uint16_t template_id, const Template& t) {
    Scope& s = *m.scope;
    for (auto it = s.held.begin(); it != s.held.end();) {
      if (it->template_id != template_id) {
        ++it;
        continue;
      }
      HeldSet h = std::move(*it);
      it = s.held.erase(it);
      s.held_bytes -= h.cost();
      held_bytes -= h.cost();
      const SetOutcome r =
          decode_set(s, t, *h.exporter, h.times, h.received, h.body.data(), h.body.size(), *m.out);
      m.result.flows += r.flows;
      if (r.truncated) ++h.exporter->stats.malformed;
    }
  }

  // ---- Data sets.

  SetOutcome decode_set(Scope& s, const Template& t, Exporter& e, const HeaderTimes& times,
                        core::TimeMs received, const uint8_t* p, size_t n,
                        std::vector<ExportedFlow>& out) {
    if (t.options) return apply_options(s, e, t, p, n);
    SetContext c;
    c.proto.start = times.export_ms;  // a record without times: when it was exported
    c.proto.end = times.export_ms;
    c.proto.received = received;
    c.proto.exporter = s.key.address;
    c.proto.domain = s.key.domain;
    c.proto.protocol = s.key.protocol;
    c.proto.sampling_rate = std::max<uint32_t>(s.default_rate, 1);
    c.export_ms = times.export_ms;
    c.export_us = times.export_ms * 1000;
    c.sys_uptime = times.sys_uptime;
    if (s.key.protocol == ExportProtocol::kNetflowV9) {
      c.uptime = UptimeBase::kHeader;
    } else if (s.system_init_known) {
      c.uptime = UptimeBase::kSystemInit;
      c.system_init_ms = s.system_init_ms;
    } else {
      c.uptime = UptimeBase::kUnknown;
    }
    c.samplers = &s.samplers;
    const SetOutcome r = decode_flows(t, p, n, c, out);
    e.stats.flows += r.flows;
    return r;
  }

  SetOutcome apply_options(Scope& s, Exporter& e, const Template& t, const uint8_t* p, size_t n) {
    return for_each_options_record(t, p, n, [&](const Extras& x) {
      if (t.has_system_init) {
        s.system_init_known = true;
        s.system_init_ms = static_cast<core::TimeMs>(x.system_init);
      }
      const uint64_t announced = own_rate(t, x);
      if (announced == 0) return;
      const uint32_t rate = clamp_rate(announced);
      s.default_rate = rate;
      e.stats.sampling_rate = rate;
      if (!t.has_sampler_id) return;
      for (SamplerRate& known : s.samplers) {
        if (known.id == x.sampler_id) {
          known.rate = rate;
          return;
        }
      }
      if (s.samplers.size() >= kMaxSamplers) s.samplers.erase(s.samplers.begin());
      s.samplers.push_back(SamplerRate{x.sampler_id, rate});
    });
  }

  void data_set(Message& m, uint16_t id, const uint8_t* p, size_t n) {
    Scope& s = *m.scope;
    auto it = s.templates.find(id);
    if (it == s.templates.end()) {
      if (n > 0) hold(m, id, p, n);
      return;
    }
    const SetOutcome r = decode_set(s, it->second, *m.exporter, m.times, m.received, p, n, *m.out);
    m.result.flows += r.flows;
    m.data_records += r.records;
    if (r.truncated) {
      m.fail(DecodeStatus::kBadLength);
      m.records_uncertain = true;
    }
  }

  // ---- Templates.

  void store_template(Message& m, uint16_t id, std::span<const uint8_t> spec, bool is_options) {
    Scope& s = *m.scope;
    ++m.exporter->stats.templates;
    auto it = s.templates.find(id);
    if (it != s.templates.end() && it->second.options == is_options &&
        std::ranges::equal(it->second.spec, spec)) {
      return;  // a refresh: nothing changed, nothing held for it
    }
    std::optional<Template> t = compile(fields, is_options);
    if (!t) {
      // The exporter meant to replace the template; decoding its data with the old layout
      // would be wrong, so the old one goes too.
      if (it != s.templates.end()) s.templates.erase(it);
      m.fail(DecodeStatus::kBadTemplate);
      return;
    }
    t->spec.assign(spec.begin(), spec.end());
    if (it == s.templates.end()) {
      if (s.templates.size() >= options.max_templates_per_exporter) {
        m.fail(DecodeStatus::kBadTemplate);
        return;
      }
      it = s.templates.emplace(id, std::move(*t)).first;
    } else {
      it->second = std::move(*t);
    }
    if (!s.held.empty()) release_held(m, id, it->second);
  }

  void withdraw(Message& m, uint16_t id, bool options_set) {
    Scope& s = *m.scope;
    ++m.exporter->stats.templates;
    const uint16_t all = options_set ? 3 : 2;
    if (id == all) {
      std::erase_if(s.templates, [&](const auto& kv) { return kv.second.options == options_set; });
    } else if (id >= 256) {
      s.templates.erase(id);
    } else {
      m.fail(DecodeStatus::kBadTemplate);
    }
  }

  // Reads `count` field specifiers at p into `fields`; returns the bytes they took, or 0 when
  // they run past n. The first `skipped` are v9 scope fields.
  size_t read_fields(const uint8_t* p, size_t n, size_t count, bool ipfix, size_t skipped) {
    size_t used = 0;
    for (size_t i = 0; i < count; ++i) {
      if (n - used < 4) return 0;
      uint16_t id = be16(p + used);
      const uint16_t length = be16(p + used + 2);
      used += 4;
      bool skip = i < skipped;
      if (ipfix && (id & 0x8000) != 0) {
        if (n - used < 4) return 0;
        used += 4;  // the enterprise number: not a field this decoder reads
        id &= 0x7FFF;
        skip = true;
      }
      fields.push_back(FieldSpec{id, length, skip});
    }
    return used;
  }

  // A v9 template flowset (id 0) or an IPFIX template set (id 2).
  void template_set(Message& m, const uint8_t* p, size_t n) {
    size_t pos = 0;
    while (n - pos >= 4) {
      const uint8_t* rec = p + pos;
      const uint16_t id = be16(rec);
      const uint16_t count = be16(rec + 2);
      if (id == 0 && count == 0 && all_zero(rec, n - pos)) return;  // padding
      if (count == 0) {
        if (!m.ipfix) return m.fail(DecodeStatus::kBadTemplate);
        withdraw(m, id, false);
        pos += 4;
        continue;
      }
      if (id < 256) return m.fail(DecodeStatus::kBadTemplate);
      fields.clear();
      const size_t used = read_fields(rec + 4, n - pos - 4, count, m.ipfix, 0);
      if (used == 0) return m.fail(DecodeStatus::kBadLength);
      store_template(m, id, std::span(rec, 4 + used), false);
      pos += 4 + used;
    }
  }

  // A v9 options template flowset (id 1).
  void v9_options_set(Message& m, const uint8_t* p, size_t n) {
    size_t pos = 0;
    while (n - pos >= 6) {
      const uint8_t* rec = p + pos;
      const uint16_t id = be16(rec);
      const uint16_t scope_bytes = be16(rec + 2);
      const uint16_t option_bytes = be16(rec + 4);
      if (id == 0 && all_zero(rec, n - pos)) return;  // padding
      if (id < 256 || scope_bytes % 4 != 0 || option_bytes % 4 != 0 ||
          scope_bytes + option_bytes == 0) {
        return m.fail(DecodeStatus::kBadTemplate);
      }
      const size_t body = size_t{scope_bytes} + option_bytes;
      if (n - pos - 6 < body) return m.fail(DecodeStatus::kBadLength);
      fields.clear();
      read_fields(rec + 6, body, body / 4, false, scope_bytes / 4);
      store_template(m, id, std::span(rec, 6 + body), true);
      pos += 6 + body;
    }
  }

  // An IPFIX options template set (id 3).
  void ipfix_options_set(Message& m, const uint8_t* p, size_t n) {
    size_t pos = 0;
    while (n - pos >= 4) {
      const uint8_t* rec = p + pos;
      const uint16_t id = be16(rec);
      const uint16_t count = be16(rec + 2);
      if (id == 0 && count == 0 && all_zero(rec, n - pos)) return;  // padding
      if (count == 0) {
        withdraw(m, id, true);
        pos += 4;
        continue;
      }
      if (n - pos < 6) return m.fail(DecodeStatus::kBadLength);
      const uint16_t scope_count = be16(rec + 4);
      if (id < 256 || scope_count == 0 || scope_count > count) {
        return m.fail(DecodeStatus::kBadTemplate);
      }
      fields.clear();
      const size_t used = read_fields(rec + 6, n - pos - 6, count, true, 0);
      if (used == 0) return m.fail(DecodeStatus::kBadLength);
      store_template(m, id, std::span(rec, 6 + used), true);
      pos += 6 + used;
    }
  }

  // Walks the sets after the header; [p, p + n) is the datagram (IPFIX: up to its length).
  void sets(Message& m, const uint8_t* p, size_t n, size_t pos) {
    const uint16_t template_set_id = m.ipfix ? 2 : 0;
    const uint16_t options_set_id = m.ipfix ? 3 : 1;
    while (n - pos >= 4) {
      const uint16_t id = be16(p + pos);
      const uint16_t length = be16(p + pos + 2);
      if (length < 4 || length > n - pos) {
        if (!m.ipfix && all_zero(p + pos, n - pos)) return;  // v9 datagram padding
        m.records_uncertain = true;
        return m.fail(DecodeStatus::kBadLength);
      }
      const uint8_t* body = p + pos + 4;
      const size_t body_size = length - 4u;
      if (id == template_set_id) {
        template_set(m, body, body_size);
      } else if (id == options_set_id) {
        if (m.ipfix) {
          ipfix_options_set(m, body, body_size);
        } else {
          v9_options_set(m, body, body_size);
        }
      } else if (id >= 256) {
        data_set(m, id, body, body_size);
      }  // other ids are reserved: skipped
      pos += length;
    }
    if (m.ipfix && pos != n) {
      m.records_uncertain = true;
      m.fail(DecodeStatus::kBadLength);
    }
  }

  // ---- Headers.

  DecodeResult decode_v5(const uint8_t* d, size_t size, const ExporterAddress& from,
                         core::TimeMs received, std::vector<ExportedFlow>& out) {
    Exporter& e = exporter(from, ExportProtocol::kNetflowV5, 0);
    ++e.stats.datagrams;
    DecodeResult r;
    if (size < kV5HeaderSize) {
      r.status = DecodeStatus::kTooShort;
      ++e.stats.malformed;
      return r;
    }
    const uint32_t count = be16(d + 2);
    const uint32_t uptime = be32(d + 4);
    const core::TimeMs export_ms =
        static_cast<core::TimeMs>(be32(d + 8)) * 1000 + be32(d + 12) / 1000000;
    const uint32_t sequence = be32(d + 16);
    const uint32_t interval = be16(d + 22) & 0x3FFF;
    const size_t present = (size - kV5HeaderSize) / kV5RecordSize;
    const size_t n = std::min<size_t>({count, kV5MaxRecords, present});
    if (count > kV5MaxRecords || count > present) {
      r.status = DecodeStatus::kBadLength;
      ++e.stats.malformed;
    }
    if (interval != 0) e.stats.sampling_rate = interval;
    ExportedFlow proto;
    proto.received = received;
    proto.exporter = from.address;
    proto.sampling_rate = interval != 0 ? interval : 1;
    proto.protocol = ExportProtocol::kNetflowV5;
    reserve_more(out, n);
    const uint8_t* p = d + kV5HeaderSize;
    for (size_t i = 0; i < n; ++i, p += kV5RecordSize) {
      ExportedFlow& f = out.emplace_back(proto);
      f.src = core::IpAddr::v4(be32(p));
      f.dst = core::IpAddr::v4(be32(p + 4));
      f.input_if = be16(p + 12);
      f.output_if = be16(p + 14);
      f.packets = be32(p + 16);
      f.bytes = be32(p + 20);
      f.start = export_ms - static_cast<int32_t>(uptime - be32(p + 24));
      f.end = export_ms - static_cast<int32_t>(uptime - be32(p + 28));
      f.src_port = be16(p + 32);
      f.dst_port = be16(p + 34);
      f.tcp_flags = p[37];
      f.ip_protocol = p[38];
    }
    r.flows = static_cast<uint32_t>(n);
    e.stats.flows += n;
    if (count <= kV5MaxRecords) track_sequence(e, sequence, count, kV5ReorderWindow);
    return r;
  }

  DecodeResult decode_v9(const uint8_t* d, size_t size, const ExporterAddress& from,
                         core::TimeMs received, std::vector<ExportedFlow>& out) {
    DecodeResult r;
    if (size < kV9HeaderSize) {
      r.status = DecodeStatus::kTooShort;  // no source id: no exporter to charge it to
      return r;
    }
    Message m;
    m.exporter = &exporter(from, ExportProtocol::kNetflowV9, be32(d + 16));
    m.scope = m.exporter->scope;
    m.times.sys_uptime = be32(d + 4);
    m.times.export_ms = static_cast<core::TimeMs>(be32(d + 8)) * 1000;
    m.received = received;
    m.out = &out;
    ++m.exporter->stats.datagrams;
    sets(m, d, size, kV9HeaderSize);
    if (m.malformed) ++m.exporter->stats.malformed;
    track_sequence(*m.exporter, be32(d + 12), 1, kV9ReorderWindow);
    return m.result;
  }

  DecodeResult decode_ipfix(const uint8_t* d, size_t size, const ExporterAddress& from,
                            core::TimeMs received, std::vector<ExportedFlow>& out) {
    DecodeResult r;
    if (size < kIpfixHeaderSize) {
      r.status = DecodeStatus::kTooShort;  // no observation domain: no exporter to charge it to
      return r;
    }
    Message m;
    m.ipfix = true;
    m.exporter = &exporter(from, ExportProtocol::kIpfix, be32(d + 12));
    m.scope = m.exporter->scope;
    m.times.export_ms = static_cast<core::TimeMs>(be32(d + 4)) * 1000;
    m.received = received;
    m.out = &out;
    ++m.exporter->stats.datagrams;
    const size_t length = be16(d + 2);
    if (length != size) {
      // Sets wholly inside both the datagram and the stated length are still decoded.
      m.fail(DecodeStatus::kBadLength);
      m.records_uncertain = true;
    }
    sets(m, d, std::max(kIpfixHeaderSize, std::min(length, size)), kIpfixHeaderSize);
    if (m.malformed) ++m.exporter->stats.malformed;
    std::optional<uint32_t> units;
    if (!m.records_uncertain) units = m.data_records;
    track_sequence(*m.exporter, be32(d + 8), units, kIpfixReorderWindow);
    return m.result;
  }
};

NetflowDecoder::NetflowDecoder(NetflowDecoderOptions options)
    : state_(std::make_unique<State>(options)) {}

NetflowDecoder::~NetflowDecoder() = default;

DecodeResult NetflowDecoder::decode(const uint8_t* data, size_t size, const ExporterAddress& from,
                                    core::TimeMs received, std::vector<ExportedFlow>& out) {
  DecodeResult r;
  if (size < 2) {
    r.status = DecodeStatus::kTooShort;
    return r;
  }
  switch (be16(data)) {
    case 5:
      return state_->decode_v5(data, size, from, received, out);
    case 9:
      return state_->decode_v9(data, size, from, received, out);
    case 10:
      return state_->decode_ipfix(data, size, from, received, out);
    default:
      r.status = DecodeStatus::kBadVersion;
      return r;
  }
}

std::vector<ExporterStats> NetflowDecoder::exporters() const {
  std::vector<ExporterStats> v;
  v.reserve(state_->exporters.size());
  for (const Exporter& e : state_->exporters) v.push_back(e.stats);
  return v;
}

}  // namespace netpulse::collect
