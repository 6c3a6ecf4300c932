// SharedLibrary: a library loaded on first use (core/shared_library.hpp), its functions typed
// as their declarations, and one-line errors naming the library when it or a symbol is missing.
#include "core/shared_library.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace netpulse::core {
namespace {

TEST(SharedLibrary, GivesTheLibrarysFunctionsTypedAsDeclared) {
  const SharedLibrary libc("libc.so.6", "the C library");
  const auto length = libc.function<decltype(&std::strlen)>("strlen");
  EXPECT_EQ(length("netpulse"), 8u);
}

// The error names what is missing, in one line, whatever the loader says after it.
std::string error_of(const auto& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(SharedLibrary, AMissingLibraryOrFunctionIsAOneLineErrorNamingIt) {
  const std::string no_lib =
      error_of([] { SharedLibrary("libnetpulse-none.so.7", "the none library"); });
  EXPECT_NE(no_lib.find("cannot load the none library (libnetpulse-none.so.7)"), std::string::npos)
      << no_lib;
  EXPECT_EQ(no_lib.find('\n'), std::string::npos) << no_lib;

  const SharedLibrary libc("libc.so.6", "the C library");
  const std::string no_fn =
      error_of([&] { libc.function<void (*)()>("netpulse_no_such_function"); });
  EXPECT_NE(no_fn.find("the C library (libc.so.6) has no netpulse_no_such_function"),
            std::string::npos)
      << no_fn;
  EXPECT_EQ(no_fn.find('\n'), std::string::npos) << no_fn;
}

// load_library turns a library that will not load into a Status, as its callers report it.
TEST(SharedLibrary, LoadLibrarySaysWhyAsAnIoError) {
  const Status missing = load_library(
      [] { static const SharedLibrary lib("libnetpulse-none.so.7", "the none library"); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), Status::Code::kIoError);
  EXPECT_NE(missing.message().find("cannot load the none library (libnetpulse-none.so.7)"),
            std::string::npos)
      << missing.message();
  EXPECT_TRUE(
      load_library([] { static const SharedLibrary libc("libc.so.6", "the C library"); }).ok());
}

}  // namespace
}  // namespace netpulse::core
