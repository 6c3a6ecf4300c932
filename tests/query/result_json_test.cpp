// The JSON-lines output (spec section 4): field order and names, per-query params and keys,
// numbers, null z, window times, and the sink writing six lines per window in query order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "query/result.hpp"
#include "query/result_json.hpp"

namespace netpulse::query {
namespace {

WindowResult example() {
  WindowResult r;
  r.window_start = 1589056890000;  // 2020-05-09T20:41:30Z
  r.window_end = 1589056900000;
  r.params = engine::QueryParams{12.5, 10, 3, 1.5};
  r.records = 1234;
  r.total_bytes = 5678901;
  r.protocol_keys = 4;
  r.ip_keys = 15;
  r.rows[size_t(QueryKind::kIpTopk)] = {ResultRow{"10.0.0.1", 900312, 0.5, 1.25},
                                        ResultRow{"2001:db8::1", 3, 0.25, std::nullopt}};
  r.rows[size_t(QueryKind::kProtocolOutliers)] = {ResultRow{"SOAP", 7, 1, -2}};
  return r;
}

std::string json(const WindowResult& r, QueryKind q) {
  std::string out;
  append_json(r, q, out);
  return out;
}

TEST(ResultJson, SpecExampleShape) {
  EXPECT_EQ(json(example(), QueryKind::kIpTopk),
            R"({"window_start":"2020-05-09T20:41:30.000Z","window_end":"2020-05-09T20:41:40.000Z",)"
            R"("query":"ip-topk","params":{"T":10,"k":3},"records":1234,"total_bytes":5678901,"keys":15,)"
            R"("rows":[{"key":"10.0.0.1","bytes":900312,"share":0.5,"z":1.25},)"
            R"({"key":"2001:db8::1","bytes":3,"share":0.25,"z":null}]})");
}

TEST(ResultJson, ParamsAndKeysPerQuery) {
  const WindowResult r = example();
  EXPECT_NE(json(r, QueryKind::kProtocolShare).find(R"("query":"protocol-share","params":{"T":10,"H":12.5},)"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kProtocolTopk).find(R"("params":{"T":10,"k":3},)"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kProtocolOutliers).find(R"("params":{"T":10,"X":1.5},)"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kIpShare).find(R"("params":{"T":10,"H":12.5},)"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kIpOutliers).find(R"("query":"ip-outliers","params":{"T":10,"X":1.5},)"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kProtocolShare).find(R"("keys":4,"rows":[]})"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kIpShare).find(R"("keys":15,"rows":[]})"), std::string::npos);
  EXPECT_NE(json(r, QueryKind::kProtocolOutliers).find(R"({"key":"SOAP","bytes":7,"share":1,"z":-2})"), std::string::npos);
}

TEST(ResultJson, Numbers) {
  auto num = [](double v) {
    std::string s;
    append_number(v, s);
    return s;
  };
  EXPECT_EQ(num(10), "10");
  EXPECT_EQ(num(0), "0");
  EXPECT_EQ(num(0.1), "0.1");
  EXPECT_EQ(num(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(num(-2.5), "-2.5");
  EXPECT_EQ(std::stod(num(0.1 + 0.2)), 0.1 + 0.2);  // round-trips
  EXPECT_EQ(num(std::nan("")), "null");
  EXPECT_EQ(num(INFINITY), "null");
}

TEST(ResultJson, TimesBeforeTheEpochAndMilliseconds) {
  WindowResult r = example();
  r.window_start = -1000;
  r.window_end = 123;
  EXPECT_EQ(json(r, QueryKind::kIpTopk).substr(0, 82),
            R"({"window_start":"1969-12-31T23:59:59.000Z","window_end":"1970-01-01T00:00:00.123Z")");
}

TEST(ResultJson, SinkWritesSixLinesPerWindowInQueryOrder) {
  char path[] = "/tmp/netpulse_json_testXXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  {
    JsonLinesSink sink(fd);
    sink.emit(example());
    WindowResult second = example();
    second.window_end += 1000;
    sink.emit(second);
    sink.flush();
    EXPECT_TRUE(sink.ok());
  }
  std::string text;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(fd);
  unlink(path);
  std::vector<std::string> lines;
  for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1)
    lines.push_back(text.substr(pos, nl - pos));
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(text.back(), '\n');
  for (size_t i = 0; i < 12; ++i) {
    const std::string name = std::string(kQueryNames[i % 6]);
    EXPECT_NE(lines[i].find("\"query\":\"" + name + "\""), std::string::npos) << lines[i];
  }
  EXPECT_NE(lines[6].find("20:41:41.000Z"), std::string::npos);
}

TEST(ResultJson, QueryNames) {
  for (size_t i = 0; i < kQueryCount; ++i) EXPECT_EQ(parse_query_name(kQueryNames[i]), static_cast<QueryKind>(i));
  EXPECT_FALSE(parse_query_name("ip-top"));
}

}  // namespace
}  // namespace netpulse::query
