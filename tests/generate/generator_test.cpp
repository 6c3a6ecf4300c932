#include "generate/generator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "core/ip_addr.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::generate {
namespace {

const core::TimeMs kStart = *core::parse_datetime("2020-05-09 00:00:00");

GeneratorConfig virtual_config(uint64_t count, uint64_t rate = 1000) {
  GeneratorConfig c;
  c.params.rate = rate;
  c.count = count;
  c.seed = 1;
  c.start_time = kStart;
  return c;
}

std::string generate_text(const GeneratorConfig& c) {
  Generator g(c);
  StringSink sink;
  const RunSummary s = g.run(sink);
  EXPECT_EQ(s.records, sink.records);
  return sink.text;
}

struct Parsed {
  std::vector<core::FlowRecord> records;
  std::vector<std::string> protocols;  // by record
  uint64_t malformed = 0;
};

Parsed parse(const std::string& text, OutputFormat format = OutputFormat::kLine) {
  core::ProtocolTable table;
  ingest::FlowParser parser(
      table, format == OutputFormat::kCsv ? ingest::Format::kCsv : ingest::Format::kLine);
  Parsed out;
  size_t pos = 0;
  bool header = format == OutputFormat::kCsv;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "output does not end with a newline";
    if (nl == std::string::npos) break;
    const std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (header) {
      EXPECT_TRUE(parser.read_header(line).ok());
      header = false;
      continue;
    }
    core::FlowRecord r;
    if (parser.parse(line.data(), line.data() + line.size(), r) != ingest::ParseStatus::kOk) {
      ++out.malformed;
      continue;
    }
    out.records.push_back(r);
    out.protocols.emplace_back(table.name(r.protocol));
  }
  return out;
}

// A sink that calls a hook after each write (to drive control calls at a known point).
class HookSink final : public RecordSink {
 public:
  explicit HookSink(std::function<void(HookSink&)> hook) : hook_(std::move(hook)) {}
  bool begin(std::string_view header) override {
    text.append(header);
    return true;
  }
  bool write(const char* data, size_t size, uint64_t records) override {
    text.append(data, size);
    this->records += records;
    ++writes;
    hook_(*this);
    return ok;
  }
  bool reader_gone() const override { return gone; }
  std::string error() const override { return ok ? "" : "test sink: closed"; }
  std::string text;
  uint64_t records = 0;
  int writes = 0;
  bool ok = true;
  bool gone = false;

 private:
  std::function<void(HookSink&)> hook_;
};

// Time stands still until someone sleeps.
class FakeClock : public Clock {
 public:
  int64_t steady_ns() override { return now_ns; }
  core::TimeMs wall_ms() override { return wall0 + now_ns / 1'000'000; }
  void sleep_until(int64_t deadline) override { now_ns = std::max(now_ns, deadline); }
  int64_t now_ns = 0;
  core::TimeMs wall0 = kStart;
};

TEST(Generator, SameSeedSameBytesOtherSeedOtherBytes) {
  GeneratorConfig c = virtual_config(50'000);
  c.params.ip_skew = Skew::first_percent(30);
  c.scenarios = {Scenario{ScenarioKind::kDos, 10'000, 5'000}};
  const std::string a = generate_text(c);
  const std::string b = generate_text(c);
  EXPECT_EQ(a, b);
  c.seed = 2;
  const std::string other = generate_text(c);
  EXPECT_EQ(other.size() > 0, true);
  EXPECT_NE(a, other);
  // Same times, different draws: the first line differs after the time stamp.
  EXPECT_EQ(a.substr(0, 24), other.substr(0, 24));
}

TEST(Generator, RecordIHasStartPlusIOverRate) {
  const Parsed p = parse(generate_text(virtual_config(3000, 3)));
  ASSERT_EQ(p.records.size(), 3000u);
  for (size_t i = 0; i < p.records.size(); ++i)
    ASSERT_EQ(p.records[i].time, kStart + static_cast<core::TimeMs>(i * 1000 / 3)) << i;
}

TEST(Generator, RateZeroWithStartTimeAdvancesOneMillisecondPerThousandRecords) {
  const Parsed p = parse(generate_text(virtual_config(5000, 0)));
  ASSERT_EQ(p.records.size(), 5000u);
  EXPECT_EQ(p.records[999].time, kStart);
  EXPECT_EQ(p.records[1000].time, kStart + 1);
  EXPECT_EQ(p.records[4999].time, kStart + 4);
}

TEST(Generator, DurationWithStartTimeIsEventTime) {
  GeneratorConfig c = virtual_config(0, 1000);
  c.duration_ms = 2500;
  Generator g(c);
  StringSink sink;
  const RunSummary s = g.run(sink);
  EXPECT_EQ(s.end, RunSummary::End::kDuration);
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 2500u);
  EXPECT_EQ(p.records.back().time, kStart + 2499);
}

