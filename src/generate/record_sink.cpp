#include "generate/record_sink.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netpulse::generate {

bool FdSink::begin(std::string_view header) {
  return write_all(header.data(), header.size());
}

bool FdSink::write(const char* data, size_t size, uint64_t) {
  return write_all(data, size);
}

bool FdSink::write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      reader_gone_ = errno == EPIPE || errno == ECONNRESET;
      error_ = name_ + ": " + std::strerror(errno);
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace netpulse::generate
