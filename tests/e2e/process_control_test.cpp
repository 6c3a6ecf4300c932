// netpulse process with a TCP producer and the text control port (spec section 5), end to end:
// `change H T k X` applies from the next window emitted (checked against the reference with
// the new values), invalid commands get "error: ..." and change nothing, several control
// clients at once, stop pauses reading and start resumes with nothing lost, and SIGTERM
// flushes the pending windows.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../engine/process_runner.hpp"
#include "../engine/reference.hpp"
#include "../engine/stream_gen.hpp"

namespace netpulse::testref {
namespace {

// n records from `from_ms` (after the base time), `per_second` a second, a few keys.
std::string batch(int64_t from_ms, int n, int per_second, uint64_t seed) {
  StreamGen g(seed);
  const char* protos[] = {"HTTP", "DNS", "SOAP"};
  std::string out;
  for (int i = 0; i < n; ++i) {
    const int64_t t = from_ms + i * 1000 / per_second;
    const std::string src = "10.0.0." + std::to_string(1 + g.index(8));
    const std::string dst = g.index(4) == 0 ? "2001:db8::" + std::to_string(1 + g.index(3)) : "192.168.0.1";
    out += record_line(kBaseMs + t, protos[g.index(3)], src, dst, 1 + g.index(5000)) + "\n";
  }
  return out;
}

// The binary listening for producers and control clients on free ports of 127.0.0.1.
struct Server {
  Server(const TempDir& dir, std::vector<std::string> extra = {})
      : output(dir / "out.jsonl"), in_port(free_port()), control_port(free_port()) {
    std::vector<std::string> args{"process",
                                  "--input", "tcp-listen://127.0.0.1:" + std::to_string(in_port),
                                  "--control", "tcp://127.0.0.1:" + std::to_string(control_port),
                                  "--output", "file:" + output};
    args.insert(args.end(), extra.begin(), extra.end());
    child = std::make_unique<Child>(args, dir);
  }
  std::vector<Window> windows() const {
    try {
      return parse_output(read_file(output));
    } catch (const std::exception&) {
      return {};  // a line half written: look again
    }
  }
  size_t window_count() const {
    const std::string text = read_file(output);
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) / 6;
  }
  // Waits until the output holds `n` windows (and not more, checked by the caller).
  bool wait_windows(size_t n) const {
    return wait_until([&] { return window_count() >= n; });
  }
  // SIGTERM, then the exit status (pending windows are flushed first).
  int terminate() {
    child->signal(SIGTERM);
    if (!child->wait(std::chrono::seconds(15))) return -1000;
    return child->exit_code();
  }

