#include "detect/row_parser.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "detect/dataset.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

constexpr const char* kRow =
    "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,"
    "0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00";

RowStatus parse(const std::string& line, FeatureRow& x, int* label = nullptr,
                RowError* err = nullptr, bool require_label = false) {
  return RowParser(require_label).parse(line.data(), line.data() + line.size(), x, label, err);
}

TEST(RowParser, ParsesTheReadmeExample) {
  FeatureRow x{};
  int label = -2;
  ASSERT_EQ(parse(std::string(kRow) + ",normal,20", x, &label, nullptr, true), RowStatus::kOk);
  EXPECT_EQ(label, kNormalLabel);
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[kProtocolType], static_cast<float>(category_index(kProtocolType, "tcp")));
  EXPECT_EQ(x[kService], static_cast<float>(category_index(kService, "ftp_data")));
  EXPECT_EQ(x[kFlag], static_cast<float>(category_index(kFlag, "SF")));
  EXPECT_EQ(x[4], 491.0f);
  EXPECT_EQ(x[31], 150.0f);
  EXPECT_EQ(x[33], 0.17f);
  EXPECT_EQ(x[39], 0.05f);
}

TEST(RowParser, LabelAndDifficultyAreOptional) {
  FeatureRow x{};
  int label = 0;
  EXPECT_EQ(parse(kRow, x, &label), RowStatus::kOk);
  EXPECT_EQ(label, -1);
  EXPECT_EQ(parse(std::string(kRow) + ",neptune", x, &label), RowStatus::kOk);
  EXPECT_EQ(parse(std::string(kRow) + ",smurf.", x, &label, nullptr, true),
            RowStatus::kOk);  // KDD'99
  EXPECT_EQ(label, label_index("smurf"));
  EXPECT_EQ(parse(std::string(kRow) + ",normal,20\r", x, &label), RowStatus::kOk);
  EXPECT_EQ(parse(kRow, x, &label, nullptr, true), RowStatus::kMissingLabel);
}

TEST(RowParser, ReportsMalformedRows) {
  FeatureRow x{};
  RowError err;
  EXPECT_EQ(parse("", x), RowStatus::kBlank);
  EXPECT_EQ(parse("0,tcp,http,SF,1", x, nullptr, &err), RowStatus::kTooFewColumns);
  EXPECT_EQ(err.column, 5);
  EXPECT_EQ(parse(std::string(kRow) + ",normal,20,7", x, nullptr, &err),
            RowStatus::kTooManyColumns);

  std::string bad = kRow;
  bad.replace(bad.find("491"), 3, "4x1");
  EXPECT_EQ(parse(bad, x, nullptr, &err), RowStatus::kBadNumber);
  EXPECT_EQ(err.column, 4);
  EXPECT_EQ(err.field, "4x1");
  for (const char* number : {"", "-1", "1.", ".5", "1e5", "1.2.3", " 1"}) {
    std::string b = kRow;
    b.replace(b.find("491"), 3, number);
    EXPECT_EQ(parse(b, x), RowStatus::kBadNumber) << number;
  }

  std::string unknown = kRow;
  unknown.replace(unknown.find("ftp_data"), 8, "gopher2");
  EXPECT_EQ(parse(unknown, x, nullptr, &err), RowStatus::kUnknownCategory);
  EXPECT_EQ(err.column, 2);
  EXPECT_EQ(err.field, "gopher2");
  std::string proto = kRow;
  proto.replace(0, 5, "0,TCP");
  EXPECT_EQ(parse(proto, x), RowStatus::kUnknownCategory);

  EXPECT_EQ(parse(std::string(kRow) + ",nosuchattack,20", x, nullptr, &err, true),
            RowStatus::kUnknownLabel);
  EXPECT_EQ(parse(std::string(kRow) + ",normal,x", x, nullptr, &err), RowStatus::kBadDifficulty);
}

