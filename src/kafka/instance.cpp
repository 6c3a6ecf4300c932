#include "kafka/instance.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <memory>
#include <set>
#include <vector>

#include "core/protocol_table.hpp"
#include "ingest/flow_parser.hpp"
#include "kafka/client.hpp"
#include "kafka/pane_codec.hpp"
#include "kafka/partition_state.hpp"

namespace netpulse::kafka {

namespace {

using Clock = std::chrono::steady_clock;

struct Assigned {
  std::unique_ptr<PartitionState> state;
  bool at_end = false;
  Clock::time_point end_since{};
  bool idle_sent = false;
  bool touched = false;  // records arrived in this batch: publish what became complete
  std::string committed;  // the last checkpoint committed (offset + metadata), to skip repeats
};

class Runner {
 public:
  Runner(const InstanceOptions& o, InstanceCounters& c, const Instance::MalformedHandler& h,
         size_t limit, std::atomic<bool>& stop)
      : o_(o), c_(c), malformed_handler_(h), malformed_limit_(limit), stop_(stop),
        parser_(protocols_, ingest::Format::kLine) {}

  std::optional<std::string> run();

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  void assign(rd_kafka_topic_partition_list_t* parts);
  void revoke(rd_kafka_topic_partition_list_t* parts);
  bool fetch_partition_counts();
  int32_t panes_partition(int32_t source) const { return source % panes_partitions_; }
  void handle(const rd_kafka_message_t* m);
  bool publish_taken(int32_t partition);
  bool publish_complete(int32_t partition, Assigned& a);
  bool publish_all_and_end();
  bool publish_mark(int32_t partition, Mark::Kind kind, int64_t bound = 0);
  bool commit(const std::set<int32_t>* only);
  void log_once(const std::string& kind, const std::string& text);
  void fail(std::string why) {
    if (!error_) error_ = std::move(why);
  }

  const InstanceOptions& o_;
  InstanceCounters& c_;
  const Instance::MalformedHandler& malformed_handler_;
  size_t malformed_limit_;
  size_t malformed_reported_ = 0;
  std::atomic<bool>& stop_;

  core::ProtocolTable protocols_;
  ingest::FlowParser parser_;
  Handle consumer_;
  std::unique_ptr<Producer> producer_;
  SourceInfo source_;
  engine::ShardBudget budget_;  // each partition's panes (partition_budget)
  int32_t panes_partitions_ = 1;
  rd_kafka_topic_t* panes_topic_ = nullptr;  // owned by producer_
  std::map<int32_t, Assigned> assigned_;
  bool had_assignment_round_ = false;
  bool empty_assignment_ = false;  // the group gave this member no partition
  std::set<std::string> logged_;
  std::optional<std::string> error_;
  std::vector<std::pair<int64_t, engine::KeySums>> panes_scratch_;
  PartitionState::Samples samples_scratch_;
  std::vector<EncodedMessage> messages_scratch_;
};

void Runner::log_once(const std::string& kind, const std::string& text) {
  if (logged_.insert(kind).second) std::fprintf(stderr, "netpulse: %s\n", text.c_str());
}

void Runner::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Runner*>(opaque);
  self->c_.rebalances.fetch_add(1, std::memory_order_relaxed);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->assign(parts);  // sets each partition's starting offset first
    apply_rebalance(rk, err, parts);
    self->had_assignment_round_ = true;
    // Eager: this is the whole assignment; cooperative: what was added to it.
    self->empty_assignment_ = self->assigned_.empty();
  } else {
    self->revoke(parts);
    apply_rebalance(rk, err, parts);
  }
}

// New partitions: start each from its committed offset and checkpoint (or from the beginning).
void Runner::assign(rd_kafka_topic_partition_list_t* parts) {
  const rd_kafka_resp_err_t e = rdk().rd_kafka_committed(consumer_.get(), parts, 10'000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Without the committed checkpoints a restart could not be exact: better to stop.
    fail(std::string("cannot read committed offsets: ") + rdk().rd_kafka_err2str(e));
    return;
  }
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& tp = parts->elems[i];
    Checkpoint cp;
    if (tp.offset >= 0) {
      const std::string_view md(static_cast<const char*>(tp.metadata), tp.metadata_size);
      auto decoded = Checkpoint::decode(tp.offset, md);
      if (!decoded) {
        fail("partition " + std::to_string(tp.partition) + " of " + o_.input.topic +
             ": committed offset " + std::to_string(tp.offset) +
             " carries no netpulse checkpoint (was the group used by another program?)");
        return;
      }
      cp = *decoded;
    } else {
      tp.offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    Assigned a;
    a.state = std::make_unique<PartitionState>(
        o_.config, cp, budget_,
        o_.history_sample == kNoSample ? kNoSample : pane_sample(o_.history_sample, o_.config.time_unit_ms));
    assigned_[tp.partition] = std::move(a);
  }
  if (!o_.quiet) {
    std::string list;
    for (int i = 0; i < parts->cnt; ++i)
      list += (i ? "," : "") + std::to_string(parts->elems[i].partition);
    std::fprintf(stderr, "netpulse: assigned partitions [%s] of %s\n", list.c_str(),
                 o_.input.topic.c_str());
  }
}

