// netpulse classify: runs detector models over a stream of NSL-KDD rows and writes alerts as
// JSON lines, then a summary line. Blocks of lines are classified in parallel and written in
// input order.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/rows_input.hpp"
#include "detect/compiled_model.hpp"
#include "detect/row_classifier.hpp"
#include "ingest/block_source.hpp"

namespace netpulse::cli {

namespace {

struct ClassifyOptions {
  std::vector<std::string> models;
  std::string input;
  std::string output = "-";
  int threads = 1;
  int delay_ms = 0;
  int path_features = 4;
  std::vector<std::string> kafka_properties;
  bool exit_at_end = false;
  bool quiet = false;
};

// Writes all of [data, data + size) to fd; false on an error (EPIPE: the reader went away).
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

uint64_t count_lines(const char* data, size_t size) {
  uint64_t n = 0;
  const char* p = data;
  const char* end = data + size;
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
    ++n;
    if (!nl) break;
    p = static_cast<const char*>(nl) + 1;
  }
  return n;
}

// Classifies blocks on `threads` workers and hands the results to the writer in input order.
class ParallelClassifier {
 public:
  struct Job {
    ingest::Block block;
    uint64_t first_line = 0;
    std::string out;
    detect::ClassifyStats stats;
    bool done = false;
  };
  using Sink = std::function<void(Job&)>;

  ParallelClassifier(const detect::RowClassifier& rc, int threads, Sink sink)
      : rc_(rc), sink_(std::move(sink)), max_in_flight_(static_cast<size_t>(threads) * 3) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    writer_ = std::thread([this] { write(); });
  }

  void push(ingest::Block block, uint64_t first_line) {
    auto job = std::make_unique<Job>();
    job->block = std::move(block);
    job->first_line = first_line;
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return in_flight_.size() < max_in_flight_; });
    pending_.push_back(job.get());
    in_flight_.push_back(std::move(job));
    work_ready_.notify_one();
  }

  void finish() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    work_ready_.notify_all();
    for (auto& t : workers_) t.join();
    {
      std::lock_guard lock(mu_);
      workers_done_ = true;
    }
    result_ready_.notify_all();
    writer_.join();
  }

 private:
  void work() {
    for (;;) {
      Job* job;
      {
        std::unique_lock lock(mu_);
        work_ready_.wait(lock, [&] { return !pending_.empty() || closing_; });
        if (pending_.empty()) return;
        job = pending_.front();
        pending_.pop_front();
      }
      rc_.classify(job->block.data, job->block.size, job->first_line, job->out, job->stats);
      job->block = {};
      {
        std::lock_guard lock(mu_);
        job->done = true;
      }
      result_ready_.notify_all();
    }
  }

  void write() {
    for (;;) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock lock(mu_);
        result_ready_.wait(lock, [&] {
          return (!in_flight_.empty() && in_flight_.front()->done) ||
                 (workers_done_ && in_flight_.empty());
        });
        if (in_flight_.empty()) return;
        job = std::move(in_flight_.front());
        in_flight_.pop_front();
      }
      room_.notify_one();
      sink_(*job);
    }
  }

  const detect::RowClassifier& rc_;
  Sink sink_;
  size_t max_in_flight_;
  std::mutex mu_;
  std::condition_variable work_ready_, result_ready_, room_;
  std::deque<Job*> pending_;
  std::deque<std::unique_ptr<Job>> in_flight_;  // in input order
  bool closing_ = false, workers_done_ = false;
  std::vector<std::thread> workers_;
  std::thread writer_;
};

