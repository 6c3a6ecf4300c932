// netpulse process stopped by SIGTERM with a stream input: every record read before the signal
// is processed and counted, and its windows emitted, even when the engine is paused (control
// "stop") and the records are still queued in the input's reader, and even when the last line
// has no '\n' yet. The output must be the output of the same records read from a file.
//
// "Read before the signal" is observed, not waited for: the producer sends everything, then
// the test polls until the kernel holds none of it (a pipe's FIONREAD; for TCP, the send and
// receive queues in /proc/net/tcp), so the bytes are in netpulse's hands. Then SIGTERM, with
// the producer still connected (no end of stream).
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../engine/process_runner.hpp"
#include "../engine/stream_gen.hpp"

namespace netpulse::testref {
namespace {

using namespace std::chrono_literals;

// n records, 50 a second of event time, a few keys; the last line without '\n' if `partial`.
std::string records(int n, bool partial) {
  StreamGen g(11);
  const char* protos[] = {"HTTP", "DNS", "SOAP", "SSH"};
  std::string out;
  for (int i = 0; i < n; ++i) {
    const std::string src = "10.0.0." + std::to_string(1 + g.index(12));
    out += record_line(kBaseMs + i * 20, protos[g.index(4)], src, "192.168.0.1", 1 + g.index(5000)) + "\n";
  }
  if (partial) out.pop_back();
  return out;
}

// The send queue (tx) and receive queue (rx) of the TCP socket local_port -> remote_port on
// 127.0.0.1, from /proc/net/tcp; false when there is no such socket.
bool tcp_queues(uint16_t local_port, uint16_t remote_port, unsigned long& tx, unsigned long& rx) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    unsigned local_addr = 0, local = 0, remote_addr = 0, remote = 0, state = 0;
    unsigned long t = 0, r = 0;
    if (std::sscanf(line.c_str(), " %*d: %x:%x %x:%x %x %lx:%lx", &local_addr, &local, &remote_addr,
                    &remote, &state, &t, &r) != 7)
      continue;
    if (local == local_port && remote == remote_port) {
      tx = t;
      rx = r;
      return true;
    }
  }
  return false;
}

