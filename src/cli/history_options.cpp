#include "cli/history_options.hpp"

#include <string_view>

#include "cli/common.hpp"
#include "core/size.hpp"
#include "core/time.hpp"
#include "store/history.hpp"

namespace netpulse::cli {

namespace {

// "hour=90d" -> (hour, "90d"); "7d" -> (minute, "7d"): the bare form is the minute resolution,
// the one that grows fastest.
std::pair<store::Resolution, std::string_view> split_resolution(std::string_view text,
                                                                const char* option) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) return {store::Resolution::kMinute, text};
  auto r = store::parse_resolution(text.substr(0, eq));
  if (!r)
    usage_error(std::string(option) + " '" + std::string(text) +
                "': the resolution must be minute, hour or day");
  return {*r, text.substr(eq + 1)};
}

}  // namespace

void add_history_options(CLI::App* sub, HistoryOptions& o, bool from_records) {
  sub->add_option("--history-keys", o.keys,
                  "With --store: keep traffic history, per minute (then per hour and per day) "
                  "bytes and records per protocol, source, destination and conversation, the top "
                  "M keys of each plus an \"other\" row with the bytes left out "
                  "(/api/top, /api/series, /api/sankey); 0: no history")
      ->type_name("M")
      ->check(CLI::Range(size_t{0}, size_t{10'000'000}))
      ->capture_default_str();
  if (from_records) {
    sub->add_option("--history-sample", o.sample,
                    "Estimate a busy minute's source, destination and conversation sums from "
                    "a threshold sample of about K to 2K records (unbiased; records of many "
                    "bytes are kept exactly; the buckets state the error both ways, at odds of "
                    "about 1 in 10,000). A minute of up to 2K records, and the protocol sums "
                    "and totals always, are exact. Sampling is what keeps history cheap at "
                    "millions of records/s (docs/history.md); 0: sum every record exactly. "
                    "With a kafka:// input: the sample published with the panes, from which "
                    "merge estimates conversations (spread over a minute's panes; --history-keys 0: none)")
        ->type_name("K")
        ->check(CLI::Range(size_t{0}, size_t{100'000'000}))
        ->capture_default_str();
  }
  sub->add_option("--retention", o.retention,
                  "Delete history older than AGE (event time, from the newest bucket): "
                  "[minute|hour|day=]AGE, e.g. 7d (minutes), hour=90d, day=730d (units: s, m, "
                  "h, d); 0 keeps forever. Defaults: minute=7d, hour=90d, day=730d. Repeatable")
      ->type_name("[RES=]AGE");
  sub->add_option("--retention-size", o.retention_size,
                  "Keep at most SIZE of history per resolution, deleting the oldest first: "
                  "[minute|hour|day=]SIZE, e.g. 2GiB (minutes), hour=500MiB. Default: no limit "
                  "(when the disk fills, history stops and an alert is raised). Repeatable")
      ->type_name("[RES=]SIZE");
}

void apply_history_options(const HistoryOptions& o, app::HistorySettings& out) {
  out.keys = o.keys;
  out.sample = o.sample;
  for (const std::string& text : o.retention) {
    auto [r, value] = split_resolution(text, "--retention");
    int64_t ms = 0;
    if (value != "0") {
      auto d = core::parse_duration_ms(value);
      if (!d)
        usage_error("--retention '" + text + "': the age must be a duration such as 7d, 12h or 0");
      ms = *d;
    }
    out.retention_ms[static_cast<size_t>(r)] = ms;
  }
  for (const std::string& text : o.retention_size) {
    auto [r, value] = split_resolution(text, "--retention-size");
    auto bytes = core::parse_size(value);
    if (!bytes)
      usage_error("--retention-size '" + text + "': the size must be such as 2GiB, 500MiB or 0");
    out.retention_bytes[static_cast<size_t>(r)] = *bytes;
  }
}

}  // namespace netpulse::cli
