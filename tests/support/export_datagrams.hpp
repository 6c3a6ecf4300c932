// A small, deliberately naive reader of NetFlow v5, v9 and IPFIX datagrams for tests: it reads
// bytes at the offsets the RFCs give, learns templates as they come, and returns every field
// of every data record by its information element number, so tests check what is on the wire
// without going through the code under test. Checks lengths strictly and says what is wrong.
// Not for production: maps and vectors per record. Not thread-safe; one per test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace netpulse::testing {

inline uint64_t read_be(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}

struct WireRecord {
  uint16_t template_id = 0;                         // v5: 0
  std::map<uint16_t, std::vector<uint8_t>> fields;  // IE -> raw bytes

  bool has(uint16_t ie) const { return fields.count(ie) != 0; }
  size_t length(uint16_t ie) const { return fields.at(ie).size(); }
  // The field as an unsigned big-endian number (any length up to 8).
  uint64_t u(uint16_t ie) const {
    const auto& f = fields.at(ie);
    return read_be(f.data(), f.size());
  }
  // An IPv6 field as (hi, lo).
  std::pair<uint64_t, uint64_t> ip6(uint16_t ie) const {
    const auto& f = fields.at(ie);
    return {read_be(f.data(), 8), read_be(f.data() + 8, 8)};
  }
};

struct WireTemplate {
  uint16_t id = 0;
  bool options = false;
  uint16_t scope_fields = 0;
  std::vector<std::pair<uint16_t, uint16_t>> fields;  // (IE, length)
  size_t record_length() const {
    size_t n = 0;
    for (const auto& f : fields) n += f.second;
    return n;
  }
};

struct WireDatagram {
  std::string error;  // empty: parsed cleanly
  int version = 0;
  size_t size = 0;
  // Header fields (those of the version; others 0).
  uint16_t count = 0;       // v5: flow records; v9: all records
  uint16_t length = 0;      // IPFIX message length
  uint32_t sys_uptime = 0;  // v5, v9
  uint32_t unix_secs = 0;   // v5, v9; IPFIX export time
  uint32_t unix_nsecs = 0;  // v5
  uint32_t sequence = 0;
  uint32_t domain = 0;                     // v9 source id, IPFIX observation domain
  uint8_t engine_type = 0, engine_id = 0;  // v5
  uint16_t sampling = 0;                   // v5 raw sampling field
  std::vector<WireTemplate> templates;     // defined in this datagram (options ones too)
  std::vector<WireRecord> records;         // flow data records
  std::vector<WireRecord> option_records;
  std::vector<size_t> set_lengths;  // every set/flowset, in order

  // The time of a record's start or end field in ms since the epoch, whatever the version.
  int64_t start_ms(const WireRecord& r) const { return time_ms(r, version == 10 ? 152 : 22); }
  int64_t end_ms(const WireRecord& r) const { return time_ms(r, version == 10 ? 153 : 21); }
  int64_t time_ms(const WireRecord& r, uint16_t ie) const {
    if (version == 10) return static_cast<int64_t>(r.u(ie));
    // v5 and v9: an uptime; boot = export time - sysUptime. v9's export time has no fraction.
    const int64_t export_ms = int64_t{unix_secs} * 1000 + (version == 5 ? unix_nsecs / 1000000 : 0);
    return export_ms - int64_t{sys_uptime} + static_cast<int64_t>(r.u(ie));
  }
};

// Reads datagrams of one exporter stream, keeping its templates.
class WireReader {
 public:
  WireDatagram read(const uint8_t* p, size_t n) {
    WireDatagram d;
    d.size = n;
    if (n < 4) return fail(d, "shorter than a header");
    d.version = static_cast<int>(read_be(p, 2));
    if (d.version == 5) return read_v5(d, p, n);
    if (d.version == 9) return read_v9(d, p, n);
    if (d.version == 10) return read_ipfix(d, p, n);
    return fail(d, "version " + std::to_string(d.version));
  }
  const std::map<uint16_t, WireTemplate>& templates() const { return templates_; }

