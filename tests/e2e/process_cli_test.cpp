// netpulse process as a user runs it, on files: the same output for any --threads, the
// reference's windows, argument errors (exit 2, one line naming the argument), inputs and
// outputs that cannot be opened (exit 1), the summary and the malformed-line reports on stderr.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "../engine/process_runner.hpp"
#include "../engine/reference.hpp"
#include "../engine/stream_gen.hpp"

namespace netpulse::testref {
namespace {

std::vector<std::string> lines_of(const std::string& text) { return split_lines(text); }

TEST(ProcessCli, SameOutputForAnyThreadCountAndMatchesTheReference) {
  TempDir dir;
  StreamGen g(2024);
  StreamShape s;
  s.records = 3000;
  s.lateness = 2;
  s.v4_addresses = 60;
  s.v6_addresses = 6;
  s.protocols = 6;
  const std::string input = dir / "flows.txt";
  const std::string text = g.make(s);
  write_file(input, text);

  struct Case {
    std::vector<std::string> args;
    Options o;
  };
  Options defaults;
  Options custom;
  custom.params = Params{5, 7, 4, 1.5};
  custom.slide = 2;
  custom.lateness = 2;
  custom.ip_key = KeyMode::kHost;
  Options tenths;
  tenths.unit_ms = 100;
  tenths.params = Params{25, 30, 2, 0.5};
  tenths.lateness = 15;
  tenths.ip_key = KeyMode::kDst;
  const std::vector<Case> cases = {
      {{}, defaults},
      {{"--T", "7", "--slide", "2", "--lateness", "2", "--ip-key", "host", "--H", "5", "--k", "4", "--X", "1.5"}, custom},
      {{"--time-unit", "100ms", "--T", "30", "--lateness", "15", "--ip-key", "dst", "--H", "25", "--k", "2", "--X", "0.5"},
       tenths},
  };
  for (const Case& c : cases) {
    const Result ref = compute(text, c.o);
    std::string first;
    for (const char* threads : {"1", "2", "4"}) {
      SCOPED_TRACE(std::string("--threads ") + threads);
      std::vector<std::string> args{"process", "--input", "file:" + input, "--threads", threads};
      args.insert(args.end(), c.args.begin(), c.args.end());
      const Finished f = run_netpulse(args, dir);
      ASSERT_EQ(f.code, 0) << f.err;
      if (first.empty()) {
        first = f.out;
        EXPECT_EQ(output_matches(parse_output(f.out), ref.windows), "");
      } else {
        EXPECT_TRUE(f.out == first) << "output differs from --threads 1";
      }
    }
  }
}

TEST(ProcessCli, StdinAndCsvGiveTheSameOutput) {
  TempDir dir;
  StreamGen g(5);
  StreamShape s;
  s.records = 500;
  s.malformed = 0;
  s.blank = 0;
  s.varied_layout = false;
  const std::string text = g.make(s);
  write_file(dir / "flows.txt", text);
  std::string csv = "time,protocol,src,dst,bytes\n";
  for (const std::string& l : lines_of(text)) {
    std::istringstream in(l);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    csv += f[0] + " " + f[1] + "," + f[2] + "," + f[3] + "," + f[4] + "," + f[5] + "\n";
  }
  write_file(dir / "flows.csv", csv);
  const Finished file = run_netpulse({"process", "--input", dir / "flows.txt"}, dir);
  ASSERT_EQ(file.code, 0) << file.err;
  EXPECT_FALSE(file.out.empty());
  const Finished in = run_netpulse({"process", "--input", "-"}, dir, dir / "flows.txt");
  EXPECT_EQ(in.code, 0) << in.err;
  EXPECT_TRUE(in.out == file.out);
  const Finished c = run_netpulse({"process", "--input", dir / "flows.csv", "--format", "csv", "--threads", "2"}, dir);
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(c.out == file.out);
  const Finished o = run_netpulse({"process", "--input", dir / "flows.txt", "--output", "file:" + dir / "out.jsonl"}, dir);
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_TRUE(o.out.empty());
  EXPECT_TRUE(read_file(dir / "out.jsonl") == file.out);
}

TEST(ProcessCli, BadArgumentsExitTwoWithOneLineNamingThem) {
  TempDir dir;
  write_file(dir / "one.txt", "2020-05-09 20:41:37.123 SOAP 1.2.3.4 5.6.7.8 100\n");
  const std::string input = dir / "one.txt";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--T", "0"}, "--T"},
      {{"--T", "abc"}, "--T"},
      {{"--T", "3601"}, "--T"},
      {{"--max-window", "5", "--T", "10"}, "--T"},
      {{"--slide", "0"}, "--slide"},
      {{"--time-unit", "5x"}, "--time-unit"},
      {{"--time-unit", "0ms"}, "--time-unit"},
      {{"--lateness", "-1"}, "--lateness"},
      {{"--max-window", "0"}, "--max-window"},
      {{"--H", "0"}, "--H"},
      {{"--H", "101"}, "--H"},
      {{"--H", "abc"}, "--H"},
      {{"--k", "0"}, "--k"},
      {{"--X", "-1"}, "--X"},
      {{"--ip-key", "both"}, "--ip-key"},
      {{"--threads", "0"}, "--threads"},
      {{"--format", "xml"}, "--format"},
      {{"--bogus", "1"}, "--bogus"},
      {{"--output", "tcp://127.0.0.1:9"}, "--output"},
      {{"--control", "file:x"}, "--control"},
  };
  for (const auto& [extra, name] : cases) {
    std::vector<std::string> args{"process", "--input", input};
    args.insert(args.end(), extra.begin(), extra.end());
    const Finished f = run_netpulse(args, dir);
    std::string joined;
    for (const auto& a : extra) joined += a + " ";
    EXPECT_EQ(f.code, 2) << joined << f.err;
    EXPECT_NE(f.err.find(name), std::string::npos) << joined << " -> " << f.err;
    EXPECT_EQ(std::count(f.err.begin(), f.err.end(), '\n'), 1) << joined << " -> " << f.err;
    EXPECT_TRUE(f.out.empty());
  }
  const Finished none = run_netpulse({"process"}, dir);
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("--input"), std::string::npos) << none.err;
}

