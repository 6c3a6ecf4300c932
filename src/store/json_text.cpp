#include "store/json_text.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

namespace netpulse::store {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A scanner over one JSON text; positions are byte offsets into it.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  bool take(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  size_t pos() const { return pos_; }

  // A string starting at the current '"'; returns its text with the quotes.
  std::optional<std::string_view> string() {
    const size_t start = pos_;
    if (!take('"')) return std::nullopt;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) return std::nullopt;
        ++pos_;
      } else if (c == '"') {
        return text_.substr(start, pos_ - start);
      }
    }
    return std::nullopt;
  }

  // Any value; returns its text (whitespace inside included) or nullopt when unbalanced.
  std::optional<std::string_view> value() {
    const size_t start = pos_;
    if (at_end()) return std::nullopt;
    const char c = text_[pos_];
    if (c == '"') return string();
    if (c == '{' || c == '[') {
      int depth = 0;
      while (pos_ < text_.size()) {
        const char d = text_[pos_];
        if (d == '"') {
          if (!string()) return std::nullopt;
          continue;
        }
        ++pos_;
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') {
          if (--depth == 0) return text_.substr(start, pos_ - start);
        }
      }
      return std::nullopt;
    }
    // Number or literal: up to the next structural character or space.
    while (pos_ < text_.size() && !is_space(text_[pos_]) && text_[pos_] != ',' &&
           text_[pos_] != '}' && text_[pos_] != ']') {
      ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    return text_.substr(start, pos_ - start);
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

struct Member {
  std::string_view key;  // with quotes
  std::string_view value;
  size_t order;
};

}  // namespace

std::string minify_json(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < json.size()) {
        out += json[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (!is_space(c)) {
      out += c;
    }
  }
  return out;
}

std::string canonical_object(std::string_view json) {
  Scanner s(json);
  std::vector<Member> members;
  s.skip_space();
  if (!s.take('{')) return std::string(json);
  s.skip_space();
  if (!s.take('}')) {
    for (;;) {
      s.skip_space();
      const auto key = s.string();
      if (!key) return std::string(json);
      s.skip_space();
      if (!s.take(':')) return std::string(json);
      s.skip_space();
      const auto value = s.value();
      if (!value) return std::string(json);
      members.push_back({*key, *value, members.size()});
      s.skip_space();
      if (s.take('}')) break;
      if (!s.take(',')) return std::string(json);
    }
  }
  s.skip_space();
  if (!s.at_end()) return std::string(json);

  // Same key: the later one sorts first and the earlier ones are dropped.
  std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) {
    if (a.key.size() != b.key.size()) return a.key.size() < b.key.size();
    if (a.key != b.key) return a.key < b.key;
    return a.order > b.order;
  });
  std::string out = "{";
  std::string_view previous;
  for (const Member& m : members) {
    if (m.key == previous) continue;
    if (out.size() > 1) out += ',';
    out += m.key;
    out += ':';
    out += minify_json(m.value);
    previous = m.key;
  }
  out += '}';
  return out;
}

}  // namespace netpulse::store