 private:
  static WireDatagram& fail(WireDatagram& d, const std::string& why) {
    if (d.error.empty()) d.error = why;
    return d;
  }

  WireDatagram& read_v5(WireDatagram& d, const uint8_t* p, size_t n) {
    if (n < 24) return fail(d, "v5 header");
    d.count = static_cast<uint16_t>(read_be(p + 2, 2));
    d.sys_uptime = static_cast<uint32_t>(read_be(p + 4, 4));
    d.unix_secs = static_cast<uint32_t>(read_be(p + 8, 4));
    d.unix_nsecs = static_cast<uint32_t>(read_be(p + 12, 4));
    d.sequence = static_cast<uint32_t>(read_be(p + 16, 4));
    d.engine_type = p[20];
    d.engine_id = p[21];
    d.sampling = static_cast<uint16_t>(read_be(p + 22, 2));
    if (n != 24 + size_t{d.count} * 48) return fail(d, "v5 length does not match count");
    // The v5 record layout, named by the IPFIX numbers of the same fields.
    static const std::pair<uint16_t, size_t> kLayout[] = {
        {8, 4},  {12, 4}, {15, 4}, {10, 2}, {14, 2}, {2, 4},     {1, 4},
        {22, 4}, {21, 4}, {7, 2},  {11, 2}, {0, 1},  {6, 1},     {4, 1},
        {5, 1},  {16, 2}, {17, 2}, {9, 1},  {13, 1}, {0xFFFF, 2}};
    for (size_t i = 0; i < d.count; ++i) {
      const uint8_t* r = p + 24 + i * 48;
      WireRecord rec;
      size_t off = 0;
      for (const auto& [ie, len] : kLayout) {
        if (ie != 0 && ie != 0xFFFF) rec.fields[ie].assign(r + off, r + off + len);
        off += len;
      }
      d.records.push_back(std::move(rec));
    }
    return d;
  }

  WireDatagram& read_v9(WireDatagram& d, const uint8_t* p, size_t n) {
    if (n < 20) return fail(d, "v9 header");
    d.count = static_cast<uint16_t>(read_be(p + 2, 2));
    d.sys_uptime = static_cast<uint32_t>(read_be(p + 4, 4));
    d.unix_secs = static_cast<uint32_t>(read_be(p + 8, 4));
    d.sequence = static_cast<uint32_t>(read_be(p + 12, 4));
    d.domain = static_cast<uint32_t>(read_be(p + 16, 4));
    size_t off = 20, records = 0;
    while (off < n) {
      if (n - off < 4) return fail(d, "flowset header past the end");
      const uint16_t id = static_cast<uint16_t>(read_be(p + off, 2));
      const size_t len = read_be(p + off + 2, 2);
      if (len < 4 || off + len > n) return fail(d, "flowset length");
      if (len % 4 != 0) return fail(d, "v9 flowset not padded to 4 bytes");
      d.set_lengths.push_back(len);
      const uint8_t* s = p + off + 4;
      const size_t body = len - 4;
      if (id == 0) {
        size_t k = 0;
        while (body - k >= 4) {
          WireTemplate t;
          t.id = static_cast<uint16_t>(read_be(s + k, 2));
          const size_t fields = read_be(s + k + 2, 2);
          k += 4;
          if (body - k < fields * 4) return fail(d, "template past its flowset");
          for (size_t f = 0; f < fields; ++f, k += 4)
            t.fields.emplace_back(read_be(s + k, 2), read_be(s + k + 2, 2));
          templates_[t.id] = t;
          d.templates.push_back(t);
          ++records;
        }
      } else if (id == 1) {
        WireTemplate t;
        t.id = static_cast<uint16_t>(read_be(s, 2));
        t.options = true;
        const size_t scope_len = read_be(s + 2, 2), option_len = read_be(s + 4, 2);
        if (6 + scope_len + option_len > body) return fail(d, "options template length");
        t.scope_fields = static_cast<uint16_t>(scope_len / 4);
        for (size_t k = 6; k < 6 + scope_len + option_len; k += 4)
          t.fields.emplace_back(read_be(s + k, 2), read_be(s + k + 2, 2));
        templates_[t.id] = t;
        d.templates.push_back(t);
        ++records;
      } else if (id >= 256) {
        auto it = templates_.find(id);
        if (it == templates_.end())
          return fail(d, "data before its template " + std::to_string(id));
        records += read_data(it->second, s, body, d);
      } else {
        return fail(d, "reserved flowset id " + std::to_string(id));
      }
      off += len;
    }
    if (records != d.count)
      return fail(d, "v9 count " + std::to_string(d.count) + " but " + std::to_string(records) +
                         " records");
    return d;
  }

