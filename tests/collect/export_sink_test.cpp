// NetflowExportSink with a capturing DatagramSender: text lines in, datagrams out, read back by
// the naive reader in tests/support. Labels to (protocol, port), deterministic source ports,
// CSV, sampling, send errors, the wall-clock flush and a real UDP socket on 127.0.0.1.
#include "collect/export_sink.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "../support/export_datagrams.hpp"

namespace netpulse::collect {
namespace {

using testing::WireDatagram;
using testing::WireReader;

struct Sent {
  std::vector<std::vector<uint8_t>> datagrams;
  std::deque<int> errors;  // errno values to return, in order, before succeeding
  int attempts = 0;
};

class FakeSender final : public DatagramSender {
 public:
  explicit FakeSender(Sent& sent) : sent_(sent) {}
  int send(const uint8_t* data, size_t size) override {
    ++sent_.attempts;
    if (!sent_.errors.empty()) {
      const int e = sent_.errors.front();
      sent_.errors.pop_front();
      if (e != 0) return e;
    }
    sent_.datagrams.emplace_back(data, data + size);
    return 0;
  }

 private:
  Sent& sent_;
};

NetflowExportOptions export_options(ExportProtocol v, uint32_t sampling = 1) {
  NetflowExportOptions o;
  o.encoder.version = v;
  o.encoder.sampling_rate = sampling;
  o.flush_after_ms = 0;
  return o;
}

std::unique_ptr<NetflowExportSink> make_sink(Sent& sent, NetflowExportOptions o) {
  return std::make_unique<NetflowExportSink>(std::move(o), ServiceTable(),
                                             std::make_unique<FakeSender>(sent), "netflow://test");
}

bool write(NetflowExportSink& sink, const std::string& text) {
  return sink.write(text.data(), text.size(), 0);
}

std::vector<WireDatagram> read_all(const Sent& sent) {
  WireReader reader;
  std::vector<WireDatagram> out;
  for (const auto& d : sent.datagrams) {
    out.push_back(reader.read(d.data(), d.size()));
    EXPECT_EQ(out.back().error, "");
  }
  return out;
}

constexpr core::TimeMs kT = 1'589'056'897'123;  // 2020-05-09 20:41:37.123

TEST(NetflowExportSink, MapsLabelsToProtocolAndPortAndKeepsTimeAddressesAndBytes) {
  Sent sent;
  auto sink = make_sink(sent, export_options(ExportProtocol::kIpfix));
  ASSERT_TRUE(sink->begin(""));
  ASSERT_TRUE(write(*sink,
                    "2020-05-09 20:41:37.123 HTTP 222.186.237.75 53.215.218.189 6772\n"
                    "2020-05-09 20:41:37.124 DNS 10.0.0.1 10.0.0.2 80\n"
                    "2020-05-09 20:41:37.125 UPnP 10.0.0.1 10.0.0.2 300\n"
                    "2020-05-09 20:41:37.126 ICMP 2001:db8::1 2001:db8::2 64\n"
                    "2020-05-09 20:41:37.127 Gopher 10.0.0.3 10.0.0.4 7\n"
                    "not a record\n"
                    "\n"));
  EXPECT_TRUE(sent.datagrams.empty());  // waits for a full datagram
  ASSERT_TRUE(sink->finish());
  const auto d = read_all(sent);
  ASSERT_EQ(d.size(), 1u);
  const auto& r = d[0].records;
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].u(8), 0xDEBAED4Bu);  // 222.186.237.75
  EXPECT_EQ(r[0].u(12), 0x35D7DABDu);
  EXPECT_EQ(r[0].u(4), 6u);
  EXPECT_EQ(r[0].u(11), 80u);
  EXPECT_EQ(r[0].u(1), 6772u);
  EXPECT_EQ(r[0].u(2), 1u);
  EXPECT_EQ(r[0].u(152), static_cast<uint64_t>(kT));
  EXPECT_EQ(r[0].u(153), static_cast<uint64_t>(kT));
  EXPECT_EQ(r[1].u(4), 17u);
  EXPECT_EQ(r[1].u(11), 53u);
  EXPECT_EQ(r[2].u(4), 17u);
  EXPECT_EQ(r[2].u(11), 1900u);
  // A transport label goes back to its protocol; ports only where the protocol has them.
  EXPECT_EQ(r[3].template_id, 257);
  EXPECT_EQ(r[3].u(4), 1u);
  EXPECT_EQ(r[3].u(7), 0u);
  EXPECT_EQ(r[3].u(11), 0u);
  // Unknown: TCP port 0, counted.
  EXPECT_EQ(r[4].u(4), 6u);
  EXPECT_EQ(r[4].u(11), 0u);
  for (size_t i : {0, 1, 2, 4}) {
    EXPECT_GE(r[i].u(7), 49152u);
    EXPECT_LE(r[i].u(7), 65535u);
  }
  const auto& c = sink->counters();
  EXPECT_EQ(c.records, 5u);
  EXPECT_EQ(c.malformed_lines, 1u);
  EXPECT_EQ(c.unknown_labels, 1u);
  EXPECT_EQ(c.datagrams_sent, 1u);
  EXPECT_EQ(c.flows_sent, 5u);
  EXPECT_EQ(c.flows_skipped, 0u);
}

