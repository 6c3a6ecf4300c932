#include "detect/nslkdd_schema.hpp"

namespace netpulse::detect {

namespace {

constexpr std::string_view kProtocols[] = {"tcp", "udp", "icmp"};

// The 70 services of KDDTrain+ (the KDD'99 files use a subset of them), sorted.
constexpr std::string_view kServices[] = {
    "IRC",      "X11",      "Z39_50",      "aol",        "auth",        "bgp",      "courier",
    "csnet_ns", "ctf",      "daytime",     "discard",    "domain",      "domain_u", "echo",
    "eco_i",    "ecr_i",    "efs",         "exec",       "finger",      "ftp",      "ftp_data",
    "gopher",   "harvest",  "hostnames",   "http",       "http_2784",   "http_443", "http_8001",
    "imap4",    "iso_tsap", "klogin",      "kshell",     "ldap",        "link",     "login",
    "mtp",      "name",     "netbios_dgm", "netbios_ns", "netbios_ssn", "netstat",  "nnsp",
    "nntp",     "ntp_u",    "other",       "pm_dump",    "pop_2",       "pop_3",    "printer",
    "private",  "red_i",    "remote_job",  "rje",        "shell",       "smtp",     "sql_net",
    "ssh",      "sunrpc",   "supdup",      "systat",     "telnet",      "tftp_u",   "tim_i",
    "time",     "urh_i",    "urp_i",       "uucp",       "uucp_path",   "vmnet",    "whois"};

constexpr std::string_view kFlags[] = {"OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0",
                                       "S1",  "S2",  "S3",   "SF",     "SH"};

constexpr FeatureType N = FeatureType::kNumeric;
constexpr FeatureType C = FeatureType::kCategorical;

constexpr FeatureInfo kFeatures[kFeatureCount] = {
    {"duration", N, {}},
    {"protocol_type", C, kProtocols},
    {"service", C, kServices},
    {"flag", C, kFlags},
    {"src_bytes", N, {}},
    {"dst_bytes", N, {}},
    {"land", N, {}},
    {"wrong_fragment", N, {}},
    {"urgent", N, {}},
    {"hot", N, {}},
    {"num_failed_logins", N, {}},
    {"logged_in", N, {}},
    {"num_compromised", N, {}},
    {"root_shell", N, {}},
    {"su_attempted", N, {}},
    {"num_root", N, {}},
    {"num_file_creations", N, {}},
    {"num_shells", N, {}},
    {"num_access_files", N, {}},
    {"num_outbound_cmds", N, {}},
    {"is_host_login", N, {}},
    {"is_guest_login", N, {}},
    {"count", N, {}},
    {"srv_count", N, {}},
    {"serror_rate", N, {}},
    {"srv_serror_rate", N, {}},
    {"rerror_rate", N, {}},
    {"srv_rerror_rate", N, {}},
    {"same_srv_rate", N, {}},
    {"diff_srv_rate", N, {}},
    {"srv_diff_host_rate", N, {}},
    {"dst_host_count", N, {}},
    {"dst_host_srv_count", N, {}},
    {"dst_host_same_srv_rate", N, {}},
    {"dst_host_diff_srv_rate", N, {}},
    {"dst_host_same_src_port_rate", N, {}},
    {"dst_host_srv_diff_host_rate", N, {}},
    {"dst_host_serror_rate", N, {}},
    {"dst_host_srv_serror_rate", N, {}},
    {"dst_host_rerror_rate", N, {}},
    {"dst_host_srv_rerror_rate", N, {}},
};

struct LabelInfo {
  std::string_view name;
  Family family;
};

constexpr LabelInfo kLabels[] = {
    {"normal", Family::kNormal},
    // DoS
    {"back", Family::kDos},
    {"land", Family::kDos},
    {"neptune", Family::kDos},
    {"pod", Family::kDos},
    {"smurf", Family::kDos},
    {"teardrop", Family::kDos},
    {"apache2", Family::kDos},
    {"mailbomb", Family::kDos},
    {"processtable", Family::kDos},
    {"udpstorm", Family::kDos},
    // Probe
    {"ipsweep", Family::kProbe},
    {"nmap", Family::kProbe},
    {"portsweep", Family::kProbe},
    {"satan", Family::kProbe},
    {"mscan", Family::kProbe},
    {"saint", Family::kProbe},
    // R2L
    {"ftp_write", Family::kR2l},
    {"guess_passwd", Family::kR2l},
    {"imap", Family::kR2l},
    {"multihop", Family::kR2l},
    {"phf", Family::kR2l},
    {"spy", Family::kR2l},
    {"warezclient", Family::kR2l},
    {"warezmaster", Family::kR2l},
    {"named", Family::kR2l},
    {"sendmail", Family::kR2l},
    {"snmpgetattack", Family::kR2l},
    {"snmpguess", Family::kR2l},
    {"xlock", Family::kR2l},
    {"xsnoop", Family::kR2l},
    {"worm", Family::kR2l},
    // U2R
    {"buffer_overflow", Family::kU2r},
    {"loadmodule", Family::kU2r},
    {"perl", Family::kU2r},
    {"rootkit", Family::kU2r},
    {"httptunnel", Family::kU2r},
    {"ps", Family::kU2r},
    {"sqlattack", Family::kU2r},
    {"xterm", Family::kU2r},
};

constexpr auto make_label_names() {
  std::array<std::string_view, std::size(kLabels)> names{};
  for (size_t i = 0; i < std::size(kLabels); ++i) names[i] = kLabels[i].name;
  return names;
}
constexpr auto kLabelNames = make_label_names();

constexpr std::string_view kDetectorNames[] = {"dos", "probe",      "r2l",
                                               "u2r", "bruteforce", "attack"};

int guess_passwd_label() {
  static const int index = label_index("guess_passwd");
  return index;
}

}  // namespace

std::span<const FeatureInfo> feature_infos() {
  return kFeatures;
}
const FeatureInfo& feature_info(size_t index) {
  return kFeatures[index];
}

int feature_index(std::string_view name) {
  for (size_t i = 0; i < kFeatureCount; ++i)
    if (kFeatures[i].name == name) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> feature_names(FeatureMask mask) {
  std::vector<std::string> out;
  for (size_t i = 0; i < kFeatureCount; ++i)
    if ((mask >> i) & 1) out.emplace_back(kFeatures[i].name);
  return out;
}

std::optional<FeatureMask> feature_group(std::string_view name) {
  // Column ranges of the four kinds of feature (../shared/data/nsl-kdd/README.md).
  auto range = [](size_t first, size_t last) {
    return ((FeatureMask{1} << (last + 1)) - 1) & ~((FeatureMask{1} << first) - 1);
  };
  if (name == "basic") return range(0, 8);      // duration .. urgent
  if (name == "content") return range(9, 21);   // hot .. is_guest_login
  if (name == "time") return range(22, 30);     // count .. srv_diff_host_rate
  if (name == "host") return range(31, 40);     // dst_host_count .. dst_host_srv_rerror_rate
  if (name == "all") return kAllFeatures;
  return std::nullopt;
}

std::optional<FeatureMask> parse_feature_list(std::string_view list, std::string* bad) {
  // Left to right: a list that starts with a removal starts from every feature, one that starts
  // with a name from none.
  std::optional<FeatureMask> out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const bool minus = !name.empty() && name.front() == '-';
    if (minus) name.remove_prefix(1);
    FeatureMask m = 0;
    if (const auto group = feature_group(name)) {
      m = *group;
    } else if (const int i = feature_index(name); i >= 0) {
      m = FeatureMask{1} << i;
    } else {
      if (bad) *bad = std::string(name);
      return std::nullopt;
    }
    if (!out) out = minus ? kAllFeatures : 0;
    *out = minus ? *out & ~m : *out | m;
  }
  return out.value_or(kAllFeatures);
}

int category_index(size_t feature, std::string_view value) {
  const auto& vocab = kFeatures[feature].vocabulary;
  for (size_t i = 0; i < vocab.size(); ++i)
    if (vocab[i] == value) return static_cast<int>(i);
  return -1;
}

std::string_view family_name(Family f) {
  switch (f) {
    case Family::kNormal:
      return "normal";
    case Family::kDos:
      return "dos";
    case Family::kProbe:
      return "probe";
    case Family::kR2l:
      return "r2l";
    case Family::kU2r:
      return "u2r";
  }
  return "?";
}

std::span<const std::string_view> label_names() {
  return kLabelNames;
}

int label_index(std::string_view label) {
  for (size_t i = 0; i < kLabelNames.size(); ++i)
    if (kLabelNames[i] == label) return static_cast<int>(i);
  return -1;
}

Family label_family(int label) {
  return kLabels[label].family;
}

std::optional<Detector> parse_detector(std::string_view name) {
  for (size_t i = 0; i < std::size(kDetectorNames); ++i)
    if (kDetectorNames[i] == name) return static_cast<Detector>(i);
  return std::nullopt;
}

std::string_view detector_name(Detector d) {
  return kDetectorNames[static_cast<size_t>(d)];
}

bool detector_uses(Detector d, int label) {
  const Family f = label_family(label);
  switch (d) {
    case Detector::kDos:
      return f == Family::kNormal || f == Family::kDos;
    case Detector::kProbe:
      return f == Family::kNormal || f == Family::kProbe;
    case Detector::kR2l:
      return f == Family::kNormal || f == Family::kR2l;
    case Detector::kU2r:
      return f == Family::kNormal || f == Family::kU2r;
    case Detector::kBruteforce:
      return f == Family::kNormal || label == guess_passwd_label();
    case Detector::kAttack:
      return true;
  }
  return false;
}

bool detector_positive(Detector d, int label) {
  return label != kNormalLabel && detector_uses(d, label);
}

}  // namespace netpulse::detect
