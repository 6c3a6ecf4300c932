// Windows, watermark and lateness (spec section 2) on small hand-made streams: which windows
// are emitted, when, with which bounds and records. Each case is checked by hand and against
// the reference with 1 to 4 threads.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"
#include "stream_gen.hpp"

namespace netpulse::testref {
namespace {

// A record `ms` after the base time.
std::string at(int64_t ms, uint64_t bytes = 100, const std::string& proto = "HTTP",
               const std::string& src = "10.0.0.1", const std::string& dst = "10.0.0.2") {
  return record_line(kBaseMs + ms, proto, src, dst, bytes) + "\n";
}

// Window ends and starts relative to the base time, in ms.
std::vector<std::pair<int64_t, int64_t>> bounds(const std::vector<query::WindowResult>& results) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& r : results) out.emplace_back(r.window_start - kBaseMs, r.window_end - kBaseMs);
  return out;
}

std::vector<uint64_t> records(const std::vector<query::WindowResult>& results) {
  std::vector<uint64_t> out;
  for (const auto& r : results) out.push_back(r.records);
  return out;
}

using Bounds = std::vector<std::pair<int64_t, int64_t>>;

TEST(Windows, EmptyWindowsAreNotEmitted) {
  Options o;
  o.params.T = 2;
  const std::string text = at(0) + at(1500) + at(30'000) + at(30'100);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(bounds(run.results), (Bounds{{-1000, 1000}, {0, 2000}, {1000, 3000}, {29'000, 31'000}, {30'000, 32'000}}));
  EXPECT_EQ(records(run.results), (std::vector<uint64_t>{1, 2, 1, 2, 2}));
}

TEST(Windows, WindowHoldsStartButNotEnd) {
  // A record exactly at a window end belongs to the next window only.
  Options o;
  o.params.T = 1;
  const std::string text = at(0) + at(999) + at(1000);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(bounds(run.results), (Bounds{{0, 1000}, {1000, 2000}}));
  EXPECT_EQ(records(run.results), (std::vector<uint64_t>{2, 1}));
}

