// Why this is written here rather than taken from a library: per-packet flow tracking and the
// driving of nDPI are the product's hot path for captures (every packet passes through them, at
// millions a second), and their choices decide every record (flow keys, timeouts, eviction, when
// to stop asking nDPI, which name a flow carries before detection). nDPI itself is the library;
// ndpiReader's reader_util.c (nDPI 4.2) is only a demo with an unbounded per-flow tree, fixed
// idle handling and its own statistics, so we follow its detection loop (which our labels are
// checked against) but keep the flow state bounded and allocation-free here.
//
// Decisions (see the header for the contract):
// - Flow key: both endpoints in canonical order, IP protocol, outer and inner VLAN (ndpiReader
//   keys by VLAN too). ICMP type/code ride in the ports, so each type is its own flow.
// - Detection follows ndpiReader: every packet of an undetected flow goes to nDPI (from the
//   33rd on nDPI ignores them itself, so they are not passed); a flow is done when nDPI names an
//   application protocol and has nothing more to dissect, or after ndpi_max_packets_tcp/udp
//   packets (then ndpi_detection_giveup with its guess decides). Flows that end before that
//   get the give-up answer too, as ndpiReader does on idle flows and at the end of a file.
// - Other IP protocols (ICMP, ICMPv6, GRE, ESP, ...): nDPI names them by the protocol number,
//   not by dissection, so its answer after the first packet is final and not a guess.
// - Before detection a record carries nDPI's guess from addresses and ports (guessed = true);
//   when nDPI has none, its name for that: "Unknown" (ndpiReader's name for such flows too).
// - TCP FIN and RST do not end a flow: it ends by the idle timeout, as in ndpiReader, so a
//   connection's last ACKs and retransmissions keep its label instead of starting a flow of
//   their own. A new connection reusing the same ports within the idle timeout joins the old
//   flow (and its label).
// - A flow that ends (idle, evicted) after detection leaves its label in a small memory; if the
//   same key comes back soon, the new flow starts with that label, final and not guessed. Its
//   beginning, where detection happens, will not come again; ndpiReader, whose flows hardly
//   ever expire within a file, gives such packets the detected name too.
// - Later fragments are never given to nDPI (it cannot dissect them; ndpiReader drops them) and
//   do not count towards the give-up limits. They join their first fragment's flow (and label);
//   their packet records carry no ports, as on the wire. In flows mode, later fragments that
//   come before their first fragment are held (bounded, 30 s) until it tells their ports, so a
//   datagram sent last fragment first is still one flow (as reassembly sees it).
// - Packet records carry the packet's own capture time; flow state and expiry use the newest
//   time seen, so a late packet cannot make a flow end before it began.
#include "capture/packet_processor.hpp"

#include <algorithm>
#include <cassert>
#include <climits>

#include "capture/flow_table.hpp"
#include "capture/ndpi_classifier.hpp"

namespace netpulse::capture {

namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint32_t kNoFlow = UINT32_MAX;

// What one direction of a flow carried since the flow began or was last cut.
struct DirectionCounters {
  int64_t first_ms = 0;
  int64_t last_ms = 0;
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint8_t tcp_flags = 0;
};

// nDPI detects TCP and UDP applications from their payload and guesses them from ports; every
// other IP protocol it names by number.
bool named_by_ports(uint8_t ip_protocol) {
  return ip_protocol == kProtoTcp || ip_protocol == kProtoUdp;
}

struct FlowState {
  DirectionCounters dir[2];          // [0] as the flow's first packet went, [1] the other way
  int64_t period_start_ms = 0;       // flows mode: start of the active-timeout period
  ndpi_flow_struct* ndpi = nullptr;  // while nDPI is still dissecting
  std::string_view label;            // empty until the flow needs one
  NdpiProtocol detected;             // nDPI's answer once it names an application protocol
  uint32_t ndpi_packets = 0;         // packets given to (or meant for) nDPI: ndpiReader's count
  uint32_t active_older = kNoFlow;   // flows mode: list in order of period start
  uint32_t active_newer = kNoFlow;
  bool first_a_to_b = true;  // the first packet went from endpoint a to endpoint b
  bool final = false;        // the label will not change any more
  bool guessed = true;       // the label is a guess, not a completed detection
  bool counted = false;      // counted in flows_detected or flows_guessed
};

}  // namespace

