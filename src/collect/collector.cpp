#include "collect/collector.hpp"

#include <poll.h>

#include <chrono>
#include <condition_variable>

#include "collect/netflow_decoder.hpp"
#include "collect/sflow_decoder.hpp"
#include "collect/udp_receiver.hpp"

namespace netpulse::collect {

namespace {

core::TimeMs wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string exporter_text(const ExporterAddress& a) {
  const std::string ip = core::to_string(a.address);
  return (a.address.is_v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(a.port);
}

// Text handed to the sink once this much is pending, and at the end of every poll pass, so a
// trickle of flows reaches the engine within its poll period and a flood in large blocks.
constexpr size_t kFlushBytes = 256 << 10;
constexpr int kPollMs = 50;
// A flow whose times lie this far after its arrival (or before 1970) is a lying or broken
// exporter clock:
// one such record would move the engine's watermark into the future and make every honest
// record late. Refused and counted instead. (Flows from the past are only late, and counted
// as such by the engine.)
constexpr core::TimeMs kMaxAheadMs = 3600 * 1000;

}  // namespace

struct Collector::Impl {
  CollectorOptions options;
  std::vector<std::unique_ptr<UdpReceiver>> receivers;
  std::vector<bool> is_sflow;
  NetflowDecoder netflow;
  SflowDecoder sflow;
  FlowText text{options.services, options.flow_time, options.format};

  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> running{false};
  generate::RecordSink* sink = nullptr;
  std::function<void(const std::string&)>* report = nullptr;
  std::function<void()>* on_end = nullptr;
  size_t reported = 0;

  mutable std::mutex mu;  // guards snapshot and error
  CollectorStats snapshot;
  std::string error;
  std::condition_variable ended;
  bool finished = false;

  // Receiving thread only.
  CollectorStats live;
  std::vector<Datagram> batch;
  std::vector<ExportedFlow> flows;
  std::string out;
  uint64_t out_records = 0;
  std::chrono::steady_clock::time_point last_snapshot{};
  // Time spent inside sink->write: a consumer that takes its time (an engine scoring models,
  // a slow disk) must not use up a stop's drain, which bounds only the collector's own work.
  std::chrono::steady_clock::duration in_sink{};

  explicit Impl(CollectorOptions o) : options(std::move(o)) {}

  bool flush() {
    if (out.empty()) return true;
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = sink->write(out.data(), out.size(), out_records);
    in_sink += std::chrono::steady_clock::now() - t0;
    out.clear();
    out_records = 0;
    if (!ok) {
      std::lock_guard lock(mu);
      error = sink->error();
    }
    return ok;
  }

  void publish() {
    CollectorStats s = live;
    s.sockets.clear();
    for (const auto& r : receivers) {
      r->refresh_drops();
      s.sockets.push_back({"", r->port(), r->buffer_bytes(), r->kernel_drops()});
      s.kernel_drops += r->kernel_drops();
    }
    for (size_t i = 0; i < s.sockets.size(); ++i) s.sockets[i].input = options.inputs[i].text;
    s.exporters = netflow.exporters();
    auto more = sflow.exporters();
    s.exporters.insert(s.exporters.end(), more.begin(), more.end());
    s.lost = 0;
    s.template_misses = 0;
    for (const auto& e : s.exporters) {
      s.lost += e.lost;
      s.template_misses += e.template_misses;
    }
    std::lock_guard lock(mu);
    snapshot = std::move(s);
  }

  // Decodes and formats one datagram. Returns false when the sink failed.
  bool handle(size_t input, const Datagram& d, core::TimeMs received) {
    ++live.datagrams;
    live.datagram_bytes += d.size;
    flows.clear();
    const DecodeResult r = is_sflow[input]
                               ? sflow.decode(d.data, d.size, d.from, received, flows)
                               : netflow.decode(d.data, d.size, d.from, received, flows);
    if (r.status != DecodeStatus::kOk || d.truncated) {
      ++live.malformed;
      if (report && *report && reported < options.report_limit) {
        ++reported;
        (*report)(options.inputs[input].text + ": exporter " + exporter_text(d.from) +
                  ": malformed datagram (" + std::to_string(d.size) + " bytes): " +
                  (d.truncated ? "longer than 65535 bytes" : describe(r.status)) +
                  (r.flows ? "; " + std::to_string(r.flows) + " flows before it kept" : ""));
      }
    }
    live.flows += flows.size();
    for (const ExportedFlow& f : flows) {
      // Before 1970 or over an hour after arrival: a broken clock or a lying datagram (the
      // comparisons cannot overflow: received is a wall-clock time).
      const auto bad = [&](core::TimeMs t) { return t < 0 || t > received + kMaxAheadMs; };
      if (bad(f.start) || bad(f.end)) {
        ++live.future;
        continue;
      }
      const size_t n = text.append(f, out);
      if (n == 0) ++live.implausible;
      out_records += n;
      live.records += n;
    }
    return out.size() < kFlushBytes || flush();
  }

