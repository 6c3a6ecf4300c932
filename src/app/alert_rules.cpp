#include "app/alert_rules.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/time.hpp"

namespace netpulse::app {

namespace {

using Metric = AlertRule::Metric;
using Op = AlertRule::Op;

std::vector<std::string> tokens_of(std::string_view text) {
  // Spaces separate tokens, and an operator is a token of its own ("share>20" reads as three).
  std::vector<std::string> out;
  std::string cur;
  auto end_token = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t') {
      end_token();
    } else if (c == '<' || c == '>') {
      end_token();
      if (i + 1 < text.size() && text[i + 1] == '=') {
        out.push_back(std::string{c, '='});
        ++i;
      } else {
        out.push_back(std::string(1, c));
      }
    } else {
      cur += c;
    }
  }
  end_token();
  return out;
}

std::optional<Metric> parse_metric(std::string_view s) {
  if (s == "bytes") return Metric::kBytes;
  if (s == "share") return Metric::kShare;
  if (s == "z") return Metric::kZ;
  return std::nullopt;
}

std::optional<Op> parse_op(std::string_view s) {
  if (s == ">") return Op::kGreater;
  if (s == ">=") return Op::kGreaterEqual;
  if (s == "<") return Op::kLess;
  if (s == "<=") return Op::kLessEqual;
  return std::nullopt;
}

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string value_text(double v, Metric m) {
  return number_text(v) + (m == Metric::kShare ? " %" : m == Metric::kBytes ? " bytes" : "");
}

}  // namespace

std::string_view metric_name(Metric m) {
  switch (m) {
    case Metric::kBytes:
      return "bytes";
    case Metric::kShare:
      return "share";
    case Metric::kZ:
      return "z";
  }
  return "?";
}

std::string_view op_text(Op op) {
  switch (op) {
    case Op::kGreater:
      return ">";
    case Op::kGreaterEqual:
      return ">=";
    case Op::kLess:
      return "<";
    case Op::kLessEqual:
      return "<=";
  }
  return "?";
}

std::optional<double> metric_value(const query::ResultRow& row, Metric m) {
  switch (m) {
    case Metric::kBytes:
      return static_cast<double>(row.bytes);
    case Metric::kShare:
      return row.share * 100.0;
    case Metric::kZ:
      return row.z;
  }
  return std::nullopt;
}

bool compare(double value, Op op, double threshold) {
  switch (op) {
    case Op::kGreater:
      return value > threshold;
    case Op::kGreaterEqual:
      return value >= threshold;
    case Op::kLess:
      return value < threshold;
    case Op::kLessEqual:
      return value <= threshold;
  }
  return false;
}

std::optional<AlertRule> parse_alert_rule(std::string_view text, std::string* why) {
  const std::vector<std::string> t = tokens_of(text);
  AlertRule rule;
  rule.text = std::string(text);
  if (t.empty()) {
    *why =
        "empty rule; expected QUERY [KEY] [METRIC] OP VALUE [for N], e.g. \"ip-share > 20 for 3\"";
    return std::nullopt;
  }
  const auto q = query::parse_query_name(t[0]);
  if (!q) {
    *why = "unknown query '" + t[0] +
           "' (expected protocol-share, protocol-topk, protocol-outliers, ip-share, ip-topk or "
           "ip-outliers)";
    return std::nullopt;
  }
  rule.query = *q;
  const std::string_view qname = query::kQueryNames[static_cast<size_t>(*q)];
  rule.metric = qname.ends_with("-share")  ? Metric::kShare
                : qname.ends_with("-topk") ? Metric::kBytes
                                           : Metric::kZ;
  size_t i = 1;
  size_t op_at = i;
  while (op_at < t.size() && !parse_op(t[op_at])) ++op_at;
  if (op_at == t.size()) {
    *why = "no comparison (expected one of >, >=, <, <= and a value)";
    return std::nullopt;
  }
  const size_t before = op_at - i;
  if (before > 2) {
    *why = "too many words before '" + t[op_at] + "' (expected [KEY] [METRIC])";
    return std::nullopt;
  }
  if (before == 2) {
    rule.key = t[i];
    const auto m = parse_metric(t[i + 1]);
    if (!m) {
      *why = "unknown metric '" + t[i + 1] + "' (expected bytes, share or z)";
      return std::nullopt;
    }
    rule.metric = *m;
  } else if (before == 1) {
    if (const auto m = parse_metric(t[i]))
      rule.metric = *m;
    else
      rule.key = t[i];
  }
  if (rule.key == "*") rule.key.clear();
  rule.op = *parse_op(t[op_at]);
  i = op_at + 1;
  if (i == t.size()) {
    *why = "no value after '" + t[op_at] + "'";
    return std::nullopt;
  }
  std::string v = t[i];
  if (!v.empty() && v.back() == '%') {
    if (rule.metric != Metric::kShare) {
      *why = "'" + v + "': only a share is in percent";
      return std::nullopt;
    }
    v.pop_back();
  }
  char* end = nullptr;
  rule.value = v.empty() ? 0 : std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(rule.value)) {
    *why = "'" + t[i] + "' is not a number";
    return std::nullopt;
  }
  ++i;
  if (i < t.size()) {
    if (t[i] != "for") {
      *why = "unexpected '" + t[i] + "' after the value (expected: for N)";
      return std::nullopt;
    }
    if (++i == t.size()) {
      *why = "no window count after 'for'";
      return std::nullopt;
    }
    char* nend = nullptr;
    const long n = std::strtol(t[i].c_str(), &nend, 10);
    if (nend != t[i].c_str() + t[i].size() || n < 1 || n > kMaxRuleWindows) {
      *why = "'for " + t[i] + "': expected a whole number of windows from 1 to " +
             std::to_string(kMaxRuleWindows);
      return std::nullopt;
    }
    rule.windows = static_cast<int>(n);
    ++i;
    if (i < t.size() && (t[i] == "windows" || t[i] == "window")) ++i;
    if (i < t.size()) {
      *why = "unexpected '" + t[i] + "' at the end";
      return std::nullopt;
    }
  }
  return rule;
}

