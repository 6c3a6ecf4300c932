// Tests for capture::Capture and PcapSource on pcap files the tests write byte by byte: records
// from a file, the filter, a file cut inside a packet (a warning, the packets before it kept),
// files libpcap refuses and link types netpulse does not decode (one-line errors naming the
// input), replay pacing with ?speed=N, a stop in the middle of a slow replay, and the flow
// probe path (flows to a NetFlow exporter).
#include "capture/capture.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../collect/sflow_builder.hpp"
#include "../support/pcap_writer.hpp"
#include "../support/slow_sink.hpp"

namespace netpulse::capture {
namespace {

using test::Bytes;
using test::cat;
using test::ip4;

using Packet = test::PcapPacket;
using test::pcap_file;

// A file of its own per test (ctest runs a binary's tests in parallel).
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = ::testing::TempDir() + "netpulse-capture-" + info->name() + "-" +
            std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".pcap";
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

Bytes udp4_frame(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, size_t payload) {
  return cat({test::ethernet(0x0800), test::ipv4(src, dst, 17, 8 + payload),
              test::udp(sport, dport, payload), test::zeros(payload)});
}

constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14 22:13:20 UTC, in µs

std::vector<Packet> three_packets() {
  return {{kT0, udp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 40000, 53, 30)},
          {kT0 + 1'500, test::tcp4_frame(ip4(10, 0, 0, 3), ip4(10, 0, 0, 4), 40001, 80, 0x02, 0)},
          {kT0 + 2'000'000, udp4_frame(ip4(10, 0, 0, 5), ip4(10, 0, 0, 6), 40002, 123, 48)}};
}

CaptureOptions file_options(const std::string& path, bool ndpi = false) {
  CaptureOptions o;
  std::string why;
  o.input = *ingest::parse_uri("pcap:" + path);
  o.processor.ndpi = ndpi;
  return o;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

struct CaptureRun {
  std::string text;
  CaptureStats stats;
  std::string error;
};

CaptureRun run_to_end(CaptureOptions o) {
  std::string why;
  auto c = Capture::open(std::move(o), &why);
  EXPECT_TRUE(c) << why;
  if (!c) return {};
  generate::StringSink sink;
  bool ended = false;
  c->on_end([&ended] { ended = true; });
  c->start(sink);
  c->wait();
  EXPECT_TRUE(ended);
  return {sink.text, c->stats(), c->error()};
}

TEST(Capture, AFileBecomesOneRecordPerIpPacket) {
  TempFile f(pcap_file(three_packets()));
  const CaptureRun r = run_to_end(file_options(f.path()));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(lines(r.text), (std::vector<std::string>{
                               "2023-11-14 22:13:20.000 DNS 10.0.0.1 10.0.0.2 58",
                               "2023-11-14 22:13:20.001 HTTP 10.0.0.3 10.0.0.4 40",
                               "2023-11-14 22:13:22.000 NTP 10.0.0.5 10.0.0.6 76"}));
  EXPECT_TRUE(r.stats.finished);
  EXPECT_FALSE(r.stats.live);
  EXPECT_EQ(r.stats.link, "EN10MB");
  EXPECT_EQ(r.stats.processor.packets, 3u);
  EXPECT_EQ(r.stats.processor.records, 3u);
  EXPECT_EQ(r.stats.processor.ip_bytes, 58u + 40 + 76);
  EXPECT_EQ(r.stats.pcap.received, 3u);
}

TEST(Capture, CsvCarriesPortsProtocolAndFlags) {
  TempFile f(pcap_file(three_packets()));
  CaptureOptions o = file_options(f.path());
  o.format = collect::TextFormat::kCsv;
  const auto out = lines(run_to_end(std::move(o)).text);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].rfind("time,protocol,src,dst,bytes,packets,src_port,dst_port,ip_protocol,tcp_flags", 0), 0u);
  EXPECT_EQ(out[2].rfind("2023-11-14 22:13:20.001,HTTP,10.0.0.3,10.0.0.4,40,1,40001,80,6,2,", 0), 0u)
      << out[2];
}

TEST(Capture, TheFilterKeepsOnlyWhatMatches) {
  TempFile f(pcap_file(three_packets()));
  CaptureOptions o = file_options(f.path());
  o.pcap.filter = "udp and not port 123";
  const CaptureRun r = run_to_end(std::move(o));
  EXPECT_EQ(lines(r.text),
            (std::vector<std::string>{"2023-11-14 22:13:20.000 DNS 10.0.0.1 10.0.0.2 58"}));
  EXPECT_EQ(r.stats.processor.packets, 1u);
}

TEST(Capture, ABadFilterIsRefusedNamingIt) {
  TempFile f(pcap_file(three_packets()));
  CaptureOptions o = file_options(f.path());
  o.pcap.filter = "udp port banana";
  std::string why;
  EXPECT_FALSE(Capture::open(std::move(o), &why));
  EXPECT_NE(why.find("--filter 'udp port banana'"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos);
}

TEST(Capture, AFileCutInsideAPacketKeepsThePacketsBeforeAndWarns) {
  std::string content = pcap_file(three_packets());
  content.resize(content.size() - 20);  // the last packet's bytes are cut
  TempFile f(content);
  const CaptureRun r = run_to_end(file_options(f.path()));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(lines(r.text).size(), 2u);
  EXPECT_NE(r.stats.warning.find("ends inside a packet"), std::string::npos) << r.stats.warning;
}

TEST(Capture, FilesLibpcapCannotReadAreOneLineErrorsNamingTheInput) {
  TempFile garbage("this is not a capture file, just some words in a row\n");
  TempFile empty("");
  for (const std::string& path : {garbage.path(), empty.path(), std::string("/nonexistent/x.pcap")}) {
    SCOPED_TRACE(path);
    std::string why;
    EXPECT_FALSE(Capture::open(file_options(path), &why));
    EXPECT_EQ(why.rfind("pcap:" + path + ": ", 0), 0u) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
}

TEST(Capture, ALinkTypeNetpulseDoesNotDecodeIsRefused) {
  TempFile f(pcap_file(three_packets(), 105));  // IEEE 802.11
  std::string why;
  EXPECT_FALSE(Capture::open(file_options(f.path()), &why));
  EXPECT_NE(why.find("link type 105"), std::string::npos) << why;
}

TEST(Capture, OtherLinkTypesDecode) {
  // Raw IP (LINKTYPE_RAW 101) and Linux cooked v1 (113) holding the same UDP packet.
  const Bytes ip = cat({test::ipv4(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 17, 8 + 10),
                        test::udp(5000, 53, 10), test::zeros(10)});
  Bytes sll = {0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00};
  sll.insert(sll.end(), ip.begin(), ip.end());
  for (auto [linktype, bytes] : {std::pair{101u, ip}, std::pair{113u, sll}}) {
    SCOPED_TRACE(linktype);
    TempFile f(pcap_file({{kT0, bytes}}, linktype));
    EXPECT_EQ(lines(run_to_end(file_options(f.path())).text),
              (std::vector<std::string>{"2023-11-14 22:13:20.000 DNS 10.0.0.1 10.0.0.2 38"}));
  }
}

TEST(Capture, NonIpAndTruncatedPacketsAreCountedNotWritten) {
  Bytes arp = cat({test::ethernet(0x0806), test::zeros(28)});
  Bytes cut = udp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 1, 2, 100);
  cut.resize(14 + 12);  // inside the IP header
  TempFile f(pcap_file({{kT0, arp}, {kT0 + 1, cut, 142}, three_packets()[0]}));
  const CaptureRun r = run_to_end(file_options(f.path()));
  EXPECT_EQ(lines(r.text).size(), 1u);
  EXPECT_EQ(r.stats.processor.packets, 3u);
  EXPECT_EQ(r.stats.processor.not_ip, 1u);
  EXPECT_EQ(r.stats.processor.truncated, 1u);
}

TEST(Capture, SpeedQueryIsReadAndChecked) {
  CaptureOptions o;
  std::string why;
  o.input = *ingest::parse_uri("pcap:x.pcap?speed=2.5");
  EXPECT_FALSE(apply_query(o));
  EXPECT_DOUBLE_EQ(o.pcap.speed, 2.5);
  for (const char* bad : {"pcap:x?speed=0", "pcap:x?speed=-1", "pcap:x?speed=fast",
                          "pcap:x?speed=", "pcap:x?rate=2", "pcap-live:eth0?speed=2"}) {
    SCOPED_TRACE(bad);
    o.input = *ingest::parse_uri(bad);
    EXPECT_TRUE(apply_query(o));
  }
}

TEST(Capture, ReplayKeepsTheCapturesPaceTimesTheSpeed) {
  // Packets 0.4 s apart over 1.2 s: at speed 4 the replay takes about 0.3 s; as fast as
  // possible, next to nothing.
  std::vector<Packet> packets;
  for (int i = 0; i < 4; ++i)
    packets.push_back({kT0 + i * 400'000, udp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 1, 53, 8)});
  TempFile f(pcap_file(packets));
  CaptureOptions paced = file_options(f.path());
  paced.input.query = "speed=4";
  auto t0 = std::chrono::steady_clock::now();
  const CaptureRun r = run_to_end(paced);
  const double paced_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(lines(r.text).size(), 4u);
  EXPECT_GE(paced_s, 0.28);
  EXPECT_LT(paced_s, 2.0);
  EXPECT_DOUBLE_EQ(r.stats.speed, 4);
}

TEST(Capture, AStopEndsASlowReplayAtOnce) {
  std::vector<Packet> packets;
  for (int i = 0; i < 3; ++i)
    packets.push_back({kT0 + i * 3600'000'000LL, udp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 1, 53, 8)});
  TempFile f(pcap_file(packets));
  CaptureOptions o = file_options(f.path());
  o.input.query = "speed=1";  // an hour between packets
  std::string why;
  auto c = Capture::open(std::move(o), &why);
  ASSERT_TRUE(c) << why;
  generate::StringSink sink;
  c->start(sink);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto t0 = std::chrono::steady_clock::now();
  c->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_EQ(lines(sink.text).size(), 1u);  // the first packet is due at once
}

// A DatagramSender that keeps what it is given.
class KeepSender final : public collect::DatagramSender {
 public:
  explicit KeepSender(std::vector<Bytes>& out) : out_(out) {}
  int send(const uint8_t* data, size_t size) override {
    out_.emplace_back(data, data + size);
    return 0;
  }

 private:
  std::vector<Bytes>& out_;
};

TEST(Capture, AsAFlowProbeEveryFlowDirectionGoesToTheExporter) {
  TempFile f(pcap_file(three_packets()));
  CaptureOptions o = file_options(f.path());
  o.processor.mode = RecordMode::kFlows;
  std::string why;
  auto c = Capture::open(std::move(o), &why);
  ASSERT_TRUE(c) << why;
  std::vector<Bytes> datagrams;
  collect::NetflowExportOptions eo;
  eo.encoder.version = collect::ExportProtocol::kIpfix;
  collect::NetflowExportSink exporter(eo, collect::ServiceTable(),
                                      std::make_unique<KeepSender>(datagrams), "netflow://test");
  c->start(exporter);
  c->wait();
  ASSERT_TRUE(exporter.finish());
  EXPECT_EQ(c->error(), "");
  EXPECT_EQ(exporter.counters().records, 3u);
  EXPECT_EQ(exporter.counters().flows_sent, 3u);
  EXPECT_FALSE(datagrams.empty());
}

// A UDP port on the loopback, bound so the kernel answers none of the test's packets with an
// ICMP error, and a live capture of the packets sent to it (needs root).
struct LoopbackPort {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  LoopbackPort() {
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof address;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len), 0);
  }
  ~LoopbackPort() { ::close(fd); }
  std::unique_ptr<Capture> capture() const {
    CaptureOptions o;
    std::string why;
    o.input = *ingest::parse_uri("pcap-live:lo");
    o.pcap.filter = "udp and dst port " + std::to_string(ntohs(address.sin_port));
    o.pcap.promiscuous = false;
    o.processor.ndpi = false;
    auto c = Capture::open(std::move(o), &why);
    EXPECT_TRUE(c) << why;
    return c;
  }
};

// A live capture stopped while a slow consumer (an engine scoring models, a slow disk) holds it
// up: the time the sink takes does not use up the stop's drain, so every packet already in the
// kernel's ring is still read and written. On the loopback, filtered to one port; needs root.
TEST(Capture, AStopDrainsTheRingBehindASlowConsumer) {
  if (::geteuid() != 0) GTEST_SKIP() << "a live capture needs root";
  LoopbackPort port;
  const sockaddr_in& a = port.address;
  auto c = port.capture();
  ASSERT_TRUE(c);
  netpulse::testing::SlowSink sink(std::chrono::milliseconds(250));
  c->start(sink);
  // 40,000 packets: about 2 MB of text, eight or more writes, over 2 s of sink.
  constexpr uint64_t kPackets = 40000;
  const int tx = ::socket(AF_INET, SOCK_DGRAM, 0);
  for (uint64_t i = 0; i < kPackets; ++i)
    ASSERT_EQ(::sendto(tx, "x", 1, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a), 1);
  ::close(tx);
  const auto start = std::chrono::steady_clock::now();
  c->stop();
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));  // the case
  const CaptureStats s = c->stats();
  EXPECT_EQ(s.pcap.kernel_drops, 0u);
  EXPECT_EQ(s.processor.packets, kPackets);
  EXPECT_EQ(sink.records(), kPackets);
  EXPECT_EQ(c->error(), "");
}

// A stop on a link that keeps sending: the ring takes no new packets once the stop begins, so the
// drain ends, and every packet read is written.
TEST(Capture, AStopEndsWhileTrafficGoesOn) {
  if (::geteuid() != 0) GTEST_SKIP() << "a live capture needs root";
  LoopbackPort port;
  const sockaddr_in& a = port.address;
  auto c = port.capture();
  ASSERT_TRUE(c);
  netpulse::testing::SlowSink sink(std::chrono::milliseconds(0));
  c->start(sink);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> sent{0};
  std::thread sender([&] {
    const int tx = ::socket(AF_INET, SOCK_DGRAM, 0);
    while (!done.load())
      if (::sendto(tx, "x", 1, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 1)
        sent.fetch_add(1);
    ::close(tx);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  c->stop();
  const auto took = std::chrono::steady_clock::now() - start;
  done = true;
  sender.join();
  EXPECT_LT(took, std::chrono::seconds(5));
  const CaptureStats s = c->stats();
  EXPECT_GT(s.processor.packets, 0u);
  EXPECT_LE(s.processor.packets, sent.load());
  EXPECT_EQ(sink.records(), s.processor.packets);
  EXPECT_EQ(c->error(), "");
}

}  // namespace
}  // namespace netpulse::capture
