#include "kafka/kafka_source.hpp"

#include <syslog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "kafka/rdkafka_api.hpp"

namespace netpulse::kafka {

namespace {

using Clock = std::chrono::steady_clock;

// A block is handed out at the latest this long after its first line arrived, even while a
// steady trickle of messages keeps it from going idle.
constexpr std::chrono::milliseconds kMaxBlockDelay{100};
// How long one poll may block while there is nothing to hand out: close() is noticed this fast.
constexpr std::chrono::milliseconds kMaxPoll{100};

}  // namespace

const Properties& KafkaSource::default_properties() {
  static const Properties p = [] {
    Properties d = consumer_defaults();
    // Offsets are committed in the background (and at close), but only those next() has
    // stored: see store_handed_out_offsets().
    d.insert(d.end(), {{"enable.auto.commit", "true"}, {"enable.auto.offset.store", "false"}});
    return d;
  }();
  return p;
}

std::unique_ptr<KafkaSource> KafkaSource::open(const KafkaUri& uri, const Properties& overrides,
                                               const Options& options, std::string* why) {
  const std::string name = "kafka://" + uri.brokers + "/" + uri.topic;
  if (uri.group.empty()) {
    *why = name + ": a Kafka input needs a consumer group: add ?group=NAME";
    return nullptr;
  }
  Properties defaults = default_properties();
  defaults.emplace_back("group.id", uri.group);
  rd_kafka_conf_t* conf = make_conf(uri.brokers, defaults, uri.properties, overrides, why);
  if (conf == nullptr) return nullptr;

  std::unique_ptr<KafkaSource> s(new KafkaSource());
  rdk().rd_kafka_conf_set_log_cb(conf, &quiet_log);  // errors reach on_error(), once per kind
  rdk().rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::on_rebalance);
  rdk().rd_kafka_conf_set_error_cb(conf, &KafkaSource::on_error);
  rdk().rd_kafka_conf_set_opaque(conf, s.get());
  s->rk_ = open_consumer(conf, why);
  if (!s->rk_) return nullptr;
  s->options_ = options;
  s->topic_ = uri.topic;
  s->describe_ = name + "?group=" + uri.group;
  s->block_ = std::make_shared<std::string>();
  s->block_->reserve(options.block_size);

  PartitionList topics(rdk().rd_kafka_topic_partition_list_new(1));
  rdk().rd_kafka_topic_partition_list_add(topics.get(), uri.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t e = rdk().rd_kafka_subscribe(s->rk_.get(), topics.get())) {
    *why = name + ": cannot subscribe: " + rdk().rd_kafka_err2str(e);
    return nullptr;
  }
  return s;
}

KafkaSource::~KafkaSource() {
  // The caller is done with every block: commit them all. Closing the consumer (in the Handle's
  // deleter) commits the stored offsets and calls on_rebalance, so it runs while the members
  // are still alive.
  store_handed_out_offsets();
  rk_.reset();
}

void KafkaSource::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  apply_rebalance(rk, err, partitions);
  static_cast<KafkaSource*>(opaque)->rebalanced(err, partitions);
}

void KafkaSource::rebalanced(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list) {
  auto find = [&](int32_t p) {
    return std::find_if(partitions_.begin(), partitions_.end(),
                        [p](const PartitionState& s) { return s.partition == p; });
  };
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    // Eager rebalancing hands over the whole assignment, cooperative only what is added.
    assigned_ = true;
    for (int i = 0; i < list->cnt; ++i) {
      const int32_t p = list->elems[i].partition;
      if (find(p) == partitions_.end()) partitions_.push_back({p, false});
    }
    return;
  }
  // Revoked (or lost): those partitions are no longer ours to wait for. Under eager
  // rebalancing nothing is held until the next assignment.
  for (int i = 0; i < list->cnt; ++i) {
    if (auto it = find(list->elems[i].partition); it != partitions_.end()) partitions_.erase(it);
  }
  if (partitions_.empty()) assigned_ = false;
}

void KafkaSource::on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  static_cast<KafkaSource*>(opaque)->failed(static_cast<rd_kafka_resp_err_t>(err), reason);
}

