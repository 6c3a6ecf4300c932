// Micro-benchmarks of line-format ingest: parsing a block's lines, with their ends known and as
// the engine does (parse_lines, which finds them),
// on 64 MiB of realistic lines (fractions of 0 to 9 digits, 3% IPv6 addresses, addresses drawn
// from a Zipf law, the 19 built-in protocols, most lines sharing their minute with the last).
//   build/bench/netpulse_bench --benchmark_filter=Parse
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol_table.hpp"
#include "generate/catalog.hpp"
#include "generate/key_sampler.hpp"
#include "generate/rng.hpp"
#include "ingest/flow_parser.hpp"

namespace {

using netpulse::core::FlowRecord;
using netpulse::ingest::FlowParser;
using netpulse::ingest::Format;
using netpulse::ingest::ParseStatus;

constexpr size_t kBlockBytes = size_t{64} << 20;
constexpr size_t kPipelineBlock = size_t{1} << 20;  // ingest::kBlockSize

const std::string& realistic_block() {
  static const std::string block = [] {
    netpulse::generate::SplitMix64 rng(7);
    // 100k addresses, 3% of them IPv6, drawn by a Zipf law: a few busy hosts, a long tail.
    std::vector<std::string> addresses(100'000);
    for (std::string& a : addresses) {
      char buf[64];
      const uint64_t r = rng.next();
      if (r % 100 < 3) {
        std::snprintf(buf, sizeof buf, "2001:db8:%x:%x::%x", static_cast<unsigned>(r >> 8 & 0xffff),
                      static_cast<unsigned>(r >> 24 & 0xfff),
                      static_cast<unsigned>(r >> 40 & 0xffff));
      } else {
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", static_cast<unsigned>(1 + (r >> 8) % 223),
                      static_cast<unsigned>(r >> 16 & 255), static_cast<unsigned>(r >> 24 & 255),
                      static_cast<unsigned>(r >> 32 & 255));
      }
      a = buf;
    }
    const netpulse::generate::KeySampler pick(static_cast<uint32_t>(addresses.size()),
                                              netpulse::generate::Skew::zipf(1.0));
    const auto& protocols = netpulse::generate::protocol_names();
    std::string out;
    out.reserve(kBlockBytes + 256);
    uint64_t us = 0;  // since 2020-05-09 00:00:00
    while (out.size() < kBlockBytes) {
      const uint64_t r = rng.next();
      us += r % 200;  // about 10k records a second
      const uint64_t s = us / 1'000'000;
      char buf[256];
      int n = std::snprintf(buf, sizeof buf, "2020-05-09 %02u:%02u:%02u",
                            static_cast<unsigned>(s / 3600 % 24),
                            static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60));
      const int fraction = static_cast<int>(r >> 8) % 10;
      if (fraction > 0) {
        char digits[16];
        std::snprintf(digits, sizeof digits, "%06u%03u", static_cast<unsigned>(us % 1'000'000),
                      static_cast<unsigned>(r >> 16) % 1000);
        buf[n++] = '.';
        for (int i = 0; i < fraction; ++i) buf[n++] = digits[i];
      }
      const std::string_view proto = protocols[(r >> 32) % protocols.size()];
      const unsigned size_class = static_cast<unsigned>(r >> 40) % 100;
      const unsigned bytes = size_class < 40   ? 40 + size_class
                             : size_class < 55 ? 576
                             : size_class < 85 ? 1400 + size_class
                                               : (r >> 48) % 65536;
      n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), " %.*s %s %s %u\n",
                         static_cast<int>(proto.size()), proto.data(),
                         addresses[pick.draw(rng.next())].c_str(),
                         addresses[pick.draw(rng.next())].c_str(), bytes);
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }();
  return block;
}

const std::vector<uint32_t>& block_newlines() {
  static const std::vector<uint32_t> newlines = [] {
    std::vector<uint32_t> v;
    const std::string& b = realistic_block();
    for (size_t i = 0; i < b.size(); ++i)
      if (b[i] == '\n') v.push_back(static_cast<uint32_t>(i));
    return v;
  }();
  return newlines;
}

void report(benchmark::State& state, size_t lines, size_t bytes) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// Parsing each line of the block, its ends known. range(0): 1 passes the block's end as
// readable_end (the parser may load past a line), 0 passes the line's end (short lines copied).
void BM_ParseLines(benchmark::State& state) {
  const std::string& block = realistic_block();
  const std::vector<uint32_t>& newlines = block_newlines();
  const bool block_readable = state.range(0) == 1;
  netpulse::core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  FlowRecord rec;
  size_t bad = 0;
  for (auto _ : state) {
    const char* start = block.data();
    const char* const end = block.data() + block.size();
    for (const uint32_t nl : newlines) {
      const char* line_end = block.data() + nl;
      const ParseStatus s = block_readable ? parser.parse(start, line_end, end, rec)
                                           : parser.parse(start, line_end, rec);
      bad += s != ParseStatus::kOk;
      benchmark::DoNotOptimize(rec);
      start = line_end + 1;
    }
  }
  if (bad != 0) state.SkipWithError("a line did not parse");
  report(state, newlines.size(), block.size());
}
BENCHMARK(BM_ParseLines)->Arg(1)->Arg(0)->ArgName("block_readable")->Unit(benchmark::kMillisecond);

// As Pipeline::parse_block sees them: the block cut into 1 MiB blocks at line ends, each one's
// lines parsed in batches of 256 by parse_lines (which finds their ends), with the block's end
// readable. range(0) == 0: memchr for each line, then parse(begin, end), the loop before.
void BM_ParseBlocks(benchmark::State& state) {
  const std::string& block = realistic_block();
  const bool batches = state.range(0) == 1;
  netpulse::core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  FlowRecord rec;
  std::vector<FlowRecord> out(256);
  std::vector<FlowParser::BadLine> bad_lines(256);
  size_t bad = 0;
  for (auto _ : state) {
    for (size_t at = 0; at < block.size();) {
      size_t size = std::min(kPipelineBlock, block.size() - at);
      if (at + size < block.size()) size = block.rfind('\n', at + size - 1) + 1 - at;
      const char* data = block.data() + at;
      const char* const end = data + size;
      if (batches) {
        for (const char* p = data; p != end;) {
          const auto r = parser.parse_lines(p, end, 0, out.size(), out.data(), bad_lines.data());
          bad += r.bad;
          benchmark::DoNotOptimize(out.data());
          p = r.next;
        }
      } else {
        for (const char* p = data; p < end;) {
          const auto* nl =
              static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
          const char* line_end = nl ? nl : end;
          bad += parser.parse(p, line_end, rec) != ParseStatus::kOk;
          benchmark::DoNotOptimize(rec);
          p = line_end + 1;
        }
      }
      at += size;
    }
  }
  if (bad != 0) state.SkipWithError("a line did not parse");
  report(state, block_newlines().size(), block.size());
}
BENCHMARK(BM_ParseBlocks)->Arg(1)->Arg(0)->ArgName("batches")->Unit(benchmark::kMillisecond);

}  // namespace
