// Property tests: random streams (out-of-order and late records, gaps, malformed and blank
// lines, IPv4 and IPv6, bytes from 0 to 4294967295) through the real pipeline, checked against
// the brute-force reference across T, slide, time unit, lateness, ip-key, thread counts and
// block sizes; and the JSON output must be byte-identical for every thread count.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "ingest/observed_source.hpp"
#include "reference.hpp"
#include "stream_gen.hpp"

namespace netpulse::testref {
namespace {

std::string describe(uint64_t seed, const Options& o) {
  std::ostringstream s;
  s << "seed=" << seed << " unit_ms=" << o.unit_ms << " slide=" << o.slide << " lateness=" << o.lateness
    << " ip_key=" << (o.ip_key == KeyMode::kSrc ? "src" : o.ip_key == KeyMode::kDst ? "dst" : "host")
    << " " << describe_params(o.params);
  return s.str();
}

// Random options; fields the caller fixes are overwritten afterwards.
Options random_options(StreamGen& g) {
  Options o;
  const int64_t units[] = {100, 1000, 60000};
  o.unit_ms = units[g.index(3)];
  o.params.T = 1 + static_cast<int64_t>(g.index(12));
  const int64_t slides[] = {1, 1, 2, 3, 5};
  o.slide = slides[g.index(5)];
  const int64_t lateness[] = {0, 0, 1, 3};
  o.lateness = lateness[g.index(4)];
  const KeyMode keys[] = {KeyMode::kSrc, KeyMode::kDst, KeyMode::kHost};
  o.ip_key = keys[g.index(3)];
  const double H[] = {2.5, 10, 12.5, 25, 50, 100};  // multiples of 1/1024: exact decisions
  o.params.H = H[g.index(6)];
  const int64_t k[] = {1, 2, 3, 5, 50};
  o.params.k = k[g.index(5)];
  const double X[] = {0, 0.5, 1, 1.5, 2, 3};
  o.params.X = X[g.index(6)];
  return o;
}

// Runs one stream through the engine with 1, 2, 3 and 4 threads and small blocks; every run
// must match the reference and produce the same JSON bytes.
void check(uint64_t seed, const Options& o, const std::string& text, int64_t max_window = 3600) {
  SCOPED_TRACE(describe(seed, o) + " max_window=" + std::to_string(max_window));
  const Result ref = compute(text, o);
  StreamGen blocks(seed * 7919 + 1);
  std::string first_json;
  for (int threads = 1; threads <= 4; ++threads) {
    const size_t block = 30 + blocks.index(300);  // a line is ~40-90 bytes: 1-8 lines a block
    SCOPED_TRACE("threads=" + std::to_string(threads) + " block_size=" + std::to_string(block));
    const EngineRun run = run_engine(text, o, threads, block, max_window);
    ASSERT_FALSE(run.error) << *run.error;
    EXPECT_EQ(windows_match(run.results, ref.windows), "");
    EXPECT_EQ(run.accepted, ref.accepted);
    EXPECT_EQ(run.late, ref.late);
    EXPECT_EQ(run.malformed, ref.malformed);
    EXPECT_EQ(run.windows, ref.windows.size());
    EXPECT_EQ(run.lines, ref.lines);
    if (threads == 1) first_json = run.json;
    else EXPECT_TRUE(run.json == first_json) << "JSON output differs from --threads 1";
    if (::testing::Test::HasFailure()) return;  // one report per seed is enough
  }
}

void check_seeds(uint64_t first, uint64_t count,
                 const std::function<void(StreamGen&, Options&, StreamShape&)>& shape_it,
                 bool tight_max_window = false) {
  for (uint64_t seed = first; seed < first + count; ++seed) {
    StreamGen g(seed);
    Options o = random_options(g);
    StreamShape s;
    s.records = 150 + g.index(350);
    s.protocols = 1 + g.index(6);
    s.v4_addresses = 3 + g.index(14);
    s.v6_addresses = g.index(4);
    shape_it(g, o, s);
    s.unit_ms = o.unit_ms;
    s.lateness = o.lateness;
    check(seed, o, g.make(s), tight_max_window ? o.params.T : 3600);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(PipelineProperty, RandomOptionsMatchReference) {
  check_seeds(1, 60, [](StreamGen&, Options&, StreamShape&) {});
}

TEST(PipelineProperty, SrcKey) {
  check_seeds(1000, 25, [](StreamGen&, Options& o, StreamShape&) { o.ip_key = KeyMode::kSrc; });
}

TEST(PipelineProperty, DstKey) {
  check_seeds(2000, 25, [](StreamGen&, Options& o, StreamShape&) { o.ip_key = KeyMode::kDst; });
}

TEST(PipelineProperty, HostKeyWithManySelfFlows) {
  check_seeds(3000, 25, [](StreamGen&, Options& o, StreamShape& s) {
    o.ip_key = KeyMode::kHost;
    s.same_src_dst = 0.4;
  });
}

TEST(PipelineProperty, HundredMillisecondUnit) {
  check_seeds(4000, 20, [](StreamGen&, Options& o, StreamShape&) { o.unit_ms = 100; });
}

TEST(PipelineProperty, LargeLatenessManyOutOfOrder) {
  check_seeds(5000, 20, [](StreamGen& g, Options& o, StreamShape& s) {
    o.lateness = 4 + static_cast<int64_t>(g.index(10));
    s.out_of_order = 0.5;
  });
}

TEST(PipelineProperty, SlideLongerThanWindow) {
  check_seeds(6000, 20, [](StreamGen& g, Options& o, StreamShape&) {
    o.slide = 3 + static_cast<int64_t>(g.index(5));
    o.params.T = 1 + static_cast<int64_t>(g.index(static_cast<size_t>(o.slide - 1)));
  });
}

TEST(PipelineProperty, SparseStreamsWithGaps) {
  check_seeds(7000, 20, [](StreamGen&, Options&, StreamShape& s) {
    s.gap = 0.15;
    s.step_units = 2;
  });
}

TEST(PipelineProperty, DenseStreamsManyKeys) {
  // Many records per window and many addresses: exercises the per-shard top-k heaps and the
  // candidate merge with keys spread over every shard.
  check_seeds(8000, 8, [](StreamGen&, Options& o, StreamShape& s) {
    s.records = 1500;
    s.step_units = 0.02;
    s.v4_addresses = 200;
    s.v6_addresses = 6;
    o.params.k = 7;
  });
}

TEST(PipelineProperty, MaxWindowEqualToT) {
  // Panes are kept only T units: eviction runs right behind the windows.
  check_seeds(10000, 25, [](StreamGen&, Options&, StreamShape&) {}, true);
}

TEST(PipelineProperty, OneBigBlock) {
  // The whole input in one block: one round, every window emitted at the end.
  for (uint64_t seed = 9000; seed < 9010; ++seed) {
    StreamGen g(seed);
    Options o = random_options(g);
    StreamShape s;
    s.unit_ms = o.unit_ms;
    s.lateness = o.lateness;
    const std::string text = g.make(s);
    SCOPED_TRACE(describe(seed, o));
    const Result ref = compute(text, o);
    for (int threads : {1, 3}) {
      const EngineRun run = run_engine(text, o, threads, 1 << 20);
      EXPECT_EQ(windows_match(run.results, ref.windows), "") << "threads=" << threads;
      EXPECT_EQ(run.late, ref.late);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

// Hands out given blocks in order, each its own string.
class ListSource final : public ingest::BlockSource {
 public:
  ListSource(std::vector<std::string> blocks, bool read_ahead) : read_ahead_(read_ahead) {
    for (auto& b : blocks) blocks_.push_back(std::make_shared<std::string>(std::move(b)));
  }
  Next next(ingest::Block& out, std::chrono::milliseconds) override {
    if (next_ >= blocks_.size()) return Next::kEnd;
    const auto& b = blocks_[next_++];
    out = ingest::Block{b->data(), b->size(), b};
    return Next::kBlock;
  }
  bool read_ahead_ok() const override { return read_ahead_; }
  std::string describe() const override { return "list"; }

 private:
  std::vector<std::shared_ptr<std::string>> blocks_;
  size_t next_ = 0;
  bool read_ahead_;
};

// Options for the buffer tests below: all six queries over short windows.
Options buffer_test_options(int64_t T, KeyMode ip_key) {
  Options o;
  o.params.T = T;
  o.params.k = 3;
  o.params.H = 10;
  o.params.X = 1;
  o.lateness = 1;
  o.ip_key = ip_key;
  return o;
}

// "2020-05-09 HH:MM:SS.mmm", `ms` after midnight.
std::string time_text(uint64_t ms) {
  char time[40];
  std::snprintf(time, sizeof time, "2020-05-09 %02u:%02u:%02u.%03u",
                static_cast<unsigned>(ms / 3'600'000), static_cast<unsigned>(ms / 60'000 % 60),
                static_cast<unsigned>(ms / 1000 % 60), static_cast<unsigned>(ms % 1000));
  return time;
}

TEST(PipelineProperty, BurstsAndSkewedBlocksMatchAndGiveTheirMemoryBack) {
  // Blocks of 2-4 MiB from one address (a burst that piled up, all of it for one shard) between
  // runs of small blocks over many addresses: the record buffers grow for the big ones and give
  // the memory back after them, and the results stay exact, at 1, 2 and 4 threads, read ahead
  // or not.
  const Options o = buffer_test_options(3, KeyMode::kHost);
  uint64_t n = 0;
  auto line = [&](bool one_source) {
    const uint64_t i = n++;
    const std::string src =
        one_source ? "10.0.0.1" : "10.1." + std::to_string(i % 97) + "." + std::to_string(i % 13);
    const std::string dst = "192.0.2." + std::to_string(i % 7);
    // From 2020-05-09 00:00, 7 ms apart.
    return time_text(i * 7) + " HTTP " + src + " " + dst + " " + std::to_string(40 + i % 1500) +
           "\n";
  };
  std::vector<std::string> blocks;
  auto big = [&](size_t bytes) {
    std::string b;
    while (b.size() < bytes) b += line(true);
    blocks.push_back(std::move(b));
  };
  auto small_run = [&](int count) {
    for (int k = 0; k < count; ++k) {
      std::string b;
      for (int j = 0; j < 300; ++j) b += line(false);
      blocks.push_back(std::move(b));
    }
  };
  small_run(20);
  big(4 << 20);
  small_run(30);
  big(2 << 20);
  big(3 << 20);
  // Enough small blocks for every round's block slot to see two (a buffer gives its room back
  // at the second usual block after a big one): 2 rounds of up to 4 threads x kBlocksPerThread.
  small_run(static_cast<int>(2 * 2 * 4 * engine::Pipeline::kBlocksPerThread) + 10);
  std::string text;
  for (const auto& b : blocks) text += b;
  const Result ref = compute(text, o);
  std::string first_json;
  for (bool read_ahead : {true, false}) {
    for (int threads : {1, 2, 4}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) +
                   " read_ahead=" + std::to_string(read_ahead));
      ListSource source(blocks, read_ahead);
      engine::EngineControl control(to_engine(o.params), 3600);
      const EngineRun run = run_engine(source, o, threads, control);
      ASSERT_FALSE(run.error) << *run.error;
      EXPECT_EQ(windows_match(run.results, ref.windows), "");
      EXPECT_EQ(run.accepted, ref.accepted);
      EXPECT_EQ(run.late, ref.late);
      if (first_json.empty())
        first_json = run.json;
      else
        EXPECT_TRUE(run.json == first_json) << "JSON output differs from --threads 1";
      // The last small blocks hold 300 records each: what is left is room for them and for a
      // usual 1 MiB block's share at most, not the 4 MiB block's 100,000 records (6.7 MB):
      // no buffer keeps that room, and all of them together keep little more than one usual
      // block's room (1 MiB / 40 bytes a record, twice, as whole records) beside their 300.
      EXPECT_LT(run.record_buffer_largest, size_t{4} << 20) << run.record_buffer_largest;
      // One thread adds each parsed batch to its shard at once: no record buffer at all.
      if (threads == 1) {
        EXPECT_EQ(run.record_buffer_bytes, 0u);
        continue;
      }
      // Two rounds of `threads` blocks (read ahead with several threads: kBlocksPerThread
      // each), a buffer per shard in each.
      const auto t = static_cast<size_t>(threads);
      const size_t buffers =
          2 * (threads > 1 && read_ahead ? t * engine::Pipeline::kBlocksPerThread : t) * t;
      EXPECT_LT(run.record_buffer_bytes, (size_t{4} << 20) + buffers * 2 * 300 * 64)
          << run.record_buffer_bytes;
    }
  }
}

TEST(PipelineProperty, BlocksOfUsualSizeReuseTheirBuffers) {
  // A file's blocks end at the first line end past 1 MiB, so their sizes differ by a few bytes.
  // The record buffers must be allocated once and reused: the build before reallocated each
  // shard's buffer every other block (fresh pages, a page fault for every 4 KiB of records).
  // Enough 1 MiB blocks for each block slot of the two rounds to take three at 4 threads.
  const Options o = buffer_test_options(10, KeyMode::kSrc);
  const size_t mib = 3 * 2 * 4 * engine::Pipeline::kBlocksPerThread;
  std::string text;
  for (uint64_t i = 0; text.size() < mib << 20; ++i) {
    // 250 records per second from 2020-05-09 00:00, lines of varied length.
    char rest[80];
    std::snprintf(rest, sizeof rest, " HTTP 10.%u.%u.%u 192.0.2.%u %u\n",
                  static_cast<unsigned>(i % 7), static_cast<unsigned>(i * 31 % 251),
                  static_cast<unsigned>(i * 17 % 253), static_cast<unsigned>(i % 9),
                  static_cast<unsigned>(40 + i * 7919 % 1500));
    text += time_text(i * 4) + rest;
  }
  std::string first_json;
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    const EngineRun run = run_engine(text, o, threads, ingest::kBlockSize);
    ASSERT_FALSE(run.error) << *run.error;
    EXPECT_EQ(run.accepted, run.records_read);
    if (first_json.empty())
      first_json = run.json;
    else
      EXPECT_TRUE(run.json == first_json) << "JSON output differs from --threads 1";
    // Two rounds of `threads` blocks (read ahead: kBlocksPerThread each), a buffer per shard
    // in each; one thread has none (it adds each parsed batch to its shard at once).
    const auto t = static_cast<size_t>(threads);
    const size_t buffers = threads > 1 ? 2 * t * engine::Pipeline::kBlocksPerThread * t : 0;
    EXPECT_LE(run.record_buffer_allocations, buffers);
    if (threads > 1) {
      EXPECT_GT(run.record_buffer_allocations, 0u);
    }
  }
}

// A file read the engine's way with several threads (each thread reads its own blocks: deferred
// reads) and the mapped way must give what the same bytes in memory give, line format and CSV
// (whose header is read from the first block before the threads read the rest).
TEST(PipelineProperty, FileReadByEachThreadMatchesTheReference) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("netpulse-pipeline-file-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = dir + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (!f) return path;
    EXPECT_EQ(std::fwrite(text.data(), 1, text.size(), f), text.size());
    std::fclose(f);
    return path;
  };
  auto from_file = [](const std::string& path, const Options& o, int threads, size_t block,
                      bool deferred, ingest::Format format) {
    ingest::SourceOptions so;
    so.block_size = block;
    so.deferred_reads = deferred;  // the source's way of reading, whatever the engine's
    auto opened = ingest::open_source(*ingest::parse_uri(path), so);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    auto source = std::move(opened).value_or(nullptr);
    // Deferred: every block reaches the engine unread (the engine's threads read them).
    size_t unread = 0, blocks = 0;
    ingest::ObservedSource observed(std::move(source), [&](const ingest::Block& b) {
      ++blocks;
      unread += b.data == nullptr;
    });
    engine::EngineControl control(to_engine(o.params), 3600);
    EngineRun run = run_engine(observed, o, threads, control, 3600, format);
    EXPECT_GT(blocks, 1u);
    EXPECT_EQ(unread, deferred ? blocks : 0u);
    return run;
  };
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    StreamGen g(seed);
    Options o = random_options(g);
    StreamShape s;
    s.records = 400 + g.index(400);
    s.v4_addresses = 3 + g.index(14);
    s.v6_addresses = g.index(4);
    s.unit_ms = o.unit_ms;
    s.lateness = o.lateness;
    const std::string text = g.make(s);
    SCOPED_TRACE(describe(seed, o));
    const Result ref = compute(text, o);
    const std::string lines = write("flows.txt", text);
    // The same records as CSV, columns in another order.
    std::string csv = "bytes,dst,src,time,protocol\n";
    for (const std::string& l : split_lines(text)) {
      std::vector<std::string> f;
      std::istringstream in(l);
      for (std::string w; in >> w;) f.push_back(w);
      if (f.size() == 6)
        csv += f[5] + "," + f[4] + "," + f[3] + "," + f[0] + " " + f[1] + "," + f[2] + "\n";
    }
    const std::string csv_path = write("flows.csv", csv);
    const std::string csv_json =
        run_engine(csv, o, 1, ingest::kBlockSize, 3600, ingest::Format::kCsv).json;
    for (int threads : {1, 2, 4}) {
      for (bool deferred : {false, true}) {
        SCOPED_TRACE("threads=" + std::to_string(threads) + (deferred ? " deferred" : " mapped"));
        const size_t block = 50 + g.index(400);
        const EngineRun run = from_file(lines, o, threads, block, deferred, ingest::Format::kLine);
        ASSERT_FALSE(run.error) << *run.error;
        EXPECT_EQ(windows_match(run.results, ref.windows), "");
        EXPECT_EQ(run.accepted, ref.accepted);
        EXPECT_EQ(run.malformed, ref.malformed);
        EXPECT_EQ(run.lines, ref.lines);
        const EngineRun c = from_file(csv_path, o, threads, block, deferred, ingest::Format::kCsv);
        ASSERT_FALSE(c.error) << *c.error;
        EXPECT_TRUE(c.json == csv_json) << "CSV from a file differs from CSV in memory";
      }
    }
    if (::testing::Test::HasFailure()) break;
  }
  std::filesystem::remove_all(dir);
}

// Pipelined (several threads, input that is all there), a window's merge and output are left
// to the first thread done with the next step. Windows final before the input goes quiet must
// still go out while it is quiet, not wait for more input (a paused or slow source).
TEST(PipelineProperty, FinalWindowsGoOutWhileTheInputIsQuiet) {
  // Counts the windows emitted, and those flushed (written out, for a file or a pipe); read
  // by the source, on another thread.
  struct CountingSink final : query::ResultSink {
    void emit(const query::WindowResult&) override { windows.fetch_add(1); }
    void flush() override { flushed.store(windows.load()); }
    std::atomic<size_t> windows{0}, flushed{0};
  };
  // One block, then "nothing yet" until the sink has flushed `expect` windows (or 2,000
  // polls), then the end. Records what the sink had flushed when the quiet ended. With
  // `pause`, the engine is paused as the block is handed out.
  class QuietAfterOneBlock final : public ingest::BlockSource {
   public:
    QuietAfterOneBlock(std::string text, const CountingSink& sink, size_t expect,
                       engine::EngineControl* pause)
        : text_(std::make_shared<std::string>(std::move(text))),
          sink_(sink),
          expect_(expect),
          pause_(pause) {}
    Next next(ingest::Block& out, std::chrono::milliseconds) override {
      if (!given_) {
        given_ = true;
        out = ingest::Block{text_->data(), text_->size(), text_};
        if (pause_) pause_->pause();
        return Next::kBlock;
      }
      if (sink_.flushed.load() < expect_ && ++polls_ < 2000) return Next::kTimeout;
      if (seen_when_quiet_ == SIZE_MAX) seen_when_quiet_ = sink_.flushed.load();
      return Next::kEnd;
    }
    bool read_ahead_ok() const override { return true; }
    std::string describe() const override { return "quiet"; }
    size_t seen_when_quiet_ = SIZE_MAX;

   private:
    std::shared_ptr<std::string> text_;
    const CountingSink& sink_;
    size_t expect_;
    engine::EngineControl* pause_;
    bool given_ = false;
    int polls_ = 0;
  };
  // Seconds 0 to 5 (the last record at 5.9 s): with T = 1 and no lateness, the windows [0, 1)
  // to [4, 5) are final before the input ends, [5, 6) only at its end.
  std::string text;
  for (int ms = 0; ms < 6000; ms += 100)
    text += record_line(kBaseMs + ms, "HTTP", "10.0.0." + std::to_string(ms / 100 % 9 + 1),
                        "192.0.2.1", 100 + ms % 700) +
            "\n";
  Options o;
  o.params = Params{10, 1, 3, 1};
  o.lateness = 0;
  for (int threads : {1, 2, 4}) {
    for (bool pause : {false, true}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) + (pause ? " paused" : " quiet"));
      core::ProtocolTable protocols;
      CountingSink sink;
      query::SixQueries queries(protocols, sink);
      engine::EngineControl control(to_engine(o.params), 3600);
      engine::Pipeline pipeline(to_engine(o, threads), control, protocols, ingest::Format::kLine,
                                queries);
      QuietAfterOneBlock source(text, sink, 5, pause ? &control : nullptr);
      // Paused: resumes once the final windows are written out (or after 5 s), noting how many
      // were.
      size_t seen_when_paused = SIZE_MAX;
      std::thread resumer;
      if (pause)
        resumer = std::thread([&] {
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          while (!control.paused() ||
                 (sink.flushed.load() < 5 && std::chrono::steady_clock::now() < deadline))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          seen_when_paused = sink.flushed.load();
          control.resume();
        });
      const core::Status error = pipeline.run(source);
      if (resumer.joinable()) resumer.join();
      EXPECT_TRUE(error.ok()) << error.message();
      EXPECT_EQ(pause ? seen_when_paused : source.seen_when_quiet_, 5u)
          << "windows written out while the input was quiet or the engine paused";
      EXPECT_EQ(sink.windows.load(), 6u);
    }
  }
}

}  // namespace
}  // namespace netpulse::testref