TEST(NetflowExportSink, SourcePortsAreDeterministicPerHostPair) {
  auto ports = [](const std::string& text) {
    Sent sent;
    auto sink = make_sink(sent, export_options(ExportProtocol::kNetflowV5));
    sink->begin("");
    write(*sink, text);
    sink->finish();
    std::vector<uint64_t> out;
    for (const auto& d : read_all(sent))
      for (const auto& r : d.records) out.push_back(r.u(7));
    return out;
  };
  const auto a = ports(
      "2020-05-09 20:41:37.123 HTTP 10.0.0.1 10.0.0.2 1\n"
      "2020-05-09 20:41:38.000 SSH 10.0.0.1 10.0.0.2 1\n"
      "2020-05-09 20:41:39.000 SSH 10.0.0.2 10.0.0.1 1\n");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0], a[1]);
  EXPECT_NE(a[0], a[2]);
  EXPECT_EQ(ports("2020-05-09 20:41:37.123 HTTP 10.0.0.1 10.0.0.2 1\n")[0], a[0]);
}

TEST(NetflowExportSink, ReadsCsvWithItsHeader) {
  Sent sent;
  auto sink = make_sink(sent, export_options(ExportProtocol::kNetflowV9));
  ASSERT_TRUE(sink->begin("bytes,src,dst,protocol,time\n"));
  ASSERT_TRUE(write(*sink, "1500,1.2.3.4,5.6.7.8,HTTPS,2020-05-09 20:41:37.123\n"));
  ASSERT_TRUE(sink->finish());
  const auto d = read_all(sent);
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].records.size(), 1u);
  EXPECT_EQ(d[0].records[0].u(1), 1500u);
  EXPECT_EQ(d[0].records[0].u(11), 443u);
  EXPECT_EQ(d[0].start_ms(d[0].records[0]), kT);
}

TEST(NetflowExportSink, V5SkipsIpv6RecordsAndCountsThem) {
  Sent sent;
  auto sink = make_sink(sent, export_options(ExportProtocol::kNetflowV5));
  sink->begin("");
  write(*sink,
        "2020-05-09 20:41:37.123 HTTP 2001:db8::1 2001:db8::2 1\n"
        "2020-05-09 20:41:37.123 HTTP 10.0.0.1 10.0.0.2 1\n");
  sink->finish();
  EXPECT_EQ(sink->counters().flows_skipped, 1u);
  EXPECT_EQ(sink->counters().flows_sent, 1u);
}

TEST(NetflowExportSink, SamplingSendsOneInNAndAnnouncesIt) {
  Sent sent;
  auto sink = make_sink(sent, export_options(ExportProtocol::kIpfix, 4));
  sink->begin("");
  std::string text;
  for (int i = 0; i < 10; ++i)
    text += "2020-05-09 20:41:37.123 HTTP 10.0.0." + std::to_string(i + 1) + " 10.0.1.1 100\n";
  write(*sink, text);
  sink->finish();
  const auto d = read_all(sent);
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].records.size(), 3u);  // records 0, 4 and 8
  EXPECT_EQ(d[0].records[0].u(8), 0x0A000001u);
  EXPECT_EQ(d[0].records[1].u(8), 0x0A000005u);
  EXPECT_EQ(d[0].records[2].u(8), 0x0A000009u);
  ASSERT_EQ(d[0].option_records.size(), 2u);
  EXPECT_EQ(d[0].option_records[0].u(34), 4u);
  EXPECT_EQ(d[0].option_records[1].u(34), 4u);
  EXPECT_EQ(sink->counters().sampled_out, 7u);
}

