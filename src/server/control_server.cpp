#include "server/control_server.hpp"

#include <utility>  // Boost 1.74 asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <thread>

namespace netpulse::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const ControlServer::Handler& handler)
      : socket_(std::move(socket)), handler_(handler) {}

  void start() { read(); }

 private:
  void read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(chunk_), [this, self](boost::system::error_code ec, size_t n) {
      if (ec) return;  // closed or reset: the session ends, the server goes on
      std::string replies;
      for (size_t i = 0; i < n; ++i) {
        const char c = chunk_[i];
        if (c == '\n') {
          if (overflow_) {
            replies += "error: command too long\n";
          } else {
            std::string reply;
            try {
              reply = handler_(line_);
            } catch (const std::exception& e) {
              reply = std::string("error: ") + e.what();
            }
            replies += reply;
            replies += '\n';
          }
          line_.clear();
          overflow_ = false;
        } else if (line_.size() < kMaxControlLine) {
          line_ += c;
        } else {
          overflow_ = true;
        }
      }
      if (replies.empty()) {
        read();
        return;
      }
      auto out = std::make_shared<std::string>(std::move(replies));
      asio::async_write(socket_, asio::buffer(*out), [this, self, out](boost::system::error_code wec, size_t) {
        if (!wec) read();
      });
    });
  }

  tcp::socket socket_;
  const ControlServer::Handler& handler_;
  std::array<char, 4096> chunk_{};
  std::string line_;
  bool overflow_ = false;
};

class AsioControlServer final : public ControlServer {
 public:
  AsioControlServer(Handler handler) : handler_(std::move(handler)), acceptor_(io_) {}
  ~AsioControlServer() override { stop(); }

  bool listen(const std::string& host, uint16_t port, std::string* why) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) {
      *why = "control address '" + host + "': " + ec.message();
      return false;
    }
    tcp::endpoint ep(address, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *why = "control port " + host + ":" + std::to_string(port) + ": " + ec.message();
      return false;
    }
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
    return true;
  }

  uint16_t port() const override { return port_; }

  void stop() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (!ec) std::make_shared<Session>(std::move(socket), handler_)->start();
      if (acceptor_.is_open()) accept();
    });
  }

  Handler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<ControlServer> ControlServer::start(const std::string& host, uint16_t port,
                                                    Handler handler, std::string* why) {
  auto server = std::make_unique<AsioControlServer>(std::move(handler));
  std::string scratch;
  if (!server->listen(host, port, why ? why : &scratch)) return nullptr;
  return server;
}

}  // namespace netpulse::server
