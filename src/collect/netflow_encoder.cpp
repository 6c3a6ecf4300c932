#include "collect/netflow_encoder.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace netpulse::collect {

namespace {

constexpr size_t kV5Header = 24;
constexpr size_t kV5Record = 48;
constexpr uint32_t kV5MaxRecords = 30;  // the v5 format's own limit per datagram
constexpr size_t kV9Header = 20;
constexpr size_t kIpfixHeader = 16;
constexpr uint64_t kMax32 = 0xFFFFFFFFu;

constexpr uint16_t kTemplateV4 = 256;
constexpr uint16_t kTemplateV6 = 257;
constexpr uint16_t kTemplateSampling = 258;
constexpr uint16_t kTemplateSamplingIntervalOnly = 259;

struct Field {
  uint16_t id;
  uint16_t length;
};

// The flow templates, in the order add_templated() writes the fields. ICMP type and code go in
// the destination port (as v5 has them) and in their own field, which nfdump's v9 decoder needs.
constexpr Field kV9FieldsV4[] = {{8, 4},  {12, 4}, {7, 2}, {11, 2}, {32, 2}, {4, 1}, {6, 1},
                                 {10, 4}, {14, 4}, {1, 8}, {2, 8},  {22, 4}, {21, 4}};
constexpr Field kV9FieldsV6[] = {{27, 16}, {28, 16}, {7, 2}, {11, 2}, {32, 2}, {4, 1}, {6, 1},
                                 {10, 4},  {14, 4},  {1, 8}, {2, 8},  {22, 4}, {21, 4}};
constexpr Field kIpfixFieldsV4[] = {{8, 4},  {12, 4}, {7, 2}, {11, 2}, {32, 2},  {4, 1},  {6, 2},
                                    {10, 4}, {14, 4}, {1, 8}, {2, 8},  {152, 8}, {153, 8}};
constexpr Field kIpfixFieldsV6[] = {{27, 16}, {28, 16}, {7, 2}, {11, 2}, {139, 2}, {4, 1},  {6, 2},
                                    {10, 4},  {14, 4},  {1, 8}, {2, 8},  {152, 8}, {153, 8}};

template <size_t N>
constexpr size_t record_length(const Field (&fields)[N]) {
  size_t n = 0;
  for (const Field& f : fields) n += f.length;
  return n;
}
constexpr size_t kV9RecordV4 = record_length(kV9FieldsV4);        // 48
constexpr size_t kV9RecordV6 = record_length(kV9FieldsV6);        // 72
constexpr size_t kIpfixRecordV4 = record_length(kIpfixFieldsV4);  // 57
constexpr size_t kIpfixRecordV6 = record_length(kIpfixFieldsV6);  // 81

inline uint8_t* put8(uint8_t* p, uint8_t v) {
  *p = v;
  return p + 1;
}
inline uint8_t* put16(uint8_t* p, uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
  return p + 2;
}
inline uint8_t* put32(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
  return p + 4;
}
inline uint8_t* put64(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
  return p + 8;
}
// An IPv4 address in an IPv6 field becomes ::ffff:a.b.c.d.
inline uint8_t* put_ip6(uint8_t* p, const core::IpAddr& a) {
  if (a.is_v6) return put64(put64(p, a.bits.hi), a.bits.lo);
  return put64(put64(p, 0), 0x0000FFFF00000000ULL | a.v4_value());
}
inline uint32_t v4_of(const core::IpAddr& a) {
  return a.is_v6 ? 0 : a.v4_value();
}

template <size_t N>
uint8_t* put_template(uint8_t* p, uint16_t id, const Field (&fields)[N]) {
  p = put16(p, id);
  p = put16(p, static_cast<uint16_t>(N));
  for (const Field& f : fields) p = put32(p, static_cast<uint32_t>(f.id) << 16 | f.length);
  return p;
}

constexpr size_t pad4(size_t n) {
  return (4 - n % 4) % 4;
}

}  // namespace

std::optional<std::string> validate(const NetflowEncoderOptions& o) {
  if (o.version != ExportProtocol::kNetflowV5 && o.version != ExportProtocol::kNetflowV9 &&
      o.version != ExportProtocol::kIpfix)
    return "version must be 5, 9 or 10 (IPFIX)";
  if (o.max_datagram < kMinDatagram || o.max_datagram > kMaxDatagram)
    return "datagram size must be " + std::to_string(kMinDatagram) + " to " +
           std::to_string(kMaxDatagram) + " bytes";
  if (o.sampling_rate < 1) return "sampling rate must be at least 1";
  if (o.version == ExportProtocol::kNetflowV5 && o.sampling_rate > 0x3FFF)
    return "NetFlow v5 carries sampling rates up to 16383";
  if (o.template_every_ms < 0) return "template refresh time must not be negative";
  return std::nullopt;
}

