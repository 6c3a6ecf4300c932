// Status and Result<T>: how a function that can fail says so and why (style.md, "one error
// vocabulary"; after LevelDB's include/leveldb/status.h and Arrow's cpp/src/arrow/result.h).
//
// A Status is ok, or carries a Code and a one-line message written for the user who will read
// it ("T must be a whole number of time units from 1 to max-window (3600)"); callers add
// context in front with with_prefix(). Result<T> holds a T or a failed Status. Both are values:
// thread-safe as any value is (one writer, or readers only). An ok Status holds an empty string,
// so returning one allocates nothing.
//
// Codes are few on purpose: a caller branches on them only to pick an exit status or an HTTP
// status (kInvalidArgument: the user's input, exit 2 / HTTP 400; kIoError: the outside world,
// exit 1; kInternal: a bug). Not for hot paths: the line parser keeps its ParseStatus.
//
// Folders still on the older forms (`std::optional<std::string>` meaning failure, or a flag
// plus `std::string* why`) move to this one at a time; core/, engine/ and ingest/ have.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace netpulse::core {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char { kOk, kInvalidArgument, kIoError, kInternal };

  Status() = default;  // ok
  static Status invalid_argument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status io_error(std::string message) { return Status(Code::kIoError, std::move(message)); }
  static Status internal(std::string message) {
    return Status(Code::kInternal, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // Empty when ok.
  const std::string& message() const { return message_; }

  // The same failure with `prefix` before its message ("--" + "T must be ..."); ok stays ok.
  Status with_prefix(std::string_view prefix) const& {
    return ok() ? Status() : Status(code_, std::string(prefix) + message_);
  }
  Status with_prefix(std::string_view prefix) && {
    if (!ok()) message_.insert(0, prefix);
    return std::move(*this);
  }

  friend bool operator==(const Status&, const Status&) = default;

 private:
  // REQUIRES: code is not kOk (an ok Status has no message).
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != Code::kOk);
  }

  Code code_ = Code::kOk;
  std::string message_;
};

// "invalid argument", "I/O error", "internal error", "ok".
inline const char* to_string(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "ok";
    case Status::Code::kInvalidArgument:
      return "invalid argument";
    case Status::Code::kIoError:
      return "I/O error";
    case Status::Code::kInternal:
      return "internal error";
  }
  return "?";
}

// For the folders not yet on Status (a flag plus `std::string* why`): whether s is ok, with its
// message in *why (when given) if it is not.
inline bool ok_or_why(const Status& s, std::string* why) {
  if (!s.ok() && why) *why = s.message();
  return s.ok();
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  // Anything a T is made from (a unique_ptr<Derived> for a Result<unique_ptr<Base>>).
  template <class U>
  requires(std::is_convertible_v<U&&, T> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status>) Result(U&& value)
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT: implicit
  // REQUIRES: !status.ok() (a Result that is ok holds a value).
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT: implicit
    assert(!std::get<1>(v_).ok());
  }

  bool ok() const { return v_.index() == 0; }
  // The failure, or an ok Status.
  Status status() const { return ok() ? Status() : std::get<1>(v_); }
  // REQUIRES (here and below): ok().
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // The value, or `fallback` when it failed.
  T value_or(T fallback) const& { return ok() ? std::get<0>(v_) : std::move(fallback); }
  T value_or(T fallback) && { return ok() ? std::get<0>(std::move(v_)) : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace netpulse::core
