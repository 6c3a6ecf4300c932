// Test helpers that write packets (Ethernet, VLAN tags, IPv4, IPv6 and extension headers, TCP,
// UDP, ICMP) and sFlow v5 datagrams field by field, so tests state the bytes they feed the
// decoders without a third-party encoder. Test-only; plain values, not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "core/ip_addr.hpp"

namespace netpulse::test {

using Bytes = std::vector<uint8_t>;

inline void put8(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
}
inline void put16(Bytes& b, uint32_t v) {
  put8(b, v >> 8);
  put8(b, v);
}
inline void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v);
}
inline void put64(Bytes& b, uint64_t v) {
  put32(b, static_cast<uint32_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}
inline void patch32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}
// 2001:db8::<n>
inline core::Ip6 doc_ip6(uint64_t n) {
  return core::Ip6{0x20010db800000000ULL, n};
}

// --- packets ---------------------------------------------------------------------------------

struct VlanTag {
  uint16_t tpid = 0x8100;
  uint16_t tci = 0;  // priority << 13 | VLAN ID
};

// Destination and source MACs, the tags (outermost first), the EtherType.
inline Bytes ethernet(uint16_t ether_type, std::initializer_list<VlanTag> tags = {}) {
  Bytes b = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
  for (const VlanTag& t : tags) {
    put16(b, t.tpid);
    put16(b, t.tci);
  }
  put16(b, ether_type);
  return b;
}

// An IPv4 header whose total length covers `payload` bytes after it. frag: flags << 13 | offset
// (in 8-byte units). options: a multiple of 4 bytes.
inline Bytes ipv4(uint32_t src, uint32_t dst, uint8_t protocol, size_t payload, uint16_t frag = 0,
                  const Bytes& options = {}, uint8_t tos = 0) {
  Bytes b;
  const size_t header = 20 + options.size();
  put8(b, 0x40 | static_cast<uint8_t>(header / 4));
  put8(b, tos);
  put16(b, static_cast<uint32_t>(header + payload));
  put16(b, 0x1234);  // identification
  put16(b, frag);
  put8(b, 64);  // TTL
  put8(b, protocol);
  put16(b, 0);  // checksum: the decoders do not check it
  put32(b, src);
  put32(b, dst);
  b.insert(b.end(), options.begin(), options.end());
  return b;
}

// An IPv6 header whose payload length is `payload` bytes (extension headers included).
inline Bytes ipv6(core::Ip6 src, core::Ip6 dst, uint8_t next, size_t payload, uint8_t tclass = 0) {
  Bytes b;
  put32(b, 6u << 28 | uint32_t{tclass} << 20 | 0x12345);
  put16(b, static_cast<uint32_t>(payload));
  put8(b, next);
  put8(b, 64);
  put64(b, src.hi);
  put64(b, src.lo);
  put64(b, dst.hi);
  put64(b, dst.lo);
  return b;
}

// Hop-by-hop, routing or destination options header of `units` 8-byte units (at least 1).
inline Bytes ipv6_options(uint8_t next, uint8_t units = 1) {
  Bytes b(size_t{units} * 8, 0);
  b[0] = next;
  b[1] = static_cast<uint8_t>(units - 1);
  b[2] = 1;  // a PadN option over the rest
  b[3] = static_cast<uint8_t>(b.size() - 4);
  return b;
}

inline Bytes ipv6_fragment(uint8_t next, uint16_t offset_units, bool more) {
  Bytes b = {next, 0};
  put16(b, static_cast<uint32_t>(offset_units) << 3 | (more ? 1 : 0));
  put32(b, 0xabcdef01);  // identification
  return b;
}

// Authentication header with a 12-byte ICV: (4 + 2) * 4 = 24 bytes.
inline Bytes ipv6_ah(uint8_t next) {
  Bytes b = {next, 4, 0, 0};
  put32(b, 0x100);  // SPI
  put32(b, 1);      // sequence
  b.resize(24, 0xee);
  return b;
}

inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t options = 0) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 1000);  // sequence
  put32(b, 0);     // acknowledgement
  put8(b, static_cast<uint8_t>((20 + options) / 4) << 4);
  put8(b, flags);
  put16(b, 65535);            // window
  put16(b, 0);                // checksum
  put16(b, 0);                // urgent
  b.resize(20 + options, 1);  // NOP options
  return b;
}

inline Bytes udp(uint16_t sport, uint16_t dport, size_t payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint32_t>(8 + payload));
  put16(b, 0);
  return b;
}

inline Bytes icmp(uint8_t type, uint8_t code) {
  Bytes b = {type, code, 0, 0};
  put32(b, 0x00010001);  // identifier, sequence of an echo
  return b;
}

inline Bytes zeros(size_t n) {
  return Bytes(n, 0);
}

// Ethernet / IPv4 / TCP with `payload` bytes of data: 14 + 20 + 20 + payload bytes.
inline Bytes tcp4_frame(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
                        size_t payload, std::initializer_list<VlanTag> tags = {}) {
  return cat({ethernet(0x0800, tags), ipv4(src, dst, 6, 20 + payload), tcp(sport, dport, flags),
              zeros(payload)});
}

// Ethernet / IPv6 / UDP with `payload` bytes of data.
inline Bytes udp6_frame(core::Ip6 src, core::Ip6 dst, uint16_t sport, uint16_t dport,
                        size_t payload, std::initializer_list<VlanTag> tags = {}) {
  return cat({ethernet(0x86dd, tags), ipv6(src, dst, 17, 8 + payload), udp(sport, dport, payload),
              zeros(payload)});
}

// --- sFlow v5 datagrams ----------------------------------------------------------------------

// Writes one datagram: the header, then samples; a flow sample is opened, given records and
// closed (its length and record count are patched on close). build() patches the sample count.
class SflowBuilder {
 public:
  SflowBuilder(core::IpAddr agent, uint32_t sub_agent, uint32_t sequence, uint32_t uptime_ms) {
    put32(b_, 5);
    if (agent.is_v6) {
      put32(b_, 2);
      put64(b_, agent.bits.hi);
      put64(b_, agent.bits.lo);
    } else {
      put32(b_, 1);
      put32(b_, agent.v4_value());
    }
    put32(b_, sub_agent);
    put32(b_, sequence);
    put32(b_, uptime_ms);
    count_at_ = b_.size();
    put32(b_, 0);
  }

  // A compact flow sample: source id = type << 24 | index; interfaces in the compact encoding.
  SflowBuilder& flow_sample(uint32_t sequence, uint32_t source_id, uint32_t rate, uint32_t pool,
                            uint32_t drops, uint32_t input, uint32_t output) {
    open_sample(0, 1);
    put32(b_, sequence);
    put32(b_, source_id);
    put32(b_, rate);
    put32(b_, pool);
    put32(b_, drops);
    put32(b_, input);
    put32(b_, output);
    records_at_ = b_.size();
    put32(b_, 0);
    return *this;
  }

  SflowBuilder& expanded_flow_sample(uint32_t sequence, uint32_t source_type, uint32_t source_index,
                                     uint32_t rate, uint32_t pool, uint32_t drops,
                                     std::pair<uint32_t, uint32_t> input,
                                     std::pair<uint32_t, uint32_t> output) {
    open_sample(0, 3);
    put32(b_, sequence);
    put32(b_, source_type);
    put32(b_, source_index);
    put32(b_, rate);
    put32(b_, pool);
    put32(b_, drops);
    put32(b_, input.first);
    put32(b_, input.second);
    put32(b_, output.first);
    put32(b_, output.second);
    records_at_ = b_.size();
    put32(b_, 0);
    return *this;
  }