int run_classify(const ClassifyOptions& o) {
  if (o.models.size() > detect::kMaxModels) usage_error("--model: at most 16 models");
  std::vector<detect::CompiledModel> models;
  std::vector<std::string> names;
  detect::FeatureMask features = 0;  // the columns the models read: the only ones converted
  for (const std::string& path : o.models) {
    std::string why;
    const auto m = detect::load_model(path, &why);
    if (!m) io_error(why);
    models.emplace_back(*m);
    features |= detect::features_used(*m);
    names.push_back(detect::alert_name(detect::detector_name(m->detector), names));
  }
  const RowsInput input = parse_rows_input("--input", o.input, o.kafka_properties, o.exit_at_end);

  std::unique_ptr<ingest::BlockSource> source;
  on_termination([&source] {
    if (source) source->close();
  });
  const int out_fd = open_output(o.output);
  source = open_rows_input(input);

  const detect::RowClassifier rc(models, static_cast<size_t>(o.path_features), features);
  detect::ClassifyStats total;
  bool output_ok = true;
  auto report_malformed = [&](const detect::ClassifyStats& before_merge,
                              const detect::ClassifyStats& next) {
    size_t shown = before_merge.first_malformed.size();
    for (const auto& m : next.first_malformed) {
      if (shown++ >= detect::kMalformedShown) break;
      std::fprintf(stderr, "netpulse: %s %s\n", source->describe().c_str(),
                   detect::describe(m).c_str());
    }
  };
  auto consume = [&](const std::string& out, const detect::ClassifyStats& stats) {
    report_malformed(total, stats);
    total.merge(stats);
    if (output_ok && !out.empty()) output_ok = write_all(out_fd, out.data(), out.size());
  };

  const auto t0 = std::chrono::steady_clock::now();
  uint64_t next_line = 1;
  ingest::Block block;
  auto next_block = [&]() {
    for (;;) {
      const auto r = source->next(block, std::chrono::milliseconds(200));
      if (r == ingest::BlockSource::Next::kBlock) return true;
      if (r == ingest::BlockSource::Next::kEnd) return false;
    }
  };
  if (o.delay_ms > 0 || o.threads <= 1) {
    std::string out;
    while (output_ok && next_block()) {
      if (o.delay_ms > 0) {
        // Replays at a fixed pace: one row, its alerts written at once, then the pause.
        const char* p = block.data;
        const char* end = block.data + block.size;
        while (p < end && output_ok) {
          const char* nl =
              static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
          const char* eol = nl ? nl + 1 : end;
          detect::ClassifyStats stats;
          out.clear();
          rc.classify(p, static_cast<size_t>(eol - p), next_line++, out, stats);
          consume(out, stats);
          p = eol;
          std::this_thread::sleep_for(std::chrono::milliseconds(o.delay_ms));
        }
      } else {
        detect::ClassifyStats stats;
        out.clear();
        rc.classify(block.data, block.size, next_line, out, stats);
        next_line += stats.lines;
        consume(out, stats);
      }
    }
  } else {
    ParallelClassifier pc(rc, o.threads,
                          [&](ParallelClassifier::Job& job) { consume(job.out, job.stats); });
    while (next_block()) {
      const uint64_t lines = count_lines(block.data, block.size);
      pc.push(std::move(block), next_line);
      next_line += lines;
      if (!output_ok) break;
    }
    pc.finish();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string read_error = source->error();
  source->close();

  // The summary: the last line of the output.
  nlohmann::ordered_json alerts = nlohmann::ordered_json::object();
  for (size_t m = 0; m < models.size(); ++m) alerts[names[m]] = total.alerts[m];
  const double rate = seconds > 0 ? static_cast<double>(total.rows) / seconds : 0.0;
  const nlohmann::ordered_json summary = {{"summary",
                                           {{"rows", total.rows},
                                            {"malformed", total.malformed},
                                            {"alerts", alerts},
                                            {"seconds", seconds},
                                            {"rows_per_second", rate}}}};
  const std::string line = summary.dump() + "\n";
  if (output_ok) output_ok = write_all(out_fd, line.data(), line.size());
  if (out_fd != 1) ::close(out_fd);
  if (!o.quiet) {
    std::string per;
    for (size_t m = 0; m < models.size(); ++m)
      per += (m ? ", " : "") + names[m] + " " + std::to_string(total.alerts[m]);
    std::fprintf(stderr, "netpulse: %llu rows, %llu malformed; alerts: %s; %.3f s, %srows/s\n",
                 static_cast<unsigned long long>(total.rows),
                 static_cast<unsigned long long>(total.malformed), per.c_str(), seconds,
                 human_rate(rate).c_str());
    if (total.malformed > detect::kMalformedShown)
      std::fprintf(stderr, "netpulse: (only the first %zu malformed rows were shown)\n",
                   detect::kMalformedShown);
  }
  if (!output_ok) io_error("--output '" + o.output + "': " + std::strerror(errno));
  if (!read_error.empty()) io_error(read_error);
  return 0;
}

}  // namespace

Command make_classify_command(CLI::App& app) {
  auto o = std::make_shared<ClassifyOptions>();
  CLI::App* sub = app.add_subcommand(
      "classify",
      "Run detector models on every NSL-KDD row of a stream; one JSON line per alert (row, "
      "detector, score, the features on the deciding path), then a summary line.");
  sub->add_option("--model,-m", o->models, "A model file (repeat for several detectors)")
      ->required();
  sub->add_option("--input,-i", o->input,
                  "Where rows come from: file:PATH or PATH, - (stdin), tcp://HOST:PORT, "
                  "tcp-listen://HOST:PORT, kafka://BROKERS/TOPIC?group=G (one row per message)")
      ->required();
  sub->add_option("--output,-o", o->output, "Where alerts go: - (stdout), file:PATH or PATH")
      ->capture_default_str();
  sub->add_option("--threads", o->threads, "Worker threads; alerts stay in input order")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--delay-ms", o->delay_ms,
                  "Pause this long after each row (replay at a fixed pace)")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  sub->add_option("--path-features", o->path_features,
                  "How many features of the deciding path an alert shows")
      ->check(CLI::Range(0, 16))
      ->capture_default_str();
  sub->add_flag("--exit-at-end", o->exit_at_end,
                "With a kafka:// input: stop once every assigned partition has been read to its "
                "end (a backfill), as kcat -e does; otherwise wait for new rows until Ctrl-C");
  sub->add_option("--kafka-property", o->kafka_properties,
                  "With a kafka:// input: a librdkafka consumer property K=V, e.g. "
                  "session.timeout.ms=6000 (repeatable; wins over the defaults and the URI's ?K=V)");
  sub->add_flag("--quiet,-q", o->quiet, "No summary on stderr (malformed rows still reported)");
  return Command{sub, [o] { return run_classify(*o); }};
}

}  // namespace netpulse::cli
