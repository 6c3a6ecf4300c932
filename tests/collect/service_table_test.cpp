// The service table names flows as the generator's catalog does for its well-known ports, falls
// back to the transport, and takes a services file on top.
#include "collect/service_table.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace netpulse::collect {
namespace {

TEST(ServiceTable, NamesWellKnownPortsOnEitherSide) {
  ServiceTable t;
  EXPECT_EQ(t.name(6, 51000, 80), "HTTP");
  EXPECT_EQ(t.name(6, 80, 51000), "HTTP");  // the server's reply
  EXPECT_EQ(t.name(6, 51000, 443), "HTTPS");
  EXPECT_EQ(t.name(17, 51000, 53), "DNS");
  EXPECT_EQ(t.name(6, 51000, 22), "SSH");
  EXPECT_EQ(t.name(17, 51000, 1900), "UPnP");
  EXPECT_EQ(t.name(6, 51000, 7627), "SOAP");
  // Both ends named: the lower port is the service.
  EXPECT_EQ(t.name(6, 8080, 80), "HTTP");
  EXPECT_EQ(t.name(6, 22, 443), "SSH");
}

TEST(ServiceTable, FallsBackToTheTransport) {
  ServiceTable t;
  EXPECT_EQ(t.name(6, 40001, 40002), "TCP");
  EXPECT_EQ(t.name(17, 40001, 40002), "UDP");
  EXPECT_EQ(t.name(1, 0, 2048), "ICMP");  // echo request: type 8 in the port field
  EXPECT_EQ(t.name(58, 0, 0x8000), "ICMPv6");
  EXPECT_EQ(t.name(47, 0, 0), "GRE");
  EXPECT_EQ(t.name(50, 0, 0), "ESP");
  EXPECT_EQ(t.name(253, 0, 0), "IP-253");
  // A UDP-only service is not a TCP one.
  EXPECT_EQ(t.name(6, 40001, 1900), "TCP");
}

TEST(ServiceTable, EveryGeneratorLabelHasAPortThatMapsBack) {
  ServiceTable t;
  for (const char* label : {"HTTP", "HTTPS", "DNS", "DHCP", "SOAP", "UPnP", "SSH", "FTP", "SMTP",
                            "IMAP", "POP3", "Telnet", "SNMP", "NTP", "LDAP", "RDP", "SMB", "SIP",
                            "MQTT"}) {
    SCOPED_TRACE(label);
    const auto s = t.find(label);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(t.name(s->ip_protocol, 50000, s->port), label);
  }
  EXPECT_FALSE(t.find("NoSuchThing").has_value());
}

class ServicesFile : public ::testing::Test {
 protected:
  // One file per test and process: ctest runs the tests of this fixture in parallel.
  std::string path_ = ::testing::TempDir() + "/services_test." +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name() + "." +
                      std::to_string(::getpid()) + ".txt";
  void write(const std::string& text) { std::ofstream(path_) << text; }
  void TearDown() override { std::remove(path_.c_str()); }
};

TEST_F(ServicesFile, OverridesAndAddsEntries) {
  write("# a comment\n\nweb 80/tcp www  # alias ignored\nmyapp\t40001/udp\nsctpapp 9899/sctp\n");
  std::string why;
  auto t = ServiceTable::load(path_, &why);
  ASSERT_TRUE(t.has_value()) << why;
  EXPECT_EQ(t->name(6, 50000, 80), "web");
  EXPECT_EQ(t->name(17, 50000, 40001), "myapp");
  EXPECT_EQ(t->name(132, 50000, 9899), "sctpapp");
  EXPECT_EQ(t->name(6, 50000, 443), "HTTPS");  // built-in entries stay
}

TEST_F(ServicesFile, RejectsBadLinesNamingTheLine) {
  std::string why;
  write("ok 80/tcp\nbad-port 99999/tcp\n");
  EXPECT_FALSE(ServiceTable::load(path_, &why).has_value());
  EXPECT_NE(why.find("line 2"), std::string::npos) << why;
  write("no/slash\n");
  EXPECT_FALSE(ServiceTable::load(path_, &why).has_value());
  write("bad label! 80/tcp\n");
  EXPECT_FALSE(ServiceTable::load(path_, &why).has_value());
  write("x 80/icmp\n");
  EXPECT_FALSE(ServiceTable::load(path_, &why).has_value());
  EXPECT_NE(why.find("icmp"), std::string::npos) << why;
  EXPECT_FALSE(ServiceTable::load(path_ + ".missing", &why).has_value());
  EXPECT_NE(why.find("cannot open"), std::string::npos) << why;
}

TEST(ServiceTable, LoadsTheSystemServicesFile) {
  std::string why;
  auto t = ServiceTable::load("/etc/services", &why);
  if (!t && why.find("cannot open") != std::string::npos) GTEST_SKIP() << why;
  ASSERT_TRUE(t.has_value()) << why;
  EXPECT_EQ(t->name(6, 50000, 22), "ssh");
}

}  // namespace
}  // namespace netpulse::collect
