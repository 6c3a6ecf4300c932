#include "generate/generator.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "generate/event_schedule.hpp"
#include "generate/rng.hpp"

namespace netpulse::generate {

namespace {

// Records per round of the loop: control changes and the clock are looked at between rounds.
constexpr uint64_t kBatch = 4096;
// The output buffer; it is written out when less than a batch fits or, when paced, every round.
constexpr size_t kBufferSize = 1 << 20;
// Longest sleep while paced or paused, so control commands take effect promptly.
constexpr int64_t kMaxSleepNs = 20'000'000;
// Pacing gives up catching up (and starts again from now) when this far behind.
constexpr int64_t kMaxLagNs = 1'000'000'000;

uint64_t mix_seed(uint64_t seed) {
  // Seeds 1, 2, 3 should give unrelated streams, not shifted copies of one another.
  SplitMix64 s(seed ^ 0x6E657470756C7365ULL);  // "netpulse"
  return s.next();
}

}  // namespace

std::optional<std::string> validate(const GeneratorConfig& c) {
  if (auto why = validate(c.params)) return why;
  if (c.duration_ms < 0) return "duration must be positive";
  if (!(c.ipv6_percent >= 0 && c.ipv6_percent <= 100)) return "ipv6-percent must be from 0 to 100";
  if (c.time_digits != kMixedTimeDigits && (c.time_digits < 0 || c.time_digits > kMaxTimeDigits))
    return "time-digits must be from 0 to 9, or mixed";
  for (const Scenario& s : c.scenarios)
    if (s.start_ms < 0 || s.length_ms <= 0) return "scenario " + to_string(s) + ": bad interval";
  if (c.flood_rate < 1 || c.flood_rate > kMaxRate)
    return "flood-rate must be from 1 to " + std::to_string(kMaxRate) + " records/s";
  return std::nullopt;
}

// The generating loop's state: everything here belongs to the thread in run().
struct Generator::Loop {
  Loop(Generator& g, RecordSink& sink)
      : gen(g),
        sink(sink),
        fmt(g.config_.format),
        rng(mix_seed(g.config_.seed)),
        time_rng(mix_seed(g.config_.seed) ^ 0x74696D6564696769ULL),  // "timedigi"
        mixer(g.config_.scenarios),
        flood(g.config_.scenarios, g.config_.flood_rate,
              mix_seed(g.config_.seed) ^ 0x666C6F6F64737263ULL),           // "floodsrc"
        flood_time_rng(mix_seed(g.config_.seed) ^ 0x666C6F6F6474696DULL),  // "floodtim"
        extended(g.config_.ipv6_percent > 0 || g.config_.time_digits != kDefaultTimeDigits ||
                 flood.has_ipv6()),
        max_record_text(extended ? RecordFormatter::kMaxExtendedRecordText
                                 : RecordFormatter::kMaxRecordText),
        buffer(std::max(kBufferSize, 2 * kBatch * max_record_text)) {
    for (size_t i = 0; i < kMaxProtocols; ++i) small_protocol[i] = is_small_packet_protocol(i);
    char text[core::kMaxIpText];
    const char* text_end = core::format_ip(core::IpAddr::v6(kFlood6Victim), text);
    flood6_victim_text.size = static_cast<uint8_t>(text_end - text);
    std::memcpy(flood6_victim_text.text, text, flood6_victim_text.size);
  }

  // Event-time rate of the stepper for a traffic rate.
  uint64_t event_rate(uint64_t rate) const {
    if (rate > 0) return rate;
    return virtual_time ? kUnpacedEventRate : 0;
  }
  bool paced() const { return (!virtual_time || gen.config_.realtime) && model->params.rate > 0; }

  // Writes at p up to max_normal records of the normal stream and the flood records that come
  // before them in event time, at most max_total in all; stops early at the event-time end.
  // Returns how many records in all; `index` counts the normal ones.
  // Two passes over small stages: the first draws every field and prefetches the addresses
  // (with a million addresses they are cache misses, and independent ones overlap), the second
  // formats. The draws happen in the same order as one record at a time would make them.
  uint64_t emit(char*& p, uint64_t max_total, uint64_t max_normal) {
    uint64_t done = 0;
    uint64_t normal_budget = max_normal;
    while (done < max_total && normal_budget > 0 && !ended_by_event_time) {
      const size_t k = stage_draws(
          static_cast<size_t>(std::min<uint64_t>(max_total - done, kStage)), normal_budget);
      p = stage_format(p, k);
      done += k;
    }
    index += max_normal - normal_budget;
    return done;
  }

