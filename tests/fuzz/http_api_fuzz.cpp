// HTTP API requests through the route table (no sockets): the first byte chooses the method,
// the first line is the target (path and query), the rest is the body. Properties: a target
// parse_target refuses is never dispatched (the server answers 400 itself); every reply has a
// status of 2xx, 3xx or 4xx, never 500 (a handler that throws on bad input is a bug: bad input
// gets a clear error); every JSON reply is valid JSON.
#include <nlohmann/json.hpp>

#include "api_fixture.hpp"
#include "fuzz_check.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  static const server::Method kMethods[] = {server::Method::kGet, server::Method::kHead,
                                            server::Method::kPost, server::Method::kPut,
                                            server::Method::kDelete, server::Method::kOptions};
  server::Request req;
  req.method = kMethods[in.byte() % 6];
  std::string_view rest = in.rest();
  const size_t nl = rest.find('\n');
  const std::string_view target = rest.substr(0, nl);
  req.body = nl == std::string_view::npos ? std::string() : std::string(rest.substr(nl + 1));
  req.content_type = "application/json";
  if (!server::parse_target(target, req)) return 0;
  const server::Reply r = fuzz::api().routes.dispatch(req);
  if (r.status == 500 || r.status < 200 || r.status > 499)
    std::fprintf(stderr, "fuzz: %d for %.*s: %s\n", r.status, static_cast<int>(target.size()),
                 target.data(), r.body.c_str());
  FUZZ_CHECK(r.status >= 200 && r.status <= 499);
  if (r.content_type == "application/json" && !r.body.empty())
    FUZZ_CHECK(nlohmann::json::accept(r.body));
  return 0;
}
