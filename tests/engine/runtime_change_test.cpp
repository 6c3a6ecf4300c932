// Parameters changed while the engine runs (spec section 5), in-process: the test feeds the
// input in segments and calls EngineControl::set_params between them. A change applies from
// the next window to be emitted; T can grow up to max-window and the next window covers the
// whole new length from panes still held. Checked against the reference with the same changes.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"
#include "stream_gen.hpp"

namespace netpulse::testref {
namespace {

struct Plan {
  size_t before_line;  // the change happens before this input line
  Params params;
};

// Splits `text` at the planned lines, runs the engine with the changes applied between the
// segments, and compares with the reference. Returns the engine's results.
std::vector<query::WindowResult> run_with_changes(const std::string& text, const Options& o,
                                                  const std::vector<Plan>& plan, int threads,
                                                  size_t block_size, int64_t max_window) {
  const std::vector<std::string> lines = split_lines(text);
  std::vector<std::string> segments(1);
  std::vector<Change> changes;
  size_t next = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (next < plan.size() && plan[next].before_line == i) {
      segments.emplace_back();
      changes.push_back(Change{i, plan[next].params});
      ++next;
    }
    segments.back() += lines[i] + "\n";
  }
  engine::EngineControl control(to_engine(o.params), max_window);
  StepSource source(segments, block_size, [&](size_t segment) {
    const core::Status why = control.set_params(to_engine(changes[segment - 1].params));
    EXPECT_TRUE(why.ok()) << why.message();
  });
  const EngineRun run = run_engine(source, o, threads, control, max_window);
  EXPECT_FALSE(run.error) << run.error.value_or("");
  const Result ref = compute(lines, o, changes);
  EXPECT_EQ(windows_match(run.results, ref.windows), "");
  EXPECT_EQ(run.late, ref.late);
  return run.results;
}

// A steady stream: `n` records, one every `step_ms`, a few sources and protocols.
std::string steady(size_t n, int64_t step_ms, uint64_t seed) {
  StreamGen g(seed);
  std::string out;
  const char* protos[] = {"HTTP", "DNS", "SOAP", "SSH"};
  for (size_t i = 0; i < n; ++i) {
    const std::string src = "10.0.0." + std::to_string(1 + g.index(9));
    out += record_line(kBaseMs + static_cast<int64_t>(i) * step_ms, protos[g.index(4)], src,
                       "192.168.1.1", g.bytes()) + "\n";
  }
  return out;
}

TEST(RuntimeChange, HkXChangeFromTheNextWindow) {
  Options o;  // H 10, T 10, k 3, X 2
  const std::string text = steady(300, 250, 1);
  for (int threads : {1, 2, 3, 4}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    const auto results = run_with_changes(
        text, o, {{100, Params{20, 10, 5, 1.5}}, {200, Params{50, 10, 1, 0}}}, threads, 200, 3600);
    // The windows emitted switch parameters once each, in order.
    std::vector<double> H;
    for (const auto& r : results)
      if (H.empty() || H.back() != r.params.H) H.push_back(r.params.H);
    EXPECT_EQ(H, (std::vector<double>{10, 20, 50}));
  }
}

TEST(RuntimeChange, TUpAndDown) {
  Options o;
  o.params.T = 10;
  const std::string text = steady(400, 250, 2);
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    const auto results = run_with_changes(text, o,
                                          {{80, Params{10, 30, 3, 2}},
                                           {160, Params{10, 3, 3, 2}},
                                           {240, Params{10, 1, 3, 2}},
                                           {320, Params{10, 25, 3, 2}}},
                                          threads, 150, 3600);
    std::vector<int64_t> T;
    for (const auto& r : results)
      if (T.empty() || T.back() != r.params.T) T.push_back(r.params.T);
    EXPECT_EQ(T, (std::vector<int64_t>{10, 30, 3, 1, 25}));
  }
}