  // Draws up to n records into the stage: the normal stream's and, merged by exact event time,
  // the floods' (a flood record goes first on a tie). Stops before a normal record when
  // normal_budget is spent, and at the event-time end.
  size_t stage_draws(size_t n, uint64_t& normal_budget) {
    const TrafficModel& m = *model;
    const uint32_t* addresses = m.addresses->data();
    const uint32_t others = m.params.ips - 1;  // candidates for dst besides src
    const PacketSizeMix* size_mix[2] = {&m.bulk_sizes, &m.small_sizes};  // by small_protocol
    for (size_t k = 0; k < n; ++k) {
      const core::TimeMs t = stepper.next_time();
      if (flood.next_time() <= t && flood.precedes(stepper)) {
        if (flood.next_time() >= end_event) {
          ended_by_event_time = true;
          return k;
        }
        stage_flood(k);
        continue;
      }
      if (t >= end_event) {
        ended_by_event_time = true;
        return k;
      }
      if (normal_budget == 0) return k;
      --normal_budget;
      stepper.step();
      if (t >= mixer.next_change()) mixer.update(t);
      Staged& st = stage[k];
      st.time = t;
      st.source = Source::kValue;
      if (mixer.active() && mixer.draw(rng.next(), rng, st.fields)) continue;
      const uint32_t s = m.src.draw(rng.next());
      const uint32_t protocol = m.protocol.draw(rng.next());
      const uint64_t r = rng.next();
      // dst: uniform over the other addresses (src itself only when there is no other).
      uint32_t d = scale32(low32(r), others);
      d += (d >= s) & (others != 0);
      __builtin_prefetch(addresses + s);
      __builtin_prefetch(addresses + d);
      st.source = Source::kIndex;
      st.fields.protocol = protocol;
      st.fields.src = s;
      st.fields.dst = d;
      st.fields.bytes = size_mix[small_protocol[protocol]]->draw(high32(r));
    }
    return n;
  }

  // The next flood record into stage slot k. Out of line: the normal records' loop stays as
  // tight as it was.
  [[gnu::noinline]] void stage_flood(size_t k) {
    FloodRecord r;
    flood.draw(r);
    Staged& st = stage[k];
    st.time = r.time;
    st.fields = r.fields;
    if (!r.v6) {
      st.source = Source::kFlood;
      return;
    }
    st.source = Source::kFlood6;
    char text[core::kMaxIpText];
    const char* text_end = core::format_ip(core::IpAddr::v6(r.src6), text);
    AddressList::V6Text& t = flood_src_text[k];
    t.size = static_cast<uint8_t>(text_end - text);
    std::memcpy(t.text, text, t.size);
  }

  char* stage_format(char* out, size_t n) {
    if (extended) return stage_format_extended(out, n);
    const uint32_t* addresses = model->addresses->data();
    for (size_t k = 0; k < n; ++k) {
      const Staged& st = stage[k];
      const RecordFields& f = st.fields;
      const bool by_index = st.source == Source::kIndex;  // never kFlood6 here: extended
      const uint32_t src = by_index ? addresses[f.src] : f.src;
      const uint32_t dst = by_index ? addresses[f.dst] : f.dst;
      out = fmt.write(out, st.time, f.protocol, src, dst, f.bytes);
    }
    if (n > 0) last_time = stage[n - 1].time;
    return out;
  }

  // The same with IPv6 addresses and any number of fraction digits. Out of line, so that the
  // default loop above is compiled as it was before this path existed.
  [[gnu::noinline]] char* stage_format_extended(char* out, size_t n) {
    const AddressList& list = *model->addresses;
    const uint32_t* addresses = list.data();
    const bool has_v6 = list.ipv6_count() > 0;
    const int fixed_digits = gen.config_.time_digits;
    auto address = [&](bool by_index, uint32_t field) -> RecordFormatter::Address {
      if (!by_index) return {field, nullptr};
      const uint32_t entry = addresses[field];
      if (has_v6 && AddressList::is_v6_entry(entry)) return {0, &list.v6_text(entry)};
      return {entry, nullptr};
    };
    for (size_t k = 0; k < n; ++k) {
      const Staged& st = stage[k];
      const RecordFields& f = st.fields;
      // Flood records draw their digits from a stream of their own: a flood leaves the normal
      // records' text as it is.
      const uint64_t r = st.source >= Source::kFlood ? flood_time_rng.next() : time_rng.next();
      const int digits = fixed_digits == kMixedTimeDigits
                             ? static_cast<int>(scale32(low32(r), kMaxTimeDigits + 1))
                             : fixed_digits;
      const bool by_index = st.source == Source::kIndex;
      const bool flood6 = st.source == Source::kFlood6;
      out = fmt.write_extended(
          out, st.time, digits, scale32(high32(r), 1'000'000), f.protocol,
          flood6 ? RecordFormatter::Address{0, &flood_src_text[k]} : address(by_index, f.src),
          flood6 ? RecordFormatter::Address{0, &flood6_victim_text} : address(by_index, f.dst),
          f.bytes);
    }
    if (n > 0) last_time = stage[n - 1].time;
    return out;
  }