RuleEvaluator::RuleEvaluator(std::vector<AlertRule> rules)
    : rules_(std::move(rules)), runs_(rules_.size()) {}

std::vector<store::Alert> RuleEvaluator::evaluate(const query::WindowResult& result) {
  std::vector<store::Alert> alerts;
  for (size_t ri = 0; ri < rules_.size(); ++ri) {
    const AlertRule& rule = rules_[ri];
    auto& old_runs = runs_[ri];
    std::unordered_map<std::string, Run> runs;  // the keys that satisfy the rule this window
    for (const query::ResultRow& row : result.of(rule.query)) {
      if (!rule.key.empty() && row.key != rule.key) continue;
      const auto v = metric_value(row, rule.metric);
      if (!v || !compare(*v, rule.op, rule.value)) continue;
      Run run;
      if (auto it = old_runs.find(row.key); it != old_runs.end()) run = std::move(it->second);
      ++run.count;
      run.recent.emplace_back(result.window_end, *v);
      while (run.recent.size() > static_cast<size_t>(rule.windows)) run.recent.pop_front();
      if (run.count >= rule.windows && !run.fired) {
        run.fired = true;
        nlohmann::json windows = nlohmann::json::array();
        for (const auto& [end, value] : run.recent)
          windows.push_back({{"window_end", core::format_iso8601(end)}, {"value", value}});
        const std::string_view metric = metric_name(rule.metric);
        std::string why = row.key + ": " +
                          std::string(query::kQueryNames[static_cast<size_t>(rule.query)]) + " " +
                          std::string(metric) + " " + value_text(*v, rule.metric) + " " +
                          std::string(op_text(rule.op)) + " " + value_text(rule.value, rule.metric);
        why += rule.windows == 1
                   ? " in the window ending " + core::format_iso8601(result.window_end)
                   : " in " + std::to_string(rule.windows) + " consecutive windows ending " +
                         core::format_iso8601(result.window_end);
        nlohmann::json detail{{"rule", rule.text},
                              {"query", query::kQueryNames[static_cast<size_t>(rule.query)]},
                              {"key", row.key},
                              {"metric", metric},
                              {"op", op_text(rule.op)},
                              {"threshold", rule.value},
                              {"value", *v},
                              {"for", rule.windows},
                              {"windows", std::move(windows)},
                              {"why", why}};
        store::Alert a;
        a.time = result.window_end;
        a.detector = "rule";
        a.source = row.key;
        a.score = *v;
        a.detail_json = detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        alerts.push_back(std::move(a));
      }
      runs.emplace(row.key, std::move(run));
    }
    old_runs = std::move(runs);
  }
  return alerts;
}

}  // namespace netpulse::app