struct PacketProcessor::Impl {
  Impl(const ProcessorOptions& o, core::LinkType l, const collect::ServiceTable& s,
       RecordCallback cb)
      : options(o),
        link(l),
        services(s),
        on_record(std::move(cb)),
        table(o.max_flows),
        ended_labels(o.ndpi ? o.max_flows : 1) {
    assert(o.idle_timeout_ms > 0 && o.active_timeout_ms > 0);
    if (options.ndpi) ndpi = std::make_unique<NdpiClassifier>();
  }

  ~Impl() {
    // Without finish(): give nDPI its flows back before the module goes.
    for (uint32_t id = table.oldest(); id != kNoFlow; id = table.newer(id)) {
      if (ndpi && table[id].value.ndpi != nullptr) ndpi->release_flow(table[id].value.ndpi);
    }
  }

  bool flows_mode() const { return options.mode == RecordMode::kFlows; }

  // --- time and expiry ---

  void advance_to(int64_t ms) {
    if (have_time && ms <= now_ms) return;
    now_ms = ms;
    have_time = true;
    expire();
    // Held fragments whose first fragment never came count without ports (checked once a
    // second of capture time: a scan of the fragment slots).
    if (now_ms - held_checked_ms >= 1000) {
      held_checked_ms = now_ms;
      fragments.expire_held(now_ms,
                            [this](const FragmentPorts::Held& h) { credit_held(h, 0, 0); });
    }
  }

  void expire() {
    uint32_t id;
    while ((id = table.oldest()) != kNoFlow &&
           now_ms - table[id].last_seen_ms >= options.idle_timeout_ms) {
      ++stats.flows_idle;
      end_flow(id);
    }
    if (!flows_mode()) return;
    // Each cut moves the flow to the new end with a period starting now, so this ends.
    while ((id = active_oldest) != kNoFlow &&
           now_ms - table[id].value.period_start_ms >= options.active_timeout_ms) {
      cut_flow(id);
    }
  }

  // --- the active-timeout list (flows mode) ---

  void active_link_newest(uint32_t id) {
    FlowState& f = table[id].value;
    f.active_older = active_newest;
    f.active_newer = kNoFlow;
    if (active_newest != kNoFlow) table[active_newest].value.active_newer = id;
    active_newest = id;
    if (active_oldest == kNoFlow) active_oldest = id;
  }

  void active_unlink(uint32_t id) {
    FlowState& f = table[id].value;
    if (f.active_older != kNoFlow)
      table[f.active_older].value.active_newer = f.active_newer;
    else
      active_oldest = f.active_newer;
    if (f.active_newer != kNoFlow)
      table[f.active_newer].value.active_older = f.active_older;
    else
      active_newest = f.active_older;
    f.active_older = f.active_newer = kNoFlow;
  }

  // --- flows ---

  // The addresses and ports of the flow's first packet.
  struct Endpoints {
    core::IpAddr src, dst;
    uint16_t src_port, dst_port;
  };
  static Endpoints first_packet_endpoints(const FlowKey& k, bool a_to_b) {
    const bool v6 = k.ip_version == 6;
    const core::IpAddr a{k.addr_a, v6}, b{k.addr_b, v6};
    if (a_to_b) return {a, b, k.port_a, k.port_b};
    return {b, a, k.port_b, k.port_a};
  }

  uint32_t create_flow(const FlowKey& key, uint64_t hash, bool a_to_b) {
    if (table.full()) {
      ++stats.flows_evicted;
      end_flow(table.oldest());
    }
    if (options.ndpi && !ndpi) ndpi = std::make_unique<NdpiClassifier>();  // after finish()
    const uint32_t id = table.insert(key, hash, now_ms);
    FlowState& f = table[id].value;
    f.first_a_to_b = a_to_b;
    f.period_start_ms = now_ms;
    if (!options.ndpi) {
      // The service table answers from the IP protocol and ports, which never change.
      const Endpoints e = first_packet_endpoints(key, a_to_b);
      f.label = services.name(key.ip_protocol, e.src_port, e.dst_port);
      f.final = true;
      f.guessed = false;
    } else if (const std::string_view label =
                   ended_labels.find(key, static_cast<uint32_t>(hash), now_ms);
               !label.empty()) {
      // The same conversation, detected before it ended: its name without asking nDPI again.
      f.label = label;
      f.final = true;
      f.guessed = false;
      count_outcome(f, true);
    }
    if (flows_mode()) active_link_newest(id);
    ++stats.flows_created;
    stats.flows_active = table.size();
    return id;
  }

