// Connects the generator to the engine inside one process (`netpulse run`): the generator writes
// whole lines into it as a RecordSink, the engine reads them as a BlockSource. Text written
// since the engine's last next() is handed over as one block, so the generator's many small
// paced writes become few rounds of the engine. Bounded: write() waits while `capacity` bytes
// are pending (the engine is paused or slow), so memory stays flat. write() is called from the
// generator's thread, next() from the engine's; close() from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "generate/record_sink.hpp"
#include "ingest/block_source.hpp"

namespace netpulse::app {

class GeneratorFeed final : public generate::RecordSink, public ingest::BlockSource {
 public:
  explicit GeneratorFeed(size_t capacity = 8 << 20) : capacity_(capacity) {}

  // RecordSink (the generator's side).
  bool begin(std::string_view header) override;
  bool write(const char* data, size_t size, uint64_t records) override;
  // RecordSink::error() and BlockSource::error(): always empty (closing is a normal end).
  std::string error() const override;
  // True once closed: the generator then ends its run quietly.
  bool reader_gone() const override;

  // BlockSource (the engine's side).
  Next next(ingest::Block& out, std::chrono::milliseconds timeout) override;
  // Ends the stream: the engine gets what is pending, then kEnd; a waiting writer returns false.
  void close() override;
  std::string describe() const override { return "generator"; }

  // Called (on the engine's thread) with every block next() hands out: the flow detector's tap.
  // Set before the engine starts.
  void set_observer(std::function<void(const ingest::Block&)> observer) {
    observer_ = std::move(observer);
  }

  uint64_t records_written() const;
  // Bytes reserved for the text pending for the next block.
  size_t room() const;

 private:
  static constexpr size_t kMinRoom = 64 << 10;
  size_t capacity_;
  std::function<void(const ingest::Block&)> observer_;
  mutable std::mutex mu_;
  std::condition_variable readable_, writable_;
  std::string pending_;
  bool closed_ = false;
  uint64_t records_ = 0;
};

}  // namespace netpulse::app
