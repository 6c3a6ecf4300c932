// The NSL-KDD / KDD'99 connection-row parser (detect/row_parser.hpp) over whole blocks: the
// first byte chooses the parser's options, the rest is the block. Properties:
//  - parse_line finds the line's end where a byte scan does, and answers as parse() does on
//    that line;
//  - parse() (the SIMD kernels) answers exactly as the scalar reference parser: status, column,
//    label and every feature, bit for bit;
//  - nothing reads outside the block.
#include <cstring>
#include <memory>

#include "detect/row_parser.hpp"
#include "fuzz_check.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t options = in.byte();
  const std::string_view text = in.rest();
  std::unique_ptr<char[]> block(new char[text.size() + 1]);
  std::memcpy(block.get(), text.data(), text.size());
  const char* b = block.get();
  const char* e = b + text.size();
  const detect::RowParser parser(options & 1, options & 2);
  const char* p = b;
  while (p < e) {
    const char* line_end = nullptr;
    detect::FeatureRow r1{}, r2{}, r3{};
    int l1 = -2, l2 = -2, l3 = -2;
    detect::RowError e1, e2, e3;
    const auto s1 = parser.parse_line(p, e, &line_end, r1, &l1, &e1);
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(e - p)));
    FUZZ_CHECK(line_end == (nl ? nl : e));
    const auto s2 = parser.parse(p, line_end, r2, &l2, &e2);
    const auto s3 = parser.parse_reference(p, line_end, r3, &l3, &e3);
    FUZZ_CHECK(s1 == s2);
    FUZZ_CHECK(s2 == s3);
    FUZZ_CHECK(e2.status == e3.status);
    FUZZ_CHECK(e2.column == e3.column);
    if (s2 == detect::RowStatus::kOk) {
      FUZZ_CHECK(l1 == l3 && l2 == l3);
      // Every feature, bit for bit (the convert mask is all features).
      FUZZ_CHECK(std::memcmp(r1.data(), r3.data(), sizeof r1) == 0);
      FUZZ_CHECK(std::memcmp(r2.data(), r3.data(), sizeof r2) == 0);
    }
    p = line_end + 1;
  }
  return 0;
}
