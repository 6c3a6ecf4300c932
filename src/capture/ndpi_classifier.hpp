// One nDPI 4.2 detection module and what packet capture asks of it: per-flow detection state
// (recycled, so steady-state capture allocates no nDPI flow), packet dissection, giving up, the
// port/address-based guess, and the protocol names as record labels (sanitized, cached, so
// naming a flow allocates nothing after the first time). Keeps nDPI's headers out of the rest
// of the code. Not thread-safe (nDPI keeps per-packet scratch state in the module): one per
// capture thread. Constructing one takes ~50 ms and ~9 MB.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ip_addr.hpp"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;

namespace netpulse::capture {

// An nDPI protocol pair (ndpi_protocol without the category): master 0 when app stands alone
// ("HTTP"), both set for "TLS.Google", both 0 for Unknown.
struct NdpiProtocol {
  uint16_t master = 0;
  uint16_t app = 0;
  bool known() const { return master != 0 || app != 0; }
  friend bool operator==(const NdpiProtocol&, const NdpiProtocol&) = default;
};

// Loads libndpi, which netpulse does not link but loads when the first classifier is made;
// false, with a one-line reason, when it cannot be (a classifier made then throws
// std::runtime_error with that reason).
bool load_ndpi(std::string* why);

class NdpiClassifier {
 public:
  // nDPI's own cap: ndpi_detection_process_packet() returns at once after this many calls on a
  // flow (NDPI_MAX_NUM_PKTS_PER_FLOW_TO_DISSECT), so callers may stop calling.
  static constexpr uint32_t kMaxDissectedPackets = 32;

  NdpiClassifier();  // all protocols enabled, as ndpiReader does
  ~NdpiClassifier();
  NdpiClassifier(const NdpiClassifier&) = delete;
  NdpiClassifier& operator=(const NdpiClassifier&) = delete;

  // Zeroed detection state for a new flow; give it back with release_flow().
  ndpi_flow_struct* new_flow();
  void release_flow(ndpi_flow_struct* flow);

  // Dissects one packet of a flow: l3 is the IP header, len the IP bytes captured (at most the
  // IP length). REQUIRES: len readable bytes at l3.
  NdpiProtocol process(ndpi_flow_struct* flow, const uint8_t* l3, uint16_t len, uint64_t time_ms);
  // Whether nDPI would still learn more from the flow's packets (TLS certificate, HTTP reply,
  // DNS answer, ...) after it has named the protocol.
  bool extra_dissection_possible(ndpi_flow_struct* flow);
  // nDPI's final answer for a flow it has not detected, with its guess enabled.
  NdpiProtocol give_up(ndpi_flow_struct* flow, bool* was_guessed);
  // The guess for a flow before detection, from its IP protocol, ports and (IPv4 only, as
  // nDPI 4.2 takes them) addresses: IP lists (Google, ...) and default ports.
  NdpiProtocol guess(uint8_t ip_protocol, const core::IpAddr& src, uint16_t src_port,
                     const core::IpAddr& dst, uint16_t dst_port);

  // The record label of a known protocol: ndpi_protocol2name's text with characters outside
  // A-Z a-z 0-9 _ . - replaced by '_' and cut to 32. REQUIRES: p.known(). The view stays valid
  // for the classifier's life.
  std::string_view label(NdpiProtocol p);

 private:
  ndpi_detection_module_struct* module_ = nullptr;
  uint32_t flow_size_ = 0;
  std::vector<ndpi_flow_struct*> spare_flows_;             // released flows, ready for reuse
  std::unordered_map<uint32_t, std::string_view> labels_;  // master << 16 | app -> label
  std::deque<std::string> label_text_;  // owns the label bytes; a deque never moves them
};

// Makes text a record label in place: 1 to 32 of A-Z a-z 0-9 _ . - (others become '_'; empty
// text becomes "Unknown").
void sanitize_label(std::string& text);

}  // namespace netpulse::capture
