#include "generate/key_sampler.hpp"

#include <cmath>
#include <cstdio>

namespace netpulse::generate {

std::optional<std::string> validate(const Skew& skew) {
  switch (skew.kind) {
    case Skew::Kind::kUniform:
      return std::nullopt;
    case Skew::Kind::kFirstPercent:
      if (!(skew.value >= 0 && skew.value <= 100)) return "percent must be from 0 to 100";
      return std::nullopt;
    case Skew::Kind::kZipf:
      if (!(skew.value >= 0 && skew.value <= kMaxZipfExponent))
        return "Zipf exponent must be from 0 to " +
               std::to_string(static_cast<int>(kMaxZipfExponent));
      return std::nullopt;
  }
  return "unknown skew";
}

std::string to_string(const Skew& skew) {
  char buf[48];
  switch (skew.kind) {
    case Skew::Kind::kUniform:
      return "uniform";
    case Skew::Kind::kFirstPercent:
      std::snprintf(buf, sizeof buf, "%g%%", skew.value);
      return buf;
    case Skew::Kind::kZipf:
      std::snprintf(buf, sizeof buf, "zipf %g", skew.value);
      return buf;
  }
  return "?";
}

KeySampler::KeySampler(uint32_t n, Skew skew) : n_(n), kind_(skew.kind), value_(skew.value) {
  if (kind_ == Skew::Kind::kFirstPercent) {
    if (n_ == 1) {
      kind_ = Skew::Kind::kUniform;  // one key: it is every draw
      return;
    }
    first_threshold_ = static_cast<uint64_t>(std::floor(value_ / 100.0 * 4294967296.0));
    return;
  }
  if (kind_ != Skew::Kind::kZipf) return;

  // Vose's alias method over weights 1/(i+1)^s, in double precision.
  std::vector<double> scaled(n_);
  double sum = 0;
  for (uint32_t i = 0; i < n_; ++i) {
    scaled[i] = std::pow(static_cast<double>(i) + 1.0, -value_);
    sum += scaled[i];
  }
  zipf_norm_ = sum;
  for (double& w : scaled) w = w / sum * n_;
  std::vector<uint32_t> small, large;
  small.reserve(n_);
  large.reserve(n_);
  for (uint32_t i = 0; i < n_; ++i) (scaled[i] < 1.0 ? small : large).push_back(i);
  alias_.assign(n_, 0);
  auto set = [&](uint32_t bucket, double keep, uint32_t alias) {
    // keep * 2^32 rounded; keep == 1 means always keep: use the saturated value and make the
    // alias the bucket itself so the rounding cannot leak probability elsewhere.
    if (keep >= 1.0) {
      alias_[bucket] = (static_cast<uint64_t>(bucket) << 32) | 0xFFFFFFFFULL;
      return;
    }
    const double t = std::floor(keep * 4294967296.0);
    alias_[bucket] = (static_cast<uint64_t>(alias) << 32) | static_cast<uint32_t>(t < 0 ? 0 : t);
  };
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back();
    small.pop_back();
    const uint32_t l = large.back();
    set(s, scaled[s], l);
    scaled[l] = (scaled[l] + scaled[s]) - 1.0;
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left has weight 1 up to rounding: keep their own key.
  for (uint32_t i : large) set(i, 1.0, i);
  for (uint32_t i : small) set(i, 1.0, i);
}

double KeySampler::probability(uint32_t i) const {
  if (i >= n_) return 0;
  switch (kind_) {
    case Skew::Kind::kUniform:
      return 1.0 / n_;
    case Skew::Kind::kFirstPercent:
      return i == 0 ? value_ / 100.0 : (1.0 - value_ / 100.0) / (n_ - 1);
    case Skew::Kind::kZipf:
      return std::pow(static_cast<double>(i) + 1.0, -value_) / zipf_norm_;
  }
  return 0;
}

}  // namespace netpulse::generate