std::string many_lines(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += "2020-05-09 20:41:37.123 HTTP 10.0.0.1 10.0.0.2 100\n";
  return text;
}

TEST(NetflowExportSink, TransientSendErrorsAreCountedAndTheRunGoesOn) {
  Sent sent;
  sent.errors = {ENOBUFS, ECONNREFUSED, 0, EAGAIN};
  auto sink = make_sink(sent, export_options(ExportProtocol::kNetflowV5));
  sink->begin("");
  EXPECT_TRUE(write(*sink, many_lines(28 * 4)));  // 4 full datagrams
  EXPECT_TRUE(sink->finish());
  // 1: ENOBUFS, dropped. 2: refused, then sent again. 3: EAGAIN, dropped. 4: sent.
  EXPECT_EQ(sent.datagrams.size(), 2u);
  EXPECT_EQ(sink->counters().send_errors, 2u);
  EXPECT_EQ(sink->counters().refused, 1u);
  EXPECT_EQ(sink->counters().datagrams_sent, 2u);
  EXPECT_EQ(sink->counters().flows_sent, 56u);
  EXPECT_EQ(sink->error(), "");
}

TEST(NetflowExportSink, OtherSendErrorsEndTheOutputWithOneLine) {
  Sent sent;
  sent.errors = {0, ENETUNREACH};
  auto sink = make_sink(sent, export_options(ExportProtocol::kNetflowV5));
  sink->begin("");
  EXPECT_FALSE(write(*sink, many_lines(28 * 3)));
  EXPECT_EQ(sink->error(), "netflow://test: " + std::string(std::strerror(ENETUNREACH)));
  EXPECT_FALSE(write(*sink, many_lines(1)));
  EXPECT_FALSE(sink->finish());
  EXPECT_EQ(sent.datagrams.size(), 1u);
}

TEST(NetflowExportSink, APartlyFilledDatagramWaitsAtMostTheFlushTime) {
  Sent sent;
  auto o = export_options(ExportProtocol::kNetflowV9);
  o.flush_after_ms = 1000;
  int64_t now = 0;
  o.now_ms = [&now] { return now; };
  auto sink = make_sink(sent, o);
  sink->begin("");
  write(*sink, many_lines(3));
  now = 900;
  write(*sink, many_lines(1));
  EXPECT_TRUE(sent.datagrams.empty());
  now = 1000;
  write(*sink, many_lines(1));
  ASSERT_EQ(sent.datagrams.size(), 1u);
  EXPECT_EQ(read_all(sent)[0].records.size(), 5u);
  now = 1500;
  write(*sink, many_lines(1));
  EXPECT_EQ(sent.datagrams.size(), 1u);  // the clock starts again with the next datagram
  sink->finish();
  EXPECT_EQ(sent.datagrams.size(), 2u);
}

TEST(NetflowExportSink, SendsRealDatagramsOverLoopback) {
  const int rx = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(rx, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len);
  std::string why;
  auto sink = NetflowExportSink::open("127.0.0.1", ntohs(a.sin_port),
                                      export_options(ExportProtocol::kIpfix), ServiceTable(),
                                      "netflow://127.0.0.1", &why);
  ASSERT_TRUE(sink) << why;
  sink->begin("");
  write(*sink, many_lines(10));
  ASSERT_TRUE(sink->finish());
  uint8_t buf[65536];
  const ssize_t n = ::recv(rx, buf, sizeof buf, MSG_DONTWAIT);
  ::close(rx);
  ASSERT_GT(n, 0);
  WireReader reader;
  const WireDatagram d = reader.read(buf, static_cast<size_t>(n));
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.records.size(), 10u);
}

TEST(NetflowExportSink, AHostThatDoesNotResolveIsAOneLineError) {
  std::string why;
  auto sink =
      NetflowExportSink::open("no-such-host.invalid", 2055, export_options(ExportProtocol::kIpfix),
                              ServiceTable(), "netflow://no-such-host.invalid:2055", &why);
  EXPECT_FALSE(sink);
  EXPECT_EQ(why.find('\n'), std::string::npos);
  EXPECT_EQ(why.rfind("netflow://no-such-host.invalid:2055: ", 0), 0u) << why;
}

}  // namespace
}  // namespace netpulse::collect