// A random line for the differential tests: a row in the formats NSL-KDD and KDD'99 use, with
// numbers of every length (up to 21 digits) and names near the vocabulary, then a few random
// edits, so that every malformed case turns up.
std::string random_line(testdetect::Rng& rng) {
  auto digits = [&](size_t n) {
    std::string d;
    for (size_t i = 0; i < n; ++i) d += static_cast<char>('0' + rng.below(10));
    return d;
  };
  std::string s;
  for (size_t c = 0; c < kFeatureCount; ++c) {
    if (c) s += ',';
    const FeatureInfo& info = feature_info(c);
    if (info.type == FeatureType::kCategorical) {
      std::string v(info.vocabulary[rng.below(info.vocabulary.size())]);
      if (rng.below(50) == 0) v += 'x';
      if (rng.below(50) == 0) v[0] = static_cast<char>(v[0] ^ 0x20);
      s += v;
      continue;
    }
    switch (rng.below(6)) {
      case 0: s += "0"; break;
      case 1: s += digits(1 + rng.below(3)); break;
      case 2: s += digits(1 + rng.below(21)); break;
      case 3: s += digits(1) + "." + digits(2); break;
      case 4: s += digits(1 + rng.below(10)) + "." + digits(1 + rng.below(10)); break;
      default: s += rng.below(2) ? "1.00" : "0.00"; break;
    }
  }
  switch (rng.below(5)) {
    case 0: break;
    case 1: s += ",normal"; break;
    case 2: s += ",smurf."; break;
    case 3: s += ",neptune," + digits(1 + rng.below(10)); break;
    default: s += ",nosuchlabel," + digits(2); break;
  }
  if (rng.below(8) == 0) s += '\r';
  static constexpr char kEdits[] = ",.0123456789a\r -x";
  for (uint64_t edits = rng.below(4); edits > 0 && !s.empty(); --edits) {
    const size_t at = rng.below(s.size());
    switch (rng.below(3)) {
      case 0: s[at] = kEdits[rng.below(sizeof kEdits - 1)]; break;
      case 1: s.erase(at, 1); break;
      default: s.insert(at, 1, kEdits[rng.below(sizeof kEdits - 1)]); break;
    }
  }
  return s;
}

// A line the fast path must take when it is well-formed: under 256 bytes, no field over 19.
bool ordinary(const std::string& line) {
  if (line.size() >= 256) return false;
  size_t field = 0;
  for (char c : line) {
    field = c == ',' ? 0 : field + 1;
    if (field > 19) return false;
  }
  return true;
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The parser's result on one line against the scalar reference's: status, error report, label
// and every converted column, bit for bit.
void expect_same(const RowParser& parser, RowStatus s, const FeatureRow& x, int label,
                 const RowError& err, const char* begin, const char* end, FeatureMask convert) {
  FeatureRow want{};
  int want_label = -2;
  RowError want_err;
  const RowStatus w = parser.parse_reference(begin, end, want, &want_label, &want_err);
  const std::string line(begin, end);
  ASSERT_EQ(s, w) << line;
  if (s == RowStatus::kOk) {
    EXPECT_EQ(label, want_label) << line;
    for (size_t c = 0; c < kFeatureCount; ++c)
      if (convert >> c & 1) {
        EXPECT_TRUE(same_bits(x[c], want[c])) << line << " column " << c;
      }
  } else if (s != RowStatus::kBlank) {
    EXPECT_EQ(err.column, want_err.column) << line;
    EXPECT_EQ(err.field, want_err.field) << line;
  }
}

// Runs a test body once per fast-path kernel the CPU has, then restores the best.
template <typename Body>
void for_each_kernel(Body body) {
  const ParserKernel best = parser_kernel();
  int ran = 0;
  for (ParserKernel k : {ParserKernel::kAvx2, ParserKernel::kAvx512}) {
    set_parser_kernel(k);
    if (parser_kernel() != k) continue;  // not on this CPU
    SCOPED_TRACE(k == ParserKernel::kAvx2 ? "AVX2 kernel" : "AVX-512 kernel");
    body();
    ++ran;
  }
  set_parser_kernel(best);
  if (ran == 0) GTEST_SKIP() << "no SIMD kernel on this CPU: parse() is the reference";
}

void fast_path_agrees_with_the_reference() {
  testdetect::Rng rng(7);
  size_t ok = 0, malformed = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::string line = random_line(rng);
    const bool labelled = rng.below(2) == 0;
    const FeatureMask convert = rng.below(2) ? kAllFeatures : rng.next() & kAllFeatures;
    const RowParser parser(labelled, rng.below(2) == 0, convert);
    // An exact-size copy, so that a read past the line shows in a sanitizer build.
    const auto copy = std::make_unique<char[]>(line.size() + 1);
    std::memcpy(copy.get(), line.data(), line.size());
    const char* begin = copy.get();
    const char* end = begin + line.size();
    FeatureRow x{};
    int label = -2;
    RowError err;
    const RowStatus s = parser.parse(begin, end, x, &label, &err);
    expect_same(parser, s, x, label, err, begin, end, convert);
    (s == RowStatus::kOk ? ok : malformed) += 1;
    // The fast path itself takes every ordinary well-formed row, and only well-formed ones
    // (parse() would hide a fast path that left everything to the reference).
    const auto fast = parser.parse_fast(begin, end, x, &label);
    if (fast) {
      EXPECT_EQ(*fast, s) << line;
    }
    if (s == RowStatus::kOk && ordinary(line)) {
      EXPECT_TRUE(fast) << line;
    }
  }
  EXPECT_GT(ok, 10000u);  // both sides of the fast path are exercised
  EXPECT_GT(malformed, 10000u);
}