  // The flow's label now: nDPI's name, or before detection its guess (computed once).
  std::string_view current_label(uint32_t id) {
    FlowState& f = table[id].value;
    if (f.label.empty()) {
      f.label = guess_label(table[id].key, f.first_a_to_b);
      f.guessed = named_by_ports(table[id].key.ip_protocol);
    }
    return f.label;
  }

  std::string_view guess_label(const FlowKey& key, bool a_to_b) {
    const Endpoints e = first_packet_endpoints(key, a_to_b);
    const NdpiProtocol p = ndpi->guess(key.ip_protocol, e.src, e.src_port, e.dst, e.dst_port);
    return ndpi->label(p);  // "Unknown" when nDPI has no guess, as ndpiReader says
  }

  void make_final(FlowState& f) {
    f.final = true;
    if (f.ndpi != nullptr) {
      ndpi->release_flow(f.ndpi);
      f.ndpi = nullptr;
    }
  }

  void count_outcome(FlowState& f, bool detected) {
    if (f.counted) return;
    f.counted = true;
    if (detected)
      ++stats.flows_detected;
    else
      ++stats.flows_guessed;
  }

  // nDPI's last word on a flow it has not detected: its guess, else "Unknown".
  // Returns whether nDPI named the flow.
  bool give_up(uint32_t id) {
    FlowState& f = table[id].value;
    bool was_guessed = true;
    NdpiProtocol p;
    if (f.ndpi != nullptr) p = ndpi->give_up(f.ndpi, &was_guessed);
    if (p.known()) {
      f.label = ndpi->label(p);
      f.guessed = was_guessed;
      return true;
    }
    // nDPI's name for it, as ndpiReader reports such a flow: "Unknown" after it saw packets,
    // its port guess when it saw none (a flow of later fragments only).
    f.label = f.ndpi != nullptr ? ndpi->label(p) : guess_label(table[id].key, f.first_a_to_b);
    f.guessed = true;
    return false;
  }

  // One packet of flow id for nDPI. REQUIRES: options.ndpi, !final, not a later fragment.
  void classify(uint32_t id, const uint8_t* data, uint32_t caplen) {
    FlowState& f = table[id].value;
    if (f.ndpi == nullptr) f.ndpi = ndpi->new_flow();
    ++f.ndpi_packets;
    if (f.ndpi_packets <= NdpiClassifier::kMaxDissectedPackets) {
      // The IP packet as captured, without the link layer's padding after it.
      const uint32_t l3_len = std::min(caplen - info.l3_offset, info.ip_length);
      const NdpiProtocol p = ndpi->process(f.ndpi, data + info.l3_offset,
                                           static_cast<uint16_t>(std::min<uint32_t>(l3_len, 65535)),
                                           static_cast<uint64_t>(now_ms));
      // ndpiReader's test: an application protocol means detected.
      if (p.app != 0 && !(p == f.detected)) {
        f.detected = p;
        f.label = ndpi->label(p);
        f.guessed = false;
        count_outcome(f, true);
      }
    }
    const bool detected = f.detected.app != 0;
    const uint8_t proto = table[id].key.ip_protocol;
    if (!named_by_ports(proto)) {
      // Named by the IP protocol number: final now, and no guess.
      if (!detected) {
        count_outcome(f, give_up(id));
        f.guessed = false;
      }
      make_final(f);
      return;
    }
    const bool enough = f.ndpi_packets > (proto == kProtoTcp ? options.ndpi_max_packets_tcp
                                                             : options.ndpi_max_packets_udp);
    if (!enough) {
      if (!detected) return;
      // Named, but more to learn (certificate, reply, answer): the name may still sharpen.
      // Past nDPI's own packet limit nothing changes any more, and it was possible then.
      if (f.ndpi_packets > NdpiClassifier::kMaxDissectedPackets ||
          ndpi->extra_dissection_possible(f.ndpi)) {
        return;
      }
    }
    if (!detected) {
      const bool named = give_up(id);
      count_outcome(f, named && !f.guessed);
    }
    make_final(f);
  }

