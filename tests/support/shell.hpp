// Runs a shell command line for whole-program tests, with stdout and stderr (of every command
// in it) captured separately. Header-only; each call is independent and thread-safe.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace netpulse::testing {

struct ShellResult {
  int status = -1;  // the exit status, or -1 when the shell did not exit normally
  std::string out, err;
};

inline ShellResult shell(const std::string& command) {
  char err_path[] = "/tmp/netpulse-e2e-stderr-XXXXXX";
  const int err_fd = ::mkstemp(err_path);
  ::close(err_fd);
  ShellResult r;
  FILE* p = ::popen(("{ " + command + "; } 2>" + err_path).c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (FILE* f = std::fopen(err_path, "r")) {
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.err.append(buf, n);
    std::fclose(f);
  }
  ::unlink(err_path);
  return r;
}

}  // namespace netpulse::testing
