#include "collect/flow_export.hpp"

namespace netpulse::collect {

const char* to_string(ExportProtocol p) {
  switch (p) {
    case ExportProtocol::kNetflowV5:
      return "netflow-v5";
    case ExportProtocol::kNetflowV9:
      return "netflow-v9";
    case ExportProtocol::kIpfix:
      return "ipfix";
    case ExportProtocol::kSflowV5:
      return "sflow-v5";
  }
  return "unknown";
}

const char* describe(DecodeStatus s) {
  switch (s) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kTooShort:
      return "shorter than its header";
    case DecodeStatus::kBadVersion:
      return "unknown version";
    case DecodeStatus::kBadLength:
      return "a length or count disagrees with the bytes present";
    case DecodeStatus::kBadTemplate:
      return "a template that cannot be right";
    case DecodeStatus::kBadSample:
      return "a sample or record runs past its container";
  }
  return "unknown status";
}

}  // namespace netpulse::collect
