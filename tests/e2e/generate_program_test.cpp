// Whole-program tests of `netpulse generate`: the real binary, its stdout, stderr, exit status,
// its TCP control port and its tcp-listen output, and `netpulse process` reading what it wrote.
// Everything binds to 127.0.0.1 on free ports (port 0); every child is stopped at the end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../support/shell.hpp"
#include "core/net.hpp"
#include "ingest/flow_parser.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

const std::string kBinary = NETPULSE_BINARY;

using Result = netpulse::testing::ShellResult;
using netpulse::testing::shell;

std::string generate(const std::string& args) {
  return kBinary + " generate " + args;
}

// A running netpulse with its stderr readable line by line; killed if the test forgets.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int err_pipe[2];
    EXPECT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    args.insert(args.begin(), kBinary);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&pid_, kBinary.c_str(), &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(err_pipe[1]);
    err_fd_ = err_pipe[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(err_fd_);
  }

  // Reads stderr until a line matches `pattern` (returns its first group) or the timeout.
  std::optional<std::string> wait_for(const std::string& pattern,
                                      std::chrono::milliseconds timeout = 5s) {
    const std::regex re(pattern);
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (true) {
      size_t nl;
      while ((nl = pending_.find('\n')) != std::string::npos) {
        const std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        err_ += line + "\n";
        std::smatch m;
        if (std::regex_search(line, m, re)) return m.size() > 1 ? m[1].str() : line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd pfd{err_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // Sends SIGINT and waits for the exit status (-1 on timeout).
  int interrupt_and_wait(std::chrono::milliseconds timeout = 10s) {
    ::kill(pid_, SIGINT);
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        wait_for("$^", 200ms);  // collect what is left on stderr
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  const std::string& stderr_text() const { return err_; }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string pending_, err_;
};

// A line-oriented TCP client for the control port.
class ControlClient {
 public:
  explicit ControlClient(uint16_t port) {
    const auto fd = netpulse::core::connect_tcp("127.0.0.1", port, "control");
    EXPECT_TRUE(fd.ok()) << fd.status().message();
    fd_ = fd.value_or(-1);
  }
  ~ControlClient() { ::close(fd_); }
  std::string ask(const std::string& command) {
    const std::string line = command + "\n";
    EXPECT_EQ(::write(fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    std::string reply;
    char c;
    while (::read(fd_, &c, 1) == 1 && c != '\n') reply += c;
    return reply;
  }

 private:
  int fd_ = -1;
};

uint64_t status_records(ControlClient& c) {
  const std::string s = c.ask("status");
  std::smatch m;
  if (!std::regex_search(s, m, std::regex("records=(\\d+)"))) return 0;
  return std::stoull(m[1].str());
}

// Reads from a tcp-listen consumer connection with a deadline.
class Consumer {
 public:
  explicit Consumer(uint16_t port) {
    const auto fd = netpulse::core::connect_tcp("127.0.0.1", port, "consumer");
    EXPECT_TRUE(fd.ok()) << fd.status().message();
    fd_ = fd.value_or(-1);
  }
  ~Consumer() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads whatever arrives during `d`; returns the bytes read.
  size_t read_for(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    size_t total = 0;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return total;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return total;
      text.append(buf, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
    }
  }
  std::string text;

 private:
  int fd_ = -1;
};

// Parses every complete line; returns {good, malformed}.
std::pair<uint64_t, uint64_t> parse_lines(const std::string& text) {
  netpulse::core::ProtocolTable table;
  netpulse::ingest::FlowParser parser(table, netpulse::ingest::Format::kLine);
  uint64_t good = 0, bad = 0;
  size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    netpulse::core::FlowRecord r;
    if (parser.parse(text.data() + pos, text.data() + nl, r) == netpulse::ingest::ParseStatus::kOk)
      ++good;
    else
      ++bad;
    pos = nl + 1;
  }
  return {good, bad};
}

const char* kStart = "--start-time '2020-05-09 00:00:00'";

TEST(GenerateProgram, SameSeedAndStartTimeGiveTheSameBytes) {
  const std::string args =
      std::string("--count 100000 --ips 5000 --zipf 1.1 --scenario dos@10s+5s ") + kStart + " -q";
  const Result a = shell(generate(args + " --seed 5"));
  const Result b = shell(generate(args + " --seed 5"));
  const Result c = shell(generate(args + " --seed 6"));
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 100000);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_EQ(a.out.substr(0, 24), "2020-05-09 00:00:00.000 ");
}

TEST(GenerateProgram, AFiniteRunEndsWithAOneLineSummary) {
  const Result r = shell(generate(std::string("--count 1000 ") + kStart));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(
      std::regex_match(r.err, std::regex("netpulse: generated 1000 records \\([0-9.]+ [KM]?i?B\\) "
                                         "in [0-9.]+ s, [0-9. kM]+records/s\n")))
      << r.err;
}

TEST(GenerateProgram, ProcessReadsEveryGeneratedRecordWithNoneMalformed) {
  for (const std::string format : {"line", "csv"}) {
    const Result r = shell(
        generate(std::string("--count 200000 --rate 20000 --ips 100000 --zipf 1 -q "
                             "--scenario portscan@2s+2s --scenario elephant@5s+1s --format ") +
                 format + " " + kStart) +
        " | " + kBinary + " process --input - --format " + format + " --T 2 > /dev/null");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("200000 records read, 200000 accepted, 0 late, 0 malformed"),
              std::string::npos)
        << format << ": " << r.err;
  }
}

TEST(GenerateProgram, WallClockRunsHoldTheRate) {
  const Result r = shell(generate("--rate 20000 --duration 1s") + " | wc -l");
  ASSERT_EQ(r.status, 0) << r.err;
  const long lines = std::stol(r.out);
  EXPECT_GE(lines, 19800);
  EXPECT_LE(lines, 20000);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("in ([0-9.]+) s")));
  EXPECT_NEAR(std::stod(m[1].str()), 1.0, 0.1);
}

TEST(GenerateProgram, AClosedPipeEndsTheRunQuietly) {
  const Result r = shell("bash -c 'set -o pipefail; " + kBinary +
                         " generate --rate 0 | head -3 >/dev/null; echo ${PIPESTATUS[0]}'");
  EXPECT_EQ(r.out, "0\n");
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(GenerateProgram, BadArgumentsExitTwoNamingTheArgument) {
  const std::map<std::string, std::string> cases = {
      {"--ips 0", "--ips"},
      {"--ips 10000001", "--ips"},
      {"--protocols 20", "--protocols"},
      {"--ip-percent 101", "--ip-percent"},
      {"--protocol-percent -1", "--protocol-percent"},
      {"--rate -5", "--rate"},
      {"--zipf abc", "--zipf"},
      {"--start-time yesterday", "--start-time"},
      {"--duration 10x", "--duration"},
      {"--scenario storm@1s+2s", "--scenario"},
      {"--scenario dos@1s", "--scenario"},
      {"--format xml", "--format"},
      {"--output bogus://x", "--output"},
      {"--control file:/tmp/x", "--control"},
      {"--realtime", "--realtime"},
  };
  for (const auto& [args, name] : cases) {
    const Result r = shell(generate(args + " --count 1"));
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(GenerateProgram, AnOutputThatCannotBeOpenedExitsOne) {
  const Result r = shell(generate("--count 1 --output file:/nonexistent-dir/x.txt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir/x.txt"), std::string::npos) << r.err;
  const Result t = shell(generate("--count 1 --output tcp://127.0.0.1:1"));
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.err.find("tcp://127.0.0.1:1"), std::string::npos) << t.err;
}

TEST(GenerateProgram, ConnectsToATcpConsumer) {
  const auto listening = netpulse::core::listen_tcp("127.0.0.1", 0, "test");
  ASSERT_TRUE(listening.ok()) << listening.status().message();
  const int listener = *listening;
  const uint16_t port = netpulse::core::local_port(listener);
  std::string received;
  std::thread acceptor([&] {
    const int fd = ::accept(listener, nullptr, nullptr);
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) received.append(buf, static_cast<size_t>(n));
    ::close(fd);
  });
  const Result r =
      shell(generate("--count 50000 --rate 0 -q --output tcp://127.0.0.1:" + std::to_string(port)));
  acceptor.join();
  ::close(listener);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(parse_lines(received), std::make_pair(uint64_t{50000}, uint64_t{0}));
}

TEST(GenerateProgram, ControlPortAppliesValidCommandsAndRefusesInvalidOnes) {
  Child gen(
      {"generate", "--rate", "2000", "--control", "tcp://127.0.0.1:0", "--output", "/dev/null"});
  const auto port = gen.wait_for("control port on 127\\.0\\.0\\.1:(\\d+)");
  ASSERT_TRUE(port) << gen.stderr_text();
  ControlClient c(static_cast<uint16_t>(std::stoi(*port)));

  const std::string before = c.ask("status");
  ASSERT_EQ(
      before.rfind("ok rate=2000 ips=15 protocols=19 ip-skew=uniform protocol-skew=uniform", 0), 0u)
      << before;
  for (const std::string bad : {"change_abc", "change_-5_15_19_40_30", "change_5000_15_19_101_30",
                                "change_5000_10000001_19_40_30", "change_5000_15_20_40_30",
                                "change_5000_15_0_40_30", "change_1_2_3", "fly"}) {
    const std::string reply = c.ask(bad);
    EXPECT_EQ(reply.rfind("error: ", 0), 0u) << bad << " -> " << reply;
  }
  EXPECT_EQ(c.ask("status").rfind(
                "ok rate=2000 ips=15 protocols=19 ip-skew=uniform protocol-skew=uniform", 0),
            0u);

  EXPECT_EQ(c.ask("change_3000_100_5_40_30"), "ok");
  EXPECT_EQ(
      c.ask("status").rfind("ok rate=3000 ips=100 protocols=5 ip-skew=40% protocol-skew=30%", 0),
      0u);

  EXPECT_EQ(c.ask("stop"), "ok");
  std::this_thread::sleep_for(100ms);
  const uint64_t paused_at = status_records(c);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(status_records(c), paused_at);
  EXPECT_NE(c.ask("status").find("paused=true"), std::string::npos);
  EXPECT_EQ(c.ask("start"), "ok");
  std::this_thread::sleep_for(300ms);
  EXPECT_GT(status_records(c), paused_at + 300);  // 3000/s for 0.3 s

  EXPECT_EQ(gen.interrupt_and_wait(), 0) << gen.stderr_text();
  EXPECT_NE(gen.stderr_text().find("netpulse: generated "), std::string::npos) << gen.stderr_text();
}

TEST(GenerateProgram, TcpListenServesSeveralConsumersAndSurvivesOneLeaving) {
  Child gen({"generate", "--rate", "20000", "--control", "tcp://127.0.0.1:0", "--output",
             "tcp-listen://127.0.0.1:0"});
  const auto data_port = gen.wait_for("serving records on tcp-listen://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_TRUE(data_port) << gen.stderr_text();
  const auto control_port = gen.wait_for("control port on 127\\.0\\.0\\.1:(\\d+)");
  ASSERT_TRUE(control_port) << gen.stderr_text();
  ControlClient control(static_cast<uint16_t>(std::stoi(*control_port)));
  const uint16_t port = static_cast<uint16_t>(std::stoi(*data_port));

  Consumer a(port), b(port);
  EXPECT_GT(a.read_for(300ms), 0u);
  EXPECT_GT(b.read_for(300ms), 0u);
  a.close();  // one consumer goes away mid-stream
  ASSERT_TRUE(gen.wait_for("disconnected after", 2s)) << gen.stderr_text();
  const uint64_t records_then = status_records(control);
  const size_t later = b.read_for(500ms);
  EXPECT_GT(later, 0u);
  EXPECT_GT(status_records(control), records_then + 5000);  // 20000/s goes on

  // A third consumer joining late starts on a line boundary with a whole record.
  Consumer c(port);
  c.read_for(300ms);
  ASSERT_FALSE(c.text.empty());
  EXPECT_EQ(c.text.substr(0, 2), "20");  // a time stamp, not the middle of a line
  const auto [good, bad] = parse_lines(c.text);
  EXPECT_GT(good, 1000u);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(parse_lines(b.text).second, 0u);

  EXPECT_EQ(gen.interrupt_and_wait(), 0) << gen.stderr_text();
  EXPECT_NE(gen.stderr_text().find("3 consumers"), std::string::npos) << gen.stderr_text();
}

}  // namespace
