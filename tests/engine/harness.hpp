// Runs the real engine (Pipeline + SixQueries) in-process on text input and collects what it
// emits, for comparison with the reference in reference.hpp. Also a block source that hands
// out blocks one at a time and lets a test act (change parameters) between chosen blocks.
// Header-only; each object belongs to one test.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/params.hpp"
#include "engine/pipeline.hpp"
#include "ingest/block_source.hpp"
#include "query/queries.hpp"
#include "query/result.hpp"
#include "query/result_json.hpp"
#include "reference.hpp"

namespace netpulse::testref {

// Keeps every window's results, and their JSON lines as the binary would write them.
class CollectingSink final : public query::ResultSink {
 public:
  void emit(const query::WindowResult& r) override {
    results.push_back(r);
    for (size_t q = 0; q < query::kQueryCount; ++q) {
      query::append_json(r, static_cast<query::QueryKind>(q), json);
      json += '\n';
    }
  }
  std::vector<query::WindowResult> results;
  std::string json;
};

inline engine::QueryParams to_engine(const Params& p) { return engine::QueryParams{p.H, p.T, p.k, p.X}; }

inline engine::EngineConfig to_engine(const Options& o, int threads, int64_t max_window = 3600) {
  engine::EngineConfig c;
  c.time_unit_ms = o.unit_ms;
  c.slide = o.slide;
  c.lateness = o.lateness;
  c.max_window = max_window;
  c.ip_key = o.ip_key == KeyMode::kSrc ? engine::IpKey::kSrc
             : o.ip_key == KeyMode::kDst ? engine::IpKey::kDst
                                         : engine::IpKey::kHost;
  c.threads = threads;
  return c;
}

inline Window from_engine(const query::WindowResult& r) {
  Window w;
  w.start_ms = r.window_start;
  w.end_ms = r.window_end;
  w.params = Params{r.params.H, r.params.T, r.params.k, r.params.X};
  w.records = r.records;
  w.total_bytes = r.total_bytes;
  w.protocol_keys = r.protocol_keys;
  w.ip_keys = r.ip_keys;
  for (size_t q = 0; q < 6; ++q)
    for (const auto& row : r.rows[q]) w.rows[q].push_back(Row{row.key, row.bytes, row.share, row.z, false});
  return w;
}

inline std::string describe_params(const Params& p) {
  std::ostringstream s;
  s << "H=" << p.H << " T=" << p.T << " k=" << p.k << " X=" << p.X;
  return s.str();
}

// Empty when the engine's windows are the reference's; else the first difference.
inline std::string windows_match(const std::vector<query::WindowResult>& engine,
                                 const std::vector<Window>& ref) {
  std::ostringstream s;
  const size_t n = std::min(engine.size(), ref.size());
  for (size_t i = 0; i < n; ++i) {
    const Window e = from_engine(engine[i]);
    const Window& w = ref[i];
    auto where = [&] {
      std::ostringstream t;
      t << "window " << i << " [" << w.start_ms << ", " << w.end_ms << ") ";
      return t.str();
    };
    if (e.start_ms != w.start_ms || e.end_ms != w.end_ms) {
      s << "window " << i << ": engine [" << e.start_ms << ", " << e.end_ms << "), reference ["
        << w.start_ms << ", " << w.end_ms << ")";
      return s.str();
    }
    if (e.params.H != w.params.H || e.params.T != w.params.T || e.params.k != w.params.k ||
        e.params.X != w.params.X) {
      s << where() << "params: engine " << describe_params(e.params) << ", reference "
        << describe_params(w.params);
      return s.str();
    }
    if (e.records != w.records || e.total_bytes != w.total_bytes ||
        e.protocol_keys != w.protocol_keys || e.ip_keys != w.ip_keys) {
      s << where() << "engine records=" << e.records << " total=" << e.total_bytes
        << " protocol keys=" << e.protocol_keys << " ip keys=" << e.ip_keys
        << "; reference records=" << w.records << " total=" << w.total_bytes
        << " protocol keys=" << w.protocol_keys << " ip keys=" << w.ip_keys;
      return s.str();
    }
    for (size_t q = 0; q < 6; ++q) {
      if (auto why = rows_match(e.rows[q], w.rows[q]); !why.empty()) {
        s << where() << kQueries[q] << ": " << why;
        return s.str();
      }
    }
  }
  if (engine.size() != ref.size()) {
    s << "engine emitted " << engine.size() << " windows, reference " << ref.size();
    if (n < engine.size())
      s << "; first extra engine window [" << engine[n].window_start << ", " << engine[n].window_end << ")";
    if (n < ref.size()) s << "; first missing window [" << ref[n].start_ms << ", " << ref[n].end_ms << ")";
    return s.str();
  }
  return {};
}

// Hands out the blocks of a list of segments one at a time. Before the first block of segment
// i > 0 it answers "nothing yet" once, so the pipeline ends its round (and emits the windows
// final so far), then calls before_segment(i) and goes on. Not thread-safe (the pipeline calls
// next() from one thread at a time).
class StepSource final : public ingest::BlockSource {
 public:
  StepSource(std::vector<std::string> segments, size_t block_size,
             std::function<void(size_t)> before_segment)
      : before_(std::move(before_segment)) {
    for (auto& seg : segments) {
      auto data = std::make_shared<std::string>(std::move(seg));
      std::vector<ingest::Block> blocks;
      // Cut at line ends, about block_size bytes each.
      size_t pos = 0;
      while (pos < data->size()) {
        size_t n = std::min(block_size, data->size() - pos);
        const size_t nl = data->find('\n', pos + n - 1);
        n = nl == std::string::npos ? data->size() - pos : nl + 1 - pos;
        blocks.push_back(ingest::Block{data->data() + pos, n, data});
        pos += n;
      }
      segments_.push_back(std::move(blocks));
    }
  }

