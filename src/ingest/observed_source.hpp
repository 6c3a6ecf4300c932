// A BlockSource that hands every block its inner source yields to an observer as well (the flow
// detectors' tap in `run` and `process --detect`); the block is shared, not copied, except that
// a file's block not read yet is read here, into a buffer of its own, since both read it. Same
// threading as the inner source.
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
    if (r == Next::kBlock && observer_) {
      load_owned(out);  // the observer reads the bytes too
      observer_(out);
    }
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