// Partitions leaving: commit what is delivered, then forget them; their next owner replays from
// the checkpoint.
void Runner::revoke(rd_kafka_topic_partition_list_t* parts) {
  std::set<int32_t> leaving;
  for (int i = 0; i < parts->cnt; ++i) leaving.insert(parts->elems[i].partition);
  if (!error_) commit(&leaving);
  for (int32_t p : leaving) assigned_.erase(p);
}

bool Runner::fetch_partition_counts() {
  std::string why;
  auto n = partition_count(consumer_.get(), o_.input.topic, std::chrono::seconds(15), &why);
  if (!n) {
    fail(why + " (on " + o_.input.brokers + ")");
    return false;
  }
  source_.partitions = *n;
  budget_ = partition_budget(o_.config, *n);
  // Panes of source partition p go to panes partition p mod this: a partition's panes and marks
  // stay in order on one panes partition, and several spread the load (and, on the mock
  // cluster, its 5 MiB per partition limit).
  auto m = partition_count(producer_->get(), o_.panes_topic, std::chrono::seconds(15), &why);
  if (!m) {
    fail(why + " (on " + o_.input.brokers + ")");
    return false;
  }
  panes_partitions_ = *m;
  panes_topic_ = producer_->topic(o_.panes_topic);
  return true;
}

