#include "capture/capture.hpp"

#include <pcap/pcap.h>

#include <charconv>
#include <cmath>

namespace netpulse::capture {

namespace {

// Packets per read: large enough to amortise the call, small enough to publish figures often.
constexpr int kBatch = 512;
// Text is handed to the sink in pieces of about this size.
constexpr size_t kFlushBytes = 256 << 10;
// How long a stop may spend draining a live interface that keeps receiving (time blocked on
// the sink not counted).
constexpr std::chrono::milliseconds kMaxDrain{1000};
// The kernel hands a block of the capture ring over when it is full or after libpcap's 100 ms
// timeout: a drain ends once nothing has come for two timeouts, so the last partial block is in.
constexpr std::chrono::milliseconds kDrainQuiet{250};

int64_t system_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<std::string> apply_query(CaptureOptions& options) {
  for (const auto& [key, text] : ingest::query_pairs(options.input.query)) {
    const std::string value(text);
    if (key != "speed")
      return "unknown option '" + std::string(key) + "' (pcap: takes speed=N)";
    if (options.input.kind != ingest::Uri::Kind::kPcap)
      return "speed= replays a capture file; a live interface runs at the network's pace";
    char* end = nullptr;
    const double speed = value.empty() ? NAN : std::strtod(value.c_str(), &end);
    if (!(speed > 0) || !std::isfinite(speed) || end != value.c_str() + value.size())
      return "speed must be a number above 0 (1: the original pace, 10: ten times faster)";
    options.pcap.speed = speed;
  }
  return std::nullopt;
}

std::unique_ptr<Capture> Capture::open(CaptureOptions options, std::string* why) {
  if (auto bad = apply_query(options)) {
    *why = options.input.text + ": " + *bad;
    return nullptr;
  }
  std::unique_ptr<PcapSource> source =
      options.input.kind == ingest::Uri::Kind::kPcapLive
          ? PcapSource::open_live(options.input.path, options.pcap, why)
          : PcapSource::open_file(options.input.path, options.pcap, why);
  if (!source) return nullptr;
  return std::unique_ptr<Capture>(new Capture(std::move(options), std::move(source)));
}

Capture::Capture(CaptureOptions options, std::unique_ptr<PcapSource> source)
    : options_(std::move(options)), source_(std::move(source)) {
  snapshot_.input = options_.input.text;
  const char* name = pcap_datalink_val_to_name(static_cast<int>(source_->linktype()));
  snapshot_.link = name ? name : std::to_string(source_->linktype());
  snapshot_.live = source_->live();
  snapshot_.speed = options_.pcap.speed;
}

Capture::~Capture() { stop(); }

void Capture::start(generate::RecordSink& sink) {
  sink_ = &sink;
  thread_ = std::thread([this] { run(); });
}

void Capture::start(collect::NetflowExportSink& exporter) {
  exporter_ = &exporter;
  thread_ = std::thread([this] { run(); });
}

void Capture::request_stop() {
  stopping_.store(true);
  source_->interrupt();
}

void Capture::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
}

void Capture::wait() {
  if (thread_.joinable()) thread_.join();
}

std::string Capture::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

CaptureStats Capture::stats() const {
  CaptureStats s;
  {
    std::lock_guard lock(mutex_);
    s = snapshot_;
  }
  s.pcap = source_->stats();
  return s;
}

void Capture::run() {
  collect::FlowText text(options_.services, options_.flow_time, options_.format);
  std::string buf;
  buf.reserve(kFlushBytes + 4096);
  uint64_t buffered_records = 0;
  std::string failure;
  bool failed = false;

  PacketProcessor processor(
      options_.processor, source_->link(), options_.services,
      [&](const collect::ExportedFlow& flow, std::string_view label, bool) {
        if (exporter_) {
          failed = failed || !exporter_->add_flow(flow);
          return;
        }
        buffered_records += text.append(flow, label, buf);
      });
  // Time spent inside sink_->write: a slow consumer must not use up a stop's drain, which
  // bounds only the capture's own work.
  std::chrono::steady_clock::duration in_sink{};
  const auto flush = [&] {
    if (failed) return;
    if (sink_ && !buf.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      const bool ok = sink_->write(buf.data(), buf.size(), buffered_records);
      in_sink += std::chrono::steady_clock::now() - t0;
      if (!ok) {
        failed = true;
        failure = sink_->error();
      }
      buf.clear();
      buffered_records = 0;
    }
    if (exporter_ && !exporter_->poll()) {
      failed = true;
      failure = exporter_->error();
    }
  };
  const auto publish = [&](bool finished) {
    std::lock_guard lock(mutex_);
    snapshot_.processor = processor.stats();
    snapshot_.finished = finished;
  };
  if (sink_ && !sink_->begin(text.header())) {
    failed = true;
    failure = sink_->error();
  }
  if (exporter_ && options_.processor.mode != RecordMode::kFlows) {
    failed = true;
    failure = "a flow probe exports flows: use --records flows";
  }

  const PcapSource::PacketFn on_packet = [&processor](int64_t t, const uint8_t* data,
                                                      uint32_t caplen, uint32_t len) {
    processor.process(t, data, caplen, len);
  };
  bool draining = false, closed = false;
  std::chrono::steady_clock::time_point drain_start;
  std::chrono::steady_clock::duration in_sink_at_drain{};
  auto last_packets = std::chrono::steady_clock::now();
  std::string read_error;
  std::string warning;
  while (!failed) {
    if (stopping_.load() && !draining) {
      // A file stops where it is; a live interface first takes what the kernel already holds.
      if (!source_->live()) break;
      draining = true;
      // Closed to new packets, the ring is drained to its end however long that takes; else a
      // busy link would keep it full, and the drain ends after kMaxDrain of its own work.
      closed = source_->close_to_new();
      last_packets = drain_start = std::chrono::steady_clock::now();
      in_sink_at_drain = in_sink;
    }
    const PcapSource::Read r = source_->read(kBatch, on_packet);
    const auto now = std::chrono::steady_clock::now();
    if (r == PcapSource::Read::kPackets) last_packets = now;
    if (buf.size() >= kFlushBytes || r != PcapSource::Read::kPackets) flush();
    publish(false);
    if (r == PcapSource::Read::kEnd) break;
    if (r == PcapSource::Read::kError) {
      const std::string e = source_->error();
      // A file cut inside a packet (a capture still being written, a partial copy): what came
      // before is good, so it stays, and the summary says so.
      if (!source_->live() && e.find("truncated") != std::string::npos)
        warning = "the file ends inside a packet record (" + e + "); the packets before it were read";
      else
        read_error = options_.input.text + ": " + e;
      break;
    }
    if (r == PcapSource::Read::kIdle) {
      if (draining && now - last_packets >= kDrainQuiet) break;  // the ring is empty
      // A quiet link still ends its idle flows on time.
      if (source_->live()) processor.advance(system_now_us());
    }
    // Read again: the flush above is in in_sink already.
    if (draining && !closed &&
        std::chrono::steady_clock::now() - drain_start - (in_sink - in_sink_at_drain) >= kMaxDrain)
      break;
  }
  processor.finish();
  flush();
  {
    std::lock_guard lock(mutex_);
    snapshot_.warning = warning;
    if (!read_error.empty()) error_ = read_error;
    else if (failed && error_.empty()) error_ = failure;
  }
  publish(true);
  finished_.store(true);
  if (on_end_) on_end_();
}

}  // namespace netpulse::capture
