// Helpers for whole-program tests (tests/e2e/process_*_test.cpp): run the real netpulse binary
// as a child process (killed by its pid when the test is done with it), talk to it over TCP on
// 127.0.0.1, and read its JSON-lines output back into the reference's Window form.
// Header-only; each object belongs to one test thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../support/free_port.hpp"
#include "reference.hpp"

namespace netpulse::testref {

#ifndef NETPULSE_BINARY
#error "NETPULSE_BINARY must name the netpulse executable"
#endif

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

// A fresh directory under /tmp, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/netpulse_e2e_XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The netpulse binary as a child process; stdout and stderr go to files. The destructor kills
// it (SIGKILL, by pid) if it is still running and reaps it.
class Child {
 public:
  Child(const std::vector<std::string>& args, const TempDir& dir, const std::string& stdin_path = "")
      : out_path_(dir / ("stdout." + std::to_string(++counter()))),
        err_path_(dir / ("stderr." + std::to_string(counter()))) {
    std::vector<std::string> argv_s{NETPULSE_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int in = open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
      const int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(127);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
    }
  }

  // Waits for the child to exit; false on timeout.
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  bool running() {
    wait(std::chrono::milliseconds(0));
    return !exited_;
  }
  void signal(int sig) {
    if (!exited_) kill(pid_, sig);
  }
  // Exit status, or minus the signal that ended it. REQUIRES: wait() returned true.
  int exit_code() const { return code_; }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }
  pid_t pid() const { return pid_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = 0;
};

// Polls until pred() or the timeout; returns pred().
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// The port of a `run --web 127.0.0.1:0` from its "dashboard at http://127.0.0.1:PORT/" line;
// 0 when it ended first or did not say in time. The wait is long because it costs nothing when
// the line comes (it returns then, or when the program exits): `run` loads its models before the
// line, 2.4 s alone in the AddressSanitizer build and past 10 s there beside other tests.
inline uint16_t dashboard_port(Child& run,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const std::regex url(R"(dashboard at http://127\.0\.0\.1:(\d+)/)");
  uint16_t port = 0;
  eventually(
      [&] {
        std::smatch m;
        const std::string out = run.out();
        if (!std::regex_search(out, m, url)) return !run.running();
        port = static_cast<uint16_t>(std::stoi(m[1]));
        return true;
      },
      timeout);
  return port;
}

// Runs the binary to completion.
struct Finished {
  int code = 0;
  std::string out, err;
};
inline Finished run_netpulse(const std::vector<std::string>& args, const TempDir& dir,
                             const std::string& stdin_path = "") {
  Child c(args, dir, stdin_path);
  Finished f;
  if (!c.wait()) {
    f.code = -1000;
    f.err = "timed out";
    return f;
  }
  f.code = c.exit_code();
  f.out = c.out();
  f.err = c.err();
  return f;
}

using testsupport::free_port;

// A connected socket to 127.0.0.1:port; retries while the server starts. Closed on destruction.
class Connection {
 public:
  Connection() = default;
  explicit Connection(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return;
      close(fd_);
      fd_ = -1;
      if (std::chrono::steady_clock::now() > deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  Connection(Connection&& o) noexcept : fd_(o.fd_), pending_(std::move(o.pending_)) { o.fd_ = -1; }
  ~Connection() { close_now(); }
  bool ok() const { return fd_ >= 0; }
  void close_now() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  bool send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // The next line without '\n', or "<timeout>" / "<closed>".
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "<timeout>";
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "<closed>";
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // Sends one command line and returns the reply line.
  std::string command(const std::string& line) {
    if (!send(line + "\n")) return "<send failed>";
    return read_line();
  }

 private:
  int fd_ = -1;
  std::string pending_;
};

// Polls until pred() holds; false on timeout.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// "2020-05-09T20:41:30.000Z" -> ms since the epoch.
inline int64_t parse_iso(const std::string& s) {
  if (s.size() != 24 || s[10] != 'T' || s[23] != 'Z') throw std::runtime_error("bad time " + s);
  const auto t = parse_time(s.substr(0, 10), s.substr(11, 12));
  if (!t) throw std::runtime_error("bad time " + s);
  return *t;
}

// Reads JSON-lines output back into windows (six lines each, in the spec's query order).
// Throws std::runtime_error when the text is not that.
inline std::vector<Window> parse_output(const std::string& text) {
  std::vector<Window> out;
  const std::vector<std::string> lines = split_lines(text);
  if (lines.size() % 6 != 0) throw std::runtime_error("line count not a multiple of 6");
  for (size_t i = 0; i < lines.size(); i += 6) {
    Window w;
    for (size_t q = 0; q < 6; ++q) {
      const auto j = nlohmann::json::parse(lines[i + q]);
      if (j.at("query").get<std::string>() != kQueries[q]) throw std::runtime_error("query order: " + lines[i + q]);
      const int64_t start = parse_iso(j.at("window_start").get<std::string>());
      const int64_t end = parse_iso(j.at("window_end").get<std::string>());
      const auto& params = j.at("params");
      if (q == 0) {
        w.start_ms = start;
        w.end_ms = end;
        w.records = j.at("records").get<uint64_t>();
        w.total_bytes = j.at("total_bytes").get<uint64_t>();
        w.params.T = params.at("T").get<int64_t>();
      } else if (start != w.start_ms || end != w.end_ms || j.at("records").get<uint64_t>() != w.records ||
                 j.at("total_bytes").get<uint64_t>() != w.total_bytes || params.at("T").get<int64_t>() != w.params.T) {
        throw std::runtime_error("the six lines of a window disagree: " + lines[i + q]);
      }
      if (params.size() != 2) throw std::runtime_error("params: " + lines[i + q]);
      if (q % 3 == 0) w.params.H = params.at("H").get<double>();
      if (q % 3 == 1) w.params.k = params.at("k").get<int64_t>();
      if (q % 3 == 2) w.params.X = params.at("X").get<double>();
      (q < 3 ? w.protocol_keys : w.ip_keys) = j.at("keys").get<uint64_t>();
      for (const auto& row : j.at("rows")) {
        Row r;
        r.key = row.at("key").get<std::string>();
        r.bytes = row.at("bytes").get<uint64_t>();
        r.share = row.at("share").get<double>();
        if (!row.at("z").is_null()) r.z = row.at("z").get<double>();
        w.rows[q].push_back(r);
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

// Empty when the output's windows are the reference's (the first `count` of them, or all).
inline std::string output_matches(const std::vector<Window>& got, const std::vector<Window>& ref,
                                  size_t count = SIZE_MAX) {
  count = std::min(count, ref.size());
  std::ostringstream s;
  if (got.size() != count) {
    s << "output has " << got.size() << " windows, expected " << count;
    return s.str();
  }
  for (size_t i = 0; i < count; ++i) {
    const Window& e = got[i];
    const Window& w = ref[i];
    s << "window " << i << " [" << w.start_ms << ", " << w.end_ms << "): ";
    if (e.start_ms != w.start_ms || e.end_ms != w.end_ms) {
      s << "output has [" << e.start_ms << ", " << e.end_ms << ")";
      return s.str();
    }
    if (e.params.H != w.params.H || e.params.T != w.params.T || e.params.k != w.params.k || e.params.X != w.params.X) {
      s << "params H=" << e.params.H << " T=" << e.params.T << " k=" << e.params.k << " X=" << e.params.X
        << ", expected H=" << w.params.H << " T=" << w.params.T << " k=" << w.params.k << " X=" << w.params.X;
      return s.str();
    }
    if (e.records != w.records || e.total_bytes != w.total_bytes || e.protocol_keys != w.protocol_keys ||
        e.ip_keys != w.ip_keys) {
      s << "records/total/keys " << e.records << "/" << e.total_bytes << "/" << e.protocol_keys << "/" << e.ip_keys
        << ", expected " << w.records << "/" << w.total_bytes << "/" << w.protocol_keys << "/" << w.ip_keys;
      return s.str();
    }
    for (size_t q = 0; q < 6; ++q) {
      if (auto why = rows_match(e.rows[q], w.rows[q]); !why.empty()) {
        s << kQueries[q] << ": " << why;
        return s.str();
      }
    }
  }
  return {};
}

}  // namespace netpulse::testref