TEST(RowParser, FastPathAgreesWithTheReference) {
  for_each_kernel(fast_path_agrees_with_the_reference);
}

void parse_line_finds_line_ends_and_agrees() {
  testdetect::Rng rng(11);
  for (int round = 0; round < 200; ++round) {
    // Lines of every length, some over the fast path's 256 bytes, the last often without '\n'.
    std::string text;
    const int lines = 1 + static_cast<int>(rng.below(60));
    for (int i = 0; i < lines; ++i) {
      std::string line = rng.below(10) ? random_line(rng) : std::string(rng.below(400), '7');
      if (rng.below(20) == 0) line.clear();
      text += line;
      if (i + 1 < lines || rng.below(2)) text += '\n';
    }
    if (text.empty()) continue;
    const auto buf = std::make_unique<char[]>(text.size());
    std::memcpy(buf.get(), text.data(), text.size());
    const char* p = buf.get();
    const char* const limit = p + text.size();
    const RowParser parser(false, true, kAllFeatures);
    while (p < limit) {
      const char* eol = nullptr;
      FeatureRow x{};
      int label = -2;
      RowError err;
      const RowStatus s = parser.parse_line(p, limit, &eol, x, &label, &err);
      const void* nl = std::memchr(p, '\n', static_cast<size_t>(limit - p));
      ASSERT_EQ(eol, nl ? static_cast<const char*>(nl) : limit);
      expect_same(parser, s, x, label, err, p, eol, kAllFeatures);
      p = eol + 1;
    }
  }
}

TEST(RowParser, ParseLineFindsLineEndsAndAgrees) {
  for_each_kernel(parse_line_finds_line_ends_and_agrees);
}

void converts_only_the_columns_asked_for_but_checks_all() {
  const FeatureMask convert = (FeatureMask{1} << 4) | (FeatureMask{1} << 33);
  const RowParser parser(false, false, convert);
  FeatureRow x{};
  x[5] = -7.0f;  // not converted: left alone
  const std::string row = kRow;
  ASSERT_EQ(parser.parse(row.data(), row.data() + row.size(), x), RowStatus::kOk);
  EXPECT_EQ(x[4], 491.0f);
  EXPECT_EQ(x[33], 0.17f);
  EXPECT_EQ(x[kService], static_cast<float>(category_index(kService, "ftp_data")));

  // A bad number in a column nobody converts is still a malformed row, reported as before.
  for (const char* number : {"", "-1", "1.", ".5", "1e5", "1.2.3", " 1", "12345678901234567890"}) {
    std::string bad = row;
    const size_t at = bad.find("0.00,1.00");  // columns 27 and 28
    bad.replace(at, 4, number);
    RowError err;
    EXPECT_EQ(parser.parse(bad.data(), bad.data() + bad.size(), x, nullptr, &err),
              RowStatus::kBadNumber)
        << number;
    EXPECT_EQ(err.column, 27) << number;
    EXPECT_EQ(err.field, number);
  }
  // 19 digits are a number (the reference's limit), also in a converted column.
  std::string big = row;
  big.replace(big.find("491"), 3, "1234567890123456789");
  ASSERT_EQ(parser.parse(big.data(), big.data() + big.size(), x), RowStatus::kOk);
  EXPECT_EQ(x[4], 1234567890123456789.0f);
}

TEST(RowParser, ConvertsOnlyTheColumnsAskedForButChecksAll) {
  for_each_kernel(converts_only_the_columns_asked_for_but_checks_all);
  converts_only_the_columns_asked_for_but_checks_all();  // and the reference
}

void parse_line_reads_nothing_past_the_limit() {
  // Rows ending exactly at the end of an allocation, shorter and longer than the fast path's
  // window: in a sanitizer build a read past the limit fails the test.
  const RowParser parser;
  for (const std::string& text : {std::string(kRow), std::string(kRow) + ",normal,20\r",
                                  std::string(kRow) + ",normal,20\n" + kRow}) {
    const auto buf = std::make_unique<char[]>(text.size());
    std::memcpy(buf.get(), text.data(), text.size());
    const char* p = buf.get();
    const char* const limit = p + text.size();
    while (p < limit) {
      const char* eol = nullptr;
      FeatureRow x{};
      ASSERT_EQ(parser.parse_line(p, limit, &eol, x), RowStatus::kOk);
      EXPECT_EQ(x[4], 491.0f);
      p = eol + 1;
    }
  }
}

