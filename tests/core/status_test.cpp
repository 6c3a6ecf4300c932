// core::Status and core::Result<T>: codes, messages, prefixes, and values that move.
#include "core/status.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace netpulse::core {
namespace {

TEST(Status, DefaultIsOkWithNoMessage) {
  const Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_STREQ(to_string(s.code()), "ok");
}

TEST(Status, EachFactoryKeepsItsCodeAndMessage) {
  const Status bad = Status::invalid_argument("T must be a whole number");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bad.message(), "T must be a whole number");
  EXPECT_STREQ(to_string(bad.code()), "invalid argument");

  const Status io = Status::io_error("x: cannot connect: Connection refused");
  EXPECT_EQ(io.code(), Status::Code::kIoError);
  EXPECT_STREQ(to_string(io.code()), "I/O error");
  const Status bug = Status::internal("internal error: boom");
  EXPECT_EQ(bug.code(), Status::Code::kInternal);
  EXPECT_STREQ(to_string(bug.code()), "internal error");

  // Equal only with the same code and message.
  EXPECT_EQ(bad, Status::invalid_argument("T must be a whole number"));
  EXPECT_NE(bad, Status::io_error("T must be a whole number"));
  EXPECT_NE(bad, Status::invalid_argument("k must be a whole number"));
  EXPECT_NE(bad, Status());
}

TEST(Status, PrefixGoesBeforeAFailureAndLeavesOkAlone) {
  const Status bad = Status::invalid_argument("T must be >= 1");
  const Status copy = bad.with_prefix("--");
  EXPECT_EQ(copy.message(), "--T must be >= 1");
  EXPECT_EQ(copy.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bad.message(), "T must be >= 1");  // the original is unchanged
  Status moved = Status::io_error("cannot listen").with_prefix("--input tcp://:1: ");
  EXPECT_EQ(moved.message(), "--input tcp://:1: cannot listen");
  EXPECT_EQ(moved.code(), Status::Code::kIoError);

  EXPECT_TRUE(Status().with_prefix("--").ok());
  EXPECT_EQ(Status().with_prefix("--").message(), "");
  const Status ok;
  EXPECT_EQ(ok.with_prefix("--"), Status());
}

TEST(Status, OkOrWhyWritesTheMessageOnlyOnFailure) {
  std::string why = "untouched";
  EXPECT_TRUE(ok_or_why(Status(), &why));
  EXPECT_EQ(why, "untouched");
  EXPECT_FALSE(ok_or_why(Status::io_error("x: cannot listen"), &why));
  EXPECT_EQ(why, "x: cannot listen");
  EXPECT_FALSE(ok_or_why(Status::internal("boom"), nullptr));  // no place for the reason: fine
  EXPECT_TRUE(ok_or_why(Status(), nullptr));
}

TEST(Result, HoldsAValue) {
  Result<int> r = 7;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(*r, 7);
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value_or(-1), 7);
  r.value() = 8;
  EXPECT_EQ(*r, 8);

  const Result<std::string> text = std::string("abc");
  EXPECT_EQ(text->size(), 3u);
}

TEST(Result, HoldsAFailure) {
  const Result<int> r = Status::io_error("x: cannot connect: Connection refused");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_EQ(r.status().message(), "x: cannot connect: Connection refused");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(Result, MovesAValueThatCannotBeCopied) {
  auto make = [](bool ok) -> Result<std::unique_ptr<int>> {
    if (!ok) return Status::invalid_argument("no");
    return std::make_unique<int>(42);
  };
  Result<std::unique_ptr<int>> r = make(true);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
  EXPECT_FALSE(make(false).ok());
  EXPECT_EQ(make(false).status().message(), "no");
}

}  // namespace
}  // namespace netpulse::core
