#include "engine/history_accumulator.hpp"

#include "core/time.hpp"

namespace netpulse::engine {

HistoryPart& HistoryAccumulator::part_slow(core::TimeMs t) {
  const core::TimeMs start = core::floor_div(t, kHistoryMinuteMs) * kHistoryMinuteMs;
  auto& slot = minutes_[start];
  if (!slot) {
    slot = std::make_unique<HistoryPart>();
    slot->start = start;
  }
  cur_ = slot.get();
  cur_end_ = start + kHistoryMinuteMs;
  return *slot;
}

void HistoryAccumulator::take_before(core::TimeMs bound,
                                     std::vector<std::unique_ptr<HistoryPart>>& out) {
  auto it = minutes_.begin();
  while (it != minutes_.end() && it->first + kHistoryMinuteMs <= bound) {
    if (cur_ == it->second.get()) cur_ = nullptr;
    out.push_back(std::move(it->second));
    it = minutes_.erase(it);
  }
}

size_t HistoryAccumulator::memory_bytes() const {
  size_t n = 0;
  for (const auto& [start, p] : minutes_)
    n += sizeof(HistoryPart) + p->conv4.memory_bytes() + p->conv6.memory_bytes() +
         p->protocols.memory_bytes();
  return n;
}

}  // namespace netpulse::engine
