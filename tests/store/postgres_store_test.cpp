// What is particular to the PostgreSQL store, against a real server the test starts: the schema's
// types, connection failures, reconnecting after a restart, and the StoreWriter holding its data
// while the server is down.
#include "store/postgres_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/store_writer.hpp"
#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

using testing::make_alert;
using testing::make_result;

TEST(PostgresStore, RedactsPasswords) {
  EXPECT_EQ(redact_uri("postgresql://bob:secret@db.example:5432/netpulse"),
            "postgresql://bob@db.example:5432/netpulse");
  EXPECT_EQ(redact_uri("postgres://bob@db/x?password=secret&sslmode=require"),
            "postgres://bob@db/x?password=***&sslmode=require");
  EXPECT_EQ(redact_uri("postgresql://db:5432/x"), "postgresql://db:5432/x");
}

TEST(PostgresStore, ConnectFailureIsOneLineWithoutPassword) {
  const int port = testsupport::free_port();  // nobody listens there
  std::string why;
  const auto start = std::chrono::steady_clock::now();
  auto store = open_store("postgresql://bob:secret@127.0.0.1:" + std::to_string(port) + "/x", &why);
  EXPECT_EQ(store, nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_NE(why.find("postgresql://bob@127.0.0.1:" + std::to_string(port)), std::string::npos)
      << why;
  EXPECT_EQ(why.find("secret"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  // libpq quotes a URI it cannot parse: the password must not come through.
  EXPECT_EQ(open_store("postgresql://bob:secret@[::1/x", &why), nullptr);
  EXPECT_EQ(why.find("secret"), std::string::npos) << why;
  EXPECT_EQ(open_store("postgresql://bob@127.0.0.1:1/x?password=secret&x=[", &why), nullptr);
  EXPECT_EQ(why.find("secret"), std::string::npos) << why;
}

TEST(PostgresStore, SchemaUsesJsonbParamsAndIntegerTimes) {
  const std::string uri = testing::fresh_pg_uri();
  ASSERT_FALSE(uri.empty());
  auto store = testing::open_or_fail(uri);
  ASSERT_NE(store, nullptr);
  EXPECT_NE(store->describe().find("postgresql://postgres@127.0.0.1:"), std::string::npos)
      << store->describe();
  store->put_results(std::vector{make_result("ip-topk", 10000)});
  std::string v;
  ASSERT_EQ(testing::pg_exec(uri,
                             "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY "
                             "ordinal_position) FROM information_schema.columns WHERE "
                             "table_name = 'results'",
                             &v),
            "");
  EXPECT_EQ(v,
            "id bigint, window_start bigint, window_end bigint, query text, params jsonb, "
            "records bigint, total_bytes bigint, keys bigint, rows json, approximate json");
  ASSERT_EQ(testing::pg_exec(uri, "SELECT params->>'k' FROM results", &v), "");
  EXPECT_EQ(v, "3");
  ASSERT_EQ(testing::pg_exec(uri,
                             "SELECT to_char(to_timestamp(window_end / 1000.0) AT TIME ZONE "
                             "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM results",
                             &v),
            "");
  EXPECT_EQ(v, "1970-01-01T00:00:10.000Z");
  // Equal JSON values are the same key in jsonb, whatever their spelling.
  store->put_results(std::vector{make_result("ip-topk", 10000, R"({"k":3.0,"T":10})", 5)});
  EXPECT_EQ(store->count_results("ip-topk"), 1u);
}

// A database whose results table an older netpulse created (before issue 14) gains the
// approximate column, with its CHECK, once; old rows read back as exact.
TEST(PostgresStore, MigratesATableWithoutApproximate) {
  const std::string uri = testing::fresh_pg_uri();
  ASSERT_FALSE(uri.empty());
  ASSERT_EQ(testing::pg_exec(uri, R"sql(
CREATE TABLE results (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  window_start BIGINT NOT NULL,
  window_end BIGINT NOT NULL,
  query TEXT NOT NULL,
  params JSONB NOT NULL CHECK (jsonb_typeof(params) = 'object'),
  records BIGINT NOT NULL,
  total_bytes BIGINT NOT NULL,
  keys BIGINT NOT NULL,
  "rows" JSON NOT NULL CHECK (json_typeof("rows") = 'array'),
  UNIQUE (query, window_end, params)
);
CREATE INDEX results_query_window_end ON results (query, window_end, id);
INSERT INTO results (window_start, window_end, query, params, records, total_bytes, keys, "rows")
  VALUES (0, 10000, 'ip-topk', '{"T":10,"k":3}', 5, 500, 2,
          '[{"key":"10.0.0.1","bytes":400,"share":0.8,"z":1}]');
)sql"),
            "");
  auto store = testing::open_or_fail(uri);
  ASSERT_NE(store, nullptr);
  std::string v;
  ASSERT_EQ(testing::pg_exec(uri,
                             "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY "
                             "ordinal_position) FROM information_schema.columns WHERE "
                             "table_name = 'results'",
                             &v),
            "");
  EXPECT_EQ(v,
            "id bigint, window_start bigint, window_end bigint, query text, params jsonb, "
            "records bigint, total_bytes bigint, keys bigint, rows json, approximate json");
  const auto old = store->latest("ip-topk");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->records, 5u);
  EXPECT_FALSE(old->approximate_json.has_value());

  auto approximate = make_result("ip-topk", 20000);
  approximate.approximate_json = R"({"epsilon":0.001,"keys_estimated":70000})";
  store->put_results(std::vector{approximate});
  EXPECT_EQ(store->latest("ip-topk"), approximate);
  auto bad = make_result("ip-topk", 30000);
  bad.approximate_json = "[1]";
  try {
    store->put_results(std::vector{bad});
    ADD_FAILURE() << "approximate as an array stored";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << e.what();
  }

  // Opening again (another process, a reconnect) finds the column and adds nothing.
  store.reset();
  store = testing::open_or_fail(uri);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->count_results("ip-topk"), 2u);
  ASSERT_EQ(testing::pg_exec(uri,
                             "SELECT count(*) FROM pg_constraint WHERE conrelid = "
                             "'results'::regclass AND pg_get_constraintdef(oid) LIKE "
                             "'%approximate%'",
                             &v),
            "");
  EXPECT_EQ(v, "1");
}

// The server restarts between two calls: the next call reconnects by itself.
TEST(PostgresStore, ReconnectsAfterAServerRestart) {
  const std::string uri = testing::fresh_pg_uri();
  ASSERT_FALSE(uri.empty());
  auto store = testing::open_or_fail(uri);
  ASSERT_NE(store, nullptr);
  store->put_results(std::vector{make_result("ip-topk", 1000)});
  auto& pg = testing::PgEnvironment::server();
  pg.stop();
  EXPECT_THROW(store->count_results("ip-topk"), StoreError);
  ASSERT_TRUE(pg.start()) << pg.error();
  EXPECT_EQ(store->count_results("ip-topk"), 1u);
  store->put_results(std::vector{make_result("ip-topk", 2000)});
  EXPECT_EQ(store->count_results("ip-topk"), 2u);
}

// The database goes away under a running writer: pushes keep queueing, the failure shows in the
// stats, nothing is lost, and everything is stored once the server is back.
TEST(PostgresStore, WriterKeepsItsDataWhileTheServerIsDown) {
  const std::string uri = testing::fresh_pg_uri();
  ASSERT_FALSE(uri.empty());
  auto check = testing::open_or_fail(uri);
  ASSERT_NE(check, nullptr);
  StoreWriter::Options options;
  options.capacity = 1000;
  options.retry_initial = std::chrono::milliseconds(20);
  options.retry_max = std::chrono::milliseconds(200);
  StoreWriter writer(testing::open_or_fail(uri), options);
  for (int i = 0; i < 100; ++i) writer.push(make_result("ip-topk", i * 1000));
  writer.flush();

  auto& pg = testing::PgEnvironment::server();
  pg.stop();
  for (int i = 100; i < 300; ++i) writer.push(make_result("ip-topk", i * 1000));
  writer.push(make_alert(5, "10.0.0.5"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (writer.stats().write_errors < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto stats = writer.stats();
  EXPECT_GE(stats.write_errors, 2u);
  EXPECT_TRUE(stats.failing);
  EXPECT_EQ(stats.queue_depth, 201u);
  EXPECT_NE(stats.last_error.find("postgresql://postgres@127.0.0.1"), std::string::npos)
      << stats.last_error;
  EXPECT_GT(stats.last_error_time, 0);
  EXPECT_FALSE(writer.flush_for(std::chrono::milliseconds(50)));

  ASSERT_TRUE(pg.start()) << pg.error();
  writer.flush();
  stats = writer.stats();
  EXPECT_FALSE(stats.failing);
  EXPECT_EQ(stats.queue_depth, 0u);
  EXPECT_EQ(stats.results_written, 300u);
  EXPECT_EQ(check->count_results("ip-topk"), 300u);
  EXPECT_EQ(check->alerts(std::nullopt, 0).size(), 1u);
}

}  // namespace
}  // namespace netpulse::store
