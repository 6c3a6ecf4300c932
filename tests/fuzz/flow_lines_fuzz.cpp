// The flow parsers (line format and CSV) over whole blocks, as the pipeline reads them: the
// first byte chooses the format, the rest is the block. Properties:
//  - parse_lines, in batches of 1 to 8 lines, finds exactly the lines a byte-by-byte scan
//    finds, with the statuses parse() gives them one by one;
//  - a line parses the same (status, error, record) whether the parser may read on to the
//    block's end (the SIMD fast path) or sees only the line (the copy and scalar path), so the
//    block boundaries the pipeline draws cannot change a record;
//  - a record parsed from either format, written back as a line, parses to the same record;
//  - nothing reads outside the block (the block is a buffer of exactly its size: AddressSanitizer
//    in the fuzz build).
#include <cstring>
#include <memory>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "core/time.hpp"
#include "fuzz_check.hpp"
#include "ingest/flow_parser.hpp"

using namespace netpulse;

namespace {

bool same(const core::FlowRecord& a, const core::FlowRecord& b) {
  return a.time == b.time && a.protocol == b.protocol && a.bytes == b.bytes && a.src == b.src &&
         a.dst == b.dst;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const bool csv = in.byte() & 1;
  const std::string_view text = in.rest();
  std::unique_ptr<char[]> block(new char[text.size()]);  // exactly: ASan sees one byte over
  std::memcpy(block.get(), text.data(), text.size());
  const char* b = block.get();
  const char* e = b + text.size();

  std::vector<uint32_t> want;
  for (size_t i = 0; i < text.size(); ++i)
    if (b[i] == '\n') want.push_back(static_cast<uint32_t>(i));

  core::ProtocolTable protocols;
  const auto format = csv ? ingest::Format::kCsv : ingest::Format::kLine;
  ingest::FlowParser whole(protocols, format), alone(protocols, format),
      lines(protocols, ingest::Format::kLine);

  // The line format's batches (a CSV block's first line would be its header): every line the
  // scan finds, bad ones with their bytes and the status parse() gives.
  if (!csv) {
    ingest::FlowParser batch(protocols, ingest::Format::kLine);
    const size_t count =
        want.size() + (want.empty() ? text.size() != 0 : want.back() + 1 < text.size());
    core::FlowRecord out[8];
    ingest::FlowParser::BadLine bad[8];
    const char* from = b;
    uint64_t first = 0;
    for (size_t n = 1; from != e; n = n % 8 + 1) {
      const auto r = batch.parse_lines(from, e, first, n, out, bad);
      FUZZ_CHECK(r.lines >= 1 && r.lines <= n && r.records + r.bad <= r.lines);
      for (size_t i = 0; i < r.bad; ++i) {
        const uint64_t line = bad[i].line;
        FUZZ_CHECK(line >= first && line < first + r.lines);
        const char* begin = line == 0 ? b : b + want[line - 1] + 1;
        const char* end = line < want.size() ? b + want[line] : e;
        FUZZ_CHECK(bad[i].begin == begin && bad[i].end == end);
        core::FlowRecord ignored;
        FUZZ_CHECK(alone.parse(begin, end, e, ignored) == bad[i].status);
      }
      first += r.lines;
      FUZZ_CHECK(r.next == (first < count ? b + want[first - 1] + 1 : e));
      from = r.next;
    }
    FUZZ_CHECK(first == count);
  }
  const char* p = b;
  bool header = csv;
  for (size_t i = 0; i <= want.size(); ++i) {
    const char* end = i < want.size() ? b + want[i] : e;
    if (header) {
      header = false;
      const auto why = whole.read_header(std::string_view(p, static_cast<size_t>(end - p)));
      const auto why2 = alone.read_header(std::string_view(p, static_cast<size_t>(end - p)));
      FUZZ_CHECK(why == why2);
      if (!why.ok()) return 0;  // a CSV stream without its header is refused whole
      p = end + 1;
      continue;
    }
    core::FlowRecord r1, r2;
    ingest::ParseError e1, e2;
    const auto s1 = whole.parse(p, end, e, r1, &e1);
    // The line alone, in a buffer of its own size.
    const size_t n = static_cast<size_t>(end - p);
    std::unique_ptr<char[]> copy(new char[n + 1]);
    std::memcpy(copy.get(), p, n);
    const auto s2 = alone.parse(copy.get(), copy.get() + n, r2, &e2);
    FUZZ_CHECK(s1 == s2);
    FUZZ_CHECK(e1.status == e2.status);
    FUZZ_CHECK(e1.field.size() == e2.field.size());
    if (s1 == ingest::ParseStatus::kOk) {
      FUZZ_CHECK(same(r1, r2));
      // Written back as a line (a protocol label with a blank or a comma has no line form).
      const std::string_view name = protocols.name(r1.protocol);
      if (name.find_first_of(" \t\r,\"") == std::string_view::npos) {
        char buf[core::kMaxIpText * 2 + 64];
        std::string line(buf, core::format_line_time(r1.time, buf));
        line += ' ';
        line += name;
        line += ' ';
        line.append(buf, core::format_ip(r1.src, buf));
        line += ' ';
        line.append(buf, core::format_ip(r1.dst, buf));
        line += ' ';
        line += std::to_string(r1.bytes);
        core::FlowRecord r3;
        const auto s3 = lines.parse(line.data(), line.data() + line.size(), r3);
        if (s3 != ingest::ParseStatus::kOk || !same(r1, r3))
          std::fprintf(stderr, "fuzz: '%s' does not parse back (%s)\n", line.c_str(), ingest::describe(s3));
        FUZZ_CHECK(s3 == ingest::ParseStatus::kOk);
        FUZZ_CHECK(same(r1, r3));
      }
    }
    p = end + 1;
  }
  return 0;
}