  // Raw packet header record: protocol 1 Ethernet, 11 IPv4, 12 IPv6; `header` padded to 4.
  SflowBuilder& raw_header(uint32_t protocol, uint32_t frame_length, uint32_t stripped,
                           const Bytes& header) {
    Bytes body;
    put32(body, protocol);
    put32(body, frame_length);
    put32(body, stripped);
    put32(body, static_cast<uint32_t>(header.size()));
    body.insert(body.end(), header.begin(), header.end());
    while (body.size() % 4 != 0) body.push_back(0);
    return record(0, 1, body);
  }

  // Ethernet frame sampled by a switch: frame length = frame + 4 (FCS), 4 stripped, at most
  // `snap` bytes of it kept (128 is the common default).
  SflowBuilder& ethernet_frame(const Bytes& frame, size_t snap = 128) {
    const Bytes header(frame.begin(),
                       frame.begin() + static_cast<long>(std::min(snap, frame.size())));
    return raw_header(1, static_cast<uint32_t>(frame.size() + 4), 4, header);
  }

  SflowBuilder& sampled_ipv4(uint32_t length, uint32_t protocol, uint32_t src, uint32_t dst,
                             uint32_t sport, uint32_t dport, uint32_t flags, uint32_t tos) {
    Bytes body;
    for (uint32_t v : {length, protocol, src, dst, sport, dport, flags, tos}) put32(body, v);
    return record(0, 3, body);
  }

  SflowBuilder& sampled_ipv6(uint32_t length, uint32_t protocol, core::Ip6 src, core::Ip6 dst,
                             uint32_t sport, uint32_t dport, uint32_t flags, uint32_t priority) {
    Bytes body;
    put32(body, length);
    put32(body, protocol);
    put64(body, src.hi);
    put64(body, src.lo);
    put64(body, dst.hi);
    put64(body, dst.lo);
    for (uint32_t v : {sport, dport, flags, priority}) put32(body, v);
    return record(0, 4, body);
  }

  // Any record in the open flow sample (extended switch data is 0:1001, ...).
  SflowBuilder& record(uint32_t enterprise, uint32_t format, const Bytes& body) {
    put32(b_, enterprise << 12 | format);
    put32(b_, static_cast<uint32_t>(body.size()));
    b_.insert(b_.end(), body.begin(), body.end());
    ++records_;
    return *this;
  }

  SflowBuilder& end_sample() {
    patch32(b_, records_at_, records_);
    close_sample();
    return *this;
  }

  // A generic-interface counter sample (0:2) with one counter record, or its expanded form.
  SflowBuilder& counter_sample(bool expanded = false) {
    open_sample(0, expanded ? 4 : 2);
    put32(b_, 7);  // sequence
    if (expanded) {
      put32(b_, 0);
      put32(b_, 3);
    } else {
      put32(b_, 3);  // source id
    }
    put32(b_, 1);  // records
    put32(b_, 1);  // generic interface counters
    put32(b_, 88);
    for (int i = 0; i < 22; ++i) put32(b_, static_cast<uint32_t>(i));
    close_sample();
    return *this;
  }

  // A sample of any tag with the given body (enterprise samples, broken bodies).
  SflowBuilder& sample(uint32_t enterprise, uint32_t format, const Bytes& body) {
    open_sample(enterprise, format);
    b_.insert(b_.end(), body.begin(), body.end());
    close_sample();
    return *this;
  }

  Bytes build() const {
    Bytes out = b_;
    patch32(out, count_at_, samples_);
    return out;
  }

 private:
  void open_sample(uint32_t enterprise, uint32_t format) {
    put32(b_, enterprise << 12 | format);
    sample_at_ = b_.size();
    put32(b_, 0);
    records_ = 0;
  }
  void close_sample() {
    patch32(b_, sample_at_, static_cast<uint32_t>(b_.size() - sample_at_ - 4));
    ++samples_;
  }

  Bytes b_;
  size_t count_at_ = 0;
  size_t sample_at_ = 0;
  size_t records_at_ = 0;
  uint32_t records_ = 0;
  uint32_t samples_ = 0;
};

}  // namespace netpulse::test