// libpq, XGBoost, librdkafka and nDPI are loaded only by what uses them
// (core/shared_library.hpp): a plain `process` starts without them: 4.4-4.7 ms of CPU instead of
// 11.8-12.7 (2026-12-05), before nDPI was left out too (its 21,850 relocations).
TEST(ProcessCli, StartsWithoutLoadingPostgresXgboostKafkaOrNdpi) {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Child child({"process", "--input", "-", "--output", "file:" + dir / "out.jsonl"}, dir, fifo);
  const int wfd = ::open(fifo.c_str(), O_WRONLY);  // the child has its end (before its exec)
  ASSERT_GE(wfd, 0);
  const std::string line = "2020-05-09 20:41:37.123 SOAP 1.2.3.4 5.6.7.8 100\n";
  ASSERT_EQ(::write(wfd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  // Once netpulse has read the line it is running: every library it links is mapped.
  ASSERT_TRUE(wait_until(
      [&] {
        int unread = -1;
        return ::ioctl(wfd, FIONREAD, &unread) == 0 && unread == 0;
      },
      std::chrono::seconds(20)))
      << child.err();
  const std::string maps = read_file("/proc/" + std::to_string(child.pid()) + "/maps");
  ::close(wfd);
  EXPECT_TRUE(child.wait()) << child.err();
  EXPECT_EQ(child.exit_code(), 0) << child.err();
  ASSERT_NE(maps.find("libc.so"), std::string::npos) << "the process's mappings were not read";
  EXPECT_NE(maps.find("libsqlite3.so"), std::string::npos) << "a linked library is not mapped";
  EXPECT_EQ(maps.find("libpq.so"), std::string::npos);
  EXPECT_EQ(maps.find("libxgboost.so"), std::string::npos);
  EXPECT_EQ(maps.find("librdkafka.so"), std::string::npos);
  EXPECT_EQ(maps.find("libndpi.so"), std::string::npos);
}

TEST(ProcessCli, InputsAndOutputsThatCannotBeOpenedExitOne) {
  TempDir dir;
  write_file(dir / "one.txt", "2020-05-09 20:41:37.123 SOAP 1.2.3.4 5.6.7.8 100\n");
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"--input", dir / "missing.txt"}, dir / "missing.txt"},
      {{"--input", "file:" + dir / "missing.txt"}, dir / "missing.txt"},
      {{"--input", dir.path()}, dir.path()},
      {{"--input", dir / "one.txt", "--output", dir / "no/such/dir/out.jsonl"}, dir / "no/such/dir/out.jsonl"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"process"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const Finished f = run_netpulse(args, dir);
    EXPECT_EQ(f.code, 1) << c.named << ": " << f.err;
    EXPECT_NE(f.err.find(c.named), std::string::npos) << f.err;
    EXPECT_EQ(std::count(f.err.begin(), f.err.end(), '\n'), 1) << f.err;
  }
}

