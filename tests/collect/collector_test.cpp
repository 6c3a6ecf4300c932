// The collector over real UDP sockets on 127.0.0.1: datagrams in, flow-record text out; several
// exporters at once; a malformed datagram is counted and reported and stalls nobody; stop()
// decodes every datagram the kernel already holds. The datagrams are NetFlow v5, written here
// byte by byte (48-byte records), independent of the project's encoder.
#include "collect/collector.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../support/slow_sink.hpp"
#include "collect/udp_receiver.hpp"

namespace netpulse::collect {
namespace {

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, uint16_t(v >> 16));
  put16(b, uint16_t(v));
}

struct V5Flow {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint8_t proto;
  uint32_t packets, bytes;
  uint32_t first_ms_before_export, last_ms_before_export;
};

// Export time 2024-01-01 00:00:10.250 UTC, sysUptime 100 s.
constexpr uint32_t kUnixSecs = 1704067210;
constexpr uint32_t kUnixNsecs = 250'000'000;
constexpr uint32_t kUptime = 100'000;

std::vector<uint8_t> v5_datagram(const std::vector<V5Flow>& flows, uint32_t sequence,
                                 uint32_t unix_secs = kUnixSecs) {
  std::vector<uint8_t> b;
  put16(b, 5);
  put16(b, uint16_t(flows.size()));
  put32(b, kUptime);
  put32(b, unix_secs);
  put32(b, kUnixNsecs);
  put32(b, sequence);
  b.push_back(0);
  b.push_back(0);
  put16(b, 0);
  for (const V5Flow& f : flows) {
    put32(b, f.src);
    put32(b, f.dst);
    put32(b, 0);  // next hop
    put16(b, 1);
    put16(b, 2);
    put32(b, f.packets);
    put32(b, f.bytes);
    put32(b, kUptime - f.first_ms_before_export);
    put32(b, kUptime - f.last_ms_before_export);
    put16(b, f.sport);
    put16(b, f.dport);
    b.push_back(0);
    b.push_back(0x12);
    b.push_back(f.proto);
    b.push_back(0);
    put16(b, 0);
    put16(b, 0);
    b.push_back(24);
    b.push_back(24);
    put16(b, 0);
  }
  return b;
}

// A sink the collector thread writes and the test reads.
class LockedSink final : public generate::RecordSink {
 public:
  bool begin(std::string_view header) override {
    std::lock_guard l(mu_);
    text_.append(header);
    return true;
  }
  bool write(const char* data, size_t size, uint64_t) override {
    std::lock_guard l(mu_);
    text_.append(data, size);
    return true;
  }
  std::string text() const {
    std::lock_guard l(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

class Exporter {
 public:
  explicit Exporter(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Exporter() { ::close(fd_); }
  void send(const std::vector<uint8_t>& d) {
    ASSERT_EQ(::send(fd_, d.data(), d.size(), 0), static_cast<ssize_t>(d.size()));
  }

 private:
  int fd_ = -1;
};

std::unique_ptr<Collector> open_on_loopback(TextFormat format = TextFormat::kLine) {
  CollectorOptions o;
  std::string why;
  o.inputs.push_back(*ingest::parse_uri("netflow://127.0.0.1:0"));
  o.format = format;
  o.udp_buffer = 8 << 20;
  auto c = Collector::open(std::move(o), &why);
  EXPECT_TRUE(c) << why;
  return c;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Collector, DecodesDatagramsIntoRecords) {
  auto c = open_on_loopback();
  LockedSink sink;
  c->start(sink);
  Exporter e(c->sockets()[0].port);
  // 10.0.0.1:51000 -> 10.0.0.2:80, 3 packets, 4000 bytes, last packet 750 ms before export.
  e.send(v5_datagram({{0x0a000001, 0x0a000002, 51000, 80, 6, 3, 4000, 5000, 750},
                      {0x0a000003, 0x0a000002, 40000, 40001, 17, 1, 100, 10, 10}},
                     0));
  c->stop();
  EXPECT_EQ(sink.text(),
            "2024-01-01 00:00:09.500 HTTP 10.0.0.1 10.0.0.2 4000\n"
            "2024-01-01 00:00:10.240 UDP 10.0.0.3 10.0.0.2 100\n");
  const CollectorStats s = c->stats();
  EXPECT_EQ(s.datagrams, 1u);
  EXPECT_EQ(s.flows, 2u);
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.malformed, 0u);
  ASSERT_EQ(s.exporters.size(), 1u);
  EXPECT_EQ(s.exporters[0].protocol, ExportProtocol::kNetflowV5);
  EXPECT_EQ(core::to_string(s.exporters[0].from.address), "127.0.0.1");
}

TEST(Collector, StopDecodesEveryDatagramAlreadyReceived) {
  auto c = open_on_loopback();
  LockedSink sink;
  c->start(sink);
  Exporter e(c->sockets()[0].port);
  constexpr uint32_t kDatagrams = 2000;
  for (uint32_t i = 0; i < kDatagrams; ++i)
    e.send(v5_datagram({{0x0a000001 + i, 0x0a000002, 51000, 443, 6, 1, 100 + i, 5, 5}}, i));
  c->stop();  // immediately: the datagrams still in the socket buffer are drained
  const CollectorStats s = c->stats();
  EXPECT_EQ(s.kernel_drops, 0u);
  EXPECT_EQ(s.datagrams, kDatagrams);
  EXPECT_EQ(count_lines(sink.text()), kDatagrams);
  ASSERT_EQ(s.exporters.size(), 1u);
  EXPECT_EQ(s.exporters[0].lost, 0u);
}

TEST(Collector, MalformedDatagramsAreCountedReportedAndStallNobody) {
  auto c = open_on_loopback();
  std::vector<std::string> reports;
  std::mutex mu;
  c->on_report([&](const std::string& line) {
    std::lock_guard l(mu);
    reports.push_back(line);
  });
  LockedSink sink;
  c->start(sink);
  Exporter good(c->sockets()[0].port), bad(c->sockets()[0].port);
  auto lying = v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}}, 0);
  lying[3] = 30;  // claims 30 records, carries one
  for (int i = 0; i < 20; ++i) {
    bad.send(lying);
    bad.send({0x00, 0x07, 0x01});  // unknown version, truncated
    good.send(v5_datagram({{0x0a000001, 0x0a000002, 51000, 22, 6, 1, 60, 5, 5}}, uint32_t(i)));
  }
  c->stop();
  const std::string text = sink.text();
  size_t good_flows = 0;
  for (size_t at = 0; (at = text.find(" SSH 10.0.0.1 ", at)) != std::string::npos; ++at) ++good_flows;
  EXPECT_EQ(good_flows, 20u);  // every flow of the good exporter
  const CollectorStats s = c->stats();
  EXPECT_EQ(s.malformed, 40u);
  std::lock_guard l(mu);
  EXPECT_EQ(reports.size(), 10u);  // the first few, each one line naming the exporter
  for (const auto& r : reports) {
    EXPECT_NE(r.find("malformed datagram"), std::string::npos) << r;
    EXPECT_NE(r.find("127.0.0.1:"), std::string::npos) << r;
    EXPECT_EQ(r.find('\n'), std::string::npos);
  }
}

