// The stream engine: reads blocks of lines, parses them on N threads, decides lateness in input
// order, adds accepted records to the panes of the shard that owns each key, and, as the
// watermark passes window ends, has the queries evaluate each final window.
//
// It works in rounds. Each round: (1) one thread fetches up to N blocks; (2) the threads parse
// them, a block at a time, each dropping the records late against those before them in the
// block and copying the others to the shard that owns their key; (3) one thread computes, per
// block, the greatest event time of everything before it; (4) each thread takes its shard's
// records of every block of the round, drops those late against that running maximum (so
// lateness is exactly what a single thread reading in order decides), and aggregates them; (5)
// one thread advances the watermark and lists the final windows; (6) per window, shards move
// their aggregates, the queries select per shard, and one thread merges and emits. Output is
// therefore byte-identical for any thread count. Reading ahead (a file), a round holds 4N
// blocks and (4) of one round runs beside (2) of the next. One thread does (4) within (2): it
// adds each batch of lines to its shard as soon as they are parsed.
// The serial steps run in the completion of the barrier between parallel steps, one barrier
// per step.
//
// Thread-safety: run() is called once, from one thread; counters() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/flow_record.hpp"
#include "core/protocol_table.hpp"
#include "engine/history_accumulator.hpp"
#include "engine/params.hpp"
#include "engine/record_buffer.hpp"
#include "engine/spin_barrier.hpp"
#include "engine/window_planner.hpp"
#include "engine/window_queries.hpp"
#include "engine/window_shard.hpp"
#include "ingest/block_source.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::engine {

// Live counters, for the summary, /api/status and /metrics.
struct Counters {
  std::atomic<uint64_t> lines{0};
  std::atomic<uint64_t> records_read{0};  // record lines: accepted + late + malformed
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> late{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> windows{0};
  std::atomic<uint64_t> input_bytes{0};
  std::atomic<int64_t> watermark_ms{std::numeric_limits<int64_t>::min()};
  std::atomic<uint64_t> panes{0};
  std::atomic<uint64_t> state_bytes{0};
  std::atomic<uint64_t> approximate_windows{0};  // with a summarized address dimension
};

struct MalformedReport {
  uint64_t line = 0;  // 1-based line number in the input
  ingest::ParseStatus status = ingest::ParseStatus::kOk;
  std::string field;  // the offending text, cut to 60 bytes, control bytes escaped
};

class Pipeline {
 public:
  using MalformedHandler = std::function<void(const MalformedReport&)>;

  // Pipelined, a round holds this many blocks per thread, and the threads take them one at a
  // time once their shard has consumed the previous round: a thread that is behind (a shard
  // with more to consume, a virtual CPU the host held up) parses fewer blocks, instead of
  // keeping the others waiting at the barrier. (Otherwise a round is a block per thread.)
  static constexpr size_t kBlocksPerThread = 4;

  Pipeline(const EngineConfig& config, EngineControl& control, core::ProtocolTable& protocols,
           ingest::Format format, WindowQueries& queries);
  ~Pipeline();

  // Called for the first `limit` malformed lines (all are counted).
  void on_malformed(MalformedHandler handler, size_t limit = 10);

  // Traffic history (engine/history_accumulator.hpp): the records the engine accepts, logged
  // per minute by the shards, go to `handler` in batches from the engine's serial step (so the
  // handler only queues them: a HistoryAggregator elsewhere sums them); each batch also says
  // below which time every record has been logged. Call before run().
  // `pool` (optional, outliving the pipeline) recycles the chunks' buffers once summed.
  // `sample`: about the records a minute keeps, a threshold sample (see HistoryLog), shared
  // between the shards; 0 logs them all.
  using HistoryHandler = std::function<void(HistoryBatch)>;
  void on_history(HistoryHandler handler, HistoryChunkPool* pool = nullptr, size_t sample = 0);

  // Runs until the input ends (or shutdown is requested: the source is closed and what it has
  // already read is still processed), then emits every pending window.
  // Returns ok, or a one-line error when the input cannot be processed at all: a bad CSV
  // header (an invalid argument), the source's read error (an I/O error), an exception on a
  // worker thread (internal).
  core::Status run(ingest::BlockSource& source);

  const Counters& counters() const { return counters_; }

  // Bytes reserved by the buffers of parsed records (every round and block, and with several
  // threads every shard's). For tests; read it when run() has returned.
  size_t record_buffer_bytes() const;
  // The largest of them, in bytes (for tests).
  size_t record_buffer_largest() const;
  // How many times those buffers were allocated, in all (for tests).
  size_t record_buffer_allocations() const;

 private:
  // The step whose barrier comes next. kFetch: only the first (every later fetch is done at the
  // last barrier of a round).
  enum class Phase { kFetch, kAfterParse, kAfterConsume, kWindowStats, kWindowFinish };

  // What parsing one block produced.
  // A shard's records from one block (Pipeline::route), on cache lines of their own (see
  // BlockWork).
  struct alignas(64) ShardRecords {
    RecordBuffer records;       // whole records (--ip-key host, or history kept)
    KeyStream keys;             // otherwise: only what the shard reads (see KeyStream)
    std::vector<uint8_t> tags;  // --ip-key host: WindowShard's route tag per record
  };
  // Each thread appends to its own BlockWork for every record; the alignment keeps two
  // threads' vectors off a shared cache line, which bounced between the cores on every record.
  struct alignas(64) BlockWork {
    std::vector<ShardRecords> to_shard;  // several threads: per shard
    uint64_t parsed = 0;                 // records parsed (late ones included)
    uint64_t late = 0;                   // several threads: late within the block (route)
    uint64_t lines = 0;
    uint64_t malformed = 0;
    std::vector<MalformedReport> samples;  // line is the block-relative index here
    bool has_max = false;
    core::TimeMs max_time = 0;
    uint64_t bytes = 0;
    // route_keys: the base time of every shard's KeyStream of this block.
    bool has_key_base = false;
    core::TimeMs key_base = 0;
  };