  // Reads every socket until none has anything waiting (or the sink failed). With ready, one
  // batch per ready socket; without, until the sockets are empty or the collector has spent
  // budget of its own on it (time waiting for the sink does not count).
  bool drain_ready(const std::vector<pollfd>* ready,
                   std::chrono::steady_clock::duration budget = {}) {
    const auto start = std::chrono::steady_clock::now();
    const auto sink_before = in_sink;
    bool more = true, ok = true;
    while (more && ok) {
      if (!ready && std::chrono::steady_clock::now() - start - (in_sink - sink_before) > budget)
        break;
      more = false;
      for (size_t i = 0; i < receivers.size() && ok; ++i) {
        if (ready && !((*ready)[i].revents & POLLIN)) continue;
        std::string err;
        const size_t n = receivers[i]->receive(batch, &err);
        if (n == 0) continue;
        more = true;
        const core::TimeMs now = wall_clock_ms();
        for (const Datagram& d : batch)
          if (!(ok = handle(i, d, now))) break;
      }
      if (ready) break;  // one batch per ready socket per pass keeps exporters fair
    }
    return ok;
  }

  void run() {
    std::vector<pollfd> fds;
    for (const auto& r : receivers) fds.push_back(pollfd{r->fd(), POLLIN, 0});
    bool ok = true;
    while (ok && !stopping.load()) {
      const int n = ::poll(fds.data(), fds.size(), kPollMs);
      if (n > 0) ok = drain_ready(&fds);
      if (ok) ok = flush();
      const auto now = std::chrono::steady_clock::now();
      if (now - last_snapshot > std::chrono::milliseconds(200)) {
        publish();
        last_snapshot = now;
      }
    }
    // Everything the kernel already holds is decoded and written before the end: with the
    // sockets closed to new datagrams, all of it, however long that takes (it is bounded by
    // the receive buffers); a socket that could not be closed leaves a link that never pauses
    // feeding it, so then the drain stops after kMaxDrain of its own work.
    bool all_closed = true;
    for (auto& r : receivers) all_closed &= r->close_to_new();
    if (ok)
      ok =
          drain_ready(nullptr, all_closed ? std::chrono::steady_clock::duration::max() : kMaxDrain);
    if (ok) flush();
    publish();
    if (on_end && *on_end) (*on_end)();
    std::lock_guard lock(mu);
    finished = true;
    ended.notify_all();
  }
};

Collector::Collector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Collector::~Collector() { stop(); }

std::unique_ptr<Collector> Collector::open(CollectorOptions options, std::string* why) {
  auto impl = std::make_unique<Impl>(std::move(options));
  for (const ingest::Uri& u : impl->options.inputs) {
    auto r = UdpReceiver::open(u.host, u.port, impl->options.udp_buffer, u.text, why);
    if (!r) return nullptr;
    impl->receivers.push_back(std::move(r));
    impl->is_sflow.push_back(u.kind == ingest::Uri::Kind::kSflow);
  }
  impl->publish();
  return std::unique_ptr<Collector>(new Collector(std::move(impl)));
}

void Collector::start(generate::RecordSink& sink) {
  impl_->sink = &sink;
  impl_->report = &report_;
  impl_->on_end = &on_end_;
  sink.begin(impl_->text.header());
  impl_->running = true;
  impl_->thread = std::thread([this] { impl_->run(); });
}

void Collector::request_stop() { impl_->stopping = true; }

void Collector::stop() {
  impl_->stopping = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Collector::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->ended.wait(lock, [this] { return impl_->finished || !impl_->running; });
}

std::string Collector::error() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error;
}

CollectorStats Collector::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->snapshot;
}

std::vector<SocketStats> Collector::sockets() const { return stats().sockets; }

}  // namespace netpulse::collect
