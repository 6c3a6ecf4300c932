#include "capture/ndpi_classifier.hpp"

#include <ndpi/ndpi_api.h>

#include <cstring>
#include <mutex>
#include <new>

#include "core/shared_library.hpp"

namespace netpulse::capture {

namespace {

// nDPI, loaded when the first classifier is made (core/shared_library.hpp) rather than at every
// start of netpulse: libndpi has 21,850 relocations for the dynamic loader to apply, most of the
// 11 ms `netpulse --version` took (2026-12-06), and only packet capture uses it.
#define NETPULSE_NDPI_FUNCTIONS(X)              \
  X(ndpi_init_detection_module)                 \
  X(ndpi_set_protocol_detection_bitmask2)       \
  X(ndpi_finalize_initialization)               \
  X(ndpi_detection_get_sizeof_ndpi_flow_struct) \
  X(ndpi_exit_detection_module)                 \
  X(ndpi_flow_malloc)                           \
  X(ndpi_free_flow)                             \
  X(ndpi_free_flow_data)                        \
  X(ndpi_detection_process_packet)              \
  X(ndpi_extra_dissection_possible)             \
  X(ndpi_detection_giveup)                      \
  X(ndpi_guess_undetected_protocol)             \
  X(ndpi_protocol2name)

NETPULSE_LAZY_API(NdpiApi, ndpi, NETPULSE_NDPI_SONAME, "nDPI (libndpi)", NETPULSE_NDPI_FUNCTIONS)

// ndpi_init_detection_module() must not run on two threads at once (its documentation says so).
std::mutex init_mutex;

// How many released flows to keep for reuse; beyond that they are freed.
constexpr size_t kMaxSpareFlows = 4096;

NdpiProtocol to_protocol(const ndpi_protocol& p) {
  NdpiProtocol out{p.master_protocol, p.app_protocol};
  if (out.master == out.app) out.master = 0;  // giveup() returns the raw stack: {HTTP, HTTP}
  return out;
}

}  // namespace

bool load_ndpi(std::string* why) {
  return core::ok_or_why(core::load_library(ndpi), why);
}

void sanitize_label(std::string& text) {
  if (text.empty()) text = "Unknown";
  if (text.size() > 32) text.resize(32);
  for (char& c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) c = '_';
  }
}

NdpiClassifier::NdpiClassifier() {
  std::lock_guard<std::mutex> lock(init_mutex);  // the whole set-up, to be safe
  module_ = ndpi().ndpi_init_detection_module(ndpi_no_prefs);
  if (module_ == nullptr) throw std::bad_alloc();
  NDPI_PROTOCOL_BITMASK all;
  NDPI_BITMASK_SET_ALL(all);
  ndpi().ndpi_set_protocol_detection_bitmask2(module_, &all);
  ndpi().ndpi_finalize_initialization(module_);
  flow_size_ = ndpi().ndpi_detection_get_sizeof_ndpi_flow_struct();
}

NdpiClassifier::~NdpiClassifier() {
  for (ndpi_flow_struct* f : spare_flows_)
    ndpi().ndpi_free_flow(f);  // zeroed: frees the struct only
  ndpi().ndpi_exit_detection_module(module_);
}

ndpi_flow_struct* NdpiClassifier::new_flow() {
  if (!spare_flows_.empty()) {
    ndpi_flow_struct* f = spare_flows_.back();  // zeroed by release_flow()
    spare_flows_.pop_back();
    return f;
  }
  auto* f = static_cast<ndpi_flow_struct*>(ndpi().ndpi_flow_malloc(flow_size_));
  if (f == nullptr) throw std::bad_alloc();
  std::memset(static_cast<void*>(f), 0, flow_size_);
  return f;
}

void NdpiClassifier::release_flow(ndpi_flow_struct* flow) {
  if (flow == nullptr) return;
  if (spare_flows_.size() < kMaxSpareFlows) {
    // Free what the dissectors allocated, then zero the struct: it is a new flow's state again,
    // and its stale pointers cannot be freed twice.
    ndpi().ndpi_free_flow_data(flow);
    std::memset(static_cast<void*>(flow), 0, flow_size_);
    spare_flows_.push_back(flow);
  } else {
    ndpi().ndpi_free_flow(flow);
  }
}

NdpiProtocol NdpiClassifier::process(ndpi_flow_struct* flow, const uint8_t* l3, uint16_t len,
                                     uint64_t time_ms) {
  return to_protocol(ndpi().ndpi_detection_process_packet(module_, flow, l3, len, time_ms));
}

bool NdpiClassifier::extra_dissection_possible(ndpi_flow_struct* flow) {
  return ndpi().ndpi_extra_dissection_possible(module_, flow) != 0;
}

NdpiProtocol NdpiClassifier::give_up(ndpi_flow_struct* flow, bool* was_guessed) {
  uint8_t guessed = 0;
  const NdpiProtocol p = to_protocol(ndpi().ndpi_detection_giveup(module_, flow, 1, &guessed));
  *was_guessed = guessed != 0;
  return p;
}

NdpiProtocol NdpiClassifier::guess(uint8_t ip_protocol, const core::IpAddr& src, uint16_t src_port,
                                   const core::IpAddr& dst, uint16_t dst_port) {
  // nDPI 4.2 takes IPv4 hosts only; for IPv6 the address lists are skipped (0.0.0.0 is in none
  // of them) and the default ports still answer.
  const uint32_t shost = src.is_v6 ? 0 : src.v4_value();
  const uint32_t dhost = dst.is_v6 ? 0 : dst.v4_value();
  return to_protocol(ndpi().ndpi_guess_undetected_protocol(module_, nullptr, ip_protocol, shost,
                                                           src_port, dhost, dst_port));
}

std::string_view NdpiClassifier::label(NdpiProtocol p) {
  const uint32_t key = uint32_t{p.master} << 16 | p.app;
  const auto it = labels_.find(key);
  if (it != labels_.end()) return it->second;
  char buf[128];
  ndpi_protocol proto{};
  proto.master_protocol = p.master;
  proto.app_protocol = p.app;
  ndpi().ndpi_protocol2name(module_, proto, buf, sizeof buf);
  std::string text(buf);
  sanitize_label(text);
  const std::string_view view = label_text_.emplace_back(std::move(text));
  labels_.emplace(key, view);
  return view;
}

}  // namespace netpulse::capture
