// HTTP server for /metrics and /healthz; see http_server.h.
#include "ops/http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace rampart::ops {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  static constexpr int kMaxConnections = 16;
  static constexpr auto kTimeout = std::chrono::seconds(5);

  Impl(asio::io_context& io, Handler h) : acceptor(io), handler(std::move(h)) {}
  tcp::acceptor acceptor;
  Handler handler;
  int open = 0;
  uint64_t requests = 0;
  bool stopped = false;

  void accept() {
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
      if (self->stopped) return;
      if (!ec) {
        if (self->open >= kMaxConnections) {
          socket.close(ec);  // over the cap: refused, not queued
        } else {
          serve(self, std::move(socket));
        }
      }
      self->accept();
    });
  }

  struct Session {
    explicit Session(tcp::socket s) : stream(std::move(s)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer{8192};
    http::request<http::empty_body> req;
    http::response<http::string_body> res;
  };

  static void serve(const std::shared_ptr<Impl>& self, tcp::socket socket) {
    auto s = std::make_shared<Session>(std::move(socket));
    ++self->open;
    s->stream.expires_after(kTimeout);
    http::async_read(s->stream, s->buffer, s->req, [self, s](beast::error_code ec, size_t) {
      if (ec) return done(self, s);
      ++self->requests;
      const auto method = s->req.method();
      if (method != http::verb::get && method != http::verb::head) {
        s->res.result(http::status::method_not_allowed);
        s->res.set(http::field::allow, "GET, HEAD");
        s->res.body() = "method not allowed\n";
      } else {
        std::string target(s->req.target());
        auto q = target.find('?');
        HttpResponse r = self->handler(target.substr(0, q));
        s->res.result(static_cast<http::status>(r.status));
        s->res.set(http::field::content_type, r.content_type);
        if (method == http::verb::get) s->res.body() = std::move(r.body);
      }
      s->res.version(s->req.version());
      s->res.keep_alive(false);
      s->res.set(http::field::server, "rampartd");
      s->res.prepare_payload();
      http::async_write(s->stream, s->res, [self, s](beast::error_code, size_t) { done(self, s); });
    });
  }

  static void done(const std::shared_ptr<Impl>& self, const std::shared_ptr<Session>& s) {
    beast::error_code ec;
    s->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    s->stream.socket().close(ec);
    --self->open;
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(asio::io_context& io, const std::string& address,
                                                      Handler handler) {
  auto parsed = parse_listen_address(address);
  if (!parsed) return tl::unexpected(parsed.error());
  auto impl = std::make_shared<Impl>(io, std::move(handler));
  tcp::endpoint ep(asio::ip::make_address(parsed->host), parsed->port);
  boost::system::error_code ec;
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(64, ec);
  if (ec) return fail("cannot listen on " + address + ": " + ec.message());
  impl->accept();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

std::string HttpServer::local_address() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  if (ec) return "?";
  auto host = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
}

uint64_t HttpServer::requests() const { return impl_->requests; }

}  // namespace rampart::ops