  std::string output;
  uint16_t in_port, control_port;
  std::unique_ptr<Child> child;
};

// Windows of `ref` that are final once the whole input is read (end <= the last watermark).
size_t final_count(const Result& ref, int64_t watermark_ms) {
  size_t n = 0;
  for (const Window& w : ref.windows)
    if (w.end_ms <= watermark_ms) ++n;
  return n;
}

TEST(ProcessControl, ChangeAppliesFromTheNextWindow) {
  TempDir dir;
  Server server(dir, {"--threads", "2"});
  Connection control(server.control_port);
  ASSERT_TRUE(control.ok()) << server.child->err();
  Connection producer(server.in_port);
  ASSERT_TRUE(producer.ok());

  // 40 s of records; the last at 40.5 s makes the windows ending up to 40 s final.
  const std::string first = batch(0, 160, 4, 1) + record_line(kBaseMs + 40'500, "HTTP", "10.0.0.1", "192.168.0.1", 7) + "\n";
  ASSERT_TRUE(producer.send(first));
  const Result before = compute(first, Options{});
  const size_t emitted = final_count(before, kBaseMs + 40'500);
  ASSERT_TRUE(server.wait_windows(emitted)) << server.window_count() << " of " << emitted;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(server.window_count(), emitted);

  EXPECT_EQ(control.command("change 20 30 5 1.5"), "ok");

  // 40 more seconds, then a far-away record that makes them all final.
  const std::string second = batch(41'000, 160, 4, 2);
  const std::string sentinel = record_line(kBaseMs + 1'000'000, "DNS", "10.0.0.2", "192.168.0.1", 1) + "\n";
  ASSERT_TRUE(producer.send(second + sentinel));
  producer.close_now();

  const std::vector<std::string> lines = split_lines(first + second + sentinel);
  const Params changed{20, 30, 5, 1.5};
  const Result ref = compute(lines, Options{}, {Change{split_lines(first).size(), changed}});
  const size_t final_windows = final_count(ref, kBaseMs + 1'000'000);
  ASSERT_TRUE(server.wait_windows(final_windows)) << server.window_count() << " of " << final_windows;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<Window> got = server.windows();
  EXPECT_EQ(output_matches(got, ref.windows, final_windows), "");
  ASSERT_GT(got.size(), emitted);
  EXPECT_EQ(got[emitted - 1].params.T, 10);
  EXPECT_EQ(got[emitted].params.T, 30);
  EXPECT_EQ(got[emitted].end_ms - got[emitted].start_ms, 30'000);  // covers records from before the change
  EXPECT_EQ(got[emitted].params.k, 5);

  // The sentinel's windows are pending; SIGTERM flushes them.
  EXPECT_EQ(server.terminate(), 0) << server.child->err();
  EXPECT_EQ(output_matches(server.windows(), ref.windows), "");
  EXPECT_NE(server.child->err().find("322 records read, 322 accepted, 0 late"), std::string::npos)
      << server.child->err();
}

TEST(ProcessControl, TDownAndUpToMaxWindow) {
  TempDir dir;
  Server server(dir, {"--T", "10", "--max-window", "60", "--threads", "3"});
  Connection control(server.control_port);
  Connection producer(server.in_port);
  ASSERT_TRUE(control.ok() && producer.ok()) << server.child->err();
  std::string all;
  std::vector<Change> changes;
  const std::vector<std::pair<std::string, Params>> steps = {
      {"change 10 2 3 2", Params{10, 2, 3, 2}}, {"change 10 60 3 2", Params{10, 60, 3, 2}}};
  int64_t t = 0;
  for (size_t step = 0; step <= steps.size(); ++step) {
    const std::string b = batch(t, 120, 4, 10 + step) +
                          record_line(kBaseMs + t + 30'500, "SSH", "10.0.0.9", "192.168.0.1", 3) + "\n";
    t += 31'000;
    all += b;
    ASSERT_TRUE(producer.send(b));
    const Result so_far = compute(split_lines(all), Options{}, changes);
    ASSERT_TRUE(server.wait_windows(final_count(so_far, kBaseMs + t - 500)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (step < steps.size()) {
      EXPECT_EQ(control.command(steps[step].first), "ok");
      changes.push_back(Change{split_lines(all).size(), steps[step].second});
    }
  }
  producer.close_now();
  EXPECT_EQ(server.terminate(), 0);
  Options o;
  const Result ref = compute(split_lines(all), o, changes);
  const std::vector<Window> got = server.windows();
  EXPECT_EQ(output_matches(got, ref.windows), "");
  // After T grew to 60 (max-window), the first window covers 60 s: all it can hold.
  for (const Window& w : got) {
    if (w.params.T != 60) continue;
    EXPECT_EQ(w.end_ms - w.start_ms, 60'000);
    EXPECT_GE(w.records, 200u);
    break;
  }
}

TEST(ProcessControl, InvalidCommandsGetErrorsAndChangeNothing) {
  TempDir dir;
  Server server(dir, {"--max-window", "100"});
  Connection control(server.control_port);
  ASSERT_TRUE(control.ok()) << server.child->err();
  for (const char* bad : {"change abc 10 3 2", "change 0 10 3 2", "change 100.5 10 3 2", "change 10 0 3 2",
                          "change 10 101 3 2", "change 10 10 0 2", "change 10 10 3 -1", "change 10 10 3",
                          "change 10 10 3 2 9", "frobnicate", "STOP", "change_5000_15_19_40_30"}) {
    const std::string reply = control.command(bad);
    EXPECT_EQ(reply.rfind("error: ", 0), 0u) << bad << " -> " << reply;
  }
  // An over-long line is an error too, and the connection still works afterwards.
  EXPECT_EQ(control.command(std::string(5000, 'x')).rfind("error: ", 0), 0u);
  EXPECT_EQ(control.command("start"), "ok");

  Connection producer(server.in_port);
  const std::string text = batch(0, 80, 4, 3) + record_line(kBaseMs + 100'000, "A", "10.0.0.1", "10.0.0.2", 1) + "\n";
  ASSERT_TRUE(producer.send(text));
  producer.close_now();
  const Result ref = compute(text, Options{});
  const size_t n = final_count(ref, kBaseMs + 100'000);
  ASSERT_TRUE(server.wait_windows(n));
  EXPECT_EQ(server.terminate(), 0);
  EXPECT_EQ(output_matches(server.windows(), ref.windows), "");  // defaults throughout
}

TEST(ProcessControl, SeveralClientsAtOnce) {
  TempDir dir;
  Server server(dir);
  std::vector<Connection> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(server.control_port);
    ASSERT_TRUE(clients.back().ok()) << server.child->err();
  }
  // Interleaved, each client gets its own replies in order.
  ASSERT_TRUE(clients[0].send("change 20 30 5 1.5\n"));
  ASSERT_TRUE(clients[1].send("bogus\n"));
  ASSERT_TRUE(clients[2].send("change 0 1 1 1\nstop\n"));
  ASSERT_TRUE(clients[3].send("start\nchange 30 20 4 1\nchange 10 10 3\n"));
  EXPECT_EQ(clients[0].read_line(), "ok");
  EXPECT_EQ(clients[1].read_line().rfind("error: ", 0), 0u);
  EXPECT_EQ(clients[2].read_line().rfind("error: ", 0), 0u);
  EXPECT_EQ(clients[2].read_line(), "ok");
  EXPECT_EQ(clients[3].read_line(), "ok");
  EXPECT_EQ(clients[3].read_line(), "ok");
  EXPECT_EQ(clients[3].read_line().rfind("error: ", 0), 0u);
  // A client leaving does not disturb the others.
  clients[1].close_now();
  // Make sure the last change is the one in force and the engine is running: clients[2]'s stop
  // may have come after clients[3]'s start.
  EXPECT_EQ(clients[2].command("change 30 20 4 1"), "ok");
  EXPECT_EQ(clients[0].command("start"), "ok");

  Connection producer(server.in_port);
  const std::string text = batch(0, 100, 5, 4) + record_line(kBaseMs + 200'000, "A", "10.0.0.1", "10.0.0.2", 1) + "\n";
  ASSERT_TRUE(producer.send(text));
  producer.close_now();
  Options o;
  o.params = Params{30, 20, 4, 1};
  const Result ref = compute(text, o);
  ASSERT_TRUE(server.wait_windows(final_count(ref, kBaseMs + 200'000)));
  EXPECT_EQ(server.terminate(), 0);
  EXPECT_EQ(output_matches(server.windows(), ref.windows), "");
}

TEST(ProcessControl, StopPausesReadingAndStartResumesWithNothingLost) {
  TempDir dir;
  Server server(dir, {"--threads", "2"});
  Connection control(server.control_port);
  ASSERT_TRUE(control.ok()) << server.child->err();
  EXPECT_EQ(control.command("stop"), "ok");
  // The engine looks at the switch between reads (at least every 200 ms); give it time to.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));

  Connection producer(server.in_port);
  ASSERT_TRUE(producer.ok());
  const std::string first = batch(0, 200, 10, 5) + record_line(kBaseMs + 20'500, "A", "10.0.0.1", "10.0.0.2", 1) + "\n";
  ASSERT_TRUE(producer.send(first));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(server.window_count(), 0u) << "windows emitted while stopped";

  EXPECT_EQ(control.command("start"), "ok");
  const Result ref_first = compute(first, Options{});
  ASSERT_TRUE(server.wait_windows(final_count(ref_first, kBaseMs + 20'500)));

  // Stopped again while a second producer sends; then resumed and terminated.
  EXPECT_EQ(control.command("stop"), "ok");
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const size_t seen = server.window_count();
  Connection producer2(server.in_port);
  const std::string second = batch(21'000, 200, 10, 6) + record_line(kBaseMs + 90'000, "A", "10.0.0.1", "10.0.0.2", 1) + "\n";
  ASSERT_TRUE(producer2.send(second));
  producer2.close_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(server.window_count(), seen) << "windows emitted while stopped";
  EXPECT_EQ(control.command("start"), "ok");
  const Result ref = compute(first + second, Options{});
  ASSERT_TRUE(server.wait_windows(final_count(ref, kBaseMs + 90'000)));
  EXPECT_EQ(server.terminate(), 0);
  EXPECT_EQ(output_matches(server.windows(), ref.windows), "");
  EXPECT_NE(server.child->err().find("402 records read, 402 accepted"), std::string::npos) << server.child->err();
}

TEST(ProcessControl, TerminateWhileStoppedFlushes) {
  TempDir dir;
  Server server(dir);
  Connection control(server.control_port);
  Connection producer(server.in_port);
  ASSERT_TRUE(control.ok() && producer.ok()) << server.child->err();
  const std::string text = batch(0, 50, 5, 7);
  ASSERT_TRUE(producer.send(text));
  const Result ref = compute(text, Options{});
  ASSERT_TRUE(server.wait_windows(final_count(ref, kBaseMs + 9'800)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(control.command("stop"), "ok");
  EXPECT_EQ(server.terminate(), 0);
  EXPECT_EQ(output_matches(server.windows(), ref.windows), "");
}

}  // namespace
}  // namespace netpulse::testref
