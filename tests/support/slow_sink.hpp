// A RecordSink that takes `delay` over every write: a consumer slower than the producer (an
// engine scoring models, a slow disk), for the tests of a collector's or capture's stop. It
// counts the records written; written from the producer's thread only, read once it has ended.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <thread>

#include "generate/record_sink.hpp"

namespace netpulse::testing {

class SlowSink final : public generate::RecordSink {
 public:
  explicit SlowSink(std::chrono::milliseconds delay) : delay_(delay) {}
  bool begin(std::string_view) override { return true; }
  bool write(const char*, size_t, uint64_t records) override {
    std::this_thread::sleep_for(delay_);
    records_ += records;
    return true;
  }
  uint64_t records() const { return records_; }

 private:
  std::chrono::milliseconds delay_;
  uint64_t records_ = 0;
};

}  // namespace netpulse::testing
