#include "cli/control_port.hpp"

#include <cstdio>

#include "cli/common.hpp"

namespace netpulse::cli {

std::optional<ingest::Uri> parse_control_option(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto uri = ingest::parse_uri(text);
  if (!uri.ok() || uri->kind != ingest::Uri::Kind::kTcp)
    usage_error("--control '" + text + "': expected tcp://HOST:PORT");
  return std::move(uri).value();
}

std::unique_ptr<server::ControlServer> open_control_port(const std::optional<ingest::Uri>& uri,
                                                         engine::EngineControl& control, bool quiet) {
  if (!uri) return nullptr;
  std::string why;
  auto server = server::ControlServer::start(
      uri->host, uri->port,
      [&control](std::string_view line) { return engine::handle_processor_command(line, control); },
      &why);
  if (!server) io_error(why);
  if (!quiet)
    std::fprintf(stderr, "netpulse: control port on %s:%u (start, stop, change H T k X)\n",
                 uri->host.c_str(), server->port());
  return server;
}

}  // namespace netpulse::cli
