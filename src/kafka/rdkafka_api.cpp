#include "kafka/rdkafka_api.hpp"

namespace netpulse::kafka {

NETPULSE_LAZY_API_ACCESSOR(RdkafkaApi, rdk, NETPULSE_RDKAFKA_SONAME, "librdkafka",
                           NETPULSE_RDKAFKA_FUNCTIONS)

}  // namespace netpulse::kafka
