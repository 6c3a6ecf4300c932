// netpulse kafka-mock: a Kafka cluster for trying and testing the kafka:// inputs and outputs
// without a Kafka installation (librdkafka's mock brokers, on 127.0.0.1). Its bootstrap address
// is the first line of stdout, so a script can read it and pass it on.
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kafka/mock_cluster.hpp"

namespace netpulse::cli {

namespace {

struct KafkaMockOptions {
  int brokers = 3;
  std::vector<std::string> topics;
  bool quiet = false;
};

int run_kafka_mock(const KafkaMockOptions& o) {
  std::vector<kafka::TopicSpec> topics;
  for (const std::string& text : o.topics) {
    std::string why;
    auto spec = kafka::parse_topic_spec(text, &why);
    if (!spec) usage_error("--topic: " + why);
    topics.push_back(std::move(*spec));
  }

  std::mutex mu;
  std::condition_variable stopped;
  bool stop = false;
  // Signals first: the mock's threads must inherit the blocked mask.
  on_termination([&] {
    std::lock_guard lock(mu);
    stop = true;
    stopped.notify_all();
  });

  std::string why;
  auto cluster = kafka::MockCluster::start(o.brokers, &why);
  if (!cluster) io_error(why);
  std::string described;
  for (const auto& t : topics) {
    if (!cluster->create_topic(t.name, t.partitions, &why)) io_error(why);
    described += (described.empty() ? "" : ", ") + t.name + " (" + std::to_string(t.partitions) +
                 (t.partitions == 1 ? " partition)" : " partitions)");
  }

  const std::string bootstraps = cluster->bootstraps();
  std::printf("%s\n", bootstraps.c_str());
  std::fflush(stdout);
  if (!o.quiet) {
    std::fprintf(stderr,
                 "netpulse: mock Kafka cluster of %d broker%s at %s; topics: %s; running until "
                 "Ctrl-C or SIGTERM\n",
                 o.brokers, o.brokers == 1 ? "" : "s", bootstraps.c_str(),
                 described.empty() ? "none yet (created with 4 partitions on first use)"
                                   : described.c_str());
  }

  std::unique_lock lock(mu);
  stopped.wait(lock, [&] { return stop; });
  return 0;
}

}  // namespace

Command make_kafka_mock_command(CLI::App& app) {
  auto o = std::make_shared<KafkaMockOptions>();
  CLI::App* sub = app.add_subcommand(
      "kafka-mock",
      "Run a mock Kafka cluster (librdkafka's) on 127.0.0.1 for trying kafka:// inputs and "
      "outputs without Kafka: prints the bootstrap address as the first line of stdout, then "
      "runs until Ctrl-C or SIGTERM. Data lives in memory only, and each partition keeps only "
      "its newest 5 MiB (older messages are dropped, as by retention).");
  sub->add_option("--brokers", o->brokers,
                  "Number of brokers, each on a random 127.0.0.1 port")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--topic", o->topics,
                  "Create a topic: NAME:PARTITIONS, e.g. flows:8, or NAME for 1 partition "
                  "(repeatable). Topics not created here are created with 4 partitions on first "
                  "use");
  sub->add_flag("--quiet,-q", o->quiet, "No description on stderr (the address is still printed)");
  return Command{sub, [o] { return run_kafka_mock(*o); }};
}

}  // namespace netpulse::cli