void Runner::handle(const rd_kafka_message_t* m) {
  auto it = assigned_.find(m->partition);
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    if (it != assigned_.end() && !it->second.at_end) {
      it->second.at_end = true;
      it->second.end_since = Clock::now();
    }
    return;
  }
  if (m->err) {
    if (rdk().rd_kafka_message_errstr(m) && m->err == RD_KAFKA_RESP_ERR__FATAL) {
      fail(std::string("Kafka: ") + rdk().rd_kafka_message_errstr(m));
    } else {
      log_once(std::to_string(m->err),
               std::string("Kafka consumer: ") + rdk().rd_kafka_message_errstr(m) + " (retrying)");
    }
    return;
  }
  if (it == assigned_.end()) return;  // a message from a partition revoked meanwhile
  Assigned& a = it->second;
  a.at_end = false;
  a.idle_sent = false;
  a.touched = true;
  const char* begin = static_cast<const char*>(m->payload);
  const char* end = begin + m->len;
  while (end > begin && end[-1] == '\n') --end;  // a producer may send the newline too
  core::FlowRecord rec;
  ingest::ParseError perr;
  const ingest::ParseStatus st = parser_.parse(begin, end, rec, &perr);
  if (st == ingest::ParseStatus::kBlank) {
    a.state->skip(m->offset);  // not a record, as a blank line in a file is not
    return;
  }
  if (st != ingest::ParseStatus::kOk) {
    a.state->skip(m->offset);
    c_.malformed.fetch_add(1, std::memory_order_relaxed);
    if (malformed_handler_ && malformed_reported_ < malformed_limit_) {
      ++malformed_reported_;
      malformed_handler_(m->partition, m->offset, ingest::describe(st),
                         perr.field.empty() ? std::string_view(begin, end - begin) : perr.field);
    }
    return;
  }
  switch (a.state->add(m->offset, rec)) {
    case PartitionState::Outcome::kAccepted:
      c_.accepted.fetch_add(1, std::memory_order_relaxed);
      break;
    case PartitionState::Outcome::kLate:
      c_.late.fetch_add(1, std::memory_order_relaxed);
      break;
    case PartitionState::Outcome::kPublished:
      c_.replayed.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

bool Runner::publish_mark(int32_t partition, Mark::Kind kind, int64_t bound) {
  Mark mk;
  mk.partition = partition;
  mk.kind = kind;
  mk.complete_below = bound;
  const EncodedMessage msg = encode_mark(source_, mk);
  if (!producer_->produce(panes_topic_, panes_partition(partition), msg.key, msg.value)) {
    fail(producer_->error());
    return false;
  }
  return true;
}

// Encodes and produces the panes in panes_scratch_ (taken from `partition`).
bool Runner::publish_taken(int32_t partition) {
  messages_scratch_.clear();
  // Each pane's sample before the pane, and both before the mark that covers them.
  for (const auto& [index, sample] : samples_scratch_)
    encode_sample(source_, partition, index, sample, protocols_, messages_scratch_);
  const size_t samples = messages_scratch_.size();
  for (const auto& [index, sums] : panes_scratch_) {
    encode_pane(source_, partition, index, sums, protocols_, messages_scratch_);
    if (sums.summary) c_.summarized.fetch_add(1, std::memory_order_relaxed);
  }
  for (const auto& msg : messages_scratch_) {
    if (!producer_->produce(panes_topic_, panes_partition(partition), msg.key, msg.value)) {
      fail(producer_->error());
      return false;
    }
  }
  c_.samples.fetch_add(samples, std::memory_order_relaxed);
  c_.panes.fetch_add(messages_scratch_.size() - samples, std::memory_order_relaxed);
  return true;
}

bool Runner::publish_complete(int32_t partition, Assigned& a) {
  panes_scratch_.clear();
  samples_scratch_.clear();
  const auto bound = a.state->take_complete(panes_scratch_, &samples_scratch_);
  if (!bound) return true;
  return publish_taken(partition) && publish_mark(partition, Mark::Kind::kCompleteBelow, *bound);
}

bool Runner::publish_all_and_end() {
  for (auto& [partition, a] : assigned_) {
    panes_scratch_.clear();
    samples_scratch_.clear();
    a.state->take_all(panes_scratch_, &samples_scratch_);
    if (!publish_taken(partition) || !publish_mark(partition, Mark::Kind::kEnd)) return false;
  }
  return true;
}

// Commits the checkpoint of each assigned partition (or of `only`), after every pane and mark
// produced so far is delivered: an offset is never committed before what it covers is stored.
bool Runner::commit(const std::set<int32_t>* only) {
  if (!producer_->flush(std::chrono::seconds(30))) {
    fail("panes topic " + o_.panes_topic + ": " + producer_->error() +
         "; offsets not committed (a restart replays them)");
    return false;
  }
  PartitionList list(rdk().rd_kafka_topic_partition_list_new(static_cast<int>(assigned_.size())));
  std::vector<std::pair<Assigned*, std::string>> pending;
  for (auto& [partition, a] : assigned_) {
    if (only && !only->contains(partition)) continue;
    const Checkpoint cp = a.state->checkpoint();
    if (cp.offset < 0) continue;  // nothing read yet
    std::string md = cp.encode();
    std::string tag = std::to_string(cp.offset) + " " + md;
    if (tag == a.committed) continue;
    rd_kafka_topic_partition_t* tp =
        rdk().rd_kafka_topic_partition_list_add(list.get(), o_.input.topic.c_str(), partition);
    tp->offset = cp.offset;
    tp->metadata = std::malloc(md.size());  // freed with the list
    std::memcpy(tp->metadata, md.data(), md.size());
    tp->metadata_size = md.size();
    pending.emplace_back(&a, std::move(tag));
  }
  if (list->cnt == 0) return true;
  const rd_kafka_resp_err_t e = rdk().rd_kafka_commit(consumer_.get(), list.get(), 0);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not fatal: the next commit covers it; until then a restart replays a little more.
    log_once("commit" + std::to_string(e),
             std::string("Kafka offset commit: ") + rdk().rd_kafka_err2str(e) + " (will retry)");
    return true;
  }
  for (auto& [a, tag] : pending) a->committed = std::move(tag);
  c_.commits.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::optional<std::string> Runner::run() {
  std::string why;
  Properties consumer_props = consumer_defaults();
  consumer_props.insert(consumer_props.end(), {{"group.id", o_.input.group},
                                               // commits are ours, after delivery (commit())
                                               {"enable.auto.commit", "false"},
                                               {"enable.auto.offset.store", "false"}});
  rd_kafka_conf_t* cc =
      make_conf(o_.input.brokers, consumer_props, o_.input.properties, o_.properties, &why);
  if (!cc) return why;
  rdk().rd_kafka_conf_set_opaque(cc, this);
  rdk().rd_kafka_conf_set_log_cb(cc, &quiet_log);  // errors come with messages: log_once()
  rdk().rd_kafka_conf_set_rebalance_cb(cc, &Runner::on_rebalance);
  consumer_ = open_consumer(cc, &why);
  if (!consumer_) return why;

  rd_kafka_conf_t* pc = make_conf(o_.input.brokers,
                                  {{"enable.idempotence", "true"}, {"linger.ms", "5"},
                                   // Pane text repeats a lot (addresses, numbers): lz4 cuts the
                                   // bytes on the wire and on the brokers about threefold.
                                   {"compression.codec", "lz4"},
                                   // Marks must follow their panes. The idempotent producer
                                   // keeps order on a real broker (it rejects out-of-sequence
                                   // batches), but the mock cluster does not check sequences: a
                                   // retried batch could land after a later one. One request
                                   // in flight keeps the order anywhere; panes are few enough.
                                   {"max.in.flight.requests.per.connection", "1"}},
                                  {}, producer_properties(o_.properties), &why);
  if (!pc) return why;
  producer_ = Producer::open(pc, &why);
  if (!producer_) return why;
  producer_->set_header(std::string(kInstanceHeader), o_.name.empty() ? default_instance_name() : o_.name);

  source_.topic = o_.input.topic;
  source_.unit_ms = o_.config.time_unit_ms;
  source_.ip_key = o_.config.ip_key;
  if (!fetch_partition_counts()) return error_;

  PartitionList sub(rdk().rd_kafka_topic_partition_list_new(1));
  rdk().rd_kafka_topic_partition_list_add(sub.get(), o_.input.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto e = rdk().rd_kafka_subscribe(consumer_.get(), sub.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::string("cannot subscribe to ") + o_.input.topic + ": " + rdk().rd_kafka_err2str(e);

  auto last_commit = Clock::now();
  bool finished = false;
  while (!stop_ && !error_) {
    // A batch: wait briefly for the first message, then take what is already there.
    for (int n = 0; n < 20'000; ++n) {
      rd_kafka_message_t* m = rdk().rd_kafka_consumer_poll(consumer_.get(), n == 0 ? 100 : 0);
      if (m == nullptr) break;
      handle(m);
      rdk().rd_kafka_message_destroy(m);
      if (error_) break;
    }
    if (error_) break;
    for (auto& [p, a] : assigned_) {
      if (!a.touched) continue;
      a.touched = false;
      if (!publish_complete(p, a)) break;
    }
    producer_->poll();
    const auto now = Clock::now();
    if (o_.idle_timeout.count() > 0) {
      for (auto& [p, a] : assigned_) {
        if (a.at_end && !a.idle_sent && now - a.end_since >= o_.idle_timeout) {
          // Tell merge not to wait for this partition; its later panes may arrive too late.
          if (!publish_mark(p, Mark::Kind::kIdle)) break;
          a.idle_sent = true;
        }
      }
    }
    if (o_.exit_at_end && had_assignment_round_) {
      bool all_end = !assigned_.empty() || empty_assignment_;
      for (const auto& [p, a] : assigned_) all_end = all_end && a.at_end;
      if (all_end) {
        if (publish_all_and_end()) commit(nullptr);
        finished = true;
        break;
      }
    }
    if (now - last_commit >= o_.commit_interval) {
      commit(nullptr);
      last_commit = now;
    }
  }
  if (!error_ && !finished) commit(nullptr);  // stop(): keep what is delivered
  producer_->flush(std::chrono::seconds(10));
  // Leave the group while the handle is still reachable: the revoke callback commits once more
  // through consumer_ (unique_ptr::reset would null it before closing).
  rdk().rd_kafka_consumer_close(consumer_.get());
  rdk().rd_kafka_destroy(consumer_.release());
  return error_;
}

}  // namespace

std::string default_instance_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  // Containers sharing the host's network have its host name, and each its own PID namespace,
  // so HOST:PID alone can repeat (two replicas, both PID 6 under their init): a random suffix
  // keeps every instance apart in merge's cluster view.
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(std::random_device{}() & 0xffff));
  return std::string(host) + ":" + std::to_string(::getpid()) + "-" + suffix;
}

std::optional<std::string> Instance::run() {
  if (o_.input.group.empty())
    return "kafka://" + o_.input.brokers + "/" + o_.input.topic +
           ": a consumer group is required (?group=NAME)";
  if (o_.panes_topic.empty()) o_.panes_topic = o_.input.topic + ".panes";
  Runner runner(o_, counters_, malformed_handler_, malformed_limit_, stop_);
  return runner.run();
}

}  // namespace netpulse::kafka
