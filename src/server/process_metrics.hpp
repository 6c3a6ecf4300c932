// The process's own figures in /metrics: what Prometheus client libraries export by default
// (resident memory, CPU seconds, open descriptors, start time, under their standard names, so
// the usual dashboards and alerts work), plus glibc's allocator totals. Resident memory alone
// cannot tell live data that grows from freed memory the allocator keeps: the heap figures
// separate the two (a soak's RSS in steps with a flat in-use figure is the allocator).
#pragma once

#include "server/metrics.hpp"

namespace netpulse::server {

// Registers process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_open_fds, process_max_fds, process_start_time_seconds,
// netpulse_threads, netpulse_heap_in_use_bytes and netpulse_heap_free_bytes. Read from /proc/self
// and mallinfo2() at each scrape.
// The heap figures are left out in sanitizer builds, whose allocator glibc does not see.
void add_process_metrics(MetricsRegistry& metrics);
bool heap_metrics_available();

}  // namespace netpulse::server