TEST(Windows, LateRecordsAreCountedAndDropped) {
  Options o;
  o.params.T = 5;
  o.lateness = 2;
  // Newest 10.0 s: the watermark is 8.0 s. 8.0 is not below it (accepted), 7.999 is (late).
  const std::string text = at(10'000, 1) + at(8'000, 2) + at(7'999, 4) + at(9'000, 8) + at(3'000, 16) +
                           at(12'500, 32) + at(10'400, 64) + at(10'600, 128);
  const Result ref = expect_matches_reference(text, o);
  EXPECT_EQ(ref.late, 3u);  // 7.999, 3.0, and 10.4 (below 12.5 - 2)
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(run.accepted, 5u);
  EXPECT_EQ(run.late, 3u);
  uint64_t total = 0;
  for (const auto& r : run.results) total = std::max(total, r.total_bytes);
  EXPECT_EQ(total, 1u + 2 + 8 + 32 + 128);  // the window [8, 13) holds every accepted record
}

TEST(Windows, ZeroLatenessAcceptsEqualTimes) {
  Options o;
  const std::string text = at(5'000, 1) + at(5'000, 2) + at(4'999, 4) + at(5'000, 8);
  const Result ref = expect_matches_reference(text, o);
  EXPECT_EQ(ref.late, 1u);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(run.late, 1u);
  ASSERT_FALSE(run.results.empty());
  EXPECT_EQ(run.results.front().total_bytes, 11u);
}

TEST(Windows, OutOfOrderWithinLatenessBeforeTheFirstWindow) {
  // The second record is earlier than the first but within the lateness; it arrives in a later
  // round (one line per block), after the engine has already seen the first record's pane.
  Options o;
  o.params.T = 3;
  o.slide = 2;
  o.lateness = 3;
  const std::string text = at(20'066) + at(18'546);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o, 1, 16);
  EXPECT_EQ(bounds(run.results), (Bounds{{17'000, 20'000}, {19'000, 22'000}}));
}

TEST(Windows, RecordsMayArriveInWindowsSkippedAsEmpty) {
  // After 0.5 s the next record is 20 s later, but with lateness 10 the watermark is only 10 s:
  // windows ending between 11 and 20 are not final yet, and a record at 15 s fills one.
  Options o;
  o.params.T = 1;
  o.lateness = 10;
  const std::string text = at(500) + at(20'000) + at(15'000) + at(40'000);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o, 1, 16);
  EXPECT_EQ(bounds(run.results),
            (Bounds{{0, 1000}, {15'000, 16'000}, {20'000, 21'000}, {40'000, 41'000}}));
}

TEST(Windows, SlideLongerThanOne) {
  Options o;
  o.params.T = 10;
  o.slide = 5;
  const std::string text = at(1'000) + at(7'000) + at(12'000);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  // Ends at multiples of 5 s from the epoch (the base time is a whole minute).
  EXPECT_EQ(bounds(run.results), (Bounds{{-5'000, 5'000}, {0, 10'000}, {5'000, 15'000}, {10'000, 20'000}}));
  EXPECT_EQ(records(run.results), (std::vector<uint64_t>{1, 2, 2, 1}));
}

TEST(Windows, WindowShorterThanSlideSkipsRecords) {
  // T = 2, slide 5: windows [3, 5), [8, 10), ...; a record at 1 s is in no window.
  Options o;
  o.params.T = 2;
  o.slide = 5;
  const std::string text = at(1'000) + at(4'000) + at(6'000) + at(9'500) + at(21'000);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(bounds(run.results), (Bounds{{3'000, 5'000}, {8'000, 10'000}}));
  EXPECT_EQ(run.accepted, 5u);
}

TEST(Windows, HundredMillisecondUnit) {
  Options o;
  o.unit_ms = 100;
  o.params.T = 3;
  o.slide = 2;
  const std::string text = at(50) + at(120) + at(390) + at(401);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(bounds(run.results), (Bounds{{-100, 200}, {100, 400}, {300, 600}}));
  EXPECT_EQ(records(run.results), (std::vector<uint64_t>{2, 2, 2}));
}

TEST(Windows, MinuteUnit) {
  Options o;
  o.unit_ms = 60'000;
  o.params.T = 2;
  const std::string text = at(0) + at(59'999) + at(60'000) + at(200'000);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(bounds(run.results), (Bounds{{-60'000, 60'000}, {0, 120'000}, {60'000, 180'000},
                                         {120'000, 240'000}, {180'000, 300'000}}));
}

TEST(Windows, TimesBeforeTheEpoch) {
  // Panes are floor(time / unit): -0.5 s is in the pane [-1 s, 0).
  Options o;
  o.params.T = 1;
  const std::string text = "1969-12-31 23:59:59.500 A 1.1.1.1 2.2.2.2 5\n"
                           "1970-01-01 00:00:00.000 A 1.1.1.1 2.2.2.2 7\n";
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  ASSERT_EQ(run.results.size(), 2u);
  EXPECT_EQ(run.results[0].window_start, -1000);
  EXPECT_EQ(run.results[0].window_end, 0);
  EXPECT_EQ(run.results[0].total_bytes, 5u);
  EXPECT_EQ(run.results[1].window_end, 1000);
}

TEST(Windows, EveryPendingWindowIsEmittedAtTheEnd) {
  Options o;
  o.params.T = 4;
  o.lateness = 100;  // nothing is final before the end of the input
  const std::string text = at(0) + at(2'000) + at(1'000);
  expect_matches_reference(text, o);
  const EngineRun run = run_engine(text, o);
  EXPECT_EQ(run.results.size(), 6u);  // ends 1 .. 6 s
  EXPECT_EQ(run.late, 0u);
}

TEST(Windows, WindowIsEmittedOnceTheWatermarkReachesItsEnd) {
  // Segments are fed one after the other; before each, the test looks at what was emitted.
  Options o;
  o.params.T = 1;
  o.lateness = 1;
  std::vector<size_t> seen;
  core::ProtocolTable protocols;
  CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  engine::EngineControl control(to_engine(o.params), 3600);
  engine::Pipeline pipeline(to_engine(o, 2), control, protocols, ingest::Format::kLine, queries);
  StepSource source({at(10'000) + at(11'999), at(12'000), at(12'999), at(13'000), at(13'001)}, 1 << 20,
                    [&](size_t) { seen.push_back(sink.results.size()); });
  ASSERT_TRUE(pipeline.run(source).ok());
  seen.push_back(sink.results.size());
  // Watermark 10.999: nothing final; 11.0: the window ending at 11 is; 11.999: still only it;
  // 12.0: the window ending at 12 too; end of input: those ending at 13 and 14.
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 1, 2, 4}));
}

TEST(Windows, MalformedLinesAreCountedReportedAndChangeNothing) {
  Options o;
  o.params.T = 3;
  std::string clean, dirty;
  std::vector<uint64_t> bad_lines;
  uint64_t line = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string good = at(i * 300, 100 + static_cast<uint64_t>(i), i % 2 ? "A" : "B");
    clean += good;
    dirty += good;
    ++line;
    if (i % 3 == 0) {
      dirty += "2020-05-09 20:41:00 HTTP 1.2.3.4 5.6.7.8 x" + std::to_string(i) + "\n";
      bad_lines.push_back(++line);
    }
    if (i % 7 == 0) {
      dirty += "\n";  // blank: skipped, not malformed
      ++line;
    }
  }
  const Result ref = expect_matches_reference(dirty, o);
  EXPECT_EQ(ref.malformed, bad_lines.size());
  for (int threads : {1, 3}) {
    const EngineRun a = run_engine(clean, o, threads, 64);
    const EngineRun b = run_engine(dirty, o, threads, 64);
    EXPECT_EQ(a.json, b.json);
    EXPECT_EQ(b.malformed, bad_lines.size());
    EXPECT_EQ(b.lines, line);
    ASSERT_EQ(b.reports.size(), 10u);  // the first ten
    for (size_t i = 0; i < 10; ++i) {
      EXPECT_EQ(b.reports[i].line, bad_lines[i]);
      EXPECT_EQ(b.reports[i].status, ingest::ParseStatus::kBadBytes);
      EXPECT_EQ(b.reports[i].field, "x" + std::to_string(3 * i));
    }
  }
}

TEST(Windows, CountersAddUp) {
  StreamGen g(42);
  StreamShape s;
  s.lateness = 1;
  s.malformed = 0.05;
  const std::string text = g.make(s);
  Options o;
  o.lateness = 1;
  const Result ref = compute(text, o);
  const EngineRun run = run_engine(text, o, 2, 100);
  EXPECT_EQ(run.accepted, ref.accepted);
  EXPECT_EQ(run.late, ref.late);
  EXPECT_EQ(run.malformed, ref.malformed);
  EXPECT_EQ(run.records_read, run.accepted + run.late + run.malformed);
  EXPECT_EQ(run.windows, ref.windows.size());
  EXPECT_GT(ref.late, 0u);
  EXPECT_GT(ref.malformed, 0u);
}

TEST(Windows, CsvGivesTheSameResultsAsLines) {
  Options o;
  o.params.T = 3;
  std::string lines = at(0, 5, "A") + at(400, 7, "B", "::1") + at(1'700, 9, "A", "10.0.0.9");
  std::string csv = "bytes,dst,src,time,protocol\r\n";
  for (const std::string& l : split_lines(lines)) {
    std::vector<std::string> f;
    std::istringstream in(l);
    for (std::string w; in >> w;) f.push_back(w);
    csv += f[5] + "," + f[4] + "," + f[3] + "," + f[0] + " " + f[1] + "," + f[2] + "\r\n";
  }
  for (int threads : {1, 2}) {
    const EngineRun a = run_engine(lines, o, threads, 16);
    const EngineRun b = run_engine(csv, o, threads, 16, 3600, ingest::Format::kCsv);
    EXPECT_FALSE(b.error) << b.error.value_or("");
    EXPECT_EQ(a.json, b.json);
    EXPECT_EQ(b.accepted, 3u);
  }
}

TEST(Windows, ResultsDoNotDependOnBlockBoundaries) {
  StreamGen g(7);
  StreamShape s;
  s.lateness = 2;
  const std::string text = g.make(s);
  Options o;
  o.lateness = 2;
  o.params.T = 4;
  o.slide = 2;
  const std::string expected = run_engine(text, o, 1, 1 << 20).json;
  for (size_t block : {1, 7, 50, 333, 4096})
    for (int threads : {1, 2, 4}) EXPECT_TRUE(run_engine(text, o, threads, block).json == expected)
        << "block " << block << " threads " << threads;
}

}  // namespace
}  // namespace netpulse::testref