  WireDatagram& read_ipfix(WireDatagram& d, const uint8_t* p, size_t n) {
    if (n < 16) return fail(d, "IPFIX header");
    d.length = static_cast<uint16_t>(read_be(p + 2, 2));
    d.unix_secs = static_cast<uint32_t>(read_be(p + 4, 4));
    d.sequence = static_cast<uint32_t>(read_be(p + 8, 4));
    d.domain = static_cast<uint32_t>(read_be(p + 12, 4));
    if (d.length != n) return fail(d, "IPFIX length field " + std::to_string(d.length));
    size_t off = 16;
    while (off < n) {
      if (n - off < 4) return fail(d, "set header past the end");
      const uint16_t id = static_cast<uint16_t>(read_be(p + off, 2));
      const size_t len = read_be(p + off + 2, 2);
      if (len < 4 || off + len > n) return fail(d, "set length");
      d.set_lengths.push_back(len);
      const uint8_t* s = p + off + 4;
      const size_t body = len - 4;
      if (id == 2 || id == 3) {
        size_t k = 0;
        while (body - k >= 4) {
          WireTemplate t;
          t.id = static_cast<uint16_t>(read_be(s + k, 2));
          const size_t fields = read_be(s + k + 2, 2);
          k += 4;
          if (id == 3) {
            t.options = true;
            t.scope_fields = static_cast<uint16_t>(read_be(s + k, 2));
            k += 2;
          }
          for (size_t f = 0; f < fields; ++f) {
            if (body - k < 4) return fail(d, "template past its set");
            const uint16_t ie = static_cast<uint16_t>(read_be(s + k, 2));
            if (ie & 0x8000) return fail(d, "unexpected enterprise field");
            t.fields.emplace_back(ie, read_be(s + k + 2, 2));
            k += 4;
          }
          templates_[t.id] = t;
          d.templates.push_back(t);
        }
      } else if (id >= 256) {
        auto it = templates_.find(id);
        if (it == templates_.end())
          return fail(d, "data before its template " + std::to_string(id));
        read_data(it->second, s, body, d);
      } else {
        return fail(d, "reserved set id " + std::to_string(id));
      }
      off += len;
    }
    return d;
  }

  // Reads whole records; what is left must be padding (shorter than a record, all zero).
  size_t read_data(const WireTemplate& t, const uint8_t* s, size_t body, WireDatagram& d) {
    const size_t rl = t.record_length();
    size_t k = 0, n = 0;
    for (; body - k >= rl; k += rl, ++n) {
      WireRecord rec;
      rec.template_id = t.id;
      size_t off = k;
      for (const auto& [ie, len] : t.fields) {
        rec.fields[ie].assign(s + off, s + off + len);
        off += len;
      }
      (t.options ? d.option_records : d.records).push_back(std::move(rec));
    }
    for (; k < body; ++k)
      if (s[k] != 0) fail(d, "non-zero padding");
    return n;
  }

  std::map<uint16_t, WireTemplate> templates_;
};

}  // namespace netpulse::testing