// A producer connected to 127.0.0.1:port (retrying while the server starts).
struct Producer {
  explicit Producer(uint16_t port) : server_port(port) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
      ::close(fd);
      fd = -1;
      std::this_thread::sleep_for(20ms);
    }
    if (fd >= 0) {
      sockaddr_in a{};
      socklen_t len = sizeof a;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
      local_port = ntohs(a.sin_port);
    }
  }
  ~Producer() {
    if (fd >= 0) ::close(fd);
  }
  bool send(const std::string& data) {
    for (size_t done = 0; done < data.size();) {
      const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Everything sent has left both kernels' queues: netpulse has read it.
  bool all_read() const {
    unsigned long tx = 1, rx = 1, peer_tx = 0, peer_rx = 1;
    return tcp_queues(local_port, server_port, tx, rx) && tx == 0 &&
           tcp_queues(server_port, local_port, peer_tx, peer_rx) && peer_rx == 0;
  }

  int fd = -1;
  uint16_t server_port = 0, local_port = 0;
};

// The output of `process` over the same text read from a file (the reference), and its summary.
Finished from_file(const TempDir& dir, const std::string& text) {
  write_file(dir / "records.txt", text);
  return run_netpulse({"process", "--input", "file:" + dir / "records.txt", "--output", "-"}, dir);
}

// Asks netpulse to stop reading (control "stop"). The engine looks at the switch between reads,
// at least every 200 ms; the wait only makes it likely that the records below stay queued in
// the reader (the case the test is about). The checks hold however far the engine got.
void pause_engine(uint16_t control_port) {
  Connection control(control_port);
  ASSERT_TRUE(control.ok());
  ASSERT_EQ(control.command("stop"), "ok");
  std::this_thread::sleep_for(700ms);
}

void expect_everything_counted(Child& child, const std::string& out_path, const Finished& ref,
                               int n) {
  ASSERT_EQ(ref.code, 0) << ref.err;
  child.signal(SIGTERM);
  ASSERT_TRUE(child.wait(20s)) << "no exit after SIGTERM";
  EXPECT_EQ(child.exit_code(), 0) << child.err();
  const std::string counts = std::to_string(n) + " records read, " + std::to_string(n) + " accepted";
  EXPECT_NE(child.err().find(counts), std::string::npos) << child.err();
  EXPECT_NE(ref.err.find(counts), std::string::npos) << ref.err;
  const std::string got = read_file(out_path);
  EXPECT_FALSE(got.empty());
  EXPECT_TRUE(got == ref.out) << "output differs from the file's: " << got.size() << " bytes, "
                              << ref.out.size() << " expected";
}

class Stopped : public ::testing::TestWithParam<bool> {};  // param: last line partial

TEST_P(Stopped, SigtermKeepsEveryRecordReadFromTcpListen) {
  TempDir dir;
  constexpr int kRecords = 3000;
  const std::string text = records(kRecords, GetParam());
  const Finished ref = from_file(dir, text);

  const uint16_t in_port = free_port(), control_port = free_port();
  const std::string out = dir / "out.jsonl";
  Child child({"process", "--input", "tcp-listen://127.0.0.1:" + std::to_string(in_port), "--control",
               "tcp://127.0.0.1:" + std::to_string(control_port), "--output", "file:" + out},
              dir);
  ASSERT_NO_FATAL_FAILURE(pause_engine(control_port)) << child.err();
  Producer producer(in_port);
  ASSERT_GE(producer.fd, 0);
  ASSERT_TRUE(producer.send(text));
  ASSERT_TRUE(wait_until([&] { return producer.all_read(); }, 30s)) << "netpulse did not read the records";
  // SIGTERM with the producer still connected: the stream has not ended.
  expect_everything_counted(child, out, ref, kRecords);
}

TEST_P(Stopped, SigtermKeepsEveryRecordReadFromStdin) {
  TempDir dir;
  constexpr int kRecords = 3000;
  const std::string text = records(kRecords, GetParam());
  const Finished ref = from_file(dir, text);

  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const uint16_t control_port = free_port();
  const std::string out = dir / "out.jsonl";
  Child child({"process", "--input", "-", "--control", "tcp://127.0.0.1:" + std::to_string(control_port),
               "--output", "file:" + out},
              dir, fifo);
  const int wfd = ::open(fifo.c_str(), O_WRONLY);  // waits for the child to open its end
  ASSERT_GE(wfd, 0);
  ASSERT_NO_FATAL_FAILURE(pause_engine(control_port)) << child.err();
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(wfd, text.data() + done, text.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
  ASSERT_TRUE(wait_until(
      [&] {
        int unread = -1;
        return ::ioctl(wfd, FIONREAD, &unread) == 0 && unread == 0;
      },
      30s))
      << "netpulse did not read the records";
  expect_everything_counted(child, out, ref, kRecords);  // the pipe still open: no end of input
  ::close(wfd);
}

// A running engine (not stopped) ends the same way.
TEST(ProcessShutdown, RunningEngineSigtermKeepsEveryRecordReadFromTcpListen) {
  TempDir dir;
  constexpr int kRecords = 3000;
  const std::string text = records(kRecords, false);
  const Finished ref = from_file(dir, text);
  const uint16_t in_port = free_port();
  const std::string out = dir / "out.jsonl";
  Child child({"process", "--input", "tcp-listen://127.0.0.1:" + std::to_string(in_port), "--output",
               "file:" + out},
              dir);
  Producer producer(in_port);
  ASSERT_GE(producer.fd, 0);
  ASSERT_TRUE(producer.send(text));
  ASSERT_TRUE(wait_until([&] { return producer.all_read(); }, 30s));
  expect_everything_counted(child, out, ref, kRecords);
}

INSTANTIATE_TEST_SUITE_P(ProcessShutdown, Stopped, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Partial" : "Whole"; });

}  // namespace
}  // namespace netpulse::testref
