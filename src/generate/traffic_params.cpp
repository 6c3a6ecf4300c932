#include "generate/traffic_params.hpp"

namespace netpulse::generate {

std::optional<std::string> validate(const TrafficParams& p) {
  if (p.rate > kMaxRate) return "rate must be from 0 to " + std::to_string(kMaxRate) + " records/s";
  if (p.ips < 1 || p.ips > kMaxAddresses)
    return "ips must be from 1 to " + std::to_string(kMaxAddresses);
  if (p.protocols < 1 || p.protocols > kMaxProtocols)
    return "protocols must be from 1 to " + std::to_string(kMaxProtocols);
  if (auto why = validate(p.ip_skew)) return "ip " + *why;
  if (auto why = validate(p.protocol_skew)) return "protocol " + *why;
  return std::nullopt;
}

std::string to_string(const TrafficParams& p) {
  return "rate=" + std::to_string(p.rate) + " ips=" + std::to_string(p.ips) +
         " protocols=" + std::to_string(p.protocols) + " ip-skew=" + to_string(p.ip_skew) +
         " protocol-skew=" + to_string(p.protocol_skew);
}

namespace {

std::shared_ptr<const AddressList> enough(std::shared_ptr<const AddressList> have, uint32_t n,
                                          double ipv6_percent) {
  if (have && have->size() >= n && have->ipv6_percent() == ipv6_percent) return have;
  return std::make_shared<const AddressList>(n, ipv6_percent);
}

}  // namespace

TrafficModel::TrafficModel(const TrafficParams& p, std::shared_ptr<const AddressList> have,
                           double ipv6_percent)
    : params(p),
      addresses(enough(std::move(have), p.ips, ipv6_percent)),
      src(p.ips, p.ip_skew),
      protocol(p.protocols, p.protocol_skew) {}

}  // namespace netpulse::generate