void every_column_set_lands_in_its_own_columns() {
  // A row whose numeric columns all differ ("11", "3.5", ...), parsed with column sets made of
  // runs with a hole (the fast path converts four or eight columns at once, with one store
  // when they are adjacent): every converted column holds its own value.
  std::string row;
  for (size_t c = 0; c < kFeatureCount; ++c) {
    if (c) row += ',';
    if (feature_info(c).type == FeatureType::kCategorical)
      row += std::string(feature_info(c).vocabulary[c]);
    else
      row += c % 2 ? std::to_string(c) + ".5" : std::to_string(11 * c + 1);
  }
  FeatureRow want{};
  ASSERT_EQ(RowParser().parse_reference(row.data(), row.data() + row.size(), want),
            RowStatus::kOk);
  for (size_t first = 0; first < kFeatureCount; ++first) {
    for (size_t length = 1; first + length <= kFeatureCount && length <= 17; ++length) {
      const FeatureMask run = ((FeatureMask{1} << length) - 1) << first;
      for (size_t hole = first; hole <= first + length; ++hole) {
        const FeatureMask convert = run & ~(FeatureMask{1} << hole);
        const RowParser parser(false, false, convert);
        FeatureRow x{};
        x.fill(-1.0f);
        ASSERT_EQ(parser.parse_fast(row.data(), row.data() + row.size(), x), RowStatus::kOk);
        for (size_t c = 0; c < kFeatureCount; ++c) {
          if (convert >> c & 1) {
            ASSERT_TRUE(same_bits(x[c], want[c])) << first << " " << length << " " << hole;
          }
        }
      }
    }
  }
}

TEST(RowParser, EveryColumnSetLandsInItsOwnColumns) {
  for_each_kernel(every_column_set_lands_in_its_own_columns);
}

TEST(RowParser, ParseLineReadsNothingPastTheLimit) {
  for_each_kernel(parse_line_reads_nothing_past_the_limit);
}

TEST(Dataset, CountsAndReportsTheFirstTenMalformedLines) {
  std::string text;
  for (int i = 0; i < 30; ++i) {
    text += std::string(kRow) + ",normal,20\n";
    text += "garbage line\n";
  }
  text += "\n";  // blank lines are not rows
  const Dataset ds = parse_dataset(text);
  EXPECT_EQ(ds.size(), 30u);
  EXPECT_EQ(ds.malformed, 30u);
  ASSERT_EQ(ds.first_malformed.size(), 10u);
  EXPECT_EQ(ds.first_malformed[0].line, 2u);
  EXPECT_EQ(ds.first_malformed[9].line, 20u);
  EXPECT_EQ(ds.sha256.size(), 64u);
}

TEST(Dataset, Sha256OfKnownText) {
  EXPECT_EQ(parse_dataset("").sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(parse_dataset("abc").sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(parse_dataset(std::string(1000, 'a')).sha256,
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  // The padding edges: 56 bytes need a second block, 64 bytes fill one exactly.
  EXPECT_EQ(parse_dataset(std::string(56, 'a')).sha256,
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(parse_dataset(std::string(64, 'a')).sha256,
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Dataset, ParsesTheNslKdd20PercentFile) {
  const std::string path =
      std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+_20Percent.txt";
  std::string text;
  if (!read_file(path, text, nullptr)) GTEST_SKIP() << "no " << path;
  const Dataset ds = parse_dataset(text);
  EXPECT_EQ(ds.size(), 25192u);
  EXPECT_EQ(ds.malformed, 0u);
  EXPECT_EQ(ds.sha256, "7ea86479faab5ca2190b7f18b4982fb058ce5bf2b46e0e1017d0d9ef90f9c16e");
  size_t normal = 0, guess = 0;
  for (int16_t l : ds.labels) {
    normal += l == kNormalLabel;
    guess += l == label_index("guess_passwd");
  }
  EXPECT_EQ(normal, 13449u);
  EXPECT_EQ(guess, 10u);
  EXPECT_EQ(ds.select(Detector::kDos).size(), 13449u + 9234u);
  EXPECT_EQ(ds.select(Detector::kBruteforce).size(), 13449u + 10u);
}

}  // namespace
}  // namespace netpulse::detect
