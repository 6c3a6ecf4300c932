// The socket half of server_test_support.hpp: Asio and Beast, compiled once.
#include "server_test_support.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <utility>  // Boost 1.74 asio uses std::exchange without including it

namespace netpulse::server::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

void set_receive_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace

std::optional<HttpReply> raw_exchange(uint16_t port, const std::string& bytes,
                                      std::chrono::milliseconds timeout) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return std::nullopt;
  set_receive_timeout(s.native_handle(), timeout);
  asio::write(s, asio::buffer(bytes), ec);
  std::string raw;
  char buf[65536];
  for (;;) {
    if (auto r = parse_reply(raw)) return r;
    const size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    raw.append(buf, n);
  }
  return parse_reply(raw);
}

bool server_closes_after(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  set_receive_timeout(s.native_handle(), std::chrono::seconds(5));
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  asio::write(s, asio::buffer(upgrade));
  std::string head;
  char buf[4096];
  boost::system::error_code ec;
  while (head.find("\r\n\r\n") == std::string::npos) {
    const size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec) return false;
    head.append(buf, n);
  }
  if (head.rfind("HTTP/1.1 101", 0) != 0) return false;
  asio::write(s, asio::buffer(bytes), ec);
  for (;;) {
    s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
    if (ec) return false;  // timed out: still open
  }
}

struct WsTestClient::Impl {
  asio::io_context io;
  websocket::stream<tcp::socket> ws{io};
  beast::flat_buffer buffer;
  bool reading = false, done = false, closed = false;
  boost::system::error_code ec;
  size_t received = 0;
};

WsTestClient::WsTestClient(uint16_t port, const std::string& target)
    : impl_(std::make_unique<Impl>()) {
  impl_->ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  impl_->ws.handshake("127.0.0.1", target);
}

// A read left pending by a timed-out wait_for() refers to the Impl and its buffer: end it (its
// handler runs, with an error) before they go, rather than leave it to the io_context's
// destruction after the buffer and the stream are gone.
WsTestClient::~WsTestClient() {
  Impl& m = *impl_;
  boost::system::error_code ignored;
  m.ws.next_layer().close(ignored);
  if (m.reading) {
    m.io.restart();
    m.io.run_for(std::chrono::seconds(1));
  }
}

void WsTestClient::send(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text));
}

bool WsTestClient::try_send(const std::string& text) {
  boost::system::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text), ec);
  if (ec) impl_->closed = true;
  return !ec;
}

void WsTestClient::send_binary(const std::string& bytes) {
  impl_->ws.binary(true);
  impl_->ws.write(asio::buffer(bytes));
}

std::optional<nlohmann::json> WsTestClient::wait_for(
    const std::function<bool(const nlohmann::json&)>& pred, std::chrono::milliseconds within) {
  Impl& m = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!m.closed) {
    if (!m.reading) {
      m.reading = true;
      m.ws.async_read(m.buffer, [&m](boost::system::error_code ec, size_t) {
        m.reading = false;
        m.done = true;
        m.ec = ec;
      });
    }
    m.io.restart();
    while (!m.done && std::chrono::steady_clock::now() < deadline) m.io.run_one_until(deadline);
    if (!m.done) return std::nullopt;
    m.done = false;
    if (m.ec) {
      m.closed = true;
      break;
    }
    auto j = nlohmann::json::parse(beast::buffers_to_string(m.buffer.data()), nullptr, false);
    m.buffer.consume(m.buffer.size());
    ++m.received;
    if (!j.is_discarded() && pred(j)) return j;
  }
  return std::nullopt;
}

bool WsTestClient::closed() const { return impl_->closed; }
size_t WsTestClient::received() const { return impl_->received; }

}  // namespace netpulse::server::testing
