#include "server/http_server.hpp"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>  // Boost 1.74 asio uses std::exchange without including it
#include <vector>

namespace netpulse::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// What the sessions share with the server.
struct ServerState {
  HttpServerOptions options;
  const Routes& routes;
  WsHub& hub;
  HttpServer::WsHandler on_ws;
  std::array<std::atomic<uint64_t>, 6> replies{};  // by status class: 0 (none), 1xx .. 5xx
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> ws_received{0};
  std::atomic<uint64_t> ws_errors{0};

  ServerState(const HttpServerOptions& o, const Routes& r, WsHub& h, HttpServer::WsHandler ws)
      : options(o), routes(r), hub(h), on_ws(std::move(ws)) {}

  void count_reply(int status) {
    const int cls = status / 100;
    replies[cls >= 1 && cls <= 5 ? cls : 0].fetch_add(1, std::memory_order_relaxed);
  }
};

class WsSession final : public WsClient, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, ServerState& state, bool authorized)
      : ws_(std::move(socket)), state_(state), authorized_(authorized) {}

  void run(http::request<http::string_body> req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "netpulse"); }));
    ws_.read_message_max(state_.options.ws_message_limit);
    ws_.async_accept(req,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void push(std::shared_ptr<const std::string> message) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
      self->send(std::move(m));
    });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    state_.hub.join(shared_from_this());
    joined_ = true;
    read();
  }

  void read() {
    ws_.async_read(
        buffer_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      // Closed by the client, or a protocol violation (garbage frames, an over-long message):
      // Beast has failed this connection; the server goes on.
      if (ec != websocket::error::closed) state_.ws_errors.fetch_add(1, std::memory_order_relaxed);
      leave();
      return;
    }
    state_.ws_received.fetch_add(1, std::memory_order_relaxed);
    std::string reply;
    if (!ws_.got_text()) {
      reply =
          R"({"type":"reply","ok":false,"status":400,"error":"binary messages are not understood; send JSON text"})";
    } else {
      const std::string text = beast::buffers_to_string(buffer_.data());
      try {
        reply = state_.on_ws(text, authorized_);
      } catch (const std::exception&) {
        reply = R"({"type":"reply","ok":false,"status":500,"error":"internal error"})";
      }
    }
    buffer_.consume(buffer_.size());
    send(std::make_shared<const std::string>(std::move(reply)));
    read();
  }

  // On the session's strand.
  void send(std::shared_ptr<const std::string> message) {
    if (closed_) return;
    if (queue_.size() >= state_.options.ws_queue_limit) {
      // A client that does not read must not make the server hold ever more: drop it.
      closed_ = true;
      state_.hub.count_dropped();
      leave();
      beast::error_code ec;
      beast::get_lowest_layer(ws_).socket().close(ec);
      return;
    }
    queue_.push_back(std::move(message));
    if (queue_.size() == 1) write();
  }

  void write() {
    ws_.text(true);
    ws_.async_write(
        asio::buffer(*queue_.front()),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      closed_ = true;
      queue_.clear();
      leave();
      return;
    }
    queue_.pop_front();
    if (!queue_.empty()) write();
  }

  void leave() {
    if (joined_) {
      joined_ = false;
      state_.hub.leave(this);
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  ServerState& state_;
  bool authorized_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool closed_ = false;
  bool joined_ = false;
};

class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, ServerState& state)
      : stream_(std::move(socket)), state_(state) {}

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(state_.options.body_limit);
    parser_->header_limit(static_cast<uint32_t>(state_.options.header_limit));
    stream_.expires_after(state_.options.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      shutdown();
      return;
    }
    if (ec == http::error::body_limit) {
      respond(Reply::error(413, "the body is larger than the limit of " +
                                    std::to_string(state_.options.body_limit) + " bytes"),
              false, true);
      return;
    }
    if (ec == http::error::header_limit) {
      respond(Reply::error(431, "the request headers are too large"), false, true);
      return;
    }
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        respond(Reply::error(400, "malformed HTTP request: " + ec.message()), false, true);
      } else {
        shutdown();
      }
      return;
    }

    auto& req = parser_->get();
    Request r;
    r.method =
        parse_method(std::string_view(req.method_string().data(), req.method_string().size()));
    r.target = std::string(req.target());
    if (!parse_target(r.target, r)) {
      respond(Reply::error(400, "malformed request target"), false, true);
      return;
    }
    r.authorization = std::string(req[http::field::authorization]);
    if (websocket::is_upgrade(req)) {
      if (r.path != "/ws") {
        respond(Reply::error(404, "WebSocket is served at /ws only"), false, true);
        return;
      }
      bool authorized = state_.routes.authorized(r.authorization);
      if (auto token = r.query_param("token"); token && state_.routes.token_matches(*token))
        authorized = true;
      state_.count_reply(101);
      stream_.expires_never();
      std::make_shared<WsSession>(stream_.release_socket(), state_, authorized)
          ->run(parser_->release());
      return;
    }
    r.content_type = std::string(req[http::field::content_type]);
    r.body = std::move(req.body());
    Reply reply = state_.routes.dispatch(r);
    respond(std::move(reply), r.method == Method::kHead, !req.keep_alive());
  }

  void respond(Reply reply, bool head, bool close) {
    state_.count_reply(reply.status);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.status), 11);
    res->set(http::field::server, "netpulse");
    res->set(http::field::content_type, reply.content_type);
    res->set("X-Content-Type-Options", "nosniff");
    for (auto& [name, value] : reply.headers) res->set(name, value);
    res->keep_alive(!close);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    if (head) res->body().clear();
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, close](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (close)
                          self->linger();
                        else
                          self->read();
                      });
  }

  // Half-closes, then reads what the client still sends (the rest of a refused body) for a
  // moment, so the reply is not lost to a reset.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                beast::error_code ignored;
                                self->stream_.socket().close(ignored);
                                return;
                              }
                              self->drain();
                            });
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  ServerState& state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 8192> scratch_{};
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(const HttpServerOptions& options, const Routes& routes, WsHub& hub, WsHandler on_ws,
              Tick tick)
      : state_(options, routes, hub, std::move(on_ws)),
        tick_(std::move(tick)),
        strand_(asio::make_strand(io_)),
        acceptor_(strand_),
        timer_(strand_) {}
  ~BeastServer() override { stop(); }

  bool listen(std::string* why) {
    const auto& o = state_.options;
    beast::error_code ec;
    const auto address = asio::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host, ec);
    if (ec) {
      *why = "--web '" + o.host + "': not an IP address";
      return false;
    }
    const tcp::endpoint ep(address, o.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *why = "--web " + o.host + ":" + std::to_string(o.port) + ": " + ec.message();
      return false;
    }
    port_ = acceptor_.local_endpoint().port();
    accept();
    if (tick_) arm_timer();
    const int n = std::max(1, o.threads);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { run_loop(); });
    return true;
  }

  uint16_t port() const override { return port_; }

  void stop() override {
    std::call_once(stopped_, [this] {
      // On the strand of the acceptor and the timer: their handlers (which re-arm them) run
      // there too, so the close never races an accept or a tick on another thread (it did:
      // a SIGSEGV in epoll_reactor::start_op at shutdown, about once in 70 runs).
      asio::post(strand_, [this] {
        beast::error_code ec;
        acceptor_.close(ec);
        timer_.cancel();
      });
      io_.stop();
      for (auto& t : threads_)
        if (t.joinable()) t.join();
      // The hub outlives the server: drop the sessions while their io_context still exists.
      state_.hub.clear_clients();
    });
  }

  void register_metrics(MetricsRegistry& m) override {
    static const char* const kClasses[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < 6; ++i) {
      m.add(
          "netpulse_http_requests_total", "HTTP requests answered, by status class",
          MetricType::kCounter, [this, i] { return static_cast<double>(state_.replies[i].load()); },
          std::string("code=\"") + kClasses[i] + "\"");
    }
    m.add("netpulse_http_connections_total", "TCP connections accepted by the web server",
          MetricType::kCounter, [this] { return static_cast<double>(state_.connections.load()); });
    m.add("netpulse_websocket_received_total", "Messages received from WebSocket clients",
          MetricType::kCounter, [this] { return static_cast<double>(state_.ws_received.load()); });
    m.add("netpulse_websocket_errors_total",
          "WebSocket connections ended by a protocol error (bad frames, over-long messages)",
          MetricType::kCounter, [this] { return static_cast<double>(state_.ws_errors.load()); });
  }

 private:
  void run_loop() {
    // A handler that throws must not take the server down: log nothing, keep serving.
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception&) {
      }
    }
  }

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (!acceptor_.is_open()) return;
                             if (!ec) {
                               state_.connections.fetch_add(1, std::memory_order_relaxed);
                               beast::error_code ignored;
                               socket.set_option(tcp::no_delay(true), ignored);
                               std::make_shared<HttpSession>(std::move(socket), state_)->run();
                             }
                             accept();
                           });
  }

  void arm_timer() {
    timer_.expires_after(state_.options.tick_period);
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      try {
        tick_();
      } catch (const std::exception&) {
      }
      arm_timer();
    });
  }

  ServerState state_;
  Tick tick_;
  asio::io_context io_;
  asio::strand<asio::io_context::executor_type> strand_;  // the acceptor's and the timer's
  tcp::acceptor acceptor_;
  asio::steady_timer timer_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::once_flag stopped_;
};

}  // namespace

std::unique_ptr<HttpServer> HttpServer::start(const HttpServerOptions& options,
                                              const Routes& routes, WsHub& hub,
                                              WsHandler on_ws_message, Tick tick,
                                              std::string* why) {
  auto server = std::make_unique<BeastServer>(options, routes, hub, std::move(on_ws_message),
                                              std::move(tick));
  std::string scratch;
  if (!server->listen(why ? why : &scratch)) return nullptr;
  return server;
}

}  // namespace netpulse::server
