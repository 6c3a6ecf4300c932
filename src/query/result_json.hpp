// The JSON-lines form of results (spec section 4), and a sink that writes it to a file
// descriptor with one write per round of input. JsonLinesSink is not thread-safe.
#pragma once

#include <string>

#include "query/result.hpp"

namespace netpulse::query {

// Appends one JSON object (no newline) for query q of the window.
void append_json(const WindowResult& r, QueryKind q, std::string& out);
// Appends a JSON number: integers as integers, others in the shortest form that reads back
// the same double.
void append_number(double v, std::string& out);

class JsonLinesSink final : public ResultSink {
 public:
  // Writes to fd (not closed here). Results are buffered and written on flush() or when the
  // buffer passes 1 MiB.
  explicit JsonLinesSink(int fd) : fd_(fd) {}
  ~JsonLinesSink() override { flush(); }
  void emit(const WindowResult& r) override;
  void flush() override;
  // False once a write failed (disk full, closed pipe); the reason is in error().
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  int fd_;
  std::string buffer_;
  std::string error_;
};

}  // namespace netpulse::query
