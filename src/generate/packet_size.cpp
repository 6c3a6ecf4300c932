#include "generate/packet_size.hpp"

#include <iterator>

namespace netpulse::generate {

namespace {

struct Share {
  int n256;  // share in 256ths
  PacketSizeMix::Band band;
};

// Shares in 256ths; each list sums to 256.
constexpr Share kBulk[] = {
    {102, {40, 27}},    // 40%: 40-66 bytes, TCP ACKs and other control packets
    {26, {67, 445}},    // 10%: 67-511
    {31, {512, 89}},    // 12%: 512-600, around the 576-byte default
    {20, {601, 799}},   //  8%: 601-1399
    {77, {1400, 101}},  // 30%: 1400-1500, full frames
};
constexpr Share kSmall[] = {
    {77, {40, 27}},    // 30%: 40-66
    {115, {67, 134}},  // 45%: 67-200, typical queries and answers
    {51, {201, 311}},  // 20%: 201-511
    {13, {512, 89}},   //  5%: 512-600
};

constexpr int total(const Share* begin, const Share* end) {
  int sum = 0;
  for (const Share* s = begin; s != end; ++s) sum += s->n256;
  return sum;
}
static_assert(total(std::begin(kBulk), std::end(kBulk)) == 256);
static_assert(total(std::begin(kSmall), std::end(kSmall)) == 256);

}  // namespace

PacketSizeMix::PacketSizeMix(Profile profile) {
  size_t i = 0;
  auto fill = [&](const Share* begin, const Share* end) {
    for (const Share* s = begin; s != end; ++s)
      for (int k = 0; k < s->n256; ++k) table_[i++] = s->band;
  };
  if (profile == Profile::kBulk)
    fill(std::begin(kBulk), std::end(kBulk));
  else
    fill(std::begin(kSmall), std::end(kSmall));
}

double PacketSizeMix::mean() const {
  double sum = 0;
  for (const Band& b : table_) sum += b.lo + (b.span - 1) / 2.0;
  return sum / static_cast<double>(table_.size());
}

}  // namespace netpulse::generate