  // Ends a flow: final label, flows-mode records, state freed.
  void end_flow(uint32_t id) {
    FlowState& f = table[id].value;
    const FlowKey& key = table[id].key;
    if (!f.final) {
      if (f.detected.app == 0) {
        const bool named = give_up(id);
        if (!named_by_ports(key.ip_protocol)) f.guessed = false;  // later fragments only
        count_outcome(f, named && !f.guessed);
      }
      make_final(f);
    }
    if (options.ndpi && !f.guessed && named_by_ports(key.ip_protocol)) {
      ended_labels.remember(key, table[id].hash32, f.label, table[id].last_seen_ms);
    }
    if (flows_mode()) {
      emit_directions(id);
      active_unlink(id);
    }
    table.erase(id);
    stats.flows_active = table.size();
  }

  // Flows mode: the active timeout: what the flow carried so far goes out; tracking goes on.
  void cut_flow(uint32_t id) {
    if (emit_directions(id) > 0) ++stats.flows_active_timeouts;
    FlowState& f = table[id].value;
    f.dir[0] = DirectionCounters{};
    f.dir[1] = DirectionCounters{};
    f.period_start_ms = now_ms;
    active_unlink(id);
    active_link_newest(id);
  }

  // One record per direction that carried packets; returns how many.
  int emit_directions(uint32_t id) {
    const std::string_view label = current_label(id);
    const auto& entry = table[id];
    const FlowState& f = entry.value;
    const Endpoints e = first_packet_endpoints(entry.key, f.first_a_to_b);
    int emitted = 0;
    for (int d = 0; d < 2; ++d) {
      const DirectionCounters& c = f.dir[d];
      if (c.packets == 0) continue;
      collect::ExportedFlow r;
      r.start = c.first_ms;
      r.end = c.last_ms;
      r.received = now_ms;
      r.src = d == 0 ? e.src : e.dst;
      r.dst = d == 0 ? e.dst : e.src;
      r.src_port = d == 0 ? e.src_port : e.dst_port;
      r.dst_port = d == 0 ? e.dst_port : e.src_port;
      r.bytes = c.bytes;
      r.packets = c.packets;
      r.ip_protocol = entry.key.ip_protocol;
      r.tcp_flags = c.tcp_flags;
      emit(r, label, f.guessed);
      ++emitted;
    }
    return emitted;
  }

  void emit(const collect::ExportedFlow& r, std::string_view label, bool guessed) {
    ++stats.records;
    if (guessed) ++stats.guessed_records;
    on_record(r, label, guessed);
  }

  // --- packets ---

  void process(int64_t time_us, const uint8_t* data, uint32_t caplen, uint32_t len) {
    ++stats.packets;
    stats.wire_bytes += len;
    const int64_t packet_ms = core::floor_div(time_us, 1000);
    advance_to(packet_ms);

    switch (core::decode_packet(link, data, caplen, info)) {
      case core::PacketStatus::kOk:
        break;
      case core::PacketStatus::kTruncated:
        ++stats.truncated;
        return;
      case core::PacketStatus::kNotIp:
        ++stats.not_ip;
        return;
      case core::PacketStatus::kBadHeader:
        ++stats.bad_header;
        return;
    }
    ++stats.ip_packets;
    stats.ip_bytes += info.ip_length;

    uint16_t src_port = info.src_port;
    uint16_t dst_port = info.dst_port;
    bool later_fragment = false;
    FragmentPorts::Held held;
    bool have_held = false;
    if (info.is_fragment) {
      ++stats.fragments;
      if (info.first_fragment) {
        have_held = fragments.remember(info, now_ms, &held);
      } else {
        later_fragment = true;
        if (!fragments.find(info, now_ms, &src_port, &dst_port)) {
          src_port = dst_port = 0;
          // Flows mode: held until the first fragment says whose they are (or, after a while,
          // counted without ports). A packet record goes out now, without ports.
          if (flows_mode()) {
            FragmentPorts::Held evicted;
            if (fragments.hold(info, now_ms, &evicted)) credit_held(evicted, 0, 0);
            return;
          }
        }
      }
    }

    const uint32_t id = credit(info, src_port, dst_port, info.ip_length, 1, now_ms, now_ms);
    if (have_held) credit_held(held, src_port, dst_port);

    FlowState& f = table[id].value;
    if (!f.final && !later_fragment) classify(id, data, caplen);

    if (!flows_mode()) {
      collect::ExportedFlow r;
      r.start = r.end = r.received = packet_ms;
      r.src = info.src;
      r.dst = info.dst;
      // A later fragment's record has no ports, as on the wire; its label is its datagram's.
      r.src_port = info.src_port;
      r.dst_port = info.dst_port;
      r.bytes = info.ip_length;
      r.packets = 1;
      r.ip_protocol = info.ip_protocol;
      r.tcp_flags = info.tcp_flags;
      const std::string_view label = current_label(id);
      emit(r, label, table[id].value.guessed);
    }
  }