TEST(ProcessCli, SummaryShowsTheCounts) {
  TempDir dir;
  StreamGen g(77);
  StreamShape s;
  s.records = 2000;
  s.malformed = 0.03;
  s.out_of_order = 0.3;
  const std::string text = g.make(s);
  write_file(dir / "flows.txt", text);
  const Result ref = compute(text, Options{});
  const Finished f = run_netpulse({"process", "--input", dir / "flows.txt", "--threads", "2"}, dir);
  ASSERT_EQ(f.code, 0) << f.err;
  std::smatch m;
  const std::regex summary(R"((\d+) records read, (\d+) accepted, (\d+) late, (\d+) malformed; (\d+) windows)");
  ASSERT_TRUE(std::regex_search(f.err, m, summary)) << f.err;
  EXPECT_EQ(std::stoull(m[1]), ref.records + ref.malformed);
  EXPECT_EQ(std::stoull(m[2]), ref.accepted);
  EXPECT_EQ(std::stoull(m[3]), ref.late);
  EXPECT_EQ(std::stoull(m[4]), ref.malformed);
  EXPECT_EQ(std::stoull(m[5]), ref.windows.size());
  EXPECT_GT(ref.late, 0u);
  EXPECT_GT(ref.malformed, 10u);
  EXPECT_NE(f.err.find("records/s"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find("peak memory"), std::string::npos) << f.err;

  const Finished quiet = run_netpulse({"process", "--input", dir / "flows.txt", "--quiet"}, dir);
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.err.find("records read"), std::string::npos);
}

TEST(ProcessCli, MalformedLinesReportedWithLineNumbersFirstTen) {
  TempDir dir;
  std::string text;
  std::vector<int> bad;
  for (int i = 1; i <= 60; ++i) {
    if (i % 5 == 0) {
      text += "2020-05-09 20:41:37 SOAP 1.2.3.999 5.6.7.8 " + std::to_string(i) + "\n";
      bad.push_back(i);
    } else if (i == 3) {
      text += "\r\n";  // blank: no report, but it is a line
    } else {
      text += record_line(kBaseMs + i * 100, "SOAP", "1.2.3.4", "5.6.7.8", 10) + "\n";
    }
  }
  write_file(dir / "flows.txt", text);
  for (const char* threads : {"1", "3"}) {
    const Finished f = run_netpulse({"process", "--input", dir / "flows.txt", "--threads", threads}, dir);
    ASSERT_EQ(f.code, 0) << f.err;
    std::vector<int> reported;
    const std::regex line_re(R"(line (\d+): malformed record: (.*))");
    for (std::sregex_iterator it(f.err.begin(), f.err.end(), line_re), end; it != end; ++it) {
      reported.push_back(std::stoi((*it)[1]));
      EXPECT_NE((*it)[2].str().find("1.2.3.999"), std::string::npos) << (*it)[0];
      EXPECT_NE((*it)[2].str().find("source"), std::string::npos) << (*it)[0];
    }
    EXPECT_EQ(reported, std::vector<int>(bad.begin(), bad.begin() + 10)) << f.err;
    EXPECT_NE(f.err.find("12 malformed"), std::string::npos) << f.err;
    EXPECT_NE(f.err.find("first 10"), std::string::npos) << f.err;
  }
}

}  // namespace
}  // namespace netpulse::testref
