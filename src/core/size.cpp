#include "core/size.hpp"

#include <charconv>

namespace netpulse::core {

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  struct Unit {
    std::string_view name;
    uint64_t factor;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},          {"B", 1},          {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
      {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40}, {"K", 1ULL << 10},   {"k", 1ULL << 10},
      {"M", 1ULL << 20},   {"G", 1ULL << 30},   {"T", 1ULL << 40},   {"KB", 1000},
      {"kB", 1000},        {"MB", 1000000},     {"GB", 1000000000},  {"TB", 1000000000000ULL}};
  for (const Unit& u : kUnits) {
    if (u.name != unit) continue;
    if (value > UINT64_MAX / u.factor) return std::nullopt;
    return value * u.factor;
  }
  return std::nullopt;
}

}  // namespace netpulse::core
