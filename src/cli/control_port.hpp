// The --control option of process and merge: the text control port (spec section 5) over the
// engine's parameters. The address is checked with the other arguments (a usage error names
// it); the port is opened later, once the signal handling is set up.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "engine/params.hpp"
#include "ingest/uri.hpp"
#include "server/control_server.hpp"

namespace netpulse::cli {

// nullopt when the option is empty; a usage error unless it is tcp://HOST:PORT.
std::optional<ingest::Uri> parse_control_option(const std::string& text);

// Opens the port (nullptr when there is none to open), with a notice unless quiet; an address
// that cannot be bound is an I/O error (exit 1).
std::unique_ptr<server::ControlServer> open_control_port(const std::optional<ingest::Uri>& uri,
                                                         engine::EngineControl& control, bool quiet);

}  // namespace netpulse::cli