NetflowEncoder::NetflowEncoder(NetflowEncoderOptions options, Emit emit)
    : options_(options), emit_(std::move(emit)), boot_(options.boot_time) {
  assert(!validate(options_));
  buf_.resize(options_.max_datagram);
  v5_capacity_ = static_cast<uint32_t>(
      std::min<size_t>(kV5MaxRecords, (options_.max_datagram - kV5Header) / kV5Record));
}

void NetflowEncoder::advance_export_time(core::TimeMs now) {
  export_floor_ = std::max(export_floor_, now);
}

void NetflowEncoder::encode(std::span<const ExportedFlow> flows) {
  for (const ExportedFlow& f : flows) add(f);
  flush();
}

void NetflowEncoder::add(const ExportedFlow& flow) {
  // The default boot time: shortly before the first flow, on a whole second.
  if (!boot_) boot_ = core::floor_div(flow.start, 1000) * 1000 - 1000;
  if (options_.version == ExportProtocol::kNetflowV5)
    add_v5(flow);
  else
    add_templated(flow);
}

uint32_t NetflowEncoder::uptime(core::TimeMs t) {
  if (t < *boot_) {
    ++stats_.clamped_times;
    return 0;
  }
  return static_cast<uint32_t>(t - *boot_);  // wraps after 49.7 days, as a router's does
}

uint32_t NetflowEncoder::header_uptime(core::TimeMs t) const {
  return t < *boot_ ? 0 : static_cast<uint32_t>(t - *boot_);
}

void NetflowEncoder::open(core::TimeMs first_end) {
  dgram_export_ = std::max(export_floor_, first_end);
  const ExportProtocol v = options_.version;
  pos_ = v == ExportProtocol::kNetflowV5   ? kV5Header
         : v == ExportProtocol::kNetflowV9 ? kV9Header
                                           : kIpfixHeader;
  set_template_ = 0;
  dgram_records_ = dgram_other_records_ = 0;
  open_ = true;
  if (v == ExportProtocol::kNetflowV5) return;
  const bool due = !templates_sent_ ||
                   (options_.template_every_datagrams > 0 &&
                    datagrams_since_templates_ >= options_.template_every_datagrams) ||
                   (options_.template_every_ms > 0 &&
                    dgram_export_ - templates_time_ >= options_.template_every_ms);
  if (!due) return;
  write_templates();
  templates_sent_ = true;
  datagrams_since_templates_ = 0;
  templates_time_ = dgram_export_;
  ++stats_.template_datagrams;
}

