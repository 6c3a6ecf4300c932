// librdkafka, loaded when Kafka is first used (core/shared_library.hpp) rather than at every
// start of netpulse: the kafka stage calls it only through rdk(). make_conf() and
// MockCluster::start() load it first and report a missing library as one line; every other
// call follows one of them.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/shared_library.hpp"

namespace netpulse::kafka {

#define NETPULSE_RDKAFKA_FUNCTIONS(X)        \
  X(rd_kafka_assign)                         \
  X(rd_kafka_commit)                         \
  X(rd_kafka_committed)                      \
  X(rd_kafka_conf_destroy)                   \
  X(rd_kafka_conf_new)                       \
  X(rd_kafka_conf_set)                       \
  X(rd_kafka_conf_set_dr_msg_cb)             \
  X(rd_kafka_conf_set_error_cb)              \
  X(rd_kafka_conf_set_log_cb)                \
  X(rd_kafka_conf_set_opaque)                \
  X(rd_kafka_conf_set_rebalance_cb)          \
  X(rd_kafka_consumer_close)                 \
  X(rd_kafka_consumer_poll)                  \
  X(rd_kafka_destroy)                        \
  X(rd_kafka_err2str)                        \
  X(rd_kafka_fatal_error)                    \
  X(rd_kafka_flush)                          \
  X(rd_kafka_header_get_last)                \
  X(rd_kafka_incremental_assign)             \
  X(rd_kafka_incremental_unassign)           \
  X(rd_kafka_message_destroy)                \
  X(rd_kafka_message_errstr)                 \
  X(rd_kafka_message_headers)                \
  X(rd_kafka_metadata)                       \
  X(rd_kafka_metadata_destroy)               \
  X(rd_kafka_mock_broker_set_down)           \
  X(rd_kafka_mock_broker_set_up)             \
  X(rd_kafka_mock_cluster_bootstraps)        \
  X(rd_kafka_mock_cluster_destroy)           \
  X(rd_kafka_mock_cluster_new)               \
  X(rd_kafka_mock_push_request_errors_array) \
  X(rd_kafka_mock_topic_create)              \
  X(rd_kafka_new)                            \
  X(rd_kafka_offsets_store)                  \
  X(rd_kafka_poll)                           \
  X(rd_kafka_poll_set_consumer)              \
  X(rd_kafka_producev)                       \
  X(rd_kafka_rebalance_protocol)             \
  X(rd_kafka_subscribe)                      \
  X(rd_kafka_topic_destroy)                  \
  X(rd_kafka_topic_name)                     \
  X(rd_kafka_topic_new)                      \
  X(rd_kafka_topic_partition_list_add)       \
  X(rd_kafka_topic_partition_list_destroy)   \
  X(rd_kafka_topic_partition_list_new)       \
  X(rd_kafka_type)

NETPULSE_LAZY_API_STRUCT(RdkafkaApi, NETPULSE_RDKAFKA_FUNCTIONS)

// Throws std::runtime_error (one line) when librdkafka cannot be loaded.
const RdkafkaApi& rdk();

}  // namespace netpulse::kafka
