// Tests for ingest/uri: every form the CLI takes, and the reasons given for bad ones.
#include "ingest/uri.hpp"

#include <gtest/gtest.h>

namespace netpulse::ingest {
namespace {

Uri ok(std::string_view text) {
  auto u = parse_uri(text);
  EXPECT_TRUE(u.ok()) << text << ": " << u.status().message();
  return u.value_or(Uri{});
}

std::string bad(std::string_view text) {
  auto u = parse_uri(text);
  EXPECT_FALSE(u.ok()) << text;
  EXPECT_EQ(u.status().code(), core::Status::Code::kInvalidArgument) << text;
  EXPECT_FALSE(u.status().message().empty()) << text;
  return u.status().message();
}

TEST(ParseUri, Stdio) {
  for (const char* s : {"-", "stdin", "stdout"}) {
    const Uri u = ok(s);
    EXPECT_EQ(u.kind, Uri::Kind::kStdio) << s;
    EXPECT_EQ(u.text, s);
  }
}

TEST(ParseUri, Files) {
  Uri u = ok("file:flows.txt");
  EXPECT_EQ(u.kind, Uri::Kind::kFile);
  EXPECT_EQ(u.path, "flows.txt");
  EXPECT_EQ(u.text, "file:flows.txt");

  u = ok("file:/tmp/flows.txt");
  EXPECT_EQ(u.path, "/tmp/flows.txt");
  u = ok("file:///tmp/flows.txt");
  EXPECT_EQ(u.path, "/tmp/flows.txt");
  u = ok("file:../a b/c.csv");
  EXPECT_EQ(u.path, "../a b/c.csv");

  // A bare path is a file, whatever it looks like, unless it has a scheme.
  for (const char* s : {"flows.txt", "/tmp/flows.txt", "./-", "a:b", "C:\\flows.txt", "tcp:x",
                        "host:80", "stdin.txt", "--"}) {
    u = ok(s);
    EXPECT_EQ(u.kind, Uri::Kind::kFile) << s;
    EXPECT_EQ(u.path, s);
  }

  EXPECT_NE(bad("file:").find("path"), std::string::npos);
  bad("file://");
}

TEST(ParseUri, Tcp) {
  Uri u = ok("tcp://127.0.0.1:12302");
  EXPECT_EQ(u.kind, Uri::Kind::kTcp);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 12302);

  u = ok("tcp://localhost:0");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 0);

  u = ok("tcp://example.com:65535");
  EXPECT_EQ(u.port, 65535);

  u = ok("tcp://[::1]:9000");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9000);

  u = ok("tcp://[2001:db8::1]:1");
  EXPECT_EQ(u.host, "2001:db8::1");
  EXPECT_EQ(u.port, 1);

  // Without brackets the last ':' splits.
  u = ok("tcp://::1:9000");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9000);
}

TEST(ParseUri, TcpListen) {
  Uri u = ok("tcp-listen://0.0.0.0:9000");
  EXPECT_EQ(u.kind, Uri::Kind::kTcpListen);
  EXPECT_EQ(u.host, "0.0.0.0");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.text, "tcp-listen://0.0.0.0:9000");

  u = ok("tcp-listen://[::]:1234");
  EXPECT_EQ(u.kind, Uri::Kind::kTcpListen);
  EXPECT_EQ(u.host, "::");
  EXPECT_EQ(u.port, 1234);
}

TEST(ParseUri, BadHostPort) {
  for (const char* s :
       {"tcp://", "tcp://host", "tcp://host:", "tcp://:80", "tcp://host:65536",
        "tcp://host:99999999999", "tcp://host:-1", "tcp://host:+80", "tcp://host:80x",
        "tcp://host:80/", "tcp://host: 80", "tcp://host:0x50", "tcp://[::1]", "tcp://[::1]80",
        "tcp://[::1:80", "tcp://[]:80", "tcp-listen://", "tcp-listen://9000",
        "tcp-listen://host:70000", "tcp-listen://[::1]:"}) {
    bad(s);
  }
}

TEST(ParseUri, Kafka) {
  const Uri u = ok("kafka://b1:9092,b2:9092/flows");
  EXPECT_EQ(u.kind, Uri::Kind::kKafka);
  EXPECT_EQ(u.path, "b1:9092,b2:9092/flows");
}

TEST(ParseUri, UnknownSchemesAndEmpty) {
  EXPECT_NE(bad("http://host:80").find("scheme"), std::string::npos);
  bad("udp://127.0.0.1:9000");
  bad("TCP://127.0.0.1:9000");  // schemes are lowercase
  bad("://x");
  EXPECT_NE(bad("").find("empty"), std::string::npos);
}

TEST(ParseUri, TemporariesGiveTheirValueOrTheirReason) {
  EXPECT_FALSE(parse_uri("tcp://host").ok());
  EXPECT_EQ(parse_uri("").status().message(), "empty address");
  EXPECT_EQ((*parse_uri("-")).kind, Uri::Kind::kStdio);
}

// Packet captures: pcap:FILE (with file:-style // allowed and a ?query) and pcap-live:IFACE.
TEST(ParseUri, PacketCaptures) {
  auto u = parse_uri("pcap:/tmp/trace.pcapng");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->kind, Uri::Kind::kPcap);
  EXPECT_EQ(u->path, "/tmp/trace.pcapng");
  EXPECT_EQ(u->query, "");
  u = parse_uri("pcap://tmp/x.pcap?speed=2.5");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->path, "tmp/x.pcap");
  EXPECT_EQ(query_value(u->query, "speed"), "2.5");
  u = parse_uri("pcap:relative.pcap");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->path, "relative.pcap");
  u = parse_uri("pcap-live:eth0");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->kind, Uri::Kind::kPcapLive);
  EXPECT_EQ(u->path, "eth0");
  for (const char* bad : {"pcap:", "pcap-live:", "pcap:?speed=1"}) {
    SCOPED_TRACE(bad);
    const auto u = parse_uri(bad);
    ASSERT_FALSE(u.ok());
    EXPECT_NE(u.status().message().find("needs"), std::string::npos) << u.status().message();
  }
}

}  // namespace
}  // namespace netpulse::ingest

namespace netpulse::ingest {
namespace {

// netflow:// and sflow:// after GoFlow2: default ports, an empty host for every address,
// brackets for IPv6, a query kept for the command to check.
TEST(ParseUri, FlowExports) {
  auto u = parse_uri("netflow://127.0.0.1:9995");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->kind, Uri::Kind::kNetflow);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9995);
  u = parse_uri("netflow://:2056");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->host, "");
  EXPECT_EQ(u->port, 2056);
  u = parse_uri("netflow://collector.example");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->host, "collector.example");
  EXPECT_EQ(u->port, 2055);
  u = parse_uri("sflow://[::1]");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->kind, Uri::Kind::kSflow);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 6343);
  u = parse_uri("sflow://[::1]:7000/");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->port, 7000);
  u = parse_uri("netflow://127.0.0.1:2055?version=9&mtu=1500");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->query, "version=9&mtu=1500");
  EXPECT_EQ(query_value(u->query, "mtu"), "1500");
  EXPECT_EQ(query_value(u->query, "version"), "9");
  EXPECT_FALSE(query_value(u->query, "domain").has_value());
  for (const char* bad : {"netflow://fe80::1", "netflow://::1:2055", "netflow://[]:2055",
                          "netflow://[::1", "netflow://host:70000", "netflow://host:x",
                          "sflow://[::1]x"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_uri(bad).ok());
  }
}

}  // namespace
}  // namespace netpulse::ingest
