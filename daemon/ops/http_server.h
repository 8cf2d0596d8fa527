// A small HTTP/1.1 server (Boost.Beast) on the pipeline's io_context, for
// /metrics and /healthz. It answers GET and HEAD only, one request per
// connection, with a read deadline and a cap on open connections, so a slow
// or hostile client cannot hold the loop. Handlers run on the loop thread
// and read the daemon's state directly: no locks.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "ops/address.h"
#include "util/result.h"

namespace rampart::ops {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;
  static Result<std::unique_ptr<HttpServer>> start(boost::asio::io_context& io, const std::string& address,
                                                   Handler handler);
  ~HttpServer();
  // The address it listens on, with the real port ("127.0.0.1:9464").
  std::string local_address() const;
  uint64_t requests() const;
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace rampart::ops