  bool flush() {
    const size_t size = static_cast<size_t>(end - buffer.data());
    if (size == 0) return true;
    const bool ok = sink.write(buffer.data(), size, pending_records);
    gen.records_.fetch_add(pending_records, std::memory_order_relaxed);
    gen.bytes_.fetch_add(size, std::memory_order_relaxed);
    gen.event_time_.store(last_time, std::memory_order_relaxed);
    end = buffer.data();
    pending_records = 0;
    return ok;
  }

  // Takes up a new model; a new rate re-anchors event time and pacing at the next record.
  void adopt(std::shared_ptr<const TrafficModel> m, int64_t now_ns) {
    const uint64_t old_rate = model ? model->params.rate : UINT64_MAX;
    model = std::move(m);
    if (model->params.rate != old_rate) {
      stepper.reset(stepper.next_time(), event_rate(model->params.rate));
      pacer.anchor(index, now_ns, model->params.rate);
    }
  }

  // After a pause or a lag too long to catch up: pacing starts again from now, and wall-clock
  // event time jumps to the clock, floods included (virtual event time simply carries on).
  void restart_pacing(int64_t now_ns) {
    pacer.anchor(index, now_ns, model->params.rate);
    if (!virtual_time) {
      stepper.reset(std::max(stepper.next_time(), gen.clock_.wall_ms()),
                    event_rate(model->params.rate));
      flood.skip_to(stepper.next_time());
    }
  }

  // Where a staged record's addresses are.
  enum class Source : uint8_t {
    kIndex,   // src and dst are indexes into the address list
    kValue,   // src and dst are IPv4 values (a scenario's record)
    kFlood,   // likewise, a flood's record
    kFlood6,  // src is flood_src_text[k], dst the IPv6 victim
  };
  // One stage of drawn records waiting to be formatted.
  struct Staged {
    core::TimeMs time;
    RecordFields fields;
    Source source;
  };
  static constexpr size_t kStage = 64;

  Generator& gen;
  RecordSink& sink;
  std::array<Staged, kStage> stage{};
  std::array<AddressList::V6Text, kStage> flood_src_text{};  // by stage slot, for kFlood6
  AddressList::V6Text flood6_victim_text{};
  RecordFormatter fmt;
  SplitMix64 rng;
  SplitMix64 time_rng;  // fraction digits: their count (mixed) and those past the millisecond
  ScenarioMixer mixer;
  FloodSchedule flood;
  SplitMix64 flood_time_rng;  // time_rng for the flood's records
  const bool extended;  // IPv6 addresses or fraction digits other than 3: stage_format_extended
  const size_t max_record_text;
  std::array<uint8_t, kMaxProtocols> small_protocol{};  // 1: small-packet mix
  std::vector<char> buffer;
  char* end = nullptr;  // of the text in buffer
  uint64_t pending_records = 0;
  core::TimeMs last_time = 0;

  std::shared_ptr<const TrafficModel> model;
  bool virtual_time = false;
  EventTimeStepper stepper;
  Pacer pacer;
  uint64_t index = 0;    // records of the normal stream generated so far (what pacing counts)
  uint64_t written = 0;  // records generated so far, flood ones included (what --count counts)
  core::TimeMs end_event = INT64_MAX;
  bool ended_by_event_time = false;
};

Generator::Generator(GeneratorConfig config, Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  model_ = std::make_shared<const TrafficModel>(config_.params, nullptr, config_.ipv6_percent);
}

Generator::~Generator() = default;

std::optional<std::string> Generator::set_params(const TrafficParams& p) {
  if (auto why = validate(p)) return why;
  std::lock_guard set_lock(set_mu_);
  std::shared_ptr<const AddressList> addresses;
  {
    std::lock_guard lock(mu_);
    addresses = model_->addresses;
  }
  auto fresh = std::make_shared<const TrafficModel>(p, std::move(addresses), config_.ipv6_percent);
  {
    std::lock_guard lock(mu_);
    model_ = std::move(fresh);
    model_version_.fetch_add(1);
  }
  cv_.notify_all();
  return std::nullopt;
}

TrafficParams Generator::params() const {
  std::lock_guard lock(mu_);
  return model_->params;
}

std::shared_ptr<const TrafficModel> Generator::model(uint64_t* version) const {
  std::lock_guard lock(mu_);
  if (version) *version = model_version_.load();
  return model_;
}

void Generator::pause() {
  paused_ = true;
}

void Generator::resume() {
  {
    std::lock_guard lock(mu_);
    paused_ = false;
  }
  cv_.notify_all();
}

void Generator::request_stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool Generator::wait_while_paused(int64_t timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !paused_ || stop_; });
  return paused_ && !stop_;
}