  // Adds packets of (pi's addresses, these ports) to their flow, creating it; returns its id.
  uint32_t credit(const core::PacketInfo& pi, uint16_t src_port, uint16_t dst_port,
                  uint64_t bytes, uint64_t packets, int64_t first_ms, int64_t last_ms) {
    bool a_to_b;
    const FlowKey key = make_flow_key(pi, src_port, dst_port, &a_to_b);
    const uint64_t hash = hash_flow_key(key);
    uint32_t id = table.find(key, hash);
    if (id == kNoFlow) {
      id = create_flow(key, hash, a_to_b);
    } else {
      table.touch(id, now_ms);
    }
    FlowState& f = table[id].value;
    DirectionCounters& c = f.dir[a_to_b == f.first_a_to_b ? 0 : 1];
    if (c.packets == 0 || first_ms < c.first_ms) c.first_ms = first_ms;
    if (c.packets == 0 || last_ms > c.last_ms) c.last_ms = last_ms;
    c.bytes += bytes;
    c.packets += packets;
    c.tcp_flags |= pi.tcp_flags;
    return id;
  }

  void credit_held(const FragmentPorts::Held& h, uint16_t src_port, uint16_t dst_port) {
    credit(h.info, src_port, dst_port, h.bytes, h.packets, h.first_ms, h.last_ms);
  }

  void finish() {
    fragments.expire_held(INT64_MAX,
                          [this](const FragmentPorts::Held& h) { credit_held(h, 0, 0); });
    uint32_t id;
    while ((id = table.oldest()) != kNoFlow) end_flow(id);
    ended_labels.clear();  // its labels live in the module
    ndpi.reset();          // a later packet starts a new module
  }

  ProcessorOptions options;
  core::LinkType link;
  const collect::ServiceTable& services;
  RecordCallback on_record;
  ProcessorStats stats;
  std::unique_ptr<NdpiClassifier> ndpi;  // null without options.ndpi, and after finish()
  FlowTable<FlowState> table;
  EndedFlowLabels ended_labels;
  FragmentPorts fragments;
  int64_t held_checked_ms = INT64_MIN / 2;
  int64_t now_ms = 0;  // the newest packet time seen (expiry never goes back)
  bool have_time = false;
  uint32_t active_oldest = kNoFlow;
  uint32_t active_newest = kNoFlow;
  core::PacketInfo info;  // the packet being processed
};

PacketProcessor::PacketProcessor(const ProcessorOptions& options, core::LinkType link,
                                 const collect::ServiceTable& services, RecordCallback on_record)
    : impl_(std::make_unique<Impl>(options, link, services, std::move(on_record))) {}

PacketProcessor::~PacketProcessor() = default;

void PacketProcessor::process(int64_t time_us, const uint8_t* data, uint32_t caplen, uint32_t len) {
  impl_->process(time_us, data, caplen, len);
}

void PacketProcessor::advance(int64_t time_us) {
  impl_->advance_to(core::floor_div(time_us, 1000));
}

void PacketProcessor::finish() {
  impl_->finish();
}

const ProcessorStats& PacketProcessor::stats() const {
  return impl_->stats;
}

}  // namespace netpulse::capture
