// Flow export speed: flows per second encoded into NetFlow v5, v9 and IPFIX datagrams on one
// core (the encoder must never be what limits a replay benchmark), and records per second
// through the generator's exporter sink, text lines to datagrams, with the socket left out.
//
//   build/bench/netpulse_bench --benchmark_filter=NetflowEncode
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "collect/export_sink.hpp"
#include "collect/netflow_encoder.hpp"
#include "core/ip_addr.hpp"

namespace netpulse::collect {
namespace {

std::vector<ExportedFlow> make_flows(size_t n, int ipv6_percent) {
  std::mt19937_64 rng(7);
  std::vector<ExportedFlow> flows(n);
  core::TimeMs t = 1'704'067'200'000;
  for (ExportedFlow& f : flows) {
    t += static_cast<core::TimeMs>(rng() % 3);
    f.start = t - static_cast<core::TimeMs>(rng() % 30'000);
    f.end = t;
    if (static_cast<int>(rng() % 100) < ipv6_percent) {
      f.src = core::IpAddr::v6(core::Ip6{0x20010db800000000ULL, rng()});
      f.dst = core::IpAddr::v6(core::Ip6{0x2a00145040070800ULL, rng()});
    } else {
      f.src = core::IpAddr::v4(static_cast<uint32_t>(rng()));
      f.dst = core::IpAddr::v4(static_cast<uint32_t>(rng()));
    }
    f.bytes = 40 + rng() % 100'000;
    f.packets = 1 + rng() % 100;
    f.src_port = static_cast<uint16_t>(rng());
    f.dst_port = 443;
    f.ip_protocol = 6;
    f.tcp_flags = 0x1b;
    f.input_if = 1;
    f.output_if = 2;
  }
  return flows;
}

// args: version (5, 9, 10), percent of IPv6 flows.
void BM_NetflowEncode(benchmark::State& state) {
  NetflowEncoderOptions o;
  o.version = static_cast<ExportProtocol>(state.range(0));
  o.sampling_rate = 100;
  o.boot_time = 1'704'067'000'000;
  const auto flows = make_flows(1 << 16, static_cast<int>(state.range(1)));
  uint64_t bytes = 0;
  NetflowEncoder enc(o, [&bytes](const uint8_t* d, size_t n) {
    benchmark::DoNotOptimize(d);
    bytes += n;
  });
  for (auto _ : state) {
    for (const ExportedFlow& f : flows) enc.add(f);
  }
  enc.flush();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * flows.size()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["datagrams"] = static_cast<double>(enc.stats().datagrams);
}
BENCHMARK(BM_NetflowEncode)
    ->Args({5, 0})
    ->Args({9, 0})
    ->Args({10, 0})
    ->Args({9, 30})
    ->Args({10, 30})
    ->ArgNames({"version", "ipv6_percent"});

class NullSender final : public DatagramSender {
 public:
  int send(const uint8_t*, size_t size) override {
    bytes += size;
    return 0;
  }
  uint64_t bytes = 0;
};

// The generator's path: line-format text parsed, labels mapped, flows encoded (IPFIX).
void BM_NetflowExportSink(benchmark::State& state) {
  const char* labels[] = {"HTTP", "HTTPS", "DNS", "SSH", "SMTP", "NTP", "SOAP", "UPnP"};
  std::mt19937_64 rng(3);
  std::string text;
  for (int i = 0; i < 20'000; ++i) {
    text += "2024-01-01 00:00:";
    text += std::to_string(10 + i / 1000) + "." + std::to_string(100 + i % 900) + " ";
    text += labels[rng() % 8];
    text += " 10.0." + std::to_string(rng() % 256) + "." + std::to_string(1 + rng() % 254);
    text += " 192.168." + std::to_string(rng() % 256) + "." + std::to_string(1 + rng() % 254);
    text += " " + std::to_string(40 + rng() % 1500) + "\n";
  }
  NetflowExportOptions o;
  o.flush_after_ms = 0;
  NetflowExportSink sink(o, ServiceTable(), std::make_unique<NullSender>(), "bench");
  sink.begin("");
  for (auto _ : state) sink.write(text.data(), text.size(), 20'000);
  sink.finish();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 20'000);
}
BENCHMARK(BM_NetflowExportSink);

}  // namespace
}  // namespace netpulse::collect