  Next next(ingest::Block& out, std::chrono::milliseconds) override {
    while (seg_ < segments_.size() && block_ >= segments_[seg_].size()) {
      ++seg_;
      block_ = 0;
      announced_ = false;
    }
    if (seg_ >= segments_.size()) return Next::kEnd;
    if (seg_ > 0 && block_ == 0 && !announced_) {
      if (!paused_once_) {
        paused_once_ = true;
        return Next::kTimeout;
      }
      paused_once_ = false;
      announced_ = true;
      if (before_) before_(seg_);
    }
    out = segments_[seg_][block_++];
    return Next::kBlock;
  }
  std::string describe() const override { return "step"; }

 private:
  std::vector<std::vector<ingest::Block>> segments_;
  std::function<void(size_t)> before_;
  size_t seg_ = 0, block_ = 0;
  bool announced_ = false, paused_once_ = false;
};

struct EngineRun {
  std::vector<query::WindowResult> results;
  std::string json;
  uint64_t lines = 0, records_read = 0, accepted = 0, late = 0, malformed = 0, windows = 0;
  std::vector<engine::MalformedReport> reports;
  std::optional<std::string> error;
  size_t record_buffer_bytes = 0;        // what the engine's record buffers kept at the end
  size_t record_buffer_largest = 0;      // the largest of them
  size_t record_buffer_allocations = 0;  // how often they were allocated
};

// Runs the engine over `source` with the options; `control` may be given to change parameters
// while it runs (it must hold o.params and the max_window).
inline EngineRun run_engine(ingest::BlockSource& source, const Options& o, int threads,
                            engine::EngineControl& control, int64_t max_window = 3600,
                            ingest::Format format = ingest::Format::kLine) {
  core::ProtocolTable protocols;
  CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  engine::Pipeline pipeline(to_engine(o, threads, max_window), control, protocols, format, queries);
  EngineRun run;
  pipeline.on_malformed([&](const engine::MalformedReport& r) { run.reports.push_back(r); });
  if (core::Status s = pipeline.run(source); !s.ok()) run.error = s.message();
  const auto& c = pipeline.counters();
  run.lines = c.lines.load();
  run.records_read = c.records_read.load();
  run.accepted = c.accepted.load();
  run.late = c.late.load();
  run.malformed = c.malformed.load();
  run.windows = c.windows.load();
  run.record_buffer_bytes = pipeline.record_buffer_bytes();
  run.record_buffer_largest = pipeline.record_buffer_largest();
  run.record_buffer_allocations = pipeline.record_buffer_allocations();
  run.results = std::move(sink.results);
  run.json = std::move(sink.json);
  return run;
}

inline EngineRun run_engine(const std::string& text, const Options& o, int threads = 1,
                            size_t block_size = ingest::kBlockSize, int64_t max_window = 3600,
                            ingest::Format format = ingest::Format::kLine) {
  engine::EngineControl control(to_engine(o.params), max_window);
  auto source = ingest::make_memory_source(text, block_size);
  return run_engine(*source, o, threads, control, max_window, format);
}

// Runs the engine with 1 to 4 threads, each with the whole input in one block and with blocks
// of about one line; expects the reference's windows and counters and the same JSON bytes
// every time. Returns the reference's result.
inline Result expect_matches_reference(const std::string& text, const Options& o,
                                       int64_t max_window = 3600) {
  const Result ref = compute(text, o);
  std::string first_json;
  for (int threads = 1; threads <= 4; ++threads) {
    for (size_t block : {size_t{1} << 20, size_t{16}}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) + " block_size=" + std::to_string(block));
      const EngineRun run = run_engine(text, o, threads, block, max_window);
      EXPECT_FALSE(run.error) << run.error.value_or("");
      EXPECT_EQ(windows_match(run.results, ref.windows), "");
      EXPECT_EQ(run.accepted, ref.accepted);
      EXPECT_EQ(run.late, ref.late);
      EXPECT_EQ(run.malformed, ref.malformed);
      if (first_json.empty()) first_json = run.json;
      else EXPECT_TRUE(run.json == first_json) << "JSON differs from the first run";
    }
  }
  return ref;
}

}  // namespace netpulse::testref
