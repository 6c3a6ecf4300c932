#include "engine/pipeline.hpp"

#include <sched.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <thread>

namespace netpulse::engine {

using core::FlowRecord;
using ingest::BlockSource;
using ingest::ParseStatus;

namespace {

std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  if (s.size() > 60) out += "...";
  return out;
}

// Empties a buffer reused block after block (it still holds the last block's records) and
// makes room for `want`. A buffer grown past `usual` for an unusual block (a burst that piled up
// while the engine was held up, or one address sending most of a block to one shard) gives the
// memory back once its last block was within `usual` again, instead of keeping the largest
// block's room for good.
// Blocks end at the first line end past the block size, so `usual` and `want` move by a record
// from one block to the next: room is made with a slack above `want`, and only a buffer that
// grew past twice that slack above `usual` is released, so the jitter neither frees nor regrows
// it. Without the margin, two threads reallocated their shard buffers every other block: fresh
// pages, a fault for each (38,000 faults on the issue-12 file, a third of the system time).
template <class Buffer>
void fit(Buffer& buffer, size_t usual, size_t want) {
  const size_t slack = usual / 8;
  if (buffer.capacity() > usual + 2 * slack && buffer.size() <= usual) buffer.release();
  buffer.clear();
  // A small block's room is not padded to a usual block's slack.
  if (buffer.capacity() < want) buffer.reserve(want + std::min(slack, want));
}

// The CPUs this process may run on (its affinity mask: a container or `taskset` may allow fewer
// than the machine has).
size_t usable_cpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<size_t>(CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

Pipeline::Pipeline(const EngineConfig& config, EngineControl& control,
                   core::ProtocolTable& protocols, ingest::Format format, WindowQueries& queries)
    : config_(config),
      lateness_ms_(config.lateness * config.time_unit_ms),
      control_(control),
      protocols_(protocols),
      format_(format),
      queries_(queries),
      // (validate() refuses more than kMaxThreads; route_keys keeps a place per shard in an
      // array that size.)
      threads_(static_cast<size_t>(std::clamp(config.threads, 1, kMaxThreads))),
      planner_(config) {
  huge_pages::PageCache::instance().set_cap(page_cache_cap(config_));
  for (size_t i = 0; i < threads_; ++i) {
    parsers_.push_back(std::make_unique<ingest::FlowParser>(protocols_, format_));
    shards_.push_back(std::make_unique<WindowShard>(static_cast<uint32_t>(i),
                                                    static_cast<uint32_t>(threads_), config_));
  }
  size_rounds(threads_);
  read_buffers_.resize(threads_);
  parse_scratch_.resize(threads_);
  for (ParseScratch& scratch : parse_scratch_) {
    scratch.records.resize(kParseBatch);
    scratch.bad.resize(kParseBatch);
  }
  late_.resize(threads_);
  header_done_ = format_ != ingest::Format::kCsv;
}

Pipeline::~Pipeline() = default;

void Pipeline::size_rounds(size_t blocks) {
  for (Round& round : rounds_) {
    round.work.resize(blocks);
    if (threads_ > 1) {
      for (auto& w : round.work) w.to_shard.resize(threads_);
    }
    round.entering_max.resize(blocks);
    round.entering_has.resize(blocks);
  }
  blocks_.resize(blocks);
}

template <class F>
void Pipeline::for_each_record_buffer(F&& f) const {
  for (const Round& round : rounds_) {
    for (const BlockWork& work : round.work) {
      for (const ShardRecords& to : work.to_shard) {
        f(to.records);
        f(to.keys);
      }
    }
  }
}

size_t Pipeline::record_buffer_bytes() const {
  size_t bytes = 0;
  for_each_record_buffer([&](const auto& b) { bytes += b.capacity() * sizeof(*b.data()); });
  return bytes;
}

size_t Pipeline::record_buffer_largest() const {
  size_t largest = 0;
  for_each_record_buffer(
      [&](const auto& b) { largest = std::max(largest, b.capacity() * sizeof(*b.data())); });
  return largest;
}

size_t Pipeline::record_buffer_allocations() const {
  size_t n = 0;
  for_each_record_buffer([&](const auto& b) { n += b.allocations(); });
  return n;
}

void Pipeline::on_malformed(MalformedHandler handler, size_t limit) {
  malformed_handler_ = std::move(handler);
  malformed_limit_ = limit;
}

core::Status Pipeline::run(BlockSource& source) {
  source_ = &source;
  pipelined_ = threads_ > 1 && source.read_ahead_ok();
  route_keys_ = threads_ > 1 && config_.ip_key != IpKey::kHost && history_.empty();
  if (pipelined_) size_rounds(threads_ * kBlocksPerThread);
  auto completion = [this]() noexcept { complete_phase(); };
  SpinBarrier sync(threads_, usable_cpus(), completion);
  // Runs one step of a worker; a failure is recorded and ends the run at the next fetch.
  auto guarded = [&](auto&& step) {
    try {
      if (!failed_) step();
    } catch (const std::exception& e) {
      std::lock_guard lock(error_mu_);
      worker_error_ = e.what();
      failed_ = true;
    }
  };
  // The window left pending, if any, is finished by the first thread to look.
  auto take_pending = [&] {
    if (finish_pending_.load(std::memory_order_relaxed) && finish_pending_.exchange(false))
      guarded([&] { finish_window(pending_info_); });
  };
  // Each thread arrives at a barrier once its part of the step is done; the first to get there
  // finishes the pending window while the others still work.
  auto arrive = [&] {
    take_pending();
    sync.arrive_and_wait();
  };
  // Every thread goes through the same sequence of barriers, so no thread is left waiting. A
  // barrier's completion does the serial work for the step before it and the step after, so each
  // step costs one barrier: the fetch of the next round rides on the last barrier of this one,
  // and the statistics of window i + 1 on the barrier that emits window i (a shard selects
  // window i's candidates, then moves to window i + 1, in one step).
  auto body = [&](size_t w) {
    sync.arrive_and_wait();  // the first round fetched
    while (!done_) {
      // Pipelined: the shards take the previous round while this one is parsed; a thread
      // takes its blocks one at a time once its shard is done, and the first one there
      // finishes the last window, so that the others parse more blocks meanwhile.
      guarded([&] {
        if (consume_round_ >= 0) consume_round(static_cast<size_t>(consume_round_), w);
      });
      take_pending();
      guarded([&] {
        const size_t nblocks = rounds_[parse_round_].nblocks;
        for (size_t b; (b = next_block_.fetch_add(1, std::memory_order_relaxed)) < nblocks;)
          parse_block(b, w);
      });
      arrive();  // pipelined: windows planned (none: the next round fetched)
      if (!pipelined_) {
        // (One thread consumed its records while parsing them.)
        if (threads_ > 1) guarded([&] { consume_round(static_cast<size_t>(parse_round_), w); });
        arrive();  // windows planned (none: the next round fetched)
      }
      guarded([&] { shards_[w]->close_before(complete_below_); });
      const size_t n = windows_.size();
      if (n > 0) {
        guarded([&] { shards_[w]->move_window(windows_[0].lo, windows_[0].hi); });
        arrive();  // window 0's statistics merged, queries prepared
        for (size_t i = 0; i < n; ++i) {
          guarded([&] {
            queries_.select(w, *shards_[w]);
            if (i + 1 < n) shards_[w]->move_window(windows_[i + 1].lo, windows_[i + 1].hi);
          });
          // Window i finished (pipelined: left to the next step's first thread); window i + 1
          // prepared (after the last, the next round fetched).
          arrive();
        }
      }
      shards_[w]->evict_before(planner_.evict_bound());
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < threads_; ++w) pool.emplace_back(body, w);
  body(0);
  for (auto& t : pool) t.join();
  finish_pending_now();  // the run's last window
  queries_.flush();
  if (failed_ && error_.ok()) error_ = core::Status::internal("internal error: " + worker_error_);
  if (error_.ok() && !source.error().empty())
    error_ = core::Status::io_error(source.describe() + ": " + source.error());
  return error_;
}

// Several threads (one consumes each batch as it parses it: parse_block).
void Pipeline::consume_round(size_t r, size_t w) {
  const Round& round = rounds_[r];
  late_[w] = 0;
  for (size_t b = 0; b < round.nblocks; ++b) {
    const BlockWork& work = round.work[b];
    WindowShard::Input in;
    in.entering_max = round.entering_has[b] ? round.entering_max[b] : WindowShard::kNoTime;
    if (route_keys_) {
      const KeyStream& mine = work.to_shard[w].keys;
      in.routed = true;
      in.keys = mine.data();
      in.count = mine.size();
      in.key_base = mine.base();
    } else {
      const ShardRecords& mine = work.to_shard[w];
      in.routed = true;
      in.records = mine.records.data();
      in.count = mine.records.size();
      in.tags = mine.tags.empty() ? nullptr : mine.tags.data();
    }
    late_[w] += shards_[w]->consume(in);
  }
}

void Pipeline::complete_phase() noexcept {
  try {
    switch (phase_) {
      case Phase::kFetch:
        fetch();
        phase_ = Phase::kAfterParse;
        break;
      case Phase::kAfterParse: {
        const bool parsed = rounds_[parse_round_].nblocks > 0;
        if (pipelined_) {
          // Plan from the watermark of what the shards hold (the previous round), before this
          // round's times move it.
          const bool last = input_ended_ && !parsed;
          windows_.clear();
          if (consume_round_ >= 0 || last) after_consume(consume_round_, last);
          after_parse(parse_round_);
          // A parsed round waits for the next fetch to be consumed.
          consume_round_ = parsed ? static_cast<int>(parse_round_) : -1;
          if (parsed) parse_round_ ^= 1;
          after_planning();
        } else {
          after_parse(parse_round_);
          phase_ = Phase::kAfterConsume;
        }
        break;
      }
      case Phase::kAfterConsume:
        after_consume(static_cast<int>(parse_round_), input_ended_);
        after_planning();
        break;
      case Phase::kWindowStats:
        prepare_window();
        phase_ = Phase::kWindowFinish;
        break;
      case Phase::kWindowFinish:
        if (pipelined_) {
          pending_info_ = current_info_;
          finish_pending_.store(true, std::memory_order_relaxed);  // the barrier publishes it
        } else if (!failed_) {
          finish_window(current_info_);
        }
        ++window_index_;
        if (window_index_ < windows_.size()) {
          prepare_window();
        } else {
          next_round();
        }
        break;
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(error_mu_);
    worker_error_ = e.what();
    failed_ = true;
  }
}

// After planning: the windows' steps come next, or with none the next round.
void Pipeline::after_planning() {
  window_index_ = 0;
  if (windows_.empty()) {
    next_round();
  } else {
    phase_ = Phase::kWindowStats;
  }
}

// Fetches the next round. The phase moves first, so a fetch that throws is not followed by a
// second run of the step before it (counting its records twice).
void Pipeline::next_round() {
  phase_ = Phase::kAfterParse;
  fetch();
}

void Pipeline::prepare_window() {
  current_info_ = window_info(windows_[window_index_]);
  current_info_.slot = window_serial_++ & 1;
  if (!failed_) queries_.prepare(current_info_);
}

void Pipeline::finish_window(const WindowInfo& info) {
  queries_.finish(info);
  counters_.windows.fetch_add(1, std::memory_order_relaxed);
}

void Pipeline::finish_pending_now() {
  if (!finish_pending_.exchange(false) || failed_) return;
  try {
    finish_window(pending_info_);
    queries_.flush();  // fetch() flushed before this window went out
  } catch (const std::exception& e) {
    std::lock_guard lock(error_mu_);
    worker_error_ = e.what();
    failed_ = true;
  }
}

void Pipeline::fetch() {
  queries_.flush();
  if (threads_ == 1) late_[0] = 0;  // parse_block counts the round's late records here
  size_t& nblocks = rounds_[parse_round_].nblocks;
  nblocks = 0;
  next_block_.store(0, std::memory_order_relaxed);  // the barrier publishes it
  if (failed_ || flushed_ || !error_.ok()) {
    done_ = true;
    return;
  }
  // Wait for the first block (or the end); then take what is ready, up to a round's blocks,
  // without waiting. A shutdown closes the source, which stops reading new input but
  // still hands out what it has read (queued blocks, a partial last line): those records were
  // read before the signal, so they are processed and counted, and the input ends after them.
  // Paused or not: the source holds a bounded amount, so a paused engine still ends promptly.
  while (!input_ended_) {
    if (!source_closed_ && control_.shutdown_requested()) {
      source_->close();
      source_closed_ = true;
    }
    // A parsed round waiting for the shards (pipelined) is let through rather than held while
    // the input is quiet or paused: its windows should not wait for more input.
    const bool pending = consume_round_ >= 0;
    if (!source_closed_ && control_.paused()) {
      if (pending) break;
      finish_pending_now();  // a window's results do not wait for the engine to resume
      control_.wait_while_paused(std::chrono::milliseconds(200));
      continue;
    }
    if (!pending) finish_pending_now();  // nor for input
    ingest::Block b;
    const auto r = source_->next(b, std::chrono::milliseconds(pending ? 10 : 200));
    if (r == BlockSource::Next::kBlock) {
      blocks_[nblocks++] = std::move(b);
      break;
    }
    if (r == BlockSource::Next::kEnd) input_ended_ = true;
    if (r == BlockSource::Next::kTimeout && pending) break;
  }
  while (nblocks < blocks_.size() && !input_ended_) {
    ingest::Block b;
    const auto r = source_->next(b, std::chrono::milliseconds(0));
    if (r == BlockSource::Next::kBlock) {
      blocks_[nblocks++] = std::move(b);
    } else {
      if (r == BlockSource::Next::kEnd) input_ended_ = true;
      break;
    }
  }
  if (!header_done_ && !read_csv_header(nblocks)) {
    done_ = true;
    return;
  }
}

// The first non-blank line of a CSV stream is its header; it is cut from the blocks here so
// the parallel parsers see only records.
bool Pipeline::read_csv_header(size_t nblocks) {
  for (size_t i = 0; i < nblocks && !header_done_; ++i) {
    ingest::Block& b = blocks_[i];
    ingest::load_owned(b);
    while (b.size > 0) {
      const char* nl = static_cast<const char*>(std::memchr(b.data, '\n', b.size));
      const size_t len = nl ? static_cast<size_t>(nl - b.data) : b.size;
      std::string_view line(b.data, len);
      b.data += nl ? len + 1 : len;
      b.size -= nl ? len + 1 : len;
      ++line_base_;
      counters_.lines.fetch_add(1, std::memory_order_relaxed);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      if (core::Status s = parsers_[0]->read_header(line); !s.ok()) {
        error_ = std::move(s).with_prefix(source_->describe() + ": ");
        return false;
      }
      for (size_t p = 1; p < threads_; ++p) parsers_[p]->copy_header_from(*parsers_[0]);
      header_done_ = true;
      break;
    }
  }
  if (!header_done_ && input_ended_ && nblocks == 0) {
    // An empty CSV input: no header, no records; nothing to do.
    header_done_ = true;
  }
  return true;
}

// A block slot left empty in a round keeps its work as it was (every reader walks only the
// round's first nblocks), and its buffers the last block's records, for fit().
void Pipeline::parse_block(size_t b, size_t w) {
  BlockWork& work = rounds_[parse_round_].work[b];
  for (auto& to : work.to_shard) to.tags.clear();
  work.parsed = 0;
  work.late = 0;
  work.samples.clear();
  work.lines = 0;
  work.malformed = 0;
  work.has_max = false;
  work.has_key_base = false;
  ingest::Block& block = blocks_[b];
  ingest::load(block, read_buffers_[w]);
  work.bytes = block.size;
  ingest::FlowParser& parser = *parsers_[w];
  // A record per ~40 bytes at most for valid lines. The buffers are reused block after block,
  // with room for twice a buffer's share of a usual block; see fit().
  const size_t most = block.size / 40 + 1;
  const size_t usual = std::max(block.size, ingest::kBlockSize) / 40 * 2 / threads_;
  if (route_keys_) {
    for (auto& to : work.to_shard) fit(to.keys, usual, std::min(most, usual));
  } else {
    for (auto& to : work.to_shard) fit(to.records, usual, std::min(most, usual));
  }
  const char* end = block.data + block.size;
  core::TimeMs max_time = std::numeric_limits<core::TimeMs>::min();
  ingest::prefault(block);
  // The parser takes the lines a batch at a time (a call per line cost 30 instructions a line),
  // finding their ends as it goes (it may load past a line's end up to the block's end),
  // into the thread's batch of records, written in place (a record parsed into a local, then
  // copied 16 bytes at a time, stalled every copy on loads the CPU could not forward from the
  // smaller stores before them). Several threads route the batch to the shards; one thread
  // adds it to its shard right away, while it is in L1: through a buffer of the whole block's
  // records (1 MiB blocks), the records and the pane tables did not fit the core's 2 MiB cache
  // together (cachegrind, 2 MiB last level: 4.1 misses a record, 1.8 this way).
  // What the loop reads is held in locals: the stores through the records and the buffers may
  // alias the pipeline's members, so the compiler reloaded them for every line.
  ParseScratch& scratch = parse_scratch_[w];
  const bool several = threads_ > 1;
  const core::TimeMs lateness = lateness_ms_;
  // Several threads: a record below this is late against those before it in the block.
  core::TimeMs late_below = WindowShard::kNoTime;
  uint64_t parsed = 0;
  // One thread: the greatest time of the blocks before this one (after_parse has seen them).
  const core::TimeMs entering = has_max_ ? max_time_ : WindowShard::kNoTime;
  const char* from = block.data;  // where the next batch's first line starts
  uint64_t lines = 0;
  // Routing key records: the loop for this configuration, picked once a block.
  using RouteKeys =
      void (Pipeline::*)(BlockWork&, const FlowRecord*, size_t, core::TimeMs&, core::TimeMs&);
  RouteKeys route_batch = nullptr;
  if (route_keys_) {
    const bool dst = config_.ip_key == IpKey::kDst, two = threads_ == 2;
    route_batch = dst ? two ? &Pipeline::route_keys<true, true> : &Pipeline::route_keys<true, false>
                  : two ? &Pipeline::route_keys<false, true>
                        : &Pipeline::route_keys<false, false>;
  }
  while (from != end) {
    FlowRecord* out = scratch.records.data();
    const auto got = parser.parse_lines(from, end, lines, kParseBatch, out, scratch.bad.data());
    from = got.next;
    lines += got.lines;
    parsed += got.records;
    if (route_batch) {
      (this->*route_batch)(work, out, got.records, max_time, late_below);
    } else if (several) {
      for (size_t i = 0; i < got.records; ++i) {
        const FlowRecord& rec = out[i];
        route(work, rec, late_below);
        if (rec.time > max_time) {
          max_time = rec.time;
          late_below = max_time - lateness;
        }
      }
    } else {
      WindowShard::Input in;  // lateness against every record before the batch, as in a round
      in.entering_max = std::max(entering, max_time);
      in.records = out;
      in.count = got.records;
      late_[0] += shards_[0]->consume(in);
      for (size_t i = 0; i < got.records; ++i) max_time = std::max(max_time, out[i].time);
    }
    for (size_t i = 0; i < got.bad; ++i) {
      const ingest::FlowParser::BadLine& bad = scratch.bad[i];
      ++work.malformed;
      if (work.samples.size() >= malformed_limit_) continue;
      // The line once more, for the field at fault.
      ingest::ParseError err;
      FlowRecord ignored;
      parser.parse(bad.begin, bad.end, end, ignored, &err);
      work.samples.push_back(MalformedReport{bad.line, bad.status, printable(err.field)});
    }
  }
  work.parsed = parsed;
  if (several) RecordBuffer::finish();
  // The bytes are parsed: let them go here, in parallel, rather than when the next fetch
  // replaces the block on one thread while the others wait (a mapped file's pages are released
  // 32 MiB at a time, a madvise of milliseconds; a stream's buffer returns to its pool).
  blocks_[b] = ingest::Block{};
  work.lines = lines;
  work.has_max = work.parsed > 0;
  work.max_time = max_time;
}

// route() for a parse batch when the shards take key records (route_keys_): a loop of its own,
// with what it reads held in locals and each stream's room made once for the batch. In route(),
// inlined into the parse loop, GCC reloaded the configuration and spilled the time check to the
// stack for every record (70 instructions a record, two threads, the issue-12 file). Each
// stream's place is kept in a local array (through the stream, its buffer, size and base were
// loaded and its size stored for every record: 43 instructions a record, now 35), and the
// block's streams share one base, so that a record's offset is taken once, before its shard is
// known.
template <bool kByDst, bool kTwoShards>
void Pipeline::route_keys(BlockWork& work, const FlowRecord* records, size_t n,
                          core::TimeMs& max_time, core::TimeMs& late_below) {
  if (n == 0) return;
  ShardRecords* const to = work.to_shard.data();
  const auto shards = static_cast<uint32_t>(threads_);
  if (!work.has_key_base) {
    // The first record that is not late (a late one may be far off, and every record further
    // than 2^31 ms from the base takes three units).
    size_t first = 0;
    while (first + 1 < n && records[first].time < late_below) ++first;
    work.key_base = records[first].time;
    work.has_key_base = true;
  }
  const core::TimeMs base = work.key_base;
  // Where each shard's next unit goes. (In an array the compiler keeps on the stack: picking
  // one of two registers, GCC branched on the shard, a coin toss mispredicted every other record;
  // in registers without a branch it took 12 instructions more.)
  std::array<PackedKey*, kMaxThreads> at;
  for (uint32_t s = 0; s < shards; ++s) {
    to[s].keys.prepare(n, base);
    at[s] = to[s].keys.end();
  }
  const core::TimeMs lateness = lateness_ms_;
  core::TimeMs most = max_time, below = late_below;
  uint64_t late = 0;
  for (size_t i = 0; i < n; ++i) {
    const FlowRecord& rec = records[i];
    const core::TimeMs t = rec.time;
    if (t < below) {
      ++late;
      continue;
    }
    if (t > most) {
      most = t;
      below = t - lateness;
    }
    const core::IpAddr& key = kByDst ? rec.dst : rec.src;
    const int64_t dt = KeyStream::offset(t, base);
    if (key.is_v6 || !KeyStream::packs(dt)) [[unlikely]] {
      const uint32_t s = shard_of(key, shards);
      at[s] = KeyStream::put_escaped(at[s], t, rec.protocol, rec.bytes, key);
      continue;
    }
    const uint32_t v4 = key.v4_value();
    // (Two shards: shard_of(h, 2) is h's top bit.)
    const uint64_t h = shard_hash(v4);
    const auto s = static_cast<uint32_t>(kTwoShards ? h >> 63 : shard_of(h, shards));
    at[s] = KeyStream::put4(at[s], dt, rec.protocol, rec.bytes, v4);
  }
  for (uint32_t s = 0; s < shards; ++s) to[s].keys.end_at(at[s]);
  work.late += late;
  max_time = most;
  late_below = below;
}

// Copies the whole record (--ip-key host, or history kept; route_keys() routes the others) to the
// shard that owns its address, and, with --ip-key host, to the shard of its dst as well, unless
// it is late against the records before it in the block (its time is below late_below: their
// greatest time less the lateness); the shards drop those late against earlier blocks. Hashing
// here, on the parsing thread, means each key is hashed once however many shards there are; and
// each shard then reads only its own records, in order, instead of picking them out of all the
// block's.
[[gnu::always_inline]] inline void Pipeline::route(BlockWork& work, const FlowRecord& rec,
                                                   core::TimeMs late_below) {
  if (rec.time < late_below) {
    ++work.late;
    return;
  }
  const auto shards = static_cast<uint32_t>(threads_);
  const core::IpAddr& first = config_.ip_key == IpKey::kDst ? rec.dst : rec.src;
  const uint32_t home = shard_of(first, shards);
  ShardRecords& to_home = work.to_shard[home];
  to_home.records.push_streamed(rec);
  if (config_.ip_key != IpKey::kHost) return;
  const uint32_t other = shard_of(rec.dst, shards);
  if (other == home) {
    to_home.tags.push_back(WindowShard::kPrimary | WindowShard::kAlso);
  } else {
    to_home.tags.push_back(WindowShard::kPrimary);
    ShardRecords& to_other = work.to_shard[other];
    to_other.records.push_streamed(rec);
    to_other.tags.push_back(WindowShard::kSecondary);
  }
}

void Pipeline::after_parse(size_t r) {
  Round& round = rounds_[r];
  uint64_t read = 0, malformed = 0, lines = 0, bytes = 0;
  for (size_t b = 0; b < round.nblocks; ++b) {
    BlockWork& work = round.work[b];
    round.entering_max[b] = max_time_;
    round.entering_has[b] = has_max_;
    if (work.has_max && (!has_max_ || work.max_time > max_time_)) {
      max_time_ = work.max_time;
      has_max_ = true;
    }
    for (auto& sample : work.samples) {
      if (malformed_reported_ >= malformed_limit_) break;
      ++malformed_reported_;
      sample.line += line_base_ + 1;
      if (malformed_handler_) malformed_handler_(sample);
    }
    line_base_ += work.lines;
    lines += work.lines;
    read += work.parsed;
    malformed += work.malformed;
    bytes += work.bytes;
  }
  counters_.lines.fetch_add(lines, std::memory_order_relaxed);
  counters_.records_read.fetch_add(read + malformed, std::memory_order_relaxed);
  counters_.malformed.fetch_add(malformed, std::memory_order_relaxed);
  counters_.input_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void Pipeline::after_consume(int r, bool last) {
  if (r >= 0) {
    // Each shard counts the late records it holds as primary (one shard per record); with one
    // shard, all of them. With several, the parsers counted those late within their blocks.
    uint64_t late = 0;
    for (size_t w = 0; w < threads_; ++w) late += late_[w];
    uint64_t parsed = 0;
    const Round& round = rounds_[static_cast<size_t>(r)];
    for (size_t b = 0; b < round.nblocks; ++b) {
      parsed += round.work[b].parsed;
      late += round.work[b].late;
    }
    counters_.late.fetch_add(late, std::memory_order_relaxed);
    counters_.accepted.fetch_add(parsed - late, std::memory_order_relaxed);
  }

  pane_scratch_.clear();
  for (auto& shard : shards_) shard->take_pane_counts(pane_scratch_);
  for (const auto& [index, n] : pane_scratch_) planner_.add(index, n);

  if (has_max_) counters_.watermark_ms.store(max_time_ - lateness_ms_, std::memory_order_relaxed);
  windows_.clear();
  if (has_max_) complete_below_ = core::floor_div(max_time_ - lateness_ms_, config_.time_unit_ms);
  if (last) {
    planner_.plan(std::nullopt, control_.params(), windows_);
  } else if (has_max_) {
    planner_.plan(complete_below_, control_.params(), windows_);
  }
  if (last) flushed_ = true;
  if (!history_.empty()) emit_history(last);

  size_t panes = 0, state = 0;
  for (auto& shard : shards_) {
    panes = std::max(panes, shard->pane_count());
    state += shard->memory_bytes();
  }
  counters_.panes.store(panes, std::memory_order_relaxed);
  counters_.state_bytes.store(state, std::memory_order_relaxed);
}

void Pipeline::on_history(HistoryHandler handler, HistoryChunkPool* pool, size_t sample) {
  history_handler_ = std::move(handler);
  history_.clear();
  for (size_t w = 0; w < threads_; ++w) {
    // Each shard samples its share (a shard's records are a share of the minute's).
    const size_t share = sample == 0 ? 0 : std::max<size_t>(1, sample / threads_);
    history_.push_back(std::make_unique<HistoryLog>(pool, share));
    shards_[w]->set_history(history_.back().get());
  }
}

void Pipeline::emit_history(bool last) {
  // A minute is final once the watermark reaches its end: every record of it still to come is
  // late (time < greatest time - lateness), and late records never reach the logs.
  core::TimeMs bound = std::numeric_limits<core::TimeMs>::max();
  if (!last) {
    if (!has_max_) return;
    bound = max_time_ - lateness_ms_;
  }
  HistoryBatch batch;
  for (auto& h : history_) h->take(bound, batch.chunks);
  // Only a bound that completes another minute is news.
  const core::TimeMs minute_bound =
      last ? bound : core::floor_div(bound, kHistoryMinuteMs) * kHistoryMinuteMs;
  if (batch.chunks.empty() && minute_bound <= history_bound_) return;
  history_bound_ = std::max(history_bound_, minute_bound);
  batch.complete_below = history_bound_;
  if (history_handler_) history_handler_(std::move(batch));
}

WindowInfo Pipeline::window_info(const PlannedWindow& pw) {
  WindowInfo info;
  info.start = pw.lo * config_.time_unit_ms;
  info.end = pw.hi * config_.time_unit_ms;
  info.params = pw.params;
  info.shards = threads_;
  // Addresses belong to one shard each, so their statistics add up. A protocol's bytes are
  // spread over the shards (records go to the shard of their address): sum them per protocol,
  // then take the statistics (there are few protocols). The table is emptied, not freed: it is
  // refilled with the same few protocols at every window.
  protocol_scratch_.drain([](const auto&) {});
  for (const auto& shard : shards_) {
    const WindowAggregate& w = shard->window();
    info.records += w.records;
    info.ip += w.ip;
    w.keys.protocols.for_each([&](const auto& e) { protocol_scratch_.add(e.key, e.bytes, e.records); });
  }
  protocol_scratch_.for_each([&](const auto& e) { info.protocol.on_add(Agg{}, e.bytes); });
  WindowApprox approx;
  for (const auto& shard : shards_) shard->add_approx(approx);
  approx.apply(info);
  if (approx.any) counters_.approximate_windows.fetch_add(1, std::memory_order_relaxed);
  return info;
}

}  // namespace netpulse::engine
