// Packet capture as a user runs it, the real binary on capture files the test writes: `process`
// and `detect-flows` on pcap:FILE give exactly what they give on the records `collect` writes
// from the same file, and the windows hold what a plain sum over the packets says; `run --input
// pcap:FILE?speed=N` replays the capture and shows it in /api/status and /metrics; bad
// arguments exit 2 and unreadable inputs exit 1, each with one line naming them. (The
// comparisons with tshark, ndpiReader and softflowd, and live capture, are in the Python tests.)
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "../collect/sflow_builder.hpp"
#include "../engine/process_runner.hpp"
#include "../server/server_test_support.hpp"
#include "../support/pcap_writer.hpp"

namespace netpulse::testref {
namespace {

using namespace std::chrono_literals;
using server::testing::http;
using test::Bytes;
using test::cat;
using test::ip4;


Bytes udp4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, size_t payload) {
  return cat({test::ethernet(0x0800), test::ipv4(src, dst, 17, 8 + payload),
              test::udp(sport, dport, payload), test::zeros(payload)});
}

struct Traffic {
  std::vector<test::PcapPacket> packets;
  // What --no-ndpi names each packet (the service table) and its IP length, to sum by hand.
  std::vector<std::pair<std::string, uint64_t>> expected;
};

// DNS, HTTP and NTP packets from 30 hosts over `seconds` seconds from t0_us, seeded.
Traffic traffic(int64_t t0_us, int seconds, int count) {
  Traffic t;
  uint32_t x = 12345;
  const auto next = [&x] { return x = x * 1103515245 + 12345, x >> 8; };
  for (int i = 0; i < count; ++i) {
    const uint32_t src = ip4(10, 1, 0, static_cast<uint8_t>(1 + next() % 30));
    const uint32_t dst = ip4(192, 0, 2, static_cast<uint8_t>(1 + next() % 5));
    const size_t payload = 20 + next() % 900;
    const int64_t time = t0_us + static_cast<int64_t>(i) * seconds * 1'000'000 / count;
    switch (next() % 3) {
      case 0:
        t.packets.push_back({time, udp4(src, dst, 40000, 53, payload)});
        t.expected.emplace_back("DNS", 28 + payload);
        break;
      case 1:
        t.packets.push_back({time, test::tcp4_frame(src, dst, 40001, 80, 0x18, payload)});
        t.expected.emplace_back("HTTP", 40 + payload);
        break;
      default:
        t.packets.push_back({time, udp4(src, dst, 40002, 123, payload)});
        t.expected.emplace_back("NTP", 28 + payload);
    }
  }
  return t;
}

constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14 22:13:20 UTC, in µs

TEST(CaptureCli, ProcessAndDetectFlowsOnACaptureEqualTheRecordsCollectWrites) {
  TempDir dir;
  const Traffic t = traffic(kT0, 6, 3000);
  write_file(dir / "t.pcap", test::pcap_file(t.packets));
  const std::string input = "pcap:" + dir / "t.pcap";

  const auto records = run_netpulse({"collect", "-q", "--input", input, "--output", dir / "r.txt"}, dir);
  ASSERT_EQ(records.code, 0) << records.err;
  EXPECT_EQ(split_lines(read_file(dir / "r.txt")).size(), 3000u);

  const std::vector<std::string> query = {"--T", "2", "--H", "5", "--k", "3", "--X", "1", "-q"};
  std::vector<std::string> a = {"process", "--input", input};
  a.insert(a.end(), query.begin(), query.end());
  std::vector<std::string> b = {"process", "--input", dir / "r.txt"};
  b.insert(b.end(), query.begin(), query.end());
  const auto from_capture = run_netpulse(a, dir);
  const auto from_records = run_netpulse(b, dir);
  ASSERT_EQ(from_capture.code, 0) << from_capture.err;
  ASSERT_EQ(from_records.code, 0) << from_records.err;
  EXPECT_FALSE(from_capture.out.empty());
  EXPECT_EQ(from_capture.out, from_records.out);

  const auto alerts_capture = run_netpulse({"detect-flows", "-q", "--input", input}, dir);
  const auto alerts_records = run_netpulse({"detect-flows", "-q", "--input", dir / "r.txt"}, dir);
  ASSERT_EQ(alerts_capture.code, 0) << alerts_capture.err;
  const auto alerts = [](const std::string& text) {
    std::vector<std::string> v;
    for (auto& l : split_lines(text))
      if (l.rfind("{\"summary\"", 0) != 0) v.push_back(l);
    return v;
  };
  EXPECT_EQ(alerts(alerts_capture.out), alerts(alerts_records.out));
}

TEST(CaptureCli, WindowsHoldWhatAPlainSumOverThePacketsSays) {
  TempDir dir;
  const Traffic t = traffic(kT0, 3, 2000);
  write_file(dir / "t.pcap", test::pcap_file(t.packets));
  // One window over the whole capture, every protocol listed: bytes per label by hand.
  const auto r = run_netpulse({"process", "-q", "--input", "pcap:" + dir / "t.pcap", "--no-ndpi",
                               "--T", "10", "--k", "10", "--time-unit", "1s"},
                              dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<std::string, uint64_t> sums;
  uint64_t total = 0;
  for (const auto& [label, bytes] : t.expected) {
    sums[label] += bytes;
    total += bytes;
  }
  bool seen = false;
  for (const std::string& line : split_lines(r.out)) {
    const auto j = nlohmann::json::parse(line);
    if (j["query"] != "protocol-topk" || j["records"] != 2000) continue;
    seen = true;
    EXPECT_EQ(j["total_bytes"].get<uint64_t>(), total);
    ASSERT_EQ(j["rows"].size(), sums.size());
    for (const auto& row : j["rows"]) EXPECT_EQ(row["bytes"].get<uint64_t>(), sums[row["key"]]) << row;
  }
  EXPECT_TRUE(seen) << r.out;
}

// Flows mode: a flow's records come when it ends, after those of flows that ended sooner.
// process allows the flow timeout as lateness unless told otherwise, so none is late and
// the windows hold every byte.
TEST(CaptureCli, FlowRecordsAreNotLateByDefault) {
  TempDir dir;
  const Traffic t = traffic(kT0, 4, 1500);
  write_file(dir / "t.pcap", test::pcap_file(t.packets));
  uint64_t total = 0;
  for (const auto& e : t.expected) total += e.second;
  const auto r = run_netpulse({"process", "--input", "pcap:" + dir / "t.pcap", "--records",
                               "flows", "--T", "60", "--k", "1"},
                              dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("--records flows: lateness 31 time units"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" 0 late"), std::string::npos) << r.err;
  uint64_t seen = 0;
  for (const std::string& line : split_lines(r.out)) {
    const auto j = nlohmann::json::parse(line);
    if (j["query"] == "protocol-topk") seen = std::max(seen, j["total_bytes"].get<uint64_t>());
  }
  EXPECT_EQ(seen, total);
  // Told otherwise, it is told otherwise.
  const auto strict = run_netpulse({"process", "--input", "pcap:" + dir / "t.pcap", "--records",
                                    "flows", "--lateness", "0"},
                                   dir);
  ASSERT_EQ(strict.code, 0) << strict.err;
  EXPECT_EQ(strict.err.find("lateness 31"), std::string::npos) << strict.err;
}

TEST(CaptureCli, RunReplaysACaptureAndShowsItInStatusAndMetrics) {
  TempDir dir;
  // Stamped from now on, 600 packets over 3 s replayed at their pace, then one more a minute
  // later, so the run (which ends with its input) is alive while we look.
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  Traffic t = traffic(now_us, 3, 600);
  t.packets.push_back({now_us + 60'000'000, udp4(ip4(10, 9, 9, 9), ip4(10, 9, 9, 8), 1, 53, 10)});
  write_file(dir / "t.pcap", test::pcap_file(t.packets));
  const std::string input = "pcap:" + dir / "t.pcap?speed=1";
  Child run({"run", "--web", "127.0.0.1:0", "--store", "sqlite:" + (dir / "np.db"), "--input",
             input, "--models", dir / "no-models"},
            dir);
  const uint16_t web = dashboard_port(run);
  ASSERT_NE(web, 0) << run.err();
  nlohmann::json status = http(web, "GET", "/api/status").json();
  ASSERT_TRUE(status["capture"].is_object()) << status.dump();
  EXPECT_EQ(status["capture"]["input"], input);
  EXPECT_EQ(status["capture"]["link"], "EN10MB");
  EXPECT_EQ(status["capture"]["speed"], 1.0);
  EXPECT_LT(status["capture"]["packets"].get<uint64_t>(), 600u);  // replayed, not read at once
  EXPECT_TRUE(status["collector"].is_null());
  ASSERT_TRUE(eventually([&] {
    status = http(web, "GET", "/api/status").json();
    return status["capture"]["packets"].get<uint64_t>() == 600;
  })) << status.dump();
  EXPECT_EQ(status["capture"]["records"], 600);
  EXPECT_EQ(status["capture"]["kernel_drops"], 0);
  const std::string metrics = http(web, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("netpulse_capture_packets_total{input=\"" + input + "\"} 600"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("netpulse_capture_guessed_records_total{input="), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    return http(web, "GET", "/api/status").json()["records"]["read"].get<uint64_t>() == 600;
  }));
  run.signal(SIGINT);
  ASSERT_TRUE(run.wait(30s));
  EXPECT_EQ(run.exit_code(), 0) << run.err();
  EXPECT_NE(run.err().find("captured 600 packets"), std::string::npos) << run.err();
}

TEST(CaptureCli, BadArgumentsExit2AndUnreadableInputsExit1NamingThem) {
  TempDir dir;
  write_file(dir / "t.pcap", test::pcap_file(traffic(kT0, 1, 10).packets));
  const std::string input = "pcap:" + dir / "t.pcap";
  write_file(dir / "r.txt", "2024-01-01 00:00:00 HTTP 10.0.0.1 10.0.0.2 100\n");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"process", "--input", dir / "r.txt", "--records", "flows"}, 2, "--records: only with a pcap"},
      {{"collect", "--input", input, "--snaplen", "100"}, 2, "--snaplen: only with a live interface"},
      {{"collect", "--input", input, "--udp-buffer", "1MiB"}, 2, "--udp-buffer: only with a netflow"},
      {{"process", "--input", input, "--format", "csv"}, 2, "--format: a packet capture"},
      {{"collect", "--input", input + "?speed=0"}, 2, "speed must be a number above 0"},
      {{"collect", "--input", input + "?pace=2"}, 2, "unknown option 'pace'"},
      {{"collect", "--input", input, "--input", input}, 2, "one packet capture per collect"},
      {{"collect", "--input", input, "--output", "netflow://127.0.0.1:9"}, 2, "add --records flows"},
      {{"collect", "--input", input, "--filter", "port banana"}, 2, "--filter 'port banana'"},
      {{"collect", "--input", "pcap:" + dir / "missing.pcap"}, 1, "missing.pcap"},
      {{"collect", "--input", "pcap:" + dir / "r.txt"}, 1, "r.txt"},
      {{"collect", "--input", "pcap-live:netpulse-nonexistent0"}, 1, "no such interface"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args[0] + " " + c.args.back());
    const auto r = run_netpulse(c.args, dir);
    EXPECT_EQ(r.code, c.code) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
}  // namespace netpulse::testref
