// WebSocket control messages (server/handlers.hpp: handle_ws_message), as a client sends them:
// each line of the input is one text message; the first byte says whether the client starts
// authorized. Properties: every reply is a JSON object of type "reply"; a client that was not
// authorized becomes so only by an "auth" message; the processor's parameters stay valid.
#include <nlohmann/json.hpp>

#include "api_fixture.hpp"
#include "fuzz_check.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  bool authorized = in.byte() & 1;
  const std::string_view text = in.rest();
  fuzz::Api& api = fuzz::api();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view message = text.substr(pos, nl - pos);
    pos = nl + 1;
    const bool before = authorized;
    const std::string reply = server::handle_ws_message(message, authorized, api.routes, api.services);
    const nlohmann::json j = nlohmann::json::parse(reply, nullptr, false);
    FUZZ_CHECK(j.is_object());
    FUZZ_CHECK(j.contains("type") && j["type"] == "reply");
    if (!before && authorized) {
      const nlohmann::json m = nlohmann::json::parse(message, nullptr, false);
      FUZZ_CHECK(m.is_object() && m.contains("action") && m["action"] == "auth");
    }
    FUZZ_CHECK(engine::validate(api.processor.params(), api.processor.max_window()).ok());
  }
  return 0;
}
