// Hand-written byte-level builders of NetFlow v5, NetFlow v9 and IPFIX datagrams for the
// decoder's tests and benchmark. Deliberately independent of any encoder in src/, so the tests
// do not check the decoder against code that shares its mistakes. Every byte is put where the
// RFC says; nothing is validated, so tests can also build lying datagrams. Plain values; not
// thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace netpulse::test::netflow {

// Big-endian byte writer.
class Bytes {
 public:
  Bytes& u8(uint64_t v) {
    b_.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Bytes& u16(uint64_t v) { return uint(v, 2); }
  Bytes& u32(uint64_t v) { return uint(v, 4); }
  Bytes& u64(uint64_t v) { return uint(v, 8); }
  // The low `n` bytes of v, most significant first (reduced-size encoding).
  Bytes& uint(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return u8(a).u8(b).u8(c).u8(d); }
  Bytes& ip6(uint64_t hi, uint64_t lo) { return u64(hi).u64(lo); }
  Bytes& zeros(size_t n) {
    b_.insert(b_.end(), n, 0);
    return *this;
  }
  Bytes& raw(const std::vector<uint8_t>& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  // An IPFIX variable-length field: 1-byte length below 255, else 255 and a 2-byte length.
  Bytes& varlen(const std::string& s, bool force_long = false) {
    if (s.size() < 255 && !force_long) {
      u8(s.size());
    } else {
      u8(255).u16(s.size());
    }
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  void put16(size_t at, uint16_t v) {
    b_[at] = static_cast<uint8_t>(v >> 8);
    b_[at + 1] = static_cast<uint8_t>(v);
  }
  size_t size() const { return b_.size(); }
  const std::vector<uint8_t>& bytes() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

// ---- NetFlow v5.

struct V5Header {
  uint16_t count = 0xFFFF;  // 0xFFFF: the number of records given
  uint32_t sys_uptime = 0;
  uint32_t unix_secs = 0;
  uint32_t unix_nsecs = 0;
  uint32_t flow_sequence = 0;
  uint8_t engine_type = 0;
  uint8_t engine_id = 0;
  uint16_t sampling = 0;  // top 2 bits mode, low 14 bits interval
};

struct V5Record {
  uint32_t src = 0, dst = 0, next_hop = 0;
  uint16_t input = 0, output = 0;
  uint32_t packets = 0, bytes = 0;
  uint32_t first = 0, last = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint8_t tcp_flags = 0, protocol = 0, tos = 0;
  uint16_t src_as = 0, dst_as = 0;
  uint8_t src_mask = 0, dst_mask = 0;
};

inline std::vector<uint8_t> v5_datagram(const V5Header& h, const std::vector<V5Record>& records) {
  Bytes b;
  b.u16(5).u16(h.count == 0xFFFF ? records.size() : h.count);
  b.u32(h.sys_uptime).u32(h.unix_secs).u32(h.unix_nsecs).u32(h.flow_sequence);
  b.u8(h.engine_type).u8(h.engine_id).u16(h.sampling);
  for (const V5Record& r : records) {
    b.u32(r.src).u32(r.dst).u32(r.next_hop).u16(r.input).u16(r.output);
    b.u32(r.packets).u32(r.bytes).u32(r.first).u32(r.last);
    b.u16(r.src_port).u16(r.dst_port).u8(0).u8(r.tcp_flags).u8(r.protocol).u8(r.tos);
    b.u16(r.src_as).u16(r.dst_as).u8(r.src_mask).u8(r.dst_mask).u16(0);
  }
  return b.bytes();
}

// ---- NetFlow v9 and IPFIX.

// A field specifier. enterprise != 0: IPFIX enterprise bit set and the number written after.
struct Field {
  uint16_t id;
  uint16_t length;
  uint32_t enterprise = 0;
};

// A v9 or IPFIX message: header, then sets opened and closed in turn; data records are written
// with the Bytes methods between begin_set() and end_set().
class MessageBuilder {
 public:
  static MessageBuilder v9(uint32_t sys_uptime, uint32_t unix_secs, uint32_t sequence,
                           uint32_t source_id, uint16_t count = 0) {
    MessageBuilder m(9);
    m.b_.u16(9).u16(count).u32(sys_uptime).u32(unix_secs).u32(sequence).u32(source_id);
    return m;
  }
  static MessageBuilder ipfix(uint32_t export_time, uint32_t sequence, uint32_t domain) {
    MessageBuilder m(10);
    m.b_.u16(10).u16(0).u32(export_time).u32(sequence).u32(domain);
    return m;
  }

  MessageBuilder& begin_set(uint16_t id) {
    set_start_ = b_.size();
    b_.u16(id).u16(0);
    return *this;
  }
  // Closes the set, writing its length (or `length_override` when a test wants a lie).
  MessageBuilder& end_set(int length_override = -1) {
    b_.put16(set_start_ + 2, static_cast<uint16_t>(length_override >= 0 ? length_override
                                                                        : b_.size() - set_start_));
    return *this;
  }

  // A template record inside a template set (v9 id 0, IPFIX id 2).
  MessageBuilder& template_record(uint16_t id, std::initializer_list<Field> fields) {
    b_.u16(id).u16(fields.size());
    for (const Field& f : fields) spec(f);
    return *this;
  }
  // A whole template set holding one template.
  MessageBuilder& template_set(uint16_t id, std::initializer_list<Field> fields) {
    begin_set(version_ == 9 ? 0 : 2);
    template_record(id, fields);
    return end_set();
  }
  // A whole options template set holding one options template (v9 id 1, IPFIX id 3).
  MessageBuilder& options_template_set(uint16_t id, std::initializer_list<Field> scope,
                                       std::initializer_list<Field> options) {
    begin_set(version_ == 9 ? 1 : 3);
    if (version_ == 9) {
      b_.u16(id).u16(scope.size() * 4).u16(options.size() * 4);
    } else {
      b_.u16(id).u16(scope.size() + options.size()).u16(scope.size());
    }
    for (const Field& f : scope) spec(f);
    for (const Field& f : options) spec(f);
    if (version_ == 9) {  // RFC 3954 pads options template flowsets to 4 bytes
      while ((b_.size() - set_start_) % 4 != 0) b_.u8(0);
    }
    return end_set();
  }
  // An IPFIX template withdrawal record (field count 0) inside a set.
  MessageBuilder& withdrawal(uint16_t id) {
    b_.u16(id).u16(0);
    return *this;
  }

  MessageBuilder& u8(uint64_t v) { return w(b_.u8(v)); }
  MessageBuilder& u16(uint64_t v) { return w(b_.u16(v)); }
  MessageBuilder& u32(uint64_t v) { return w(b_.u32(v)); }
  MessageBuilder& u64(uint64_t v) { return w(b_.u64(v)); }
  MessageBuilder& uint(uint64_t v, int n) { return w(b_.uint(v, n)); }
  MessageBuilder& ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return w(b_.ip4(a, b, c, d)); }
  MessageBuilder& ip6(uint64_t hi, uint64_t lo) { return w(b_.ip6(hi, lo)); }
  MessageBuilder& zeros(size_t n) { return w(b_.zeros(n)); }
  MessageBuilder& varlen(const std::string& s, bool force_long = false) {
    return w(b_.varlen(s, force_long));
  }

  // The datagram; IPFIX gets its length field (or `length_override`).
  std::vector<uint8_t> build(int length_override = -1) {
    Bytes out = b_;
    if (version_ == 10) {
      out.put16(2, static_cast<uint16_t>(length_override >= 0 ? length_override : out.size()));
    }
    return out.bytes();
  }

 private:
  explicit MessageBuilder(int version) : version_(version) {}
  MessageBuilder& w(Bytes&) { return *this; }
  void spec(const Field& f) {
    if (f.enterprise != 0) {
      b_.u16(f.id | 0x8000).u16(f.length).u32(f.enterprise);
    } else {
      b_.u16(f.id).u16(f.length);
    }
  }

  int version_;
  Bytes b_;
  size_t set_start_ = 0;
};

}  // namespace netpulse::test::netflow
