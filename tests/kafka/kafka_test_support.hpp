// Helpers for tests that go through Kafka without a Kafka installation: librdkafka's mock
// cluster in the test process (or `netpulse kafka-mock` as a child), kcat to put files into
// topics and read topics back, and netpulse children (testref::Child: killed by pid when the
// test is done with them). Everything listens on 127.0.0.1. Failures throw std::runtime_error
// with the tool's stderr, which GoogleTest reports as the test's failure.
// Header-only; each object belongs to one test thread.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "../engine/process_runner.hpp"
#include "kafka/kafka_sink.hpp"
#include "kafka/mock_cluster.hpp"

namespace netpulse::testkafka {

using testref::Child;
using testref::Finished;
using testref::read_file;
using testref::run_netpulse;
using testref::TempDir;
using testref::write_file;

// What the tests set on consumers so that group joins and rebalances on the mock take
// well under a second: pass to netpulse as --kafka-property.
inline const std::vector<std::string> kConsumerArgs = {
    "--kafka-property", "session.timeout.ms=6000", "--kafka-property",
    "heartbeat.interval.ms=500"};
inline const kafka::Properties kConsumerProperties = {{"session.timeout.ms", "6000"},
                                                      {"heartbeat.interval.ms", "500"}};

// An in-process mock cluster of `brokers` brokers with these topics.
inline std::unique_ptr<kafka::MockCluster> start_mock(const std::vector<kafka::TopicSpec>& topics,
                                                      int brokers = 3) {
  std::string why;
  auto m = kafka::MockCluster::start(brokers, &why);
  if (!m) throw std::runtime_error(why);
  for (const auto& t : topics)
    if (!m->create_topic(t.name, t.partitions, &why)) throw std::runtime_error(why);
  return m;
}

inline std::string kafka_uri(const std::string& bootstrap, const std::string& topic,
                             const std::string& group = "") {
  return "kafka://" + bootstrap + "/" + topic + (group.empty() ? "" : "?group=" + group);
}

// Runs a program (looked up in PATH) with stdin from /dev/null and stdout/stderr into files;
// kills it by pid after `timeout`. Returns the exit status, minus the signal that ended it, or
// -1000 on timeout.
inline int run_program(const std::vector<std::string>& args, const std::string& out_path,
                       const std::string& err_path,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Runs kcat; throws with its stderr unless it exits 0. Returns its stdout when out_path is
// empty (the output then goes to a temporary file next to err).
inline std::string run_kcat(const std::vector<std::string>& args, const TempDir& dir,
                            const std::string& out_path = "") {
  static int n = 0;
  const std::string tag = std::to_string(++n);
  const std::string out = out_path.empty() ? dir / ("kcat.out." + tag) : out_path;
  const std::string err = dir / ("kcat.err." + tag);
  std::vector<std::string> argv{"kcat"};
  argv.insert(argv.end(), args.begin(), args.end());
  const int code = run_program(argv, out, err);
  if (code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error(cmd + "exited " + std::to_string(code) + ": " + read_file(err));
  }
  return out_path.empty() ? read_file(out) : std::string();
}

// The key `run_kcat_produce` gives a line: the source address of a flow record (as
// `generate --output kafka://` keys it), the line's index for anything else (NSL-KDD rows),
// which spreads those evenly over the partitions.
inline std::string key_for_line(std::string_view line, size_t index) {
  const std::string_view key = kafka::record_key(line);
  return key.size() == line.size() ? std::to_string(index) : std::string(key);
}

// Produces each line of `file` as one message. Unkeyed, kcat puts nearly everything in one
// partition; keyed, each line goes with key_for_line() (through "KEY<TAB>LINE" and kcat -K).
inline void run_kcat_produce(const std::string& bootstrap, const std::string& topic,
                             const std::string& file, bool keyed, const TempDir& dir) {
  std::string path = file;
  std::vector<std::string> args{"-P", "-b", bootstrap, "-t", topic};
  if (keyed) {
    path = dir / ("keyed." + topic);
    std::ifstream in(file);
    std::ofstream out(path);
    size_t i = 0;
    for (std::string line; std::getline(in, line); ++i)
      out << key_for_line(line, i) << '\t' << line << '\n';
    if (!out) throw std::runtime_error("cannot write " + path);
    args.insert(args.end(), {"-K", "\t"});
  }
  args.insert(args.end(), {"-l", path});
  run_kcat(args, dir);
}

// Reads the whole topic from its start (no group) into out_file, one message per line in
// `format` (kcat -f: %s value, %k key, %p partition, %o offset).
inline void run_kcat_consume(const std::string& bootstrap, const std::string& topic,
                             const std::string& out_file, const TempDir& dir,
                             const std::string& format = "%s\n") {
  run_kcat({"-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-u", "-q", "-f", format},
           dir, out_file);
}

// Each partition's message count by its watermarks (high minus low), asked of the cluster
// with a consumer handle of our own: what a read-back must find.
inline std::map<int, int64_t> partition_counts(const std::string& bootstrap,
                                               const std::string& topic) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK)
    throw std::runtime_error(err);
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(
      rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err), &rd_kafka_destroy);
  if (!rk) throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  const rd_kafka_metadata_t* meta = nullptr;
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
      rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  if (rd_kafka_resp_err_t e = rd_kafka_metadata(rk.get(), 0, rkt.get(), &meta, 10000))
    throw std::runtime_error("metadata of " + topic + ": " + rd_kafka_err2str(e));
  std::map<int, int64_t> out;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int t = 0; t < meta->topic_cnt && !e; ++t)
    for (int i = 0; i < meta->topics[t].partition_cnt && !e; ++i) {
      const int32_t p = meta->topics[t].partitions[i].id;
      int64_t low = 0, high = 0;
      e = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, 10000);
      out[p] = high - low;
    }
  rd_kafka_metadata_destroy(meta);
  if (e) throw std::runtime_error("watermarks of " + topic + ": " + rd_kafka_err2str(e));
  return out;
}

