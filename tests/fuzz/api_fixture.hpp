// The HTTP API's whole route table (server/handlers.hpp), as `netpulse run --web` builds it,
// without sockets: a real processor control and generator, results and traffic history over a
// SQLite file of its own (empty: the fuzzers exercise the parsing and checking of requests,
// not the stored data), the status board and the metrics. Built once per fuzzing process.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "engine/params.hpp"
#include "generate/generator.hpp"
#include "server/control_api.hpp"
#include "server/handlers.hpp"
#include "server/history_api.hpp"
#include "server/metrics.hpp"
#include "server/results_api.hpp"
#include "server/routes.hpp"
#include "server/status_board.hpp"
#include "store/store.hpp"

namespace netpulse::fuzz {

inline std::unique_ptr<store::Store> scratch_store() {
  static char path[] = "/tmp/netpulse-fuzz-XXXXXX";
  static const int fd = mkstemp(path);
  if (fd < 0) std::abort();
  std::string why;
  auto s = store::open_store(std::string("sqlite:") + path, &why);
  if (!s) {
    std::fprintf(stderr, "fuzz: %s\n", why.c_str());
    std::abort();
  }
  return s;
}

struct Api {
  engine::EngineControl processor{engine::QueryParams{}, 3600};
  generate::Generator generator{generate::GeneratorConfig{}};
  server::ControlApi control{&processor, &generator};
  server::ResultsApi results{scratch_store()};
  server::MetricsRegistry metrics;
  server::StatusBoard status{metrics, control};
  server::HistoryApi history{scratch_store()};
  server::ApiServices services{control, results, status, metrics, nullptr, &history};
  server::Routes routes;
  Api() { server::add_routes(routes, services); }
};

inline Api& api() {
  static Api* a = new Api();  // never destroyed: libFuzzer may exit from any thread
  return *a;
}

}  // namespace netpulse::fuzz