void NetflowEncoder::write_templates() {
  const bool v9 = options_.version == ExportProtocol::kNetflowV9;
  uint8_t* const base = buf_.data();
  uint8_t* p = base + pos_;

  // Both flow templates, always: a collector that restarts learns every one at the next refresh.
  uint8_t* set = p;  // set id and length are written once the set is complete
  p = set + 4;
  if (v9) {
    p = put_template(p, kTemplateV4, kV9FieldsV4);
    p = put_template(p, kTemplateV6, kV9FieldsV6);
  } else {
    p = put_template(p, kTemplateV4, kIpfixFieldsV4);
    p = put_template(p, kTemplateV6, kIpfixFieldsV6);
  }
  put16(set, v9 ? 0 : 2);  // template flowset / set id
  put16(set + 2, static_cast<uint16_t>(p - set));
  dgram_other_records_ += v9 ? 2 : 0;  // v9 header count includes template records

  if (options_.sampling_rate > 1) {
    // The sampling rate of everything this source id / domain exports, twice: template 258
    // with samplingInterval and samplingAlgorithm (RFC 3954's pair; nfdump >= 1.7.2 wants
    // both), template 259 with samplingInterval alone (nfdump 1.7.1, Debian 12's, takes only
    // that). Collectors that know both read the same rate twice.
    // One options template per set: nfdump reads only the first of a set.
    for (const bool with_algorithm : {true, false}) {
      const uint16_t options = with_algorithm ? 2 : 1;
      set = p;
      p = put16(set + 4, with_algorithm ? kTemplateSampling : kTemplateSamplingIntervalOnly);
      if (v9) {
        p = put16(p, 4);                                   // scope length in bytes
        p = put16(p, static_cast<uint16_t>(4 * options));  // option length in bytes
        p = put32(p, 1u << 16 | 4);                        // scope: System (1)
      } else {
        p = put16(p, static_cast<uint16_t>(1 + options));  // field count
        p = put16(p, 1);                                   // scope field count
        p = put32(p, 149u << 16 | 4);                      // observationDomainId
      }
      p = put32(p, 34u << 16 | 4);                      // samplingInterval
      if (with_algorithm) p = put32(p, 35u << 16 | 1);  // samplingAlgorithm
      if (v9)
        while ((p - set) % 4 != 0) *p++ = 0;
      put16(set, v9 ? 1 : 3);
      put16(set + 2, static_cast<uint16_t>(p - set));
    }

    // Their data records.
    for (const bool with_algorithm : {true, false}) {
      set = p;
      p = set + 4;
      p = put32(p, options_.domain);
      p = put32(p, options_.sampling_rate);
      if (with_algorithm) p = put8(p, 1);  // deterministic: 1 in N
      if (v9)
        while ((p - set) % 4 != 0) *p++ = 0;
      put16(set, with_algorithm ? kTemplateSampling : kTemplateSamplingIntervalOnly);
      put16(set + 2, static_cast<uint16_t>(p - set));
    }
    // v9 counts 2 templates and 2 data records; IPFIX's sequence counts the 2 data records.
    dgram_other_records_ += v9 ? 4 : 2;
  }
  pos_ = static_cast<size_t>(p - base);
}

void NetflowEncoder::close_set() {
  if (set_template_ == 0) return;
  size_t length = pos_ - set_start_;
  if (options_.version == ExportProtocol::kNetflowV9) {
    const size_t pad = pad4(length);
    std::memset(buf_.data() + pos_, 0, pad);
    pos_ += pad;
    length += pad;
  }
  put16(buf_.data() + set_start_ + 2, static_cast<uint16_t>(length));
  set_template_ = 0;
}

void NetflowEncoder::flush() {
  if (!open_) return;
  close_set();
  uint8_t* p = buf_.data();
  const core::TimeMs t = dgram_export_;
  const uint32_t secs = static_cast<uint32_t>(core::floor_div(t, 1000));
  const uint32_t sequence = static_cast<uint32_t>(sequence_);
  switch (options_.version) {
    case ExportProtocol::kNetflowV5: {
      p = put16(p, 5);
      p = put16(p, static_cast<uint16_t>(dgram_records_));
      p = put32(p, header_uptime(t));
      p = put32(p, secs);
      p = put32(p, static_cast<uint32_t>(t - core::floor_div(t, 1000) * 1000) * 1'000'000u);
      p = put32(p, sequence);
      p = put8(p, static_cast<uint8_t>(options_.domain >> 8));
      p = put8(p, static_cast<uint8_t>(options_.domain));
      put16(p, options_.sampling_rate > 1 ? static_cast<uint16_t>(0x4000 | options_.sampling_rate)
                                          : 0);
      sequence_ += dgram_records_;
      break;
    }
    case ExportProtocol::kNetflowV9: {
      p = put16(p, 9);
      p = put16(p, static_cast<uint16_t>(dgram_records_ + dgram_other_records_));
      // Taken at the whole second unix_secs names, so collectors derive the exact boot time.
      p = put32(p, header_uptime(core::floor_div(t, 1000) * 1000));
      p = put32(p, secs);
      p = put32(p, sequence);
      put32(p, options_.domain);
      sequence_ += 1;
      break;
    }
    default: {
      p = put16(p, 10);
      p = put16(p, static_cast<uint16_t>(pos_));
      p = put32(p, secs);
      p = put32(p, sequence);
      put32(p, options_.domain);
      sequence_ += dgram_records_ + dgram_other_records_;
      break;
    }
  }
  ++stats_.datagrams;
  ++datagrams_since_templates_;
  export_floor_ = std::max(export_floor_, dgram_export_);
  open_ = false;
  emit_(buf_.data(), pos_);
  dgram_records_ = 0;
}

