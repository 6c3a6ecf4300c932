// Threshold rules on the six queries' results (--alert-rule): "ip-share > 20 for 3" raises an
// alert (detector "rule") for a key whose share stays above 20 % in 3 consecutive windows.
// The grammar, one rule a string, tokens separated by spaces:
//
//   QUERY [KEY] [METRIC] OP VALUE [for N [windows]]
//
//   QUERY   protocol-share | protocol-topk | protocol-outliers | ip-share | ip-topk | ip-outliers
//   KEY     a protocol name or an address as the results print it; omitted or *: every key
//   METRIC  bytes | share (in percent, as --H) | z; default share for *-share, bytes for
//           *-topk, z for *-outliers
//   OP      > | >= | < | <=
//   VALUE   a number (1e9 allowed; a share may end in %)
//   N       consecutive windows, 1 to 1000; default 1
//
// A rule sees only the rows its query lists in a window (a key the query does not list, or a
// z of null, does not satisfy it). It fires once per run: on the window where a key's run of
// consecutive satisfying windows reaches N; the key must fail a window before it can fire again.
// RuleEvaluator is used from one thread (the engine's sink).
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "query/result.hpp"
#include "store/store.hpp"

namespace netpulse::app {

inline constexpr int kMaxRuleWindows = 1000;

struct AlertRule {
  enum class Metric : uint8_t { kBytes, kShare, kZ };
  enum class Op : uint8_t { kGreater, kGreaterEqual, kLess, kLessEqual };

  std::string text;  // as given
  query::QueryKind query = query::QueryKind::kIpShare;
  std::string key;  // empty: every key
  Metric metric = Metric::kShare;
  Op op = Op::kGreater;
  double value = 0;  // a share in percent
  int windows = 1;
};

// Parses one rule. nullopt with a one-line reason (without the rule text) when it is not one.
std::optional<AlertRule> parse_alert_rule(std::string_view text, std::string* why);

std::string_view metric_name(AlertRule::Metric m);
std::string_view op_text(AlertRule::Op op);
// The row's value of a metric as rules compare it (share in percent); none for a null z.
std::optional<double> metric_value(const query::ResultRow& row, AlertRule::Metric m);
bool compare(double value, AlertRule::Op op, double threshold);

class RuleEvaluator {
 public:
  explicit RuleEvaluator(std::vector<AlertRule> rules);

  // The alerts the window raises, in rule order, then row order.
  std::vector<store::Alert> evaluate(const query::WindowResult& result);
  const std::vector<AlertRule>& rules() const { return rules_; }

 private:
  struct Run {
    int count = 0;  // consecutive satisfying windows, up to this one
    bool fired = false;
    std::deque<std::pair<core::TimeMs, double>> recent;  // (window_end, value), the last N
  };
  std::vector<AlertRule> rules_;
  std::vector<std::unordered_map<std::string, Run>> runs_;  // per rule, by key
};

// A sink in front of another: each window's results go on to `next`, then the rules run on
// them and each alert they raise goes to `on_alert`. Used from the engine's thread.
class RuleSink final : public query::ResultSink {
 public:
  RuleSink(query::ResultSink& next, std::vector<AlertRule> rules,
           std::function<void(store::Alert)> on_alert)
      : next_(next), rules_(std::move(rules)), on_alert_(std::move(on_alert)) {}
  void emit(const query::WindowResult& result) override {
    next_.emit(result);
    for (store::Alert& a : rules_.evaluate(result)) on_alert_(std::move(a));
  }
  void flush() override { next_.flush(); }

 private:
  query::ResultSink& next_;
  RuleEvaluator rules_;
  std::function<void(store::Alert)> on_alert_;
};

}  // namespace netpulse::app
