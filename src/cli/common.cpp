#include "cli/common.hpp"

#include "core/size.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/time.hpp"
#include "ingest/uri.hpp"

namespace netpulse::cli {

int open_output(const std::string& text, const char* option) {
  const auto uri = ingest::parse_uri(text);
  if (!uri.ok()) usage_error(std::string(option) + " '" + text + "': " + uri.status().message());
  if (uri->kind == ingest::Uri::Kind::kStdio) return 1;
  if (uri->kind != ingest::Uri::Kind::kFile)
    usage_error(std::string(option) + " '" + text + "': use -, file:PATH or a path");
  const int fd = ::open(uri->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_error(uri->path + ": " + std::strerror(errno));
  return fd;
}

void on_termination(std::function<void()> on_signal, const char* doing) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread([set, doing, on_signal = std::move(on_signal)] {
    int sig = 0;
    sigwait(&set, &sig);
    std::fprintf(stderr, "netpulse: %s received, %s (again to quit now)\n",
                 sig == SIGINT ? "interrupt" : "termination request", doing);
    on_signal();
    sigwait(&set, &sig);
    std::_Exit(130);
  }).detach();
}

size_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string human_rate(double r) {
  char buf[32];
  if (r >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", r / 1e6);
  else if (r >= 1e3) std::snprintf(buf, sizeof buf, "%.1f k", r / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f ", r);
  return buf;
}

const CLI::Validator& duration_validator() {
  static const CLI::Validator v(
      [](std::string& s) -> std::string {
        return core::parse_duration_ms(s) ? std::string() : "'" + s + "' is not a duration such as 100ms, 1s, 1m, 1h";
      },
      "DURATION");
  return v;
}

const CLI::Validator& size_validator() {
  static const CLI::Validator v(
      [](std::string& s) -> std::string {
        return core::parse_size(s) ? std::string() : "'" + s + "' is not a size such as 1500, 512KiB, 64MiB, 2GiB";
      },
      "SIZE");
  return v;
}

}  // namespace netpulse::cli