TEST(Generator, IpPercentGivesTheFirstAddressThatShareOfSources) {
  GeneratorConfig c = virtual_config(200'000);
  c.params.ip_skew = Skew::first_percent(40);
  c.params.protocol_skew = Skew::first_percent(25);
  const Parsed p = parse(generate_text(c));
  ASSERT_EQ(p.records.size(), 200'000u);
  const core::IpAddr first = *core::parse_ip("222.186.237.75");
  std::map<core::IpAddr, uint64_t> src;
  uint64_t http = 0;
  for (size_t i = 0; i < p.records.size(); ++i) {
    ++src[p.records[i].src];
    http += p.protocols[i] == "HTTP";
    EXPECT_NE(p.records[i].src, p.records[i].dst);
  }
  EXPECT_EQ(src.size(), 15u);
  EXPECT_NEAR(src[first] / 200'000.0, 0.40, 0.01);
  for (const auto& [ip, n] : src)
    if (ip != first) {
      EXPECT_NEAR(n / 200'000.0, 0.60 / 14, 0.005) << core::to_string(ip);
    }
  EXPECT_NEAR(http / 200'000.0, 0.25, 0.01);
}

TEST(Generator, ZipfRanksFollowTheLaw) {
  GeneratorConfig c = virtual_config(400'000);
  c.params.ips = 1000;
  c.params.ip_skew = Skew::zipf(1.0);
  c.params.protocol_skew = Skew::zipf(1.0);
  const Parsed p = parse(generate_text(c));
  std::map<core::IpAddr, uint64_t> src;
  std::map<std::string, uint64_t> proto;
  for (size_t i = 0; i < p.records.size(); ++i) {
    ++src[p.records[i].src];
    ++proto[p.protocols[i]];
  }
  const double r12 = double(src[*core::parse_ip("222.186.237.75")]) /
                     double(src[*core::parse_ip("53.215.218.189")]);
  EXPECT_NEAR(r12, 2.0, 0.15);
  EXPECT_NEAR(double(proto["HTTP"]) / double(proto["HTTPS"]), 2.0, 0.1);
  EXPECT_NEAR(double(proto["HTTP"]) / double(proto["DNS"]), 3.0, 0.15);
}

TEST(Generator, EveryRecordParsesInBothFormatsWithScenariosOn) {
  for (OutputFormat f : {OutputFormat::kLine, OutputFormat::kCsv}) {
    GeneratorConfig c = virtual_config(120'000, 10'000);
    c.format = f;
    c.params.ips = 100'000;
    c.params.ip_skew = Skew::zipf(1.1);
    c.scenarios = {Scenario{ScenarioKind::kDos, 0, 3'000},
                   Scenario{ScenarioKind::kPortscan, 2'000, 3'000},
                   Scenario{ScenarioKind::kBruteforce, 4'000, 3'000},
                   Scenario{ScenarioKind::kElephant, 6'000, 3'000}};
    const std::string text = generate_text(c);
    if (f == OutputFormat::kCsv) {
      EXPECT_EQ(text.rfind("time,protocol,src,dst,bytes\n", 0), 0u);
    }
    const Parsed p = parse(text, f);
    EXPECT_EQ(p.malformed, 0u);
    EXPECT_EQ(p.records.size(), 120'000u);
  }
}

TEST(Generator, ScenarioRecordsAppearOnlyInsideTheirInterval) {
  GeneratorConfig c = virtual_config(60'000, 1000);
  c.scenarios = {Scenario{ScenarioKind::kBruteforce, 20'000, 10'000}};
  const Parsed p = parse(generate_text(c));
  const core::IpAddr culprit = core::IpAddr::v4(profile(ScenarioKind::kBruteforce).culprit);
  uint64_t inside = 0, outside = 0;
  for (const auto& r : p.records) {
    const bool in = r.time >= kStart + 20'000 && r.time < kStart + 30'000;
    if (r.src == culprit) (in ? inside : outside)++;
  }
  EXPECT_EQ(outside, 0u);
  EXPECT_NEAR(inside / 10'000.0, profile(ScenarioKind::kBruteforce).share, 0.02);
}

TEST(Generator, PauseAndResumeWithStartTimeLeaveTheStreamUnchanged) {
  const GeneratorConfig c = virtual_config(100'000);
  const std::string reference = generate_text(c);
  Generator g(c);
  std::thread resumer;
  HookSink sink([&](HookSink& s) {
    if (s.writes != 1) return;
    g.pause();
    const uint64_t at_pause = s.records;
    resumer = std::thread([&g, at_pause] {
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      EXPECT_EQ(g.status().records, at_pause);  // nothing written while paused
      g.resume();
    });
  });
  g.run(sink);
  resumer.join();
  EXPECT_EQ(sink.text, reference);
}

TEST(Generator, ChangingTheRateCarriesEventTimeOn) {
  GeneratorConfig c = virtual_config(40'000, 1000);
  Generator g(c);
  HookSink sink([&](HookSink& s) {
    if (s.writes == 1) {
      TrafficParams p = g.params();
      p.rate = 10;
      ASSERT_FALSE(g.set_params(p));
    }
  });
  g.run(sink);
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 40'000u);
  // Monotonic, no gap larger than the new spacing, and the spacing changed from 1 ms to 100 ms.
  for (size_t i = 1; i < p.records.size(); ++i) {
    ASSERT_GE(p.records[i].time, p.records[i - 1].time);
    ASSERT_LE(p.records[i].time - p.records[i - 1].time, 100);
  }
  EXPECT_EQ(p.records[1].time - p.records[0].time, 1);
  EXPECT_EQ(p.records.back().time - p.records[p.records.size() - 2].time, 100);
}

TEST(Generator, ChangingIpsAndSkewAppliesToLaterRecords) {
  GeneratorConfig c = virtual_config(60'000, 1000);
  Generator g(c);
  uint64_t changed_after = 0;
  HookSink sink([&](HookSink& s) {
    if (s.writes == 1) {
      TrafficParams p = g.params();
      p.ips = 2;
      p.ip_skew = Skew::first_percent(100);
      ASSERT_FALSE(g.set_params(p));
      changed_after = s.records;
    }
  });
  g.run(sink);
  const Parsed p = parse(sink.text);
  const core::IpAddr first = *core::parse_ip("222.186.237.75");
  // After the batch in flight, every source is the first address.
  ASSERT_GT(changed_after, 1000u);
  for (size_t i = changed_after; i < p.records.size(); ++i) ASSERT_EQ(p.records[i].src, first) << i;
  uint64_t first_before = 0;
  for (size_t i = 0; i < changed_after; ++i) first_before += p.records[i].src == first;
  EXPECT_NEAR(first_before / double(changed_after), 1.0 / 15, 0.02);
}

TEST(Generator, RequestStopEndsTheRunWithWhatWasWritten) {
  GeneratorConfig c = virtual_config(0);
  Generator g(c);
  HookSink sink([&](HookSink& s) {
    if (s.writes == 3) g.request_stop();
  });
  const RunSummary r = g.run(sink);
  EXPECT_EQ(r.end, RunSummary::End::kStopped);
  EXPECT_EQ(r.records, sink.records);
  EXPECT_EQ(parse(sink.text).records.size(), sink.records);
}

TEST(Generator, AClosedReaderEndsTheRun) {
  Generator g(virtual_config(0));
  HookSink sink([&](HookSink& s) {
    s.ok = false;
    s.gone = true;
  });
  const RunSummary r = g.run(sink);
  EXPECT_EQ(r.end, RunSummary::End::kReaderGone);
}

TEST(Generator, PacedOnTheWallClockHoldsTheRateExactly) {
  GeneratorConfig c;
  c.params.rate = 1000;
  c.duration_ms = 3000;
  FakeClock clock;
  Generator g(c, clock);
  StringSink sink;
  const RunSummary r = g.run(sink);
  EXPECT_EQ(r.end, RunSummary::End::kDuration);
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 3000u);
  for (size_t i = 0; i < p.records.size(); ++i)
    ASSERT_EQ(p.records[i].time, kStart + static_cast<core::TimeMs>(i));
  EXPECT_NEAR(r.seconds, 3.0, 0.002);
}

TEST(Generator, RealtimeHoldsTheRateWithVirtualEventTime) {
  GeneratorConfig c = virtual_config(0, 1000);
  c.start_time = kStart - 86'400'000;  // a day before the clock: event time stays virtual
  c.realtime = true;
  c.duration_ms = 2000;
  FakeClock clock;
  Generator g(c, clock);
  StringSink sink;
  const RunSummary r = g.run(sink);
  EXPECT_EQ(r.end, RunSummary::End::kDuration);
  EXPECT_NEAR(r.seconds, 2.0, 0.002);  // it waited for the records to fall due
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 2000u);
  for (size_t i = 0; i < p.records.size(); ++i)
    ASSERT_EQ(p.records[i].time, *c.start_time + static_cast<core::TimeMs>(i));
  // The same records as without --realtime: pacing does not change the stream.
  c.realtime = false;
  EXPECT_EQ(sink.text, generate_text(c));
}

TEST(Generator, RateZeroOnTheWallClockStampsEachBatchWithTheClock) {
  GeneratorConfig c;
  c.params.rate = 0;
  c.count = 10'000;
  FakeClock clock;
  clock.now_ns = 5'000'000'000;
  Generator g(c, clock);
  StringSink sink;
  g.run(sink);
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 10'000u);
  for (const auto& rec : p.records) ASSERT_EQ(rec.time, kStart + 5000);
}

TEST(Generator, PacingSleepsInSmallBatches) {
  GeneratorConfig c;
  c.params.rate = 100'000;
  c.duration_ms = 1000;
  struct CountingClock : FakeClock {
    void sleep_until(int64_t d) override {
      ++sleeps;
      FakeClock::sleep_until(d);
    }
    int sleeps = 0;
  } clock;
  Generator g(c, clock);
  StringSink sink;
  g.run(sink);
  EXPECT_EQ(sink.records, 100'000u);
  EXPECT_GE(clock.sleeps, 900);   // about one wake-up per millisecond
  EXPECT_LE(clock.sleeps, 1100);  // not one per record
}

TEST(Generator, PacingGivesUpCatchingUpAfterASlowOutput) {
  GeneratorConfig c;
  c.params.rate = 1000;
  c.duration_ms = 10'000;
  FakeClock clock;
  Generator g(c, clock);
  HookSink sink([&](HookSink& s) {
    if (s.writes == 100) clock.now_ns += 5'000'000'000;  // the reader stalls for 5 s
  });
  g.run(sink);
  EXPECT_EQ(g.status().fell_behind, 1u);
  // No burst to catch up: about 5 s of records are missing.
  EXPECT_NEAR(static_cast<double>(sink.records), 5000, 50);
  const Parsed p = parse(sink.text);
  for (size_t i = 1; i < p.records.size(); ++i) ASSERT_GE(p.records[i].time, p.records[i - 1].time);
}

TEST(Generator, StatusCountsWhatWasWritten) {
  Generator g(virtual_config(12'345));
  StringSink sink;
  g.run(sink);
  const GeneratorStatus s = g.status();
  EXPECT_EQ(s.records, 12'345u);
  EXPECT_EQ(s.bytes, sink.text.size());
  EXPECT_EQ(s.event_time, kStart + 12'344);
  EXPECT_FALSE(s.running);
}

TEST(Generator, InvalidParamsAreRefusedAndChangeNothing) {
  Generator g(virtual_config(10));
  const TrafficParams before = g.params();
  TrafficParams p = before;
  p.ips = 10'000'001;
  EXPECT_TRUE(g.set_params(p));
  p = before;
  p.protocols = 20;
  EXPECT_TRUE(g.set_params(p));
  p = before;
  p.ip_skew = Skew::first_percent(101);
  EXPECT_TRUE(g.set_params(p));
  EXPECT_EQ(g.params(), before);
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Without the IPv6 and time-digits options the output is byte-for-byte what it was before they
// existed (the hashes are of that generator's output for the same options).
TEST(Generator, DefaultOutputIsUnchangedByTheNewOptions) {
  GeneratorConfig a = virtual_config(50'000, 1000);
  a.params.ips = 2000;
  a.params.ip_skew = Skew::zipf(1.0);
  a.params.protocol_skew = Skew::zipf(1.0);
  a.scenarios = {Scenario{ScenarioKind::kDos, 10'000, 5'000}};
  EXPECT_EQ(fnv1a(generate_text(a)), 0x374e4a729e5d88c9ULL);
  a.ipv6_percent = 0;
  a.time_digits = 3;
  EXPECT_EQ(fnv1a(generate_text(a)), 0x374e4a729e5d88c9ULL);

  GeneratorConfig b = virtual_config(50'000, 0);
  b.seed = 3;
  b.params.ips = 100'000;
  b.params.ip_skew = Skew::first_percent(30);
  b.format = OutputFormat::kCsv;
  EXPECT_EQ(fnv1a(generate_text(b)), 0xc54392c450271d32ULL);
}

GeneratorConfig issue_shape(uint64_t count) {
  GeneratorConfig c = virtual_config(count, 20'000);
  c.params.ips = 2000;
  c.params.ip_skew = Skew::zipf(1.0);
  c.ipv6_percent = 3;
  c.time_digits = kMixedTimeDigits;
  return c;
}

TEST(Generator, SameSeedAndOptionsSameBytesWithIpv6AndMixedDigits) {
  GeneratorConfig c = issue_shape(60'000);
  c.scenarios = {Scenario{ScenarioKind::kPortscan, 1'000, 1'000}};
  const std::string a = generate_text(c);
  EXPECT_EQ(a, generate_text(c));
  c.seed = 2;
  EXPECT_NE(a, generate_text(c));
}

// The time-digits option changes the time's text only: same records otherwise, and the text
// is the record's time (truncated below three digits).
TEST(Generator, TimeDigitsChangeOnlyTheTimeText) {
  GeneratorConfig c = issue_shape(80'000);
  c.ipv6_percent = 0;
  c.time_digits = 3;
  const std::string base_text = generate_text(c);
  c.time_digits = kMixedTimeDigits;
  const std::string mixed_text = generate_text(c);
  const Parsed base = parse(base_text), mixed = parse(mixed_text);
  ASSERT_EQ(mixed.malformed, 0u);
  ASSERT_EQ(base.records.size(), mixed.records.size());
  std::map<int, uint64_t> digit_counts;
  size_t pos = 0;
  for (size_t i = 0; i < base.records.size(); ++i) {
    const size_t end = mixed_text.find(' ', mixed_text.find(' ', pos) + 1);
    const std::string time_text = mixed_text.substr(pos, end - pos);
    pos = mixed_text.find('\n', pos) + 1;
    const int digits = time_text.size() == 19 ? 0 : static_cast<int>(time_text.size()) - 20;
    ++digit_counts[digits];
    const core::TimeMs unit = digits == 0 ? 1000 : digits == 1 ? 100 : digits == 2 ? 10 : 1;
    const core::FlowRecord& a = base.records[i];
    const core::FlowRecord& b = mixed.records[i];
    ASSERT_EQ(b.time, a.time - a.time % unit) << time_text;
    ASSERT_EQ(b.src, a.src);
    ASSERT_EQ(b.dst, a.dst);
    ASSERT_EQ(b.bytes, a.bytes);
    ASSERT_EQ(mixed.protocols[i], base.protocols[i]);
  }
  ASSERT_EQ(digit_counts.size(), 10u);
  for (const auto& [digits, n] : digit_counts)
    EXPECT_NEAR(static_cast<double>(n) / base.records.size(), 0.1, 0.01) << digits;

  for (int digits : {0, 1, 7, 9}) {
    c.time_digits = digits;
    const std::string text = generate_text(c);
    const std::string first = text.substr(0, text.find(' ', 11));
    EXPECT_EQ(first.size(), digits == 0 ? 19u : 20u + digits) << first;
    EXPECT_EQ(parse(text).records.size(), base.records.size());
  }
}

TEST(Generator, Ipv6PercentMakesThatShareOfSourcesAndDestinationsIpv6) {
  GeneratorConfig c = issue_shape(200'000);
  c.params.ip_skew = Skew::uniform();
  c.ipv6_percent = 20;
  c.time_digits = 3;
  const Parsed p = parse(generate_text(c));
  ASSERT_EQ(p.malformed, 0u);
  ASSERT_EQ(p.records.size(), 200'000u);
  const AddressList list(2000, 20);
  const double share = static_cast<double>(list.ipv6_count()) / list.size();
  uint64_t src6 = 0, dst6 = 0;
  for (const core::FlowRecord& r : p.records) {
    src6 += r.src.is_v6;
    dst6 += r.dst.is_v6;
  }
  EXPECT_NEAR(static_cast<double>(src6) / p.records.size(), share, 0.01);
  EXPECT_NEAR(static_cast<double>(dst6) / p.records.size(), share, 0.01);
}

// Zipf over a list with IPv6 in it: IPv6 addresses among the heavy ranks too, not only the tail.
TEST(Generator, Ipv6AddressesAreSpreadOverTheZipfRanks) {
  GeneratorConfig c = issue_shape(300'000);
  c.params.ips = 100'000;
  c.ipv6_percent = 3;
  const Parsed p = parse(generate_text(c));
  ASSERT_EQ(p.malformed, 0u);
  std::map<core::IpAddr, uint64_t> src;
  for (const core::FlowRecord& r : p.records) ++src[r.src];
  std::vector<std::pair<uint64_t, core::IpAddr>> ranked;
  for (const auto& [a, n] : src) ranked.emplace_back(n, a);
  std::sort(ranked.rbegin(), ranked.rend());
  size_t v6_top = 0;
  for (size_t i = 0; i < 500 && i < ranked.size(); ++i) v6_top += ranked[i].second.is_v6;
  EXPECT_GE(v6_top, 5u);
  EXPECT_LE(v6_top, 40u);
}

// Flood scenarios: records on top of the normal stream.

const core::IpAddr kVictim = core::IpAddr::v4(kFloodVictim);
const core::IpAddr kVictim6 = core::IpAddr::v6(kFlood6Victim);

// The text without the lines that go to a flood's victim.
std::string without_flood(const std::string& text) {
  std::string out;
  size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    const std::string_view line(text.data() + pos, nl + 1 - pos);
    if (line.find(" 203.0.113.81 ") == std::string_view::npos &&
        line.find(" 2001:db8:ffff::81 ") == std::string_view::npos)
      out.append(line);
    pos = nl + 1;
  }
  return out;
}

// 1,000 records/s for 4 s with a flood of 1,000,000 records/s from 1 s to 2 s: exactly a
// million flood records, all inside the second, all from distinct sources, merged in time order;
// and the normal records are the very ones of the same run without the flood.
TEST(Generator, FloodAddsRateTimesLengthRecordsOnTopOfTheNormalStream) {
  GeneratorConfig c = virtual_config(0, 1000);
  c.duration_ms = 4000;
  c.scenarios = {Scenario{ScenarioKind::kFlood, 1000, 1000}};
  const std::string text = generate_text(c);
  const Parsed p = parse(text);
  ASSERT_EQ(p.malformed, 0u);
  ASSERT_EQ(p.records.size(), 4000u + 1'000'000u);
  std::vector<uint32_t> sources;
  uint64_t normal_inside = 0;
  for (size_t i = 0; i < p.records.size(); ++i) {
    const core::FlowRecord& r = p.records[i];
    if (i > 0) {
      ASSERT_GE(r.time, p.records[i - 1].time) << i;
    }
    const bool inside = r.time >= kStart + 1000 && r.time < kStart + 2000;
    if (r.dst == kVictim) {
      ASSERT_TRUE(inside) << i;
      ASSERT_EQ(p.protocols[i], "HTTP");
      ASSERT_FALSE(r.src.is_v6);
      sources.push_back(r.src.v4_value());
    } else {
      normal_inside += inside;
    }
  }
  EXPECT_EQ(sources.size(), 1'000'000u);
  EXPECT_EQ(normal_inside, 1000u);  // the normal stream keeps its rate
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(std::unique(sources.begin(), sources.end()) - sources.begin(), 1'000'000);

  GeneratorConfig no_flood = c;
  no_flood.scenarios.clear();
  EXPECT_EQ(without_flood(text), generate_text(no_flood));
}

// flood6: IPv6 sources, to the IPv6 victim; with random fraction digits and IPv6 in the normal
// stream too, the normal records still do not change.
TEST(Generator, Flood6GivesIpv6SourcesAndLeavesTheNormalRecordsAlone) {
  GeneratorConfig c = issue_shape(0);
  c.time_digits = 9;  // random digits past the millisecond: from time_rng or the flood's own
  c.duration_ms = 3000;
  c.flood_rate = 50'000;
  c.scenarios = {Scenario{ScenarioKind::kPortscan, 0, 3000},
                 Scenario{ScenarioKind::kFlood6, 500, 2000}};
  const std::string text = generate_text(c);
  const Parsed p = parse(text);
  ASSERT_EQ(p.malformed, 0u);
  ASSERT_EQ(p.records.size(), 60'000u + 100'000u);
  std::set<core::IpAddr> sources;
  for (size_t i = 0; i < p.records.size(); ++i) {
    const core::FlowRecord& r = p.records[i];
    if (i > 0) {
      ASSERT_GE(r.time, p.records[i - 1].time) << i;
    }
    if (r.dst != kVictim6) continue;
    ASSERT_TRUE(r.src.is_v6);
    ASSERT_EQ(r.src.bits.hi >> 32, 0x20010db8u);
    ASSERT_GE(r.time, kStart + 500);
    ASSERT_LT(r.time, kStart + 2500);
    ASSERT_GE(r.bytes, 60u);
    ASSERT_LE(r.bytes, 84u);
    sources.insert(r.src);
  }
  EXPECT_EQ(sources.size(), 100'000u);

  GeneratorConfig no_flood = c;
  no_flood.scenarios.pop_back();
  EXPECT_EQ(without_flood(text), generate_text(no_flood));
}

TEST(Generator, FloodIsRepeatableWithTheSameSeed) {
  GeneratorConfig c = virtual_config(0, 20'000);
  c.duration_ms = 2000;
  c.flood_rate = 100'000;
  c.scenarios = {Scenario{ScenarioKind::kFlood, 0, 1000},
                 Scenario{ScenarioKind::kFlood6, 500, 1000},
                 Scenario{ScenarioKind::kDos, 200, 1000}};
  const std::string a = generate_text(c);
  EXPECT_EQ(a, generate_text(c));
  EXPECT_EQ(parse(a).records.size(), 40'000u + 200'000u);
  c.seed = 2;
  const std::string other = generate_text(c);
  EXPECT_EQ(other.size() > 0, true);
  EXPECT_NE(a, other);
}

// --count counts every record written, the flood's included; event time then ends earlier.
TEST(Generator, CountIncludesTheFloodRecords) {
  GeneratorConfig c = virtual_config(30'000, 1000);
  c.flood_rate = 9000;
  c.scenarios = {Scenario{ScenarioKind::kFlood, 1000, 60'000}};
  Generator g(c);
  StringSink sink;
  const RunSummary s = g.run(sink);
  EXPECT_EQ(s.end, RunSummary::End::kCount);
  EXPECT_EQ(s.records, 30'000u);
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 30'000u);
  // 1,000 normal records in the first second, then 10,000 a second: 3.9 s of event time.
  EXPECT_EQ(p.records.back().time, kStart + 3899);
}

// --rate 0 with --start-time: event time runs at a nominal 1,000,000 records/s, so a flood of
// 250,000/s adds one record for every four normal ones.
TEST(Generator, RateZeroFloodTakesTheShareTheRatesImply) {
  GeneratorConfig c = virtual_config(0, 0);
  c.duration_ms = 30;
  c.flood_rate = 250'000;
  c.scenarios = {Scenario{ScenarioKind::kFlood, 10, 10}};
  const Parsed p = parse(generate_text(c));
  uint64_t flood = 0, normal_inside = 0;
  for (const core::FlowRecord& r : p.records) {
    const bool inside = r.time >= kStart + 10 && r.time < kStart + 20;
    if (r.dst == kVictim)
      ++flood;
    else
      normal_inside += inside;
  }
  EXPECT_EQ(normal_inside, 10'000u);
  EXPECT_EQ(flood, 2'500u);
  EXPECT_EQ(p.records.size(), 30'000u + 2'500u);
}

// On the wall clock the normal records are paced; the flood's records go out with them, and a
// pause drops the flood's records of the gap as it does the normal ones.
TEST(Generator, FloodOnThePacedWallClock) {
  GeneratorConfig c;
  c.params.rate = 1000;
  c.duration_ms = 3000;
  c.flood_rate = 2000;
  c.scenarios = {Scenario{ScenarioKind::kFlood, 1000, 1000}};
  FakeClock clock;
  Generator g(c, clock);
  StringSink sink;
  const RunSummary r = g.run(sink);
  EXPECT_EQ(r.end, RunSummary::End::kDuration);
  EXPECT_NEAR(r.seconds, 3.0, 0.002);
  const Parsed p = parse(sink.text);
  ASSERT_EQ(p.records.size(), 3000u + 2000u);
  uint64_t flood = 0;
  for (size_t i = 0; i < p.records.size(); ++i) {
    if (i > 0) {
      ASSERT_GE(p.records[i].time, p.records[i - 1].time);
    }
    if (p.records[i].dst != kVictim) continue;
    ++flood;
    ASSERT_GE(p.records[i].time, kStart + 1000);
    ASSERT_LT(p.records[i].time, kStart + 2000);
  }
  EXPECT_EQ(flood, 2000u);

  // The reader stalls for 5 s early in the flood: pacing starts again from the clock, and the
  // flood's records of the gap are not written, as the normal ones are not.
  c.duration_ms = 10'000;
  FakeClock clock2;
  Generator stalled(c, clock2);
  HookSink hook([&](HookSink& s) {
    if (s.writes == 1100) clock2.now_ns += 5'000'000'000;
  });
  stalled.run(hook);
  EXPECT_EQ(stalled.status().fell_behind, 1u);
  const Parsed q = parse(hook.text);
  uint64_t flood2 = 0;
  for (size_t i = 0; i < q.records.size(); ++i) {
    if (i > 0) {
      ASSERT_GE(q.records[i].time, q.records[i - 1].time);
    }
    if (q.records[i].dst != kVictim) continue;
    ++flood2;
    ASSERT_LT(q.records[i].time, kStart + 1200);
  }
  EXPECT_NEAR(static_cast<double>(flood2), 200, 20);  // the first 0.1 s of the flood
  EXPECT_GE(q.records.back().time, kStart + 9000);    // the normal stream went on
}

}  // namespace
}  // namespace netpulse::generate
