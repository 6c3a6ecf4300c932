// An HTTP reply as handlers build it: status, content type, body and extra headers. JSON
// helpers give every error the same shape, {"error":"..."}. A value; not shared.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netpulse::server {

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Reply json(const nlohmann::json& value, int status = 200);
  // A body that already is JSON text.
  static Reply json_text(std::string text, int status = 200);
  static Reply error(int status, std::string_view message);
};

// The standard reason phrase ("Not Found").
std::string_view reason_phrase(int status);

}  // namespace netpulse::server