void KafkaSource::failed(rd_kafka_resp_err_t err, const std::string& reason) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512] = "fatal error";
    if (rk_) rdk().rd_kafka_fatal_error(rk_.get(), fatal, sizeof fatal);  // null while closing
    error_ = describe_ + ": the Kafka consumer failed: " + fatal;
    ended_ = true;
  } else if (options_.exit_at_end && (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                                      err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)) {
    // A backfill of a topic that is not there has nothing to wait for.
    error_ = describe_ + ": " + reason;
    ended_ = true;
  } else {
    report(err, reason);
  }
}

void KafkaSource::report(rd_kafka_resp_err_t err, const std::string& reason) {
  if (std::find(reported_.begin(), reported_.end(), static_cast<int>(err)) != reported_.end())
    return;
  reported_.push_back(static_cast<int>(err));
  std::fprintf(stderr, "netpulse: %s: %s (retrying; shown once)\n", describe_.c_str(),
               reason.c_str());
}

void KafkaSource::take(const rd_kafka_message_t& m) {
  if (m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    for (auto& s : partitions_)
      if (s.partition == m.partition) s.at_end = true;
    return;
  }
  if (m.err) {
    failed(m.err, rdk().rd_kafka_message_errstr(&m));
    return;
  }
  auto it = std::find_if(building_offsets_.begin(), building_offsets_.end(),
                         [&](const auto& po) { return po.first == m.partition; });
  if (it == building_offsets_.end())
    building_offsets_.emplace_back(m.partition, m.offset + 1);
  else
    it->second = m.offset + 1;
  size_t len = m.len;
  const char* value = static_cast<const char*>(m.payload);
  if (len > 0 && value[len - 1] == '\n') --len;  // a producer that kept the line end
  if (len == 0) return;                           // tombstones and empty lines carry nothing
  if (block_->empty()) block_started_ = Clock::now();
  block_->append(value, len);
  block_->push_back('\n');
}

void KafkaSource::hand_out(ingest::Block& out) {
  out = ingest::Block{block_->data(), block_->size(), block_};
  handed_offsets_.swap(building_offsets_);
  building_offsets_.clear();
  block_ = std::make_shared<std::string>();
  block_->reserve(options_.block_size);
}

// At-least-once: an offset is stored (and so committed later) only once the caller has come
// back for the block after the one holding that message, i.e. has taken it. Messages polled
// but not yet handed out, or in the block handed out last, are not committed: after a crash
// or a restart of the group they are read again rather than lost. (A caller that still holds
// blocks when it asks for the next one, as classify --threads does, is at-least-once only for
// the rows it had finished: the commit runs ahead of it by those blocks.)
void KafkaSource::store_handed_out_offsets() {
  if (handed_offsets_.empty() || !rk_) return;
  PartitionList list(
      rdk().rd_kafka_topic_partition_list_new(static_cast<int>(handed_offsets_.size())));
  for (const auto& [partition, offset] : handed_offsets_)
    rdk().rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset = offset;
  // Fails (harmlessly) for partitions revoked since: their new owner reads them again.
  rdk().rd_kafka_offsets_store(rk_.get(), list.get());
  handed_offsets_.clear();
}

bool KafkaSource::all_at_end() const {
  if (!assigned_) return false;
  return std::all_of(partitions_.begin(), partitions_.end(),
                     [](const PartitionState& s) { return s.at_end; });
}

ingest::BlockSource::Next KafkaSource::next(ingest::Block& out,
                                            std::chrono::milliseconds timeout) {
  store_handed_out_offsets();
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (closing_ || ended_ || (options_.exit_at_end && all_at_end())) {
      ended_ = true;
      if (block_->empty()) return Next::kEnd;
      hand_out(out);
      return Next::kBlock;
    }
    const auto now = Clock::now();
    const bool have = !block_->empty();
    if (have && (now >= deadline || now - block_started_ >= kMaxBlockDelay)) {
      hand_out(out);
      return Next::kBlock;
    }
    auto wait = have ? options_.idle
                     : std::min(kMaxPoll, std::chrono::duration_cast<std::chrono::milliseconds>(
                                              deadline - now));
    if (wait.count() < 0) wait = std::chrono::milliseconds(0);
    Message m(rdk().rd_kafka_consumer_poll(rk_.get(), static_cast<int>(wait.count())));
    if (!m) {
      if (have) {
        hand_out(out);
        return Next::kBlock;
      }
      if (Clock::now() >= deadline) return Next::kTimeout;
      continue;
    }
    take(*m);
    if (block_->size() >= options_.block_size) {
      hand_out(out);
      return Next::kBlock;
    }
  }
}

}  // namespace netpulse::kafka