GeneratorStatus Generator::status() const {
  GeneratorStatus s;
  s.params = params();
  s.paused = paused_.load();
  s.running = running_.load();
  s.records = records_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.event_time = event_time_.load(std::memory_order_relaxed);
  s.fell_behind = fell_behind_.load(std::memory_order_relaxed);
  return s;
}

RunSummary Generator::run(RecordSink& sink) {
  running_ = true;
  RunSummary summary;
  Loop loop(*this, sink);
  loop.end = loop.buffer.data();
  const int64_t start_ns = clock_.steady_ns();
  auto finish = [&](RunSummary::End end) {
    summary.end = end;
    if (!loop.flush() && summary.end != RunSummary::End::kOutputError &&
        summary.end != RunSummary::End::kReaderGone) {
      summary.end =
          sink.reader_gone() ? RunSummary::End::kReaderGone : RunSummary::End::kOutputError;
      summary.error = sink.error();
    }
    summary.records = records_.load();
    summary.bytes = bytes_.load();
    summary.seconds = static_cast<double>(clock_.steady_ns() - start_ns) / 1e9;
    running_ = false;
    return summary;
  };
  auto failed = [&] {
    summary.error = sink.error();
    return finish(sink.reader_gone() ? RunSummary::End::kReaderGone
                                     : RunSummary::End::kOutputError);
  };

  if (!sink.begin(loop.fmt.header())) return failed();

  uint64_t version = 0;
  loop.virtual_time = config_.start_time.has_value();
  const core::TimeMs origin = loop.virtual_time ? *config_.start_time : clock_.wall_ms();
  loop.mixer.set_origin(origin);
  loop.flood.set_origin(origin);
  loop.stepper.reset(origin, 0);
  loop.adopt(model(&version), start_ns);
  if (loop.virtual_time && config_.duration_ms > 0) loop.end_event = origin + config_.duration_ms;
  const int64_t end_ns = !loop.virtual_time && config_.duration_ms > 0
                             ? start_ns + config_.duration_ms * 1'000'000
                             : INT64_MAX;

  const size_t flush_at = loop.buffer.size() - kBatch * loop.max_record_text;
  static_assert(kBufferSize > 2 * kBatch * RecordFormatter::kMaxRecordText);

  while (true) {
    if (stop_.load(std::memory_order_relaxed)) return finish(RunSummary::End::kStopped);
    if (config_.count != 0 && loop.written >= config_.count) return finish(RunSummary::End::kCount);
    if (paused_.load(std::memory_order_relaxed)) {
      if (!loop.flush()) return failed();
      if (wait_while_paused(100)) continue;
      loop.restart_pacing(clock_.steady_ns());
      continue;
    }
    if (model_version_.load(std::memory_order_acquire) != version)
      loop.adopt(model(&version), clock_.steady_ns());

    uint64_t n = kBatch;  // records this round, flood ones included
    if (config_.count != 0) n = std::min(n, config_.count - loop.written);
    uint64_t normal = UINT64_MAX;  // of them from the normal stream
    const int64_t now = end_ns == INT64_MAX && !loop.paced() ? 0 : clock_.steady_ns();
    if (loop.paced()) {
      const int64_t until = std::min(now, end_ns);
      uint64_t due = loop.pacer.due(until);
      if (now >= end_ns && loop.index >= due) return finish(RunSummary::End::kDuration);
      if (due > loop.index && until - loop.pacer.time_of(loop.index + 1) > kMaxLagNs) {
        // The output cannot keep up (a slow reader): do not burst to catch up.
        fell_behind_.fetch_add(1, std::memory_order_relaxed);
        loop.restart_pacing(now);
        continue;
      }
      if (due <= loop.index) {
        if (!loop.flush()) return failed();
        // Sleep until about a millisecond's worth of records is due: small batches, not a
        // sleep per record.
        const uint64_t batch = std::max<uint64_t>(1, loop.pacer.rate() / 1000);
        const int64_t wake =
            std::min({loop.pacer.time_of(loop.index + batch), now + kMaxSleepNs, end_ns});
        clock_.sleep_until(wake);
        continue;
      }
      // Flood records go out with the normal records they come before.
      normal = due - loop.index;
    } else {
      if (now >= end_ns) return finish(RunSummary::End::kDuration);
      if (!loop.virtual_time)  // rate 0 on the wall clock: stamp each batch with the clock
        loop.stepper.set_next_time(std::max(loop.stepper.next_time(), clock_.wall_ms()));
    }

    const uint64_t produced = loop.emit(loop.end, n, normal);
    loop.written += produced;
    loop.pending_records += produced;
    if (loop.ended_by_event_time) return finish(RunSummary::End::kDuration);
    if (loop.paced() || static_cast<size_t>(loop.end - loop.buffer.data()) >= flush_at) {
      if (!loop.flush()) return failed();
    }
  }
}

}  // namespace netpulse::generate