TEST(RuntimeChange, TGrowsToMaxWindowWithEveryRecordStillHeld) {
  // max-window 40 s; T grows from 5 to 40 after 60 s of data: the next window covers 40 s.
  Options o;
  o.params.T = 5;
  const std::string text = steady(240, 500, 3);  // 120 s
  for (int threads : {1, 3}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    const auto results = run_with_changes(text, o, {{120, Params{10, 40, 3, 2}}}, threads, 100, 40);
    bool seen = false;
    for (const auto& r : results) {
      if (r.params.T != 40) continue;
      if (!seen) {
        EXPECT_EQ(r.window_end - r.window_start, 40'000);
        EXPECT_EQ(r.records, 80u);  // two records a second, 40 s
      }
      seen = true;
    }
    EXPECT_TRUE(seen);
  }
}

TEST(RuntimeChange, TGrowsAfterAGapAndWithLateness) {
  // Lateness 3, slide 2, a gap of 50 s in the middle; T goes 4 -> 20 -> 2 around the gap.
  Options o;
  o.params.T = 4;
  o.slide = 2;
  o.lateness = 3;
  std::string text = steady(100, 300, 4);
  std::string later;
  for (const std::string& l : split_lines(steady(100, 300, 5))) {
    // Shift by 80 s (30 s of data, then a 50 s gap).
    Record r;
    ASSERT_EQ(parse_line(l, r), LineKind::kRecord);
    later += record_line(r.time + 80'000, r.protocol, r.src.text(), r.dst.text(), r.bytes) + "\n";
  }
  text += later;
  for (int threads : {1, 2, 4})
    run_with_changes(text, o, {{60, Params{10, 20, 3, 2}}, {130, Params{10, 2, 3, 2}}}, threads, 120, 100);
}

TEST(RuntimeChange, RandomStreamsAndChanges) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    StreamGen g(seed + 500);
    Options o;
    const int64_t units[] = {100, 1000};
    o.unit_ms = units[g.index(2)];
    o.slide = 1 + static_cast<int64_t>(g.index(3));
    o.lateness = static_cast<int64_t>(g.index(4));
    o.ip_key = static_cast<KeyMode>(g.index(3));
    const int64_t max_window = 30;
    o.params = Params{10, 1 + static_cast<int64_t>(g.index(max_window)), 3, 2};
    StreamShape s;
    s.unit_ms = o.unit_ms;
    s.lateness = o.lateness;
    s.records = 300;
    const std::string text = g.make(s);
    const size_t lines = split_lines(text).size();
    std::vector<Plan> plan;
    for (size_t at = 20 + g.index(40); at < lines; at += 20 + g.index(60)) {
      const double H[] = {5, 10, 25, 100};
      const double X[] = {0, 0.5, 2};
      plan.push_back(Plan{at, Params{H[g.index(4)], 1 + static_cast<int64_t>(g.index(max_window)),
                                     1 + static_cast<int64_t>(g.index(6)), X[g.index(3)]}});
    }
    const int threads = 1 + static_cast<int>(g.index(4));
    SCOPED_TRACE("seed=" + std::to_string(seed) + " threads=" + std::to_string(threads));
    run_with_changes(text, o, plan, threads, 40 + g.index(200), max_window);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(RuntimeChange, RejectedChangeLeavesParametersAlone) {
  engine::EngineControl control(engine::QueryParams{10, 10, 3, 2}, 100);
  const engine::QueryParams before = control.params();
  for (const engine::QueryParams& bad : {
           engine::QueryParams{0, 10, 3, 2}, engine::QueryParams{100.5, 10, 3, 2},
           engine::QueryParams{10, 0, 3, 2}, engine::QueryParams{10, 101, 3, 2},
           engine::QueryParams{10, 10, 0, 2}, engine::QueryParams{10, 10, 3, -0.5},
           engine::QueryParams{10, 10, 3, std::numeric_limits<double>::infinity()},
           engine::QueryParams{std::numeric_limits<double>::quiet_NaN(), 10, 3, 2}}) {
    EXPECT_EQ(control.set_params(bad).code(), core::Status::Code::kInvalidArgument);
    EXPECT_EQ(control.params(), before);
  }
  EXPECT_TRUE(control.set_params(engine::QueryParams{100, 100, 1, 0}).ok());
  EXPECT_EQ(control.params(), (engine::QueryParams{100, 100, 1, 0}));
}

}  // namespace
}  // namespace netpulse::testref