TEST(Collector, SequenceGapsShowAsLoss) {
  auto c = open_on_loopback();
  LockedSink sink;
  c->start(sink);
  Exporter e(c->sockets()[0].port);
  // v5 counts flows: 1 flow at 0, then at 6 (5 lost), then at 7.
  e.send(v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}}, 0));
  e.send(v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}}, 6));
  e.send(v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}}, 7));
  c->stop();
  const CollectorStats s = c->stats();
  ASSERT_EQ(s.exporters.size(), 1u);
  EXPECT_EQ(s.exporters[0].lost, 5u);
  EXPECT_EQ(s.lost, 5u);
}

// A sink that holds the collector's thread until released: the socket buffer fills meanwhile.
class GateSink final : public generate::RecordSink {
 public:
  bool begin(std::string_view) override { return true; }
  bool write(const char*, size_t, uint64_t records) override {
    std::unique_lock l(mu_);
    cv_.wait(l, [this] { return open_; });
    records_ += records;
    return true;
  }
  void open() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  uint64_t records() const {
    std::lock_guard l(mu_);
    return records_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  uint64_t records_ = 0;
};

// When netpulse cannot keep up, the kernel drops datagrams: every one of them is counted
// (SO_RXQ_OVFL), so received + dropped = sent, exactly.
TEST(Collector, KernelDropsAreCountedExactly) {
  CollectorOptions o;
  std::string why;
  o.inputs.push_back(*ingest::parse_uri("netflow://127.0.0.1:0"));
  o.udp_buffer = 4096;  // the kernel's minimum or so: a few datagrams
  auto c = Collector::open(std::move(o), &why);
  ASSERT_TRUE(c) << why;
  GateSink sink;
  c->start(sink);
  Exporter e(c->sockets()[0].port);
  e.send(v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}}, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the thread now waits in write()
  constexpr uint32_t kSent = 500;
  for (uint32_t i = 1; i <= kSent; ++i) e.send(v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}}, i));
  sink.open();
  c->stop();
  const CollectorStats s = c->stats();
  EXPECT_GT(s.kernel_drops, 0u);
  EXPECT_EQ(s.datagrams + s.kernel_drops, kSent + 1);
  EXPECT_EQ(sink.records(), s.datagrams);
  // Sequence numbers see a drop only when a later datagram arrives (these were the last ones).
  ASSERT_EQ(s.exporters.size(), 1u);
  EXPECT_LE(s.exporters[0].lost, s.kernel_drops);
}

