// A BlockSource that hands every block its inner source yields to an observer as well (the flow
// detectors' tap in `run` and `process --detect`); the block is shared, not copied. A file's
// block not read yet (SourceOptions::deferred_reads) reaches the observer unread as well: an
// observer that reads the bytes loads them itself (ingest::load), on its own thread, rather
// than on the engine's serial step here. Same threading as the inner source.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ingest/block_source.hpp"

namespace netpulse::ingest {

class ObservedSource final : public BlockSource {
 public:
  ObservedSource(std::unique_ptr<BlockSource> inner, std::function<void(const Block&)> observer)
      : inner_(std::move(inner)), observer_(std::move(observer)) {}
  Next next(Block& out, std::chrono::milliseconds timeout) override {
    const Next r = inner_->next(out, timeout);
    if (r == Next::kBlock && observer_) observer_(out);
    return r;
  }
  void close() override { inner_->close(); }
  std::string error() const override { return inner_->error(); }
  std::string describe() const override { return inner_->describe(); }
  bool read_ahead_ok() const override { return inner_->read_ahead_ok(); }

 private:
  std::unique_ptr<BlockSource> inner_;
  std::function<void(const Block&)> observer_;
};

}  // namespace netpulse::ingest
