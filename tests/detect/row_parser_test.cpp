#include "detect/row_parser.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "detect/dataset.hpp"

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
