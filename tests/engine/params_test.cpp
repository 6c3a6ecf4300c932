// The processor's text control protocol (spec section 5) and parameter validation: every reply
// is "ok" or "error: <reason>", and a rejected command changes nothing.
#include <gtest/gtest.h>

#include <string>

#include "engine/params.hpp"

namespace netpulse::engine {
namespace {

bool is_error(const std::string& reply) { return reply.rfind("error: ", 0) == 0 && reply.size() > 7; }

TEST(ControlCommands, ChangeSetsAllFour) {
  EngineControl control(QueryParams{}, 3600);
  EXPECT_EQ(handle_processor_command("change 20 30 5 1.5", control), "ok");
  EXPECT_EQ(control.params(), (QueryParams{20, 30, 5, 1.5}));
  EXPECT_EQ(handle_processor_command("change 10 60 5 2.5\r\n", control), "ok");
  EXPECT_EQ(control.params(), (QueryParams{10, 60, 5, 2.5}));
  EXPECT_EQ(handle_processor_command("  change\t100  3600 1 0 ", control), "ok");
  EXPECT_EQ(control.params(), (QueryParams{100, 3600, 1, 0}));
  EXPECT_EQ(handle_processor_command("change 0.5 1 1000000 0.25", control), "ok");
  EXPECT_EQ(control.params(), (QueryParams{0.5, 1, 1000000, 0.25}));
}

TEST(ControlCommands, InvalidCommandsAreErrorsAndChangeNothing) {
  EngineControl control(QueryParams{10, 10, 3, 2}, 100);
  const QueryParams before = control.params();
  for (const char* bad : {
           "change abc 10 3 2",   // non-numeric H
           "change 10 ten 3 2",   // non-numeric T
           "change 10 10 x 2",    // non-numeric k
           "change 10 10 3 y",    // non-numeric X
           "change 0 10 3 2",     // H = 0
           "change -5 10 3 2",    // H < 0
           "change 100.01 10 3 2",  // H > 100
           "change 10 0 3 2",     // T = 0
           "change 10 101 3 2",   // T > max-window
           "change 10 -1 3 2",
           "change 10 10.5 3 2",  // T not whole
           "change 10 10 0 2",    // k = 0
           "change 10 10 -3 2",
           "change 10 10 2.5 2",  // k not whole
           "change 10 10 3 -0.1",  // X < 0
           "change nan 10 3 2", "change 10 10 3 inf", "change 10 10 3 nan",
           "change 10 10 3",      // too few values
           "change 10 10 3 2 1",  // too many
           "change", "frobnicate", "START", "stop now", "", "   ", "change_5000_15_19_40_30",
       }) {
    const std::string reply = handle_processor_command(bad, control);
    EXPECT_TRUE(is_error(reply)) << "'" << bad << "' -> '" << reply << "'";
    EXPECT_EQ(reply.find('\n'), std::string::npos);
    EXPECT_EQ(control.params(), before) << bad;
    EXPECT_FALSE(control.paused()) << bad;
  }
}

TEST(ControlCommands, ErrorsSayWhatIsWrong) {
  EngineControl control(QueryParams{}, 100);
  EXPECT_NE(handle_processor_command("change 0 10 3 2", control).find("H"), std::string::npos);
  EXPECT_NE(handle_processor_command("change 10 101 3 2", control).find("T"), std::string::npos);
  EXPECT_NE(handle_processor_command("change 10 101 3 2", control).find("100"), std::string::npos);
  EXPECT_NE(handle_processor_command("change 10 10 0 2", control).find("k"), std::string::npos);
  EXPECT_NE(handle_processor_command("change 10 10 3 -1", control).find("X"), std::string::npos);
  EXPECT_NE(handle_processor_command("bogus", control).find("bogus"), std::string::npos);
}

TEST(ControlCommands, StopAndStart) {
  EngineControl control(QueryParams{}, 100);
  EXPECT_FALSE(control.paused());
  EXPECT_EQ(handle_processor_command("stop", control), "ok");
  EXPECT_TRUE(control.paused());
  EXPECT_EQ(handle_processor_command("stop\r", control), "ok");  // idempotent
  EXPECT_TRUE(control.paused());
  EXPECT_TRUE(control.wait_while_paused(std::chrono::milliseconds(1)));
  EXPECT_EQ(handle_processor_command("start", control), "ok");
  EXPECT_FALSE(control.paused());
  EXPECT_FALSE(control.wait_while_paused(std::chrono::milliseconds(1)));
  // A change while stopped is taken (it applies to the next window emitted).
  EXPECT_EQ(handle_processor_command("stop", control), "ok");
  EXPECT_EQ(handle_processor_command("change 50 20 2 1", control), "ok");
  EXPECT_EQ(control.params(), (QueryParams{50, 20, 2, 1}));
}

TEST(ControlCommands, ShutdownWakesAPausedPipeline) {
  EngineControl control(QueryParams{}, 100);
  control.pause();
  control.request_shutdown();
  EXPECT_FALSE(control.wait_while_paused(std::chrono::milliseconds(1000)));
}

TEST(Validation, EngineConfig) {
  EngineConfig c;
  EXPECT_TRUE(validate(c).ok()) << validate(c).message();
  c.time_unit_ms = 0;
  EXPECT_EQ(validate(c).code(), core::Status::Code::kInvalidArgument);
  c = EngineConfig{};
  c.slide = 0;
  EXPECT_EQ(validate(c).code(), core::Status::Code::kInvalidArgument);
  c = EngineConfig{};
  c.lateness = -1;
  EXPECT_EQ(validate(c).code(), core::Status::Code::kInvalidArgument);
  c = EngineConfig{};
  c.max_window = 0;
  EXPECT_EQ(validate(c).code(), core::Status::Code::kInvalidArgument);
  c = EngineConfig{};
  c.threads = 0;
  EXPECT_EQ(validate(c).code(), core::Status::Code::kInvalidArgument);
}

TEST(Validation, IpKeyNames) {
  EXPECT_EQ(parse_ip_key("src"), IpKey::kSrc);
  EXPECT_EQ(parse_ip_key("dst"), IpKey::kDst);
  EXPECT_EQ(parse_ip_key("host"), IpKey::kHost);
  EXPECT_FALSE(parse_ip_key("both"));
  EXPECT_STREQ(to_string(IpKey::kHost), "host");
}

}  // namespace
}  // namespace netpulse::engine
