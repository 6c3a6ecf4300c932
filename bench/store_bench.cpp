// Store throughput: results per second into a SQLite file through the StoreWriter (the engine's
// path), and straight puts by batch size to show what batching buys. Each result is a realistic
// spec section 4 object (3 rows, about 330 bytes of JSON); six queries per window as the engine
// emits them. PostgreSQL too when NETPULSE_BENCH_PG holds a URI (its tables are emptied).
//
//   build/bench/netpulse_bench --benchmark_filter=Store
//   export NETPULSE_BENCH_PG=postgresql://postgres@127.0.0.1:5432/postgres
//   build/bench/netpulse_bench --benchmark_filter=Store
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/store.hpp"
#include "store/store_writer.hpp"

namespace netpulse::store {
namespace {

constexpr std::array<const char*, 6> kQueries = {
    "protocol-share", "protocol-topk", "protocol-outliers", "ip-share", "ip-topk", "ip-outliers"};

StoredResult result_for(uint64_t n) {
  StoredResult r;
  r.window_end = 1589056900000 + static_cast<core::TimeMs>(n / 6) * 1000;
  r.window_start = r.window_end - 10000;
  r.query = kQueries[n % 6];
  r.params_json = n % 3 == 1   ? R"({"T":10,"k":3})"
                  : n % 3 == 0 ? R"({"H":0.05,"T":10})"
                               : R"({"T":10,"X":2})";
  r.records = 50000 + n % 1000;
  r.total_bytes = 37000000 + n;
  r.keys = 1000;
  r.rows_json =
      R"([{"key":"10.0.)" + std::to_string(n % 250) +
      R"(.1","bytes":900312,"share":0.15854,"z":4.2311},{"key":"192.168.1.20","bytes":700001,)"
      R"("share":0.12311,"z":3.1007},{"key":"2001:db8::17","bytes":650000,"share":0.11432,)"
      R"("z":2.8764}])";
  return r;
}

// A fresh SQLite file per benchmark run, removed afterwards.
class TempDb {
 public:
  TempDb() {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/np-bench-XXXXXX";
    if (mkdtemp(pattern.data())) dir_ = pattern;
  }
  ~TempDb() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string uri() const { return "sqlite:" + dir_ + "/bench.db"; }

 private:
  std::string dir_;
};

std::unique_ptr<Store> open_or_skip(benchmark::State& state, const std::string& uri) {
  std::string why;
  auto store = open_store(uri, &why);
  if (!store) state.SkipWithError(why.c_str());
  return store;
}

// The engine's path: push() each result, flush() at the end of the iteration.
void run_writer(benchmark::State& state, const std::string& uri) {
  auto store = open_or_skip(state, uri);
  if (!store) return;
  StoreWriter::Options options;
  options.max_batch = static_cast<size_t>(state.range(0));
  StoreWriter writer(std::move(store), options);
  constexpr uint64_t kPerIteration = 20000;
  uint64_t n = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kPerIteration; ++i) writer.push(result_for(n++));
    writer.flush();
  }
  const auto stats = writer.stats();
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["batches"] = static_cast<double>(stats.batches);
  state.counters["producer_waits"] = static_cast<double>(stats.producer_waits);
  if (stats.write_errors) state.SkipWithError(stats.last_error.c_str());
}

void BM_StoreWriterSqlite(benchmark::State& state) {
  TempDb db;
  run_writer(state, db.uri());
}
BENCHMARK(BM_StoreWriterSqlite)->Arg(1000)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

// put_results() straight, `range(0)` results per transaction.
void BM_StorePutSqlite(benchmark::State& state) {
  TempDb db;
  auto store = open_or_skip(state, db.uri());
  if (!store) return;
  const auto batch_size = static_cast<size_t>(state.range(0));
  std::vector<StoredResult> batch;
  uint64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (size_t i = 0; i < batch_size; ++i) batch.push_back(result_for(n++));
    state.ResumeTiming();
    store->put_results(batch);
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_StorePutSqlite)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->UseRealTime();

// Registered only when a PostgreSQL server is named.
[[maybe_unused]] const bool kPostgresRegistered = [] {
  const char* uri = std::getenv("NETPULSE_BENCH_PG");
  if (uri == nullptr || *uri == '\0') return false;
  benchmark::RegisterBenchmark("BM_StoreWriterPostgres",
                               [](benchmark::State& state) {
                                 const std::string u = std::getenv("NETPULSE_BENCH_PG");
                                 if (auto store = open_or_skip(state, u)) {
                                   for (const char* q : kQueries)
                                     store->delete_results(q);  // inserts, not replacements
                                 }
                                 run_writer(state, u);
                               })
      ->Arg(1000)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace netpulse::store
