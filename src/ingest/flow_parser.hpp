// Parsers for flow records in the line format and in CSV (spec section 1). This is the hot path:
// no allocation, no iostreams, no regex; one pass over the bytes, addresses to binary, protocol
// labels interned through a per-thread cache. On x86-64 with AVX2 a line-format line of the
// usual shape is read from 64-byte SIMD compares; anything else, and every error, goes through
// the byte-by-byte path, which alone decides statuses and error fields. A parser is not
// thread-safe: one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/flow_record.hpp"
#include "core/protocol_table.hpp"
#include "core/status.hpp"

namespace netpulse::ingest {

enum class ParseStatus : uint8_t {
  kOk,
  kBlank,  // an empty or all-blank line: skipped, not a record
  kTooLong,
  kMissingField,
  kExtraField,
  kBadDate,
  kBadTime,
  kBadFraction,
  kBadProtocol,
  kBadSrc,
  kBadDst,
  kBadBytes,
  kBytesRange,
};

// A short reason for a status, e.g. "bad source address".
const char* describe(ParseStatus s);

enum class Format : uint8_t { kLine, kCsv };
std::optional<Format> parse_format(std::string_view name);

// Longest line accepted; longer lines are malformed ("line too long").
inline constexpr size_t kMaxLineLength = 4096;

// Where a malformed line's problem is, for the error report.
struct ParseError {
  ParseStatus status = ParseStatus::kOk;
  std::string_view field;  // the offending text inside the line (empty if none)
};

class FlowParser {
 public:
  FlowParser(core::ProtocolTable& protocols, Format format)
      : protocols_(protocols),
        cache_(protocols),
        format_(format),
        fast_(format == Format::kLine && fast_path_available()) {}

  Format format() const { return format_; }

  // CSV only: reads the header line. Ok when it names time, protocol, src, dst and bytes (in any
  // order; other columns are ignored), else an invalid argument saying which is missing or twice.
  core::Status read_header(std::string_view line);
  bool has_header() const { return csv_columns_ > 0; }
  // Copies the column layout from another parser of the same stream (parallel parsing).
  void copy_header_from(const FlowParser& other);

  // Parses one line without its '\n' (a trailing '\r' is allowed). On failure out's fields
  // are unspecified (some may have been written).
  ParseStatus parse(const char* begin, const char* end, core::FlowRecord& out,
                    ParseError* err = nullptr) {
    return parse(begin, end, end, out, err);
  }
  // The same, where the bytes in [end, readable_end) may be loaded (the fast path reads 64
  // bytes at a time) but never change the result. Pass the block's end: with fewer than
  // kFastReadable bytes readable from begin, the line is copied first.
  // REQUIRES: readable_end >= end.
  ParseStatus parse(const char* begin, const char* end, const char* readable_end,
                    core::FlowRecord& out, ParseError* err = nullptr);

  // A run of a block's lines, parsed in one call (the engine's: a call per line cost it 30
  // instructions a line). Up to n lines are parsed from `from` (where a line starts), each
  // ending at the next '\n' or at the block's end, `end`: the parser finds the line ends itself,
  // with the same 32-byte loads its fast path then reads the line from (a separate pass over the
  // block storing every line end cost 43 instructions a line). Valid records go to out in order;
  // each line that is neither valid nor blank goes to bad (first + its index in the call, its
  // status and its bytes). parse() with a ParseError tells what is wrong with one.
  // REQUIRES: room for n in out and in bad; from <= end.
  struct Lines {
    size_t records = 0;
    size_t bad = 0;
    size_t lines = 0;            // lines parsed: n, or fewer where the block ended
    const char* next = nullptr;  // where the next line starts (end: the block is done)
  };
  struct BadLine {
    uint64_t line;
    ParseStatus status;
    const char* begin;  // the line's bytes, without its '\n'
    const char* end;
  };
  Lines parse_lines(const char* from, const char* end, uint64_t first, size_t n,
                    core::FlowRecord* out, BadLine* bad);

 private:
  ParseStatus parse_line(const char* p, const char* end, core::FlowRecord& out, ParseError* err);
  // The line format on x86-64 with AVX2: parse_line_fast, else parse_line.
  ParseStatus parse_line_x86(const char* begin, const char* end, const char* readable_end,
                             core::FlowRecord& out, ParseError* err);
  ParseStatus parse_one_x86(const char* begin, const char* end, const char* readable_end,
                            core::FlowRecord& out, ParseError* err);
  Lines parse_lines_x86(const char* from, const char* end, uint64_t first, size_t n,
                        core::FlowRecord* out, BadLine* bad);
  // True when it read a valid line into out; false leaves the answer to parse_line. Mask: the
  // bit masks' type, 64 or 128 bits (see the definition).
  // REQUIRES: fast_path_available(); kFastReadable bytes readable from p.
  template <class Mask>
  bool parse_line_fast(const char* p, const char* end, core::FlowRecord& out);
  bool parse_line_wide(const char* p, const char* end, core::FlowRecord& out);  // 128-bit masks
  static bool fast_path_available();  // x86-64 with AVX2, BMI1/2 and POPCNT
  ParseStatus parse_csv(const char* p, const char* end, core::FlowRecord& out, ParseError* err);
  bool parse_time(const char*& p, const char* end, core::TimeMs& out, ParseStatus& status);
  ParseStatus parse_fields(std::string_view time, std::string_view proto, std::string_view src,
                           std::string_view dst, std::string_view bytes, core::FlowRecord& out,
                           ParseError* err);

  // Lines the fast path takes are shorter than kFastMaxSize, with 64-bit masks those shorter
  // than kFastNarrowSize; it may read kFastReadable bytes from a line's start (a line with less
  // before readable_end is copied first).
  static constexpr size_t kFastNarrowSize = 19 + 64;
  static constexpr size_t kFastMaxSize = 19 + 128;
  static constexpr ptrdiff_t kFastReadable = 256;

  core::ProtocolTable& protocols_;
  core::ProtocolCache cache_;
  Format format_;
  bool fast_;  // the line format and fast_path_available()

  // The last "YYYY-MM-DD HH:MM" prefix seen and its time: most lines share it.
  char prefix_[16] = {};
  core::TimeMs prefix_time_ = 0;
  bool prefix_valid_ = false;

  // CSV column index of each field (time, protocol, src, dst, bytes), and the column count.
  std::array<int, 5> csv_index_{};
  int csv_columns_ = 0;
};

}  // namespace netpulse::ingest
