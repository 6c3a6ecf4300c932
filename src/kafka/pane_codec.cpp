#include "kafka/pane_codec.hpp"

#include <algorithm>
#include <charconv>

namespace netpulse::kafka {

namespace {

void append_header(std::string& s, const char* kind, const SourceInfo& src, int32_t partition) {
  s += kind;
  s += " 1 ";
  s += src.topic;
  s += ' ';
  s += std::to_string(partition);
  s += ' ';
  s += std::to_string(src.partitions);
  s += ' ';
  s += std::to_string(src.unit_ms);
  s += ' ';
  s += engine::to_string(src.ip_key);
}

template <class T>
void append_num(std::string& s, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, r.ptr);
}

// Splits the next space- or newline-terminated token off `in`.
std::string_view token(std::string_view& in) {
  const auto end = in.find_first_of(" \n");
  std::string_view t = in.substr(0, end);
  in = end == std::string_view::npos ? std::string_view{} : in.substr(end + 1);
  return t;
}

template <class T>
bool number(std::string_view t, T& out) {
  if (t.empty()) return false;
  auto r = std::from_chars(t.data(), t.data() + t.size(), out);
  return r.ec == std::errc() && r.ptr == t.data() + t.size();
}

// A pane's or sample's first line: the source, then PANE CHUNK CHUNKS and the kind's last
// field (the pane's records, the sample's threshold).
void append_chunk_header(std::string& s, const char* kind, const SourceInfo& source,
                         int32_t partition, int64_t pane, size_t chunk, size_t chunks,
                         uint64_t last) {
  append_header(s, kind, source, partition);
  s += ' ';
  append_num(s, pane);
  s += ' ';
  append_num(s, chunk);
  s += ' ';
  append_num(s, chunks);
  s += ' ';
  append_num(s, last);
  s += '\n';
}

// The summary lines of a summarized pane's chunk 0 (see pane_codec.hpp).
void append_summary(std::string& s, const engine::PaneSummary& sum) {
  s += "s ";
  append_num(s, sum.floor);
  s += ' ';
  append_num(s, sum.removed);
  s += "\nh ";
  static constexpr char kHex[] = "0123456789abcdef";
  for (const uint8_t r : sum.keys.registers()) {
    s += kHex[r >> 4];
    s += kHex[r & 15];
  }
  s += "\nf";
  for (const int64_t c : sum.squares.counters()) {
    s += ' ';
    append_num(s, c);
  }
  s += '\n';
}

// Splits the rest of the current line off `in` (without its newline).
std::string_view rest_of_line(std::string_view& in) {
  const auto end = in.find('\n');
  std::string_view t = in.substr(0, end);
  in = end == std::string_view::npos ? std::string_view{} : in.substr(end + 1);
  return t;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads the summary line whose tag was `tag` ('s', 'h' or 'f') into sum. Returns why not.
const char* read_summary_line(char tag, std::string_view line, engine::PaneSummary& sum) {
  if (tag == 's') {
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos || !number(line.substr(0, sp), sum.floor) ||
        !number(line.substr(sp + 1), sum.removed))
      return "bad summary line (s FLOOR REMOVED)";
    return nullptr;
  }
  if (tag == 'h') {
    auto regs = sum.keys.registers();
    if (line.size() != 2 * regs.size()) return "bad HyperLogLog line (h and 8192 hex digits)";
    constexpr int kMaxRank = 64 - engine::HyperLogLog::kBits + 1;
    for (size_t i = 0; i < regs.size(); ++i) {
      const int hi = hex_digit(line[2 * i]), lo = hex_digit(line[2 * i + 1]);
      if (hi < 0 || lo < 0 || hi * 16 + lo > kMaxRank)
        return "bad HyperLogLog line (h and 8192 hex digits)";
      regs[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return nullptr;
  }
  auto counters = sum.squares.counters();
  for (size_t i = 0; i < counters.size(); ++i) {
    const auto end = line.find(' ');
    const bool last = i + 1 == counters.size();
    if ((end == std::string_view::npos) != last || !number(line.substr(0, end), counters[i]))
      return "bad F2 sketch line (f and 640 integers)";
    line.remove_prefix(last ? line.size() : end + 1);
  }
  return nullptr;
}

bool read_source(std::string_view& in, SourceInfo& src, int32_t& partition, std::string* why) {
  if (token(in) != "1") {
    *why = "unsupported message version";
    return false;
  }
  src.topic = std::string(token(in));
  if (!number(token(in), partition) || !number(token(in), src.partitions) ||
      !number(token(in), src.unit_ms) || src.topic.empty() || partition < 0 ||
      partition >= src.partitions || src.unit_ms <= 0) {
    *why = "bad source fields";
    return false;
  }
  auto key = engine::parse_ip_key(token(in));
  if (!key) {
    *why = "bad ip key";
    return false;
  }
  src.ip_key = *key;
  return true;
}

}  // namespace

void encode_pane(const SourceInfo& source, int32_t partition, int64_t pane,
                 const engine::KeySums& sums, const core::ProtocolTable& protocols,
                 std::vector<EncodedMessage>& out, size_t per_chunk) {
  std::vector<std::pair<std::string_view, engine::Agg>> protos;
  uint64_t records = 0;
  sums.protocols.for_each([&](const auto& e) {
    protos.emplace_back(protocols.name(e.key), engine::Agg{e.bytes, e.records});
    records += e.records;
  });
  std::sort(protos.begin(), protos.end(), [](auto& a, auto& b) { return a.first < b.first; });
  // Sorted by address so that a replay encodes byte for byte the same messages.
  std::vector<std::pair<core::IpAddr, engine::Agg>> addrs;
  addrs.reserve(sums.ip4.size() + sums.ip6.size());
  sums.ip4.for_each([&](const auto& e) {
    addrs.emplace_back(core::IpAddr::v4(e.key), engine::Agg{e.bytes, e.records});
  });
  sums.ip6.for_each([&](const auto& e) {
    core::IpAddr a;
    a.is_v6 = true;
    a.bits = e.key;
    addrs.emplace_back(a, engine::Agg{e.bytes, e.records});
  });
  std::sort(addrs.begin(), addrs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  const engine::PaneSummary* summary =
      sums.summary && sums.summary->summarized ? sums.summary.get() : nullptr;
  const size_t chunks = std::max<size_t>(1, (addrs.size() + per_chunk - 1) / per_chunk);
  for (size_t c = 0; c < chunks; ++c) {
    EncodedMessage m;
    m.key = source.topic + "/" + std::to_string(partition) + "/" + std::to_string(pane) + "/" +
            std::to_string(c);
    std::string& s = m.value;
    append_chunk_header(s, "netpulse-pane", source, partition, pane, c, chunks, records);
    if (c == 0 && summary) append_summary(s, *summary);
    if (c == 0) {
      for (const auto& [name, agg] : protos) {
        s += "p ";
        s += name;
        s += ' ';
        append_num(s, agg.bytes);
        s += ' ';
        append_num(s, agg.records);
        s += '\n';
      }
    }
    const size_t end = std::min(addrs.size(), (c + 1) * per_chunk);
    char buf[64];
    for (size_t i = c * per_chunk; i < end; ++i) {
      s += "a ";
      s.append(buf, core::format_ip(addrs[i].first, buf));
      s += ' ';
      append_num(s, addrs[i].second.bytes);
      s += ' ';
      append_num(s, addrs[i].second.records);
      s += '\n';
    }
    out.push_back(std::move(m));
  }
}

void encode_sample(const SourceInfo& source, int32_t partition, int64_t pane,
                   const engine::HistoryChunk& sample, const core::ProtocolTable& protocols,
                   std::vector<EncodedMessage>& out, size_t per_chunk) {
  per_chunk = std::max<size_t>(per_chunk, 1);
  const size_t n = sample.size();
  const size_t chunks = std::max<size_t>(1, (n + per_chunk - 1) / per_chunk);
  char buf[64];
  auto line = [&](std::string& s, const core::IpAddr& src, const core::IpAddr& dst,
                  uint32_t protocol, uint32_t bytes) {
    s += "c ";
    s.append(buf, core::format_ip(src, buf));
    s += ' ';
    s.append(buf, core::format_ip(dst, buf));
    s += ' ';
    s += protocols.name(protocol);
    s += ' ';
    append_num(s, bytes);
    s += '\n';
  };
  for (size_t c = 0; c < chunks; ++c) {
    EncodedMessage m;
    m.key = source.topic + "/" + std::to_string(partition) + "/" + std::to_string(pane) +
            "/sample/" + std::to_string(c);
    std::string& s = m.value;
    append_chunk_header(s, "netpulse-sample", source, partition, pane, c, chunks, sample.delta);
    // IPv4 candidates first, then the others, each in the order they were kept.
    const size_t end = std::min(n, (c + 1) * per_chunk);
    for (size_t i = c * per_chunk; i < end; ++i) {
      if (i < sample.v4.size()) {
        const auto& r = sample.v4[i];
        line(s, core::IpAddr::v4(r.key.src), core::IpAddr::v4(r.key.dst), r.key.protocol, r.bytes);
      } else {
        const auto& r = sample.v6[i - sample.v4.size()];
        line(s, r.key.src, r.key.dst, r.key.protocol, r.bytes);
      }
    }
    out.push_back(std::move(m));
  }
}

EncodedMessage encode_mark(const SourceInfo& source, const Mark& mark) {
  EncodedMessage m;
  m.key = source.topic + "/" + std::to_string(mark.partition) + "/mark";
  append_header(m.value, "netpulse-mark", source, mark.partition);
  switch (mark.kind) {
    case Mark::Kind::kCompleteBelow:
      m.value += " complete-below " + std::to_string(mark.complete_below);
      break;
    case Mark::Kind::kIdle:
      m.value += " idle";
      break;
    case Mark::Kind::kEnd:
      m.value += " end";
      break;
  }
  m.value += '\n';
  return m;
}

std::optional<Decoded> decode(std::string_view in, std::string* why) {
  Decoded d;
  const std::string_view kind = token(in);
  if (kind == "netpulse-mark") {
    Mark m;
    if (!read_source(in, m.source, m.partition, why)) return std::nullopt;
    const std::string_view what = token(in);
    if (what == "idle") {
      m.kind = Mark::Kind::kIdle;
    } else if (what == "end") {
      m.kind = Mark::Kind::kEnd;
    } else if (what == "complete-below" && number(token(in), m.complete_below)) {
      m.kind = Mark::Kind::kCompleteBelow;
    } else {
      *why = "bad mark";
      return std::nullopt;
    }
    d.mark = std::move(m);
    return d;
  }
  if (kind == "netpulse-sample") {
    SampleChunk sc;
    if (!read_source(in, sc.source, sc.partition, why)) return std::nullopt;
    if (!number(token(in), sc.pane) || !number(token(in), sc.chunk) ||
        !number(token(in), sc.chunks) || !number(token(in), sc.delta) || sc.chunks == 0 ||
        sc.chunk >= sc.chunks) {
      *why = "bad sample header";
      return std::nullopt;
    }
    while (!in.empty()) {
      SampleChunk::Record r;
      std::optional<core::IpAddr> src, dst;
      if (token(in) != "c" || !(src = core::parse_ip(token(in))) ||
          !(dst = core::parse_ip(token(in)))) {
        *why = "bad sample entry (c SOURCE DESTINATION PROTOCOL BYTES)";
        return std::nullopt;
      }
      const std::string_view protocol = token(in);
      if (protocol.empty() || !number(token(in), r.bytes)) {
        *why = "bad sample entry (c SOURCE DESTINATION PROTOCOL BYTES)";
        return std::nullopt;
      }
      r.src = *src;
      r.dst = *dst;
      r.protocol = std::string(protocol);
      sc.records.push_back(std::move(r));
    }
    d.sample = std::move(sc);
    return d;
  }
  if (kind != "netpulse-pane") {
    *why = "not a netpulse pane, sample or mark message";
    return std::nullopt;
  }
  PaneChunk p;
  if (!read_source(in, p.source, p.partition, why)) return std::nullopt;
  if (!number(token(in), p.pane) || !number(token(in), p.chunk) || !number(token(in), p.chunks) ||
      !number(token(in), p.records) || p.chunks == 0 || p.chunk >= p.chunks) {
    *why = "bad pane header";
    return std::nullopt;
  }
  // A summarized pane: chunk 0 opens with its s, h and f lines, in this order.
  if (p.chunk == 0 && in.starts_with("s ")) {
    auto sum = std::make_shared<engine::PaneSummary>();
    sum->summarized = true;
    for (const char tag : {'s', 'h', 'f'}) {
      if (in.size() < 2 || in[0] != tag || in[1] != ' ') {
        *why = "incomplete pane summary (needs its s, h and f lines)";
        return std::nullopt;
      }
      in.remove_prefix(2);
      if (const char* bad = read_summary_line(tag, rest_of_line(in), *sum)) {
        *why = bad;
        return std::nullopt;
      }
    }
    p.summary = std::move(sum);
  }
  while (!in.empty()) {
    const std::string_view tag = token(in);
    if (tag == "s" || tag == "h" || tag == "f") {
      *why = "pane summary line out of place (only at the start of chunk 0, as s, h, f)";
      return std::nullopt;
    }
    const std::string_view key = token(in);
    uint64_t bytes = 0;
    uint32_t records = 0;
    if (!number(token(in), bytes) || !number(token(in), records) || records == 0) {
      *why = "bad pane entry";
      return std::nullopt;
    }
    if (tag == "p" && !key.empty()) {
      p.protocols.push_back({std::string(key), bytes, records});
    } else if (tag == "a") {
      auto ip = core::parse_ip(key);
      if (!ip) {
        *why = "bad address in pane entry";
        return std::nullopt;
      }
      p.addresses.push_back({*ip, bytes, records});
    } else {
      *why = "bad pane entry";
      return std::nullopt;
    }
  }
  d.pane = std::move(p);
  return d;
}

}  // namespace netpulse::kafka
