// Whole-program tests of `netpulse generate --output netflow://`: the real binary sends NetFlow
// v5, v9 and IPFIX datagrams to a UDP socket the test binds on 127.0.0.1 (port 0); every
// datagram must parse with the naive reader in tests/support and carry exactly the records the
// same command writes as text. Usage errors exit 2 with one line.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../support/export_datagrams.hpp"
#include "../support/shell.hpp"
#include "collect/service_table.hpp"
#include "core/protocol_table.hpp"
#include "ingest/flow_parser.hpp"

namespace {

using netpulse::testing::WireDatagram;
using netpulse::testing::WireReader;

const std::string kBinary = NETPULSE_BINARY;
const std::string kArgs = "--count 2000 --seed 7 --start-time '2024-01-01 00:00:00' --rate 1000";

using Result = netpulse::testing::ShellResult;
using netpulse::testing::shell;

// A UDP socket on 127.0.0.1 and a thread keeping every datagram that arrives.
class Collector {
 public:
  Collector() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_GE(fd_, 0);
    int size = 16 << 20;  // a burst of datagrams must not overflow the buffer
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Collector() { stop(); }
  uint16_t port() const { return port_; }

  // Stops once nothing has arrived for a moment; returns the datagrams in arrival order.
  const std::vector<std::vector<uint8_t>>& stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      ::close(fd_);
    }
    return datagrams_;
  }

 private:
  void run() {
    std::vector<uint8_t> buf(65536);
    auto idle_since = std::chrono::steady_clock::now();
    while (true) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) > 0) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n > 0) datagrams_.emplace_back(buf.begin(), buf.begin() + n);
        idle_since = std::chrono::steady_clock::now();
      } else if (stop_ &&
                 std::chrono::steady_clock::now() - idle_since > std::chrono::milliseconds(200)) {
        return;
      }
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<std::vector<uint8_t>> datagrams_;
};

struct TextRecord {
  int64_t time;
  std::string label;
  netpulse::core::IpAddr src, dst;
  uint32_t bytes;
};

std::vector<TextRecord> parse_text(const std::string& text) {
  netpulse::core::ProtocolTable table;
  netpulse::ingest::FlowParser parser(table, netpulse::ingest::Format::kLine);
  std::vector<TextRecord> out;
  size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    netpulse::core::FlowRecord r;
    EXPECT_EQ(parser.parse(text.data() + pos, text.data() + nl, r),
              netpulse::ingest::ParseStatus::kOk);
    out.push_back({r.time, std::string(table.name(r.protocol)), r.src, r.dst, r.bytes});
    pos = nl + 1;
  }
  return out;
}

class GenerateNetflow : public ::testing::TestWithParam<int> {};

TEST_P(GenerateNetflow, SendsEveryGeneratedRecordAsAFlow) {
  const int version = GetParam();
  const Result text = shell(kBinary + " generate -q " + kArgs);
  ASSERT_EQ(text.status, 0) << text.err;
  const std::vector<TextRecord> expected = parse_text(text.out);
  ASSERT_EQ(expected.size(), 2000u);

  Collector collector;
  const std::string uri = "netflow://127.0.0.1:" + std::to_string(collector.port()) +
                          "?version=" + std::to_string(version);
  const Result r = shell(kBinary + " generate " + kArgs + " --output '" + uri + "'");
  const auto& datagrams = collector.stop();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("datagrams, 2000 flows sent to " + uri + ", 0 flows skipped"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  WireReader reader;
  const netpulse::collect::ServiceTable services;
  size_t flows = 0;
  uint64_t next_sequence = 0;
  for (size_t i = 0; i < datagrams.size(); ++i) {
    const WireDatagram d = reader.read(datagrams[i].data(), datagrams[i].size());
    ASSERT_EQ(d.error, "") << "datagram " << i;
    ASSERT_EQ(d.version, version);
    EXPECT_LE(d.size, 1400u);
    EXPECT_EQ(d.sequence, next_sequence) << "datagram " << i;  // nothing lost, nothing reordered
    next_sequence += version == 5 ? d.records.size() : version == 9 ? 1 : d.records.size();
    if (version != 5 && i == 0) {
      EXPECT_EQ(d.templates.size(), 2u);
    }
    for (const auto& rec : d.records) {
      ASSERT_LT(flows, expected.size());
      const TextRecord& e = expected[flows++];
      const std::string where = "flow " + std::to_string(flows - 1);
      EXPECT_EQ(d.start_ms(rec), e.time) << where;
      EXPECT_EQ(d.end_ms(rec), e.time) << where;
      EXPECT_EQ(rec.u(8), e.src.v4_value()) << where;
      EXPECT_EQ(rec.u(12), e.dst.v4_value()) << where;
      EXPECT_EQ(rec.u(1), e.bytes) << where;
      EXPECT_EQ(rec.u(2), 1u) << where;
      const auto service = services.find(e.label);
      ASSERT_TRUE(service) << e.label;
      EXPECT_EQ(rec.u(4), service->ip_protocol) << where;
      EXPECT_EQ(rec.u(11), service->port) << where;
      // The collector's naming gives the generated label back.
      EXPECT_EQ(services.name(static_cast<uint8_t>(rec.u(4)), static_cast<uint16_t>(rec.u(7)),
                              static_cast<uint16_t>(rec.u(11))),
                e.label)
          << where;
      if (::testing::Test::HasFailure()) return;
    }
  }
  EXPECT_EQ(flows, 2000u);
}

INSTANTIATE_TEST_SUITE_P(Versions, GenerateNetflow, ::testing::Values(5, 9, 10),
                         [](const auto& info) { return "V" + std::to_string(info.param); });

TEST(GenerateNetflowErrors, UsageErrorsExitTwoWithOneLineNamingTheArgument) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--output 'netflow://127.0.0.1:2055?version=7'", "--output"},
      {"--output 'netflow://127.0.0.1:2055?version=x'", "--output"},
      {"--output 'netflow://127.0.0.1:2055?mtu=100'", "--output"},
      {"--output 'netflow://127.0.0.1:2055?sampling=0'", "--output"},
      {"--output 'netflow://127.0.0.1:2055?version=5&sampling=20000'", "--output"},
      {"--output 'netflow://127.0.0.1:2055?colour=blue'", "--output"},
      {"--output 'netflow://:2055'", "--output"},
      {"--output sflow://127.0.0.1:6343", "--output"},
      {"--format csv --output 'netflow://127.0.0.1:2055?version=9'", "--format"},
  };
  for (const auto& [args, name] : cases) {
    const Result r = shell(kBinary + " generate --count 1 " + args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(GenerateNetflowErrors, NothingListeningIsCountedAndTheRunSucceeds) {
  // A port nobody listens on: bind one, note it, close it.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  const Result r = shell(kBinary + " generate " + kArgs + " --output 'netflow://127.0.0.1:" +
                         std::to_string(ntohs(a.sin_port)) + "?version=9'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("refused \\(nothing listening\\)"))) << r.err;
}

}  // namespace