  // One round of input: up to blocks_.size() blocks, parsed in parallel.
  struct Round {
    std::vector<BlockWork> work;  // per block
    size_t nblocks = 0;
    std::vector<core::TimeMs> entering_max;  // per block: greatest time in all earlier blocks
    std::vector<uint8_t> entering_has;
  };

  void complete_phase() noexcept;
  void fetch();
  void after_planning();
  void next_round();
  void prepare_window();
  // Calls f(buffer) for every record buffer, of either kind (for the tests' accessors).
  template <class F>
  void for_each_record_buffer(F&& f) const;
  void after_parse(size_t r);
  // Counts round r's late and accepted records (r < 0: none) and plans the windows that are now
  // final; `last`: the input has ended and every round is consumed, so all windows are.
  void after_consume(int r, bool last);
  // Parses block b of the round on thread w.
  void parse_block(size_t b, size_t w);
  void size_rounds(size_t blocks);
  void consume_round(size_t r, size_t w);
  bool read_csv_header(size_t nblocks);
  WindowInfo window_info(const PlannedWindow& pw);
  void route(BlockWork& work, const core::FlowRecord& rec, core::TimeMs late_below);
  template <bool kByDst, bool kTwoShards>
  void route_keys(BlockWork& work, const core::FlowRecord* records, size_t n,
                  core::TimeMs& max_time, core::TimeMs& late_below);

  EngineConfig config_;
  core::TimeMs lateness_ms_;
  EngineControl& control_;
  core::ProtocolTable& protocols_;
  ingest::Format format_;
  WindowQueries& queries_;
  size_t threads_;

  std::vector<std::unique_ptr<ingest::FlowParser>> parsers_;
  std::vector<std::unique_ptr<WindowShard>> shards_;
  // With several threads and an input that is all there already (BlockSource::read_ahead_ok),
  // the rounds are pipelined: while round n + 1 is parsed, the shards consume round n, so the
  // parse and the shard work overlap across threads and neither waits for the slower half of
  // the other. One thread consumes each batch of lines as it parses it (the records are still
  // in L1); several threads reading a stream consume each round right after parsing it, as its
  // windows must go out before more input is awaited.
  bool pipelined_ = false;
  // Several threads route KeyRecords, not whole records, when the shards need no more.
  bool route_keys_ = false;
  Round rounds_[2];
  size_t parse_round_ = 0;   // the round fetched and parsed in this iteration
  int consume_round_ = -1;   // pipelined: the round the shards consume in this iteration
  std::vector<ingest::Block> blocks_;  // a round's: threads_, or pipelined x kBlocksPerThread
  std::atomic<size_t> next_block_{0};
  // Each thread's buffer for the bytes of a block it reads itself (a deferred file block).
  std::vector<std::vector<char>> read_buffers_;
  // Each thread's batch of parsed lines (parse_block): the records (several threads route them
  // from here; one thread adds them to its shard from here) and the lines that were not records.
  static constexpr size_t kParseBatch = 256;
  struct ParseScratch {
    std::vector<core::FlowRecord> records;
    std::vector<ingest::FlowParser::BadLine> bad;
  };
  std::vector<ParseScratch> parse_scratch_;
  std::vector<uint64_t> late_;

  ingest::BlockSource* source_ = nullptr;
  Phase phase_ = Phase::kFetch;
  bool done_ = false;
  bool input_ended_ = false;
  bool source_closed_ = false;  // on a shutdown: what the source has read is still taken
  bool flushed_ = false;
  bool header_done_ = false;
  core::Status error_;
  std::atomic<bool> failed_{false};
  std::string worker_error_;
  std::mutex error_mu_;

  uint64_t line_base_ = 0;
  bool has_max_ = false;
  core::TimeMs max_time_ = 0;
  // Panes below this receive no more records (from the watermark); they are compacted.
  int64_t complete_below_ = std::numeric_limits<int64_t>::min();
  WindowPlanner planner_;  // accepted records per held pane, all shards
  std::vector<std::pair<int64_t, uint64_t>> pane_scratch_;
  std::vector<PlannedWindow> windows_;
  size_t window_index_ = 0;
  WindowInfo current_info_;
  size_t window_serial_ = 0;  // windows prepared in the run; its parity is the window's slot
  // Pipelined, a window's finish (merging the shards' selections, formatting and writing the
  // results: serial work, about 3% of a two-thread run) is not done at the barrier while every
  // thread waits: the first thread done with the next step takes it (run()), filling the time
  // it would have spent waiting for the others. One window at most is pending; the next step's
  // barrier is not passed before it is finished, so windows go out in order.
  std::atomic<bool> finish_pending_{false};
  WindowInfo pending_info_;
  void finish_window(const WindowInfo& info);
  // Finishes the pending window here and now (before the run waits for input, and at its end);
  // a failure there ends the run as a worker's does.
  void finish_pending_now();
  AggMap<uint32_t> protocol_scratch_;

  // Finished minutes go out when the watermark passes their end (after_consume).
  void emit_history(bool last);

  std::vector<std::unique_ptr<HistoryLog>> history_;  // per shard; empty: no history
  HistoryHandler history_handler_;
  core::TimeMs history_bound_ = std::numeric_limits<core::TimeMs>::min();  // last sent

  MalformedHandler malformed_handler_;
  size_t malformed_limit_ = 10;
  size_t malformed_reported_ = 0;

  Counters counters_;
};

}  // namespace netpulse::engine
