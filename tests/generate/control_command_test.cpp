#include "generate/control_command.hpp"

#include <gtest/gtest.h>

namespace netpulse::generate {
namespace {

GeneratorConfig config() {
  GeneratorConfig c;
  c.params.rate = 5000;
  c.params.ips = 15;
  c.params.protocols = 19;
  c.start_time = 0;
  return c;
}

TEST(GeneratorCommand, StartAndStopResumeAndPause) {
  Generator g(config());
  EXPECT_EQ(handle_generator_command("stop", g), "ok");
  EXPECT_TRUE(g.paused());
  EXPECT_EQ(handle_generator_command("start\r\n", g), "ok");
  EXPECT_FALSE(g.paused());
  EXPECT_EQ(handle_generator_command("  stop  ", g), "ok");
  EXPECT_TRUE(g.paused());
}

TEST(GeneratorCommand, ChangeSetsEveryParameter) {
  Generator g(config());
  EXPECT_EQ(handle_generator_command("change_20000_1000_5_40_30", g), "ok");
  const TrafficParams p = g.params();
  EXPECT_EQ(p.rate, 20000u);
  EXPECT_EQ(p.ips, 1000u);
  EXPECT_EQ(p.protocols, 5u);
  EXPECT_EQ(p.ip_skew, Skew::first_percent(40));
  EXPECT_EQ(p.protocol_skew, Skew::first_percent(30));
}

TEST(GeneratorCommand, ChangeAcceptsZipfAndUniformAndFractions) {
  Generator g(config());
  EXPECT_EQ(handle_generator_command("change_0_100000_19_zipf1.2_uniform", g), "ok");
  EXPECT_EQ(g.params().rate, 0u);
  EXPECT_EQ(g.params().ip_skew, Skew::zipf(1.2));
  EXPECT_EQ(g.params().protocol_skew, Skew::uniform());
  // "zipf" alone keeps the exponent in force.
  EXPECT_EQ(handle_generator_command("change_10_100_19_zipf_12.5", g), "ok");
  EXPECT_EQ(g.params().ip_skew, Skew::zipf(1.2));
  EXPECT_EQ(g.params().protocol_skew, Skew::first_percent(12.5));
}

TEST(GeneratorCommand, InvalidChangesAreRefusedAndChangeNothing) {
  Generator g(config());
  ASSERT_EQ(handle_generator_command("change_7000_20_10_50_50", g), "ok");
  const TrafficParams before = g.params();
  const char* bad[] = {
      "change_abc",
      "change",
      "change_1_2_3_4",
      "change_1_2_3_4_5_6",
      "change_-5_15_19_40_30",
      "change_+5_15_19_40_30",
      "change_5000_15_19_101_30",
      "change_5000_15_19_40_100.5",
      "change_5000_15_19_-1_30",
      "change_5000_10000001_19_40_30",
      "change_5000_0_19_40_30",
      "change_5000_15_20_40_30",
      "change_5000_15_0_40_30",
      "change_5000_15_19_abc_30",
      "change_5000_15_19_40_zipfx",
      "change_5000_15_19_zipf99_30",
      "change_1000000001_15_19_40_30",
      "change_99999999999999999999999_15_19_40_30",
      "change_5000_15_19_nan_30",
      "change_5000__19_40_30",
      "change 5000 15 19 40 30",
  };
  for (const char* line : bad) {
    const std::string reply = handle_generator_command(line, g);
    EXPECT_EQ(reply.rfind("error: ", 0), 0u) << line << " -> " << reply;
    EXPECT_EQ(g.params(), before) << line;
  }
  EXPECT_NE(handle_generator_command("change_-5_15_19_40_30", g).find("rate"), std::string::npos);
  EXPECT_NE(handle_generator_command("change_5000_15_19_101_30", g).find("percent"),
            std::string::npos);
  EXPECT_NE(handle_generator_command("change_5000_10000001_19_40_30", g).find("10000000"),
            std::string::npos);
  EXPECT_NE(handle_generator_command("change_5000_15_20_40_30", g).find("protocols"),
            std::string::npos);
}

TEST(GeneratorCommand, UnknownAndEmptyCommandsAreErrors) {
  Generator g(config());
  EXPECT_EQ(handle_generator_command("", g).rfind("error: empty command", 0), 0u);
  EXPECT_EQ(handle_generator_command("launch", g).rfind("error: unknown command 'launch'", 0), 0u);
  EXPECT_EQ(handle_generator_command("STOP", g).rfind("error: ", 0), 0u);
  EXPECT_FALSE(g.paused());
}

TEST(GeneratorCommand, StatusReportsTheParameters) {
  Generator g(config());
  const std::string reply = handle_generator_command("status", g);
  EXPECT_EQ(reply.rfind("ok rate=5000 ips=15 protocols=19 ip-skew=uniform", 0), 0u) << reply;
  EXPECT_NE(reply.find("paused=false"), std::string::npos);
  EXPECT_NE(reply.find("records=0"), std::string::npos);
}

}  // namespace
}  // namespace netpulse::generate
