// Where the generator's text goes. The generator hands over whole lines in large blocks; a sink
// never sees half a record. Sinks are called from the generating thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace netpulse::generate {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Called once before any record: the CSV header line (empty for the line format). A sink that
  // serves several consumers sends it to each when it connects.
  virtual bool begin(std::string_view header) = 0;
  // `size` bytes holding `records` whole lines. Returns false when the output failed;
  // error() then says why and the generator stops.
  virtual bool write(const char* data, size_t size, uint64_t records) = 0;
  // One line on why the output failed (empty while it has not).
  virtual std::string error() const { return {}; }
  // True when the failure is the reader going away (a closed pipe, `generate | head`), which
  // ends the run without an error.
  virtual bool reader_gone() const { return false; }
};

// Writes to a file descriptor (stdout, a file, a connected TCP socket) with blocking write()s:
// a slow reader slows the generator down (back-pressure), like any pipe. Does not own the fd.
class FdSink final : public RecordSink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  bool begin(std::string_view header) override;
  bool write(const char* data, size_t size, uint64_t records) override;
  std::string error() const override { return error_; }
  bool reader_gone() const override { return reader_gone_; }

 private:
  bool write_all(const char* data, size_t size);

  int fd_;
  std::string name_;
  std::string error_;
  bool reader_gone_ = false;
};

// Keeps everything in memory (tests, in-process consumers).
class StringSink final : public RecordSink {
 public:
  bool begin(std::string_view header) override {
    text.append(header);
    return true;
  }
  bool write(const char* data, size_t size, uint64_t n) override {
    text.append(data, size);
    records += n;
    return true;
  }
  std::string text;
  uint64_t records = 0;
};

}  // namespace netpulse::generate