// The topic's messages by partition, in offset order. kcat -e stops at what each partition's
// first fetches return; the read is repeated (up to 5 times) until every partition holds as
// many messages as its watermarks say, so that a short read-back is never taken for a loss.
// A repeat is reported on stderr.
inline std::map<int, std::vector<std::string>> consume_by_partition(const std::string& bootstrap,
                                                                    const std::string& topic,
                                                                    const TempDir& dir) {
  const std::map<int, int64_t> want = partition_counts(bootstrap, topic);
  std::map<int, std::vector<std::string>> out;
  for (int attempt = 1;; ++attempt) {
    const std::string path = dir / ("consumed." + topic);
    run_kcat_consume(bootstrap, topic, path, dir, "%p\t%s\n");
    out.clear();
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      const size_t tab = line.find('\t');
      if (tab == std::string::npos) throw std::runtime_error("kcat output: " + line);
      out[std::stoi(line.substr(0, tab))].push_back(line.substr(tab + 1));
    }
    std::string short_of;
    for (const auto& [p, n] : want)
      if (static_cast<int64_t>(out[p].size()) < n)
        short_of += " partition " + std::to_string(p) + ": " + std::to_string(out[p].size()) +
                    " of " + std::to_string(n) + ";";
    if (short_of.empty() || attempt == 5) return out;
    std::fprintf(stderr, "read-back of %s short (%s), reading again\n", topic.c_str(),
                 short_of.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// `netpulse kafka-mock ARGS` as a child; address() waits for the first line of its stdout.
class MockProcess {
 public:
  MockProcess(const std::vector<std::string>& args, const TempDir& dir)
      : child_([&] {
          std::vector<std::string> a{"kafka-mock"};
          a.insert(a.end(), args.begin(), args.end());
          return a;
        }(), dir) {}

  // The bootstrap address, or "" when none came within the timeout.
  std::string address(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string first;
    testref::wait_until(
        [&] {
          const std::string out = child_.out();
          const size_t nl = out.find('\n');
          if (nl == std::string::npos) return !child_.running();
          first = out.substr(0, nl);
          return true;
        },
        timeout);
    return first;
  }
  Child& child() { return child_; }

 private:
  Child child_;
};

}  // namespace netpulse::testkafka
