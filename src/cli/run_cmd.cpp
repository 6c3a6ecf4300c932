// netpulse run: the whole system in one process on 127.0.0.1: the generator (wall-clock event
// time) feeding the engine in memory, the six queries, the SQLite store, and the HTTP API,
// WebSocket and dashboard. Ctrl-C stops the generator, flushes the pending windows into the
// store and exits.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "core/protocol_table.hpp"
#include "engine/params.hpp"
#include "engine/pipeline.hpp"
#include "generate/generator.hpp"
#include "ingest/flow_parser.hpp"
#include "query/queries.hpp"
#include "query/result_json.hpp"
#include "server/alert_tap.hpp"
#include "server/generator_feed.hpp"
#include "server/metrics.hpp"
#include "server/result_fanout.hpp"
#include "server/status_board.hpp"
#include "server/store_status.hpp"
#include "server/web_app.hpp"
#include "server/ws_hub.hpp"
#include "store/store.hpp"
#include "store/store_writer.hpp"

namespace netpulse::cli {

namespace {

struct RunOptions {
  std::string web = std::string(server::kDefaultWebAddress);
  std::string store = "sqlite:netpulse.db";
  std::string token;
  std::string web_root;
  std::string output;  // optional JSON lines
  std::string models = "models";
  engine::QueryParams params;
  engine::EngineConfig config;
  uint64_t rate = generate::kDefaultRate;
  uint32_t ips = generate::kBuiltinAddresses;
  uint32_t protocols = generate::kMaxProtocols;
  double ip_percent = -1;        // < 0: uniform
  double protocol_percent = -1;  // < 0: uniform
  uint64_t seed = 1;
  std::vector<std::string> scenarios;
  bool no_detect = false;
  int web_threads = 2;
  bool quiet = false;
};

int run_all(const RunOptions& o) {
  engine::EngineConfig config = o.config;
  if (auto why = engine::validate(config)) usage_error(*why);
  if (auto why = engine::validate(o.params, config.max_window)) usage_error("--" + *why);

  generate::GeneratorConfig gconfig;
  gconfig.params.rate = o.rate;
  gconfig.params.ips = o.ips;
  gconfig.params.protocols = o.protocols;
  if (o.ip_percent >= 0) gconfig.params.ip_skew = generate::Skew::first_percent(o.ip_percent);
  if (o.protocol_percent >= 0)
    gconfig.params.protocol_skew = generate::Skew::first_percent(o.protocol_percent);
  gconfig.seed = o.seed;
  for (const std::string& text : o.scenarios) {
    std::string reason;
    auto scenario = generate::parse_scenario(text, &reason);
    if (!scenario) usage_error("--scenario '" + text + "': " + reason);
    gconfig.scenarios.push_back(*scenario);
  }
  if (auto why = generate::validate(gconfig)) usage_error(*why);

  std::string why;
  std::string token = o.token;
  if (token.empty())
    if (const char* env = std::getenv("NETPULSE_TOKEN")) token = env;

  // Signals first, so every thread started below inherits the mask and Ctrl-C reaches the
  // handler that stops the generator and flushes the pending windows.
  engine::EngineControl control(o.params, config.max_window);
  server::GeneratorFeed feed;
  generate::Generator generator(gconfig);
  on_termination(
      [&] {
        generator.request_stop();
        control.request_shutdown();
        feed.close();
      },
      "flushing pending windows");

  auto writer_store = store::open_store(o.store, &why);
  if (!writer_store) io_error(why);
  auto api_store = store::open_store(o.store, &why);
  if (!api_store) io_error(why);
  store::StoreWriter writer(std::move(writer_store));

  int out_fd = -1;
  std::unique_ptr<query::JsonLinesSink> json_lines;
  if (!o.output.empty()) {
    out_fd = open_output(o.output);
    json_lines = std::make_unique<query::JsonLinesSink>(out_fd);
  }

  server::MetricsRegistry metrics;
  server::WsHub hub;
  hub.register_metrics(metrics);
  server::register_store_metrics(metrics, writer);
  server::FanoutSink fanout(
      {.json_lines = json_lines.get(),
       .store_results =
           [&writer](std::vector<store::StoredResult>&& rows) {
             for (auto& r : rows) writer.push(std::move(r));
           },
       .store_alert = [&writer](store::Alert&& a) { writer.push(std::move(a)); },
       .store_flush = {},
       .hub = &hub});
  fanout.register_metrics(metrics);
  metrics.add("netpulse_generator_records_total", "Records the generator wrote",
              server::MetricType::kCounter,
              [&generator] { return static_cast<double>(generator.status().records); });
  metrics.add("netpulse_generator_running", "1 while the generator runs, 0 while stopped",
              server::MetricType::kGauge, [&generator] {
                const auto s = generator.status();
                return s.running && !s.paused ? 1.0 : 0.0;
              });

  core::ProtocolTable protocols;
  query::SixQueries queries(protocols, fanout);
  engine::Pipeline pipeline(config, control, protocols, ingest::Format::kLine, queries);
  server::register_engine_metrics(metrics, pipeline.counters());

  // Detectors: the flow detector (DoS, port scan, brute force over the live records) reads
  // every block the engine reads, on its own thread; its alerts go where results go.
  // models/ holds NSL-KDD models: they classify connection rows (`netpulse classify`), which
  // flow records do not carry, so they are not loaded here.
  std::unique_ptr<server::AlertTap> tap;
  if (!o.no_detect) {
    tap = std::make_unique<server::AlertTap>(
        [&fanout](store::Alert a) { fanout.emit_alert(std::move(a)); });
    tap->register_metrics(metrics);
    feed.set_observer([t = tap.get()](const ingest::Block& b) { t->offer(b); });
  }
  {
    std::error_code ec;
    if (!o.quiet && std::filesystem::is_directory(o.models, ec) &&
        !std::filesystem::is_empty(o.models, ec))
      std::fprintf(stderr,
                   "netpulse: %s/ holds NSL-KDD models (for netpulse classify); live alerts come "
                   "from the flow detector\n",
                   o.models.c_str());
  }

  server::WebOptions web;
  web.address = o.web;
  web.token = token;
  web.web_root = o.web_root;
  web.threads = o.web_threads;
  server::WebParts parts;
  parts.processor = &control;
  parts.generator = &generator;
  parts.store = std::move(api_store);
  parts.store_status = [&writer] { return server::store_status(writer); };
  std::string notice;
  auto app = server::WebApp::start(web, std::move(parts), metrics, hub, &why, &notice);
  if (!app) io_error(why);
  if (!notice.empty() && !o.quiet) std::fprintf(stderr, "netpulse: %s\n", notice.c_str());
  std::string url = app->url();
  if (!token.empty()) url += "#token=" + token;
  std::printf("netpulse: dashboard at %s (store %s; Ctrl-C to stop)\n", url.c_str(),
              writer.describe().c_str());
  std::fflush(stdout);

  const auto t0 = std::chrono::steady_clock::now();
  generate::RunSummary gen_summary;
  std::thread gen_thread([&] {
    gen_summary = generator.run(feed);
    feed.close();  // the engine drains what is left, then ends
  });
  const auto error = pipeline.run(feed);
  // The engine is done (Ctrl-C, or the generator ended): stop the generator if it still runs.
  generator.request_stop();
  feed.close();
  gen_thread.join();
  if (tap) tap->stop();  // the last alerts, before the store is flushed
  fanout.flush();
  writer.flush();
  app->stop();
  writer.close();
  if (json_lines) json_lines->flush();
  if (out_fd > 1) ::close(out_fd);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& c = pipeline.counters();
  if (!o.quiet)
    std::fprintf(
        stderr,
        "netpulse: %llu records read, %llu accepted, %llu late, %llu malformed; %llu windows, "
        "%llu results stored; %.1f s\n",
        static_cast<unsigned long long>(c.records_read.load()),
        static_cast<unsigned long long>(c.accepted.load()),
        static_cast<unsigned long long>(c.late.load()),
        static_cast<unsigned long long>(c.malformed.load()),
        static_cast<unsigned long long>(c.windows.load()),
        static_cast<unsigned long long>(writer.stats().results_written), seconds);
  if (json_lines && !json_lines->ok())
    io_error("--output '" + o.output + "': " + json_lines->error());
  if (error) io_error(*error);
  return 0;
}

}  // namespace

Command make_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand(
      "run",
      "Run everything in one process: the traffic generator, the six window queries, the SQLite "
      "store and the live dashboard (HTTP API and WebSocket).");
  sub->add_option("--web", o->web,
                  "Where the dashboard and API listen, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  sub->add_option("--store", o->store, "Where results are stored: sqlite:PATH or postgresql://...")
      ->capture_default_str();
  sub->add_option("--token", o->token,
                  "Require this token (Authorization: Bearer TOKEN) for control endpoints; "
                  "default: $NETPULSE_TOKEN, else none");
  sub->add_option("--web-root", o->web_root,
                  "The dashboard's directory (default: web/ near the executable)");
  sub->add_option("--rate", o->rate, "Generator records per second (0: as fast as possible)")
      ->check(CLI::Range(uint64_t{0}, generate::kMaxRate))
      ->capture_default_str();
  sub->add_option("--ips", o->ips, "Generator: how many source addresses")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(generate::kMaxAddresses)))
      ->capture_default_str();
  sub->add_option("--protocols", o->protocols, "Generator: how many protocols")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(generate::kMaxProtocols)))
      ->capture_default_str();
  sub->add_option("--ip-percent", o->ip_percent,
                  "Generator: percent of records from the first address (default: uniform)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--protocol-percent", o->protocol_percent,
                  "Generator: percent of records of the first protocol (default: uniform)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--seed", o->seed, "Generator seed")->capture_default_str();
  sub->add_option("--scenario", o->scenarios,
                  "Mix attack traffic into the stream, NAME@START+LENGTH, e.g. dos@30s+20s "
                  "(dos, portscan, bruteforce, elephant; repeatable)");
  sub->add_flag("--no-detect", o->no_detect, "Do not run the flow detector (no alerts)");
  sub->add_option("--T", o->params.T, "Window length in seconds (changeable at run time)")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
      ->capture_default_str();
  sub->add_option("--H", o->params.H, "Share threshold in percent, 0 < H <= 100")
      ->capture_default_str();
  sub->add_option("--k", o->params.k, "How many keys the top-k queries list (>= 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}))
      ->capture_default_str();
  sub->add_option("--X", o->params.X, "Outliers: keys above mean + X standard deviations (X >= 0)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  sub->add_option("--max-window", o->config.max_window, "Largest T allowed at run time, in seconds")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
      ->capture_default_str();
  sub->add_option("--threads", o->config.threads, "Engine worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--web-threads", o->web_threads, "Threads serving HTTP and WebSocket")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--output,-o", o->output,
                  "Also write results as JSON lines: - (stdout), file:PATH or PATH");
  sub->add_option("--models", o->models, "Directory of detector models")->capture_default_str();
  sub->add_flag("--quiet,-q", o->quiet, "No notices or summary on stderr");
  return Command{sub, [o] { return run_all(*o); }};
}

}  // namespace netpulse::cli
