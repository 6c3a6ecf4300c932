#include "generate/record_formatter.hpp"

#include <charconv>

namespace netpulse::generate {

namespace {

template <size_t N>
uint8_t put(char (&out)[N], std::string_view text) {
  std::memcpy(out, text.data(), text.size());
  return static_cast<uint8_t>(text.size());
}

}  // namespace

RecordFormatter::RecordFormatter(OutputFormat format)
    : separator_(format == OutputFormat::kCsv ? ',' : ' ') {
  for (size_t ms = 0; ms < millis_.size(); ++ms) {
    millis_[ms] = {static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                   static_cast<char>('0' + ms % 10), separator_};
  }
  const auto& names = protocol_names();
  for (size_t i = 0; i < names.size(); ++i) {
    protocols_[i].size = put(protocols_[i].text, names[i]);
    protocols_[i].text[protocols_[i].size++] = separator_;
  }
  for (unsigned o = 0; o < 256; ++o) {
    char* end = std::to_chars(octets_[o].text, octets_[o].text + 3, o).ptr;
    *end++ = '.';
    octets_[o].size = static_cast<uint8_t>(end - octets_[o].text);
  }
  for (unsigned v = 0; v < kSizeTableEntries; ++v) {
    char* end = std::to_chars(sizes_[v].text, sizes_[v].text + 6, v).ptr;
    *end++ = '\n';
    sizes_[v].size = static_cast<uint8_t>(end - sizes_[v].text);
  }
}

std::string_view RecordFormatter::header() const {
  return separator_ == ',' ? std::string_view("time,protocol,src,dst,bytes\n") : std::string_view();
}

void RecordFormatter::cache_second(int64_t second) {
  core::format_line_time(second * 1000, prefix_);  // "YYYY-MM-DD HH:MM:SS.000"; keep 20 chars
  cached_second_ = second;
}

char* RecordFormatter::write_number(char* p, uint32_t v) const {
  p = std::to_chars(p, p + 10, v).ptr;
  *p++ = '\n';
  return p;
}

}  // namespace netpulse::generate