void NetflowEncoder::write_v5_record(const ExportedFlow& f, uint64_t bytes, uint64_t packets) {
  uint8_t* p = buf_.data() + pos_;
  p = put32(p, f.src.v4_value());
  p = put32(p, f.dst.v4_value());
  p = put32(p, 0);  // next hop
  p = put16(p, static_cast<uint16_t>(std::min<uint32_t>(f.input_if, 0xFFFF)));
  p = put16(p, static_cast<uint16_t>(std::min<uint32_t>(f.output_if, 0xFFFF)));
  p = put32(p, static_cast<uint32_t>(packets));
  p = put32(p, static_cast<uint32_t>(bytes));
  p = put32(p, uptime(f.start));
  p = put32(p, uptime(f.end));
  p = put16(p, f.src_port);
  p = put16(p, f.dst_port);
  p = put8(p, 0);  // pad1
  p = put8(p, f.tcp_flags);
  p = put8(p, f.ip_protocol);
  p = put8(p, 0);        // tos
  std::memset(p, 0, 8);  // src_as, dst_as, src_mask, dst_mask, pad2
  pos_ += kV5Record;
}

void NetflowEncoder::add_v5(const ExportedFlow& f) {
  if (f.src.is_v6 || f.dst.is_v6) {
    ++stats_.skipped_ipv6;
    return;
  }
  // The fewest records whose 32-bit counters hold the flow's.
  const uint64_t pieces =
      std::max<uint64_t>({1, (f.bytes + kMax32 - 1) / kMax32, (f.packets + kMax32 - 1) / kMax32});
  ++stats_.flows;
  stats_.split_flows += pieces > 1;
  for (uint64_t i = 0; i < pieces; ++i) {
    if (open_ && dgram_records_ == v5_capacity_) flush();
    if (!open_) open(f.end);
    const uint64_t bytes = f.bytes / pieces + (i < f.bytes % pieces);
    const uint64_t packets = f.packets / pieces + (i < f.packets % pieces);
    write_v5_record(f, bytes, packets);
    ++dgram_records_;
    ++stats_.records;
    dgram_export_ = std::max(dgram_export_, f.end);
  }
}

void NetflowEncoder::add_templated(const ExportedFlow& f) {
  const bool v9 = options_.version == ExportProtocol::kNetflowV9;
  const bool v6 = f.src.is_v6 || f.dst.is_v6;
  const uint16_t tmpl = v6 ? kTemplateV6 : kTemplateV4;
  const size_t rec = v9 ? (v6 ? kV9RecordV6 : kV9RecordV4) : (v6 ? kIpfixRecordV6 : kIpfixRecordV4);

  // Where the datagram would end with this record (and the v9 padding of its set).
  auto end_with_record = [&] {
    if (set_template_ == tmpl) {
      const size_t end = pos_ + rec;
      return v9 ? end + pad4(end - set_start_) : end;
    }
    size_t base = pos_;
    if (set_template_ != 0 && v9) base += pad4(pos_ - set_start_);
    return base + 4 + rec + (v9 ? pad4(4 + rec) : 0);
  };
  if (open_ && end_with_record() > buf_.size()) flush();
  if (!open_) open(f.end);
  if (set_template_ != tmpl) {
    close_set();
    set_start_ = pos_;
    put16(buf_.data() + pos_, tmpl);  // the length is written when the set closes
    pos_ += 4;
    set_template_ = tmpl;
  }

  uint8_t* p = buf_.data() + pos_;
  if (v6) {
    p = put_ip6(p, f.src);
    p = put_ip6(p, f.dst);
  } else {
    p = put32(p, v4_of(f.src));
    p = put32(p, v4_of(f.dst));
  }
  p = put16(p, f.src_port);
  p = put16(p, f.dst_port);
  p = put16(p, f.ip_protocol == 1 || f.ip_protocol == 58 ? f.dst_port : 0);  // ICMP type/code
  p = put8(p, f.ip_protocol);
  p = v9 ? put8(p, f.tcp_flags) : put16(p, f.tcp_flags);
  p = put32(p, f.input_if);
  p = put32(p, f.output_if);
  p = put64(p, f.bytes);
  p = put64(p, f.packets);
  if (v9) {
    p = put32(p, uptime(f.start));
    p = put32(p, uptime(f.end));
  } else {
    p = put64(p, static_cast<uint64_t>(f.start));
    p = put64(p, static_cast<uint64_t>(f.end));
  }
  pos_ += rec;
  ++dgram_records_;
  ++stats_.flows;
  ++stats_.records;
  dgram_export_ = std::max(dgram_export_, f.end);
}

}  // namespace netpulse::collect