// A consumer slower than the collector (an engine scoring models, a slow disk): the time the
// sink takes does not use up the stop's drain, so every datagram already held is still written.
TEST(Collector, StopDrainsEverythingHeldBehindASlowConsumer) {
  auto c = open_on_loopback();
  // The kernel must hold them all meanwhile: 8 MiB needs root or a raised net.core.rmem_max.
  if (c->sockets()[0].buffer_bytes < (size_t{4} << 20))
    GTEST_SKIP() << "the receive buffer is " << c->sockets()[0].buffer_bytes
                 << " bytes: run as root, or raise net.core.rmem_max";
  netpulse::testing::SlowSink sink(std::chrono::milliseconds(250));
  c->start(sink);
  Exporter e(c->sockets()[0].port);
  // 1,500 datagrams of 30 flows: about 2.3 MB of text, nine or more writes, over 2 s of sink.
  constexpr uint32_t kDatagrams = 1500, kFlows = 30;
  for (uint32_t i = 0; i < kDatagrams; ++i) {
    std::vector<V5Flow> flows;
    for (uint32_t f = 0; f < kFlows; ++f)
      flows.push_back({0x0a000001 + f, 0x0a000002, 51000, 443, 6, 1, 100 + i, 5, 5});
    e.send(v5_datagram(flows, i * kFlows));
  }
  const auto start = std::chrono::steady_clock::now();
  c->stop();
  EXPECT_GT(std::chrono::steady_clock::now() - start, kMaxDrain);  // the case this is about
  const CollectorStats s = c->stats();
  EXPECT_EQ(s.kernel_drops, 0u);
  EXPECT_EQ(s.datagrams, kDatagrams);
  EXPECT_EQ(sink.records(), uint64_t{kDatagrams} * kFlows);
}

// A stop closes the socket to new datagrams and keeps those already queued, so its drain takes
// exactly what had arrived, however long decoding it takes, and ends on a link that never pauses.
TEST(UdpReceiver, ClosedToNewItKeepsWhatWasQueuedAndTakesNothingMore) {
  for (const char* host : {"127.0.0.1", ""}) {  // one address, and every address (dual stack)
    std::string why;
    auto r = UdpReceiver::open(host, 0, 1 << 20, "test", &why);
    ASSERT_TRUE(r) << why;
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(r->port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto send_one = [&](uint8_t tag) {
      ::sendto(fd, &tag, 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    };
    for (uint8_t i = 0; i < 10; ++i) send_one(i);
    ASSERT_TRUE(r->close_to_new()) << host;
    for (uint8_t i = 10; i < 15; ++i) send_one(i);
    std::vector<uint8_t> got;
    std::vector<Datagram> batch;
    while (r->receive(batch, &why) > 0)
      for (const Datagram& d : batch) got.push_back(d.data[0]);
    EXPECT_EQ(got, (std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})) << "host '" << host << "'";
    EXPECT_EQ(why, "");
    ::close(fd);
  }
}

TEST(Collector, AStopEndsWhileAnExporterKeepsSending) {
  auto c = open_on_loopback();
  LockedSink sink;
  c->start(sink);
  std::atomic<bool> done{false};
  std::atomic<uint32_t> sent{0};
  std::thread exporter([&] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(c->sockets()[0].port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (uint32_t i = 0; !done.load(); ++i) {
      const auto d = v5_datagram({{0x0a000001, 0x0a000002, 51000, 443, 6, 1, 100, 5, 5}}, i);
      if (::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0)
        sent.fetch_add(1);
    }
    ::close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  c->stop();
  const auto took = std::chrono::steady_clock::now() - start;
  done = true;
  exporter.join();
  EXPECT_LT(took, std::chrono::seconds(5));
  const CollectorStats s = c->stats();
  EXPECT_GT(s.datagrams, 0u);
  EXPECT_LE(s.datagrams + s.kernel_drops, sent.load());
  EXPECT_EQ(count_lines(sink.text()), s.datagrams);
}

// An exporter whose clock says 2100 would move the watermark a century ahead and make every
// honest record late: its flows are refused and counted; the others' are written.
TEST(Collector, FlowsFromTheFutureAreRefusedAndCounted) {
  auto c = open_on_loopback();
  LockedSink sink;
  c->start(sink);
  Exporter liar(c->sockets()[0].port), honest(c->sockets()[0].port);
  liar.send(v5_datagram({{1, 2, 3, 4, 6, 1, 1, 1, 1}, {1, 2, 3, 4, 6, 1, 1, 1, 1}}, 0, 4102444800u));
  honest.send(v5_datagram({{0x0a000001, 0x0a000002, 51000, 80, 6, 3, 4000, 5000, 750}}, 0));
  c->stop();
  EXPECT_EQ(sink.text(), "2024-01-01 00:00:09.500 HTTP 10.0.0.1 10.0.0.2 4000\n");
  const CollectorStats s = c->stats();
  EXPECT_EQ(s.flows, 3u);  // decoded
  EXPECT_EQ(s.future, 2u);
  EXPECT_EQ(s.records, 1u);
}

TEST(Collector, RefusesAPortInUseNamingTheInput) {
  auto first = open_on_loopback();
  CollectorOptions o;
  std::string why;
  const std::string text = "netflow://127.0.0.1:" + std::to_string(first->sockets()[0].port);
  o.inputs.push_back(*ingest::parse_uri(text));
  EXPECT_EQ(Collector::open(std::move(o), &why), nullptr);
  EXPECT_NE(why.find(text), std::string::npos) << why;
}

}  // namespace
}  // namespace netpulse::collect
