#include "server/reply.hpp"

namespace netpulse::server {

Reply Reply::json(const nlohmann::json& value, int status) {
  // Replace invalid UTF-8 rather than throw: error messages may quote client input.
  return json_text(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), status);
}

Reply Reply::json_text(std::string text, int status) {
  Reply r;
  r.status = status;
  r.body = std::move(text);
  return r;
}

Reply Reply::error(int status, std::string_view message) {
  return json(nlohmann::json{{"error", message}}, status);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

}  // namespace netpulse::server
