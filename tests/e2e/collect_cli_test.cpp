// The flow collector as a user runs it, the real binary over UDP on 127.0.0.1: `generate
// --output netflow://` into `collect` gives back exactly the generated records (v5, v9, IPFIX);
// `process` and `detect-flows` on a netflow:// input give exactly what they give on the same
// records from a file; Ctrl-C decodes every datagram already received; `run --input
// netflow://` shows its exporters in /api/status and /metrics; bad arguments exit 2 and ports
// that cannot be bound exit 1, each with one line naming them.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "../engine/process_runner.hpp"
#include "../server/server_test_support.hpp"

namespace netpulse::testref {
namespace {

using namespace std::chrono_literals;
using server::testing::http;

// Waits for the collector's "collecting ... on UDP port" line: the socket is bound.
void wait_listening(Child& c) {
  ASSERT_TRUE(eventually([&] { return c.err().find("on UDP port") != std::string::npos || !c.running(); }))
      << c.err();
  ASSERT_TRUE(c.running()) << c.err();
}

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> v = split_lines(text);
  std::sort(v.begin(), v.end());
  return v;
}

const std::vector<std::string> kGenerate = {"generate", "--count", "3000", "--seed", "11",
                                            "--start-time", "2024-01-01 00:00:00", "--rate",
                                            "500", "--ips", "40", "-q"};

std::vector<std::string> generate_to(const std::string& output, std::vector<std::string> extra = {},
                                     const std::string& count = "3000") {
  std::vector<std::string> a = kGenerate;
  a[2] = count;
  a.insert(a.end(), extra.begin(), extra.end());
  a.push_back("--output");
  a.push_back(output);
  return a;
}

TEST(CollectCli, GeneratedExportsComeBackAsTheGeneratedRecords) {
  TempDir dir;
  const auto expected = run_netpulse(kGenerate, dir);
  ASSERT_EQ(expected.code, 0) << expected.err;
  for (const char* version : {"5", "9", "10"}) {
    SCOPED_TRACE(std::string("version ") + version);
    const uint16_t port = free_port();
    const std::string out = dir / ("collected." + std::string(version));
    Child collect({"collect", "--input", "netflow://127.0.0.1:" + std::to_string(port), "--output", out},
                  dir);
    wait_listening(collect);
    const auto g = run_netpulse(
        generate_to("netflow://127.0.0.1:" + std::to_string(port) + "?version=" + version), dir);
    ASSERT_EQ(g.code, 0) << g.err;
    // Straight away: what the kernel already holds must still be decoded and written.
    collect.signal(SIGINT);
    ASSERT_TRUE(collect.wait());
    EXPECT_EQ(collect.exit_code(), 0) << collect.err();
    EXPECT_EQ(sorted_lines(read_file(out)), sorted_lines(expected.out));
    EXPECT_NE(collect.err().find("collected 3000 flows"), std::string::npos) << collect.err();
    EXPECT_NE(collect.err().find("0 lost"), std::string::npos) << collect.err();
  }
}

// --output tcp://: the records go to a consumer that listens, which sees the stream end when
// the collector stops.
TEST(CollectCli, ForwardsRecordsOverTcp) {
  TempDir dir;
  const auto expected = run_netpulse(kGenerate, dir);
  ASSERT_EQ(expected.code, 0);
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t udp = free_port();
  Child collect({"collect", "--input", "netflow://127.0.0.1:" + std::to_string(udp), "--output",
                 "tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port))},
                dir);
  const int conn = accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  wait_listening(collect);
  ASSERT_EQ(run_netpulse(generate_to("netflow://127.0.0.1:" + std::to_string(udp) + "?version=5"), dir).code, 0);
  collect.signal(SIGTERM);
  std::string received;
  char buf[65536];
  for (ssize_t n; (n = read(conn, buf, sizeof buf)) > 0;) received.append(buf, size_t(n));
  close(conn);
  close(listener);
  ASSERT_TRUE(collect.wait());
  EXPECT_EQ(collect.exit_code(), 0) << collect.err();
  EXPECT_EQ(sorted_lines(received), sorted_lines(expected.out));
}

TEST(CollectCli, CsvCarriesTheFlowFields) {
  TempDir dir;
  const uint16_t port = free_port();
  const std::string out = dir / "collected.csv";
  Child collect({"collect", "--input", "netflow://127.0.0.1:" + std::to_string(port),
                 "--format", "csv", "--output", out},
                dir);
  wait_listening(collect);
  const auto g = run_netpulse(
      generate_to("netflow://127.0.0.1:" + std::to_string(port) + "?version=10", {}, "50"), dir);
  ASSERT_EQ(g.code, 0) << g.err;
  collect.signal(SIGTERM);
  ASSERT_TRUE(collect.wait());
  const auto lines = split_lines(read_file(out));
  ASSERT_EQ(lines.size(), 51u);
  EXPECT_EQ(lines[0],
            "time,protocol,src,dst,bytes,packets,src_port,dst_port,ip_protocol,tcp_flags,input_if,"
            "output_if,exporter,sampling_rate,flow_start,flow_end");
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto& l = lines[i];
    EXPECT_EQ(std::count(l.begin(), l.end(), ','), 15) << l;
    EXPECT_NE(l.find(",127.0.0.1,"), std::string::npos) << l;  // the exporter
  }
  // And netpulse reads its own CSV back (the extra columns are ignored).
  const auto p = run_netpulse({"process", "-q", "--input", out, "--format", "csv"}, dir);
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_FALSE(p.out.empty());
}

TEST(CollectCli, ProcessAndDetectFlowsOnNetflowEqualTheSameRecordsFromAFile) {
  TempDir dir;
  // A DoS burst in the middle, so detect-flows has something to say.
  const std::vector<std::string> scenario = {"--scenario", "dos@2s+2s"};
  std::vector<std::string> gen = kGenerate;
  gen.insert(gen.end(), scenario.begin(), scenario.end());
  const auto records = run_netpulse(gen, dir);
  ASSERT_EQ(records.code, 0);
  write_file(dir / "records.txt", records.out);
  const std::vector<std::string> query = {"--T", "3", "--H", "5", "--k", "4", "--X", "1"};

  std::vector<std::string> file_args = {"process", "-q", "--input", dir / "records.txt"};
  file_args.insert(file_args.end(), query.begin(), query.end());
  const auto from_file = run_netpulse(file_args, dir);
  ASSERT_EQ(from_file.code, 0) << from_file.err;
  const auto alerts_file = run_netpulse({"detect-flows", "-q", "--input", dir / "records.txt"}, dir);
  ASSERT_EQ(alerts_file.code, 0) << alerts_file.err;

  const uint16_t p1 = free_port(), p2 = free_port();
  std::vector<std::string> nf_args = {"process", "--input", "netflow://127.0.0.1:" + std::to_string(p1),
                                      "--output", dir / "nf.json"};
  nf_args.insert(nf_args.end(), query.begin(), query.end());
  Child process(nf_args, dir);
  Child detect_nf({"detect-flows", "--input", "netflow://127.0.0.1:" + std::to_string(p2), "--output",
                   dir / "alerts.json"},
                  dir);
  wait_listening(process);
  wait_listening(detect_nf);
  std::vector<std::string> g1 = generate_to("netflow://127.0.0.1:" + std::to_string(p1) + "?version=9", scenario);
  std::vector<std::string> g2 = generate_to("netflow://127.0.0.1:" + std::to_string(p2) + "?version=10", scenario);
  ASSERT_EQ(run_netpulse(g1, dir).code, 0);
  ASSERT_EQ(run_netpulse(g2, dir).code, 0);
  process.signal(SIGTERM);
  detect_nf.signal(SIGTERM);
  ASSERT_TRUE(process.wait());
  ASSERT_TRUE(detect_nf.wait());
  EXPECT_EQ(process.exit_code(), 0) << process.err();
  EXPECT_EQ(detect_nf.exit_code(), 0) << detect_nf.err();
  EXPECT_EQ(read_file(dir / "nf.json"), from_file.out);
  // Alerts equal; the summary line's seconds differ.
  auto without_summary = [](const std::string& text) {
    std::vector<std::string> v;
    for (auto& l : split_lines(text))
      if (l.rfind("{\"summary\"", 0) != 0) v.push_back(l);
    return v;
  };
  const auto expected_alerts = without_summary(alerts_file.out);
  EXPECT_FALSE(expected_alerts.empty());
  EXPECT_EQ(without_summary(read_file(dir / "alerts.json")), expected_alerts);
}

TEST(CollectCli, RunWatchesANetflowInputAndShowsItsExporters) {
  TempDir dir;
  const uint16_t udp = free_port();
  Child run({"run", "--web", "127.0.0.1:0", "--store", "sqlite:" + (dir / "np.db"), "--input",
             "netflow://127.0.0.1:" + std::to_string(udp), "--models", dir / "no-models"},
            dir);
  const uint16_t web = dashboard_port(run);
  ASSERT_NE(web, 0) << run.err();
  // Wall-clock-ish times, so the run's windows close: now, at 1,000 records/s of event time.
  ASSERT_EQ(run_netpulse({"generate", "-q", "--count", "4000", "--rate", "2000", "--output",
                          "netflow://127.0.0.1:" + std::to_string(udp) + "?version=10"},
                         dir)
                .code,
            0);
  nlohmann::json status;
  ASSERT_TRUE(eventually([&] {
    status = http(web, "GET", "/api/status").json();
    return status.is_object() && status["collector"].is_object() &&
           status["collector"]["flows"].get<uint64_t>() == 4000;
  })) << status.dump();
  ASSERT_EQ(status["collector"]["exporters"].size(), 1u);
  const auto& e = status["collector"]["exporters"][0];
  EXPECT_EQ(e["protocol"], "ipfix");
  EXPECT_EQ(e["flows"], 4000);
  EXPECT_EQ(e["lost"], 0);
  EXPECT_TRUE(status["generator"].is_null());
  const std::string metrics = http(web, "GET", "/metrics").body;
  EXPECT_TRUE(std::regex_search(
      metrics, std::regex(R"(netpulse_collector_flows_total\{exporter="127\.0\.0\.1:\d+",protocol="ipfix",domain="0"\} 4000)")))
      << metrics;
  EXPECT_NE(metrics.find("netpulse_collector_kernel_drops_total{input=\"netflow://127.0.0.1:"),
            std::string::npos);
  EXPECT_TRUE(eventually([&] { return status = http(web, "GET", "/api/status").json(),
                                      status["records"]["read"].get<uint64_t>() == 4000; }))
      << status.dump();
  run.signal(SIGINT);
  ASSERT_TRUE(run.wait(30s));
  EXPECT_EQ(run.exit_code(), 0) << run.err();
  EXPECT_NE(run.err().find("collected 4000 flows"), std::string::npos) << run.err();
}

// Ctrl-C must end a process whose engine was paused (stop on the control port), and one whose
// exporter never pauses: the drain is bounded.
TEST(CollectCli, CtrlCEndsAPausedEngineAndANonStopExporter) {
  TempDir dir;
  const uint16_t udp = free_port(), control = free_port();
  Child process({"process", "--input", "netflow://127.0.0.1:" + std::to_string(udp), "--control",
                 "tcp://127.0.0.1:" + std::to_string(control), "--output", dir / "out.json"},
                dir);
  wait_listening(process);
  Connection c(control);
  EXPECT_EQ(c.command("stop"), "ok");
  // An exporter that keeps sending for longer than the test waits.
  Child exporter({"generate", "-q", "--rate", "20000", "--duration", "60s", "--output",
                  "netflow://127.0.0.1:" + std::to_string(udp) + "?version=9"},
                 dir);
  std::this_thread::sleep_for(500ms);
  const auto t0 = std::chrono::steady_clock::now();
  process.signal(SIGINT);
  ASSERT_TRUE(process.wait(10s)) << "still running 10 s after Ctrl-C: " << process.err();
  EXPECT_EQ(process.exit_code(), 0) << process.err();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  exporter.signal(SIGINT);
  ASSERT_TRUE(exporter.wait());

  // And collect, whose output never pauses, with an exporter that never does either.
  const uint16_t udp2 = free_port();
  Child collect({"collect", "--input", "netflow://127.0.0.1:" + std::to_string(udp2), "--output",
                 dir / "c.txt"},
                dir);
  wait_listening(collect);
  Child exporter2({"generate", "-q", "--rate", "0", "--duration", "60s", "--output",
                   "netflow://127.0.0.1:" + std::to_string(udp2) + "?version=5"},
                  dir);
  std::this_thread::sleep_for(500ms);
  collect.signal(SIGTERM);
  ASSERT_TRUE(collect.wait(10s)) << "still running 10 s after SIGTERM: " << collect.err();
  EXPECT_EQ(collect.exit_code(), 0) << collect.err();
  exporter2.signal(SIGINT);
  ASSERT_TRUE(exporter2.wait());
}

TEST(CollectCli, BadArgumentsExit2AndBusyPortsExit1NamingThem) {
  TempDir dir;
  write_file(dir / "r.txt", "2024-01-01 00:00:00 HTTP 10.0.0.1 10.0.0.2 100\n");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{"collect", "--input", "file:" + (dir / "r.txt")}, 2, "--input"},
      {{"collect", "--input", "netflow://127.0.0.1:70000"}, 2, "--input"},
      {{"collect", "--input", "netflow://127.0.0.1:0?bogus=1"}, 2, "bogus"},
      {{"collect", "--input", "netflow://127.0.0.1:0", "--udp-buffer", "lots"}, 2, "--udp-buffer"},
      {{"collect", "--input", "netflow://127.0.0.1:0", "--flow-time", "middle"}, 2, "--flow-time"},
      {{"collect", "--input", "netflow://127.0.0.1:0", "--output", "netflow://127.0.0.1:1"}, 2, "--output"},
      {{"process", "--input", "netflow://127.0.0.1:0", "--format", "csv"}, 2, "--format"},
      {{"process", "--input", dir / "r.txt", "--flow-time", "start"}, 2, "--flow-time"},
      {{"detect-flows", "--input", dir / "r.txt", "--udp-buffer", "1MiB"}, 2, "--udp-buffer"},
      {{"run", "--input", "netflow://127.0.0.1:0", "--rate", "5"}, 2, "--rate"},
      {{"run", "--input", "kafka://127.0.0.1:9092/t"}, 2, "--input"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args[0] + " " + c.args[2]);
    const auto r = run_netpulse(c.args, dir);
    EXPECT_EQ(r.code, c.code) << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // A port another collector holds.
  const uint16_t port = free_port();
  const std::string uri = "netflow://127.0.0.1:" + std::to_string(port);
  Child first({"collect", "--input", uri, "--output", dir / "x"}, dir);
  wait_listening(first);
  const auto busy = run_netpulse({"collect", "--input", uri, "--output", dir / "y"}, dir);
  EXPECT_EQ(busy.code, 1) << busy.err;
  EXPECT_NE(busy.err.find(uri), std::string::npos) << busy.err;
  first.signal(SIGTERM);
  ASSERT_TRUE(first.wait());
}

}  // namespace
}  // namespace netpulse::testref
