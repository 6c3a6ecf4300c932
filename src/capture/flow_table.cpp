#include "capture/flow_table.hpp"

namespace netpulse::capture {

namespace {

// One multiply-fold round (as in wyhash): each output bit depends on all input bits of both words.
inline uint64_t mix(uint64_t a, uint64_t b) {
  const unsigned __int128 r =
      static_cast<unsigned __int128>(a ^ 0xa0761d6478bd642fULL) * (b ^ 0xe7037ed1a0b428dbULL);
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace

FlowKey make_flow_key(const core::PacketInfo& info, uint16_t src_port, uint16_t dst_port,
                      bool* a_to_b) {
  FlowKey k;
  const core::Ip6& s = info.src.bits;
  const core::Ip6& d = info.dst.bits;
  const bool forward = s < d || (s == d && src_port <= dst_port);
  if (forward) {
    k.addr_a = s;
    k.addr_b = d;
    k.port_a = src_port;
    k.port_b = dst_port;
  } else {
    k.addr_a = d;
    k.addr_b = s;
    k.port_a = dst_port;
    k.port_b = src_port;
  }
  k.vlan = info.vlan;
  k.inner_vlan = info.inner_vlan;
  k.ip_protocol = info.ip_protocol;
  k.ip_version = info.ip_version;
  *a_to_b = forward;
  return k;
}

uint64_t hash_flow_key(const FlowKey& k) {
  const uint64_t small = uint64_t{k.port_a} | uint64_t{k.port_b} << 16 | uint64_t{k.vlan} << 32 |
                         uint64_t{k.inner_vlan} << 44 | uint64_t{k.ip_protocol} << 56;
  const uint64_t h1 = mix(k.addr_a.lo ^ k.ip_version, k.addr_b.lo);
  const uint64_t h2 = mix(k.addr_a.hi, k.addr_b.hi ^ small);
  return mix(h1, h2 ^ small);
}

EndedFlowLabels::EndedFlowLabels(size_t flows) {
  size_t n = 64;
  while (n < flows && n < 65536) n *= 2;
  slots_.resize(n);
}

void EndedFlowLabels::remember(const FlowKey& key, uint32_t hash32, std::string_view label,
                               int64_t last_seen_ms) {
  Slot& s = slots_[hash32 & (slots_.size() - 1)];
  s.key = key;
  s.label = label;
  s.time_ms = last_seen_ms;
}

std::string_view EndedFlowLabels::find(const FlowKey& key, uint32_t hash32, int64_t now_ms) const {
  const Slot& s = slots_[hash32 & (slots_.size() - 1)];
  if (s.label.empty() || !(s.key == key) || now_ms - s.time_ms > kLifetimeMs) return {};
  return s.label;
}

void EndedFlowLabels::clear() {
  for (Slot& s : slots_) s = Slot{};
}

size_t FragmentPorts::slot_of(const core::PacketInfo& info) {
  const uint64_t h =
      mix(info.src.bits.lo ^ info.src.bits.hi,
          info.dst.bits.lo ^ info.dst.bits.hi ^ (uint64_t{info.ip_id} << 8 | info.ip_protocol));
  return static_cast<size_t>(h) & (kSlots - 1);
}

bool FragmentPorts::same_datagram(const core::PacketInfo& a, const core::PacketInfo& b) {
  return a.ip_id == b.ip_id && a.ip_protocol == b.ip_protocol && a.vlan == b.vlan &&
         a.src == b.src && a.dst == b.dst;
}

bool FragmentPorts::remember(const core::PacketInfo& info, int64_t now_ms, Held* held) {
  Slot& s = slots_[slot_of(info)];
  bool had = false;
  if (s.holding && same_datagram(s.held.info, info)) {
    *held = s.held;
    s.holding = false;
    --held_count_;
    had = true;
  }
  s.first = info;
  s.time_ms = now_ms;
  s.used = true;
  return had;
}

bool FragmentPorts::find(const core::PacketInfo& info, int64_t now_ms, uint16_t* src_port,
                         uint16_t* dst_port) const {
  const Slot& s = slots_[slot_of(info)];
  if (!s.used || !same_datagram(s.first, info) || now_ms - s.time_ms > kLifetimeMs) return false;
  *src_port = s.first.src_port;
  *dst_port = s.first.dst_port;
  return true;
}

bool FragmentPorts::hold(const core::PacketInfo& info, int64_t now_ms, Held* evicted) {
  Slot& s = slots_[slot_of(info)];
  bool out = false;
  if (s.holding && !same_datagram(s.held.info, info)) {
    *evicted = s.held;
    s.holding = false;
    --held_count_;
    out = true;
  }
  if (!s.holding) {
    s.holding = true;
    ++held_count_;
    s.held = Held{info, 0, 0, now_ms, now_ms};
  }
  s.held.bytes += info.ip_length;
  ++s.held.packets;
  s.held.last_ms = now_ms;
  return out;
}

}  // namespace netpulse::capture
