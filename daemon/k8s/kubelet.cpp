// The kubelet pod-list fetcher; see kubelet.h.
#include "k8s/kubelet.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <fstream>
#include <sstream>

#include "util/file.h"

namespace rampart::k8s {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

constexpr auto kTimeout = 5s;
constexpr auto kMinInterval = 5s;
constexpr size_t kMaxBody = 64 << 20;

Result<std::string> read_token(const std::string& path) {
  if (path.empty()) return std::string();
  auto text = read_text_file(path, "kubernetes.token_file");
  if (!text) return tl::unexpected(text.error());
  std::string t = std::move(*text);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return t;
}

template <class Stream>
Result<std::string> get(Stream& stream, const Url& u, const std::string& token) {
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "rampartd");
  req.set(http::field::accept, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return fail("kubelet " + u.host + ":" + u.port + ": sending the request: " + ec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  http::read(stream, buf, parser, ec);
  // A refusal whose body runs to the end of the connection may end in a
  // TLS stream without close_notify: the status line is what counts then.
  const bool refused = parser.is_header_done() && parser.get().result() != http::status::ok;
  if (ec && !refused) return fail("kubelet " + u.host + ":" + u.port + ": reading the answer: " + ec.message());
  const auto& res = parser.get();
  if (res.result() != http::status::ok)
    return fail("kubelet " + u.host + ":" + u.port + u.target + ": HTTP " + std::to_string(res.result_int()) +
                (res.result() == http::status::unauthorized || res.result() == http::status::forbidden
                     ? " (the token needs get on nodes/proxy; see packaging/kubernetes/rbac.yaml)"
                     : ""));
  return res.body();
}

}  // namespace

Result<std::string> KubeletPods::fetch(const KubeletConfig& cfg) {
  auto u = parse_url(cfg.url);
  if (!u) return tl::unexpected(u.error());
  auto token = read_token(cfg.token_file);
  if (!token) return tl::unexpected(token.error());
  asio::io_context io;
  beast::error_code ec;
  auto endpoints = asio::ip::tcp::resolver(io).resolve(u->host, u->port, ec);
  if (ec) return fail("kubelet " + u->host + ": resolving: " + ec.message());
  if (!u->tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(kTimeout);
    stream.connect(endpoints, ec);
    if (ec) return fail("kubelet " + u->host + ":" + u->port + ": connect: " + ec.message());
    stream.expires_after(kTimeout);
    return get(stream, *u, *token);
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  if (cfg.insecure_skip_tls_verify) {
    ctx.set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (cfg.ca_file.empty())
      ctx.set_default_verify_paths(ec);
    else
      ctx.load_verify_file(cfg.ca_file, ec);
    if (ec) return fail("kubernetes.ca_file " + cfg.ca_file + ": " + ec.message());
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  if (!cfg.insecure_skip_tls_verify) {
    stream.set_verify_callback(asio::ssl::host_name_verification(u->host));
    SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str());
  }
  beast::get_lowest_layer(stream).expires_after(kTimeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return fail("kubelet " + u->host + ":" + u->port + ": connect: " + ec.message());
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return fail("kubelet " + u->host + ":" + u->port + ": TLS handshake: " + ec.message());
  beast::get_lowest_layer(stream).expires_after(kTimeout);
  return get(stream, *u, *token);
}

KubeletPods::KubeletPods(KubeletConfig cfg, OnPods on_pods, Log log)
    : cfg_(std::move(cfg)), on_pods_(std::move(on_pods)), log_(std::move(log)) {
  thread_ = std::thread([this] { run(); });
}

KubeletPods::~KubeletPods() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void KubeletPods::run() {
  std::string last_error;
  auto next = std::chrono::steady_clock::now();
  auto earliest = next;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Wake once a second to see whether an early refresh was asked for.
      while (!stop_ && std::chrono::steady_clock::now() < next &&
             !(wanted_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() >= earliest))
        cv_.wait_for(lock, 1s);
      if (stop_) return;
    }
    wanted_.store(false, std::memory_order_relaxed);
    const auto started = std::chrono::steady_clock::now();
    earliest = started + kMinInterval;
    next = started + std::chrono::seconds(cfg_.refresh_seconds);
    auto body = fetch(cfg_);
    auto pods = body ? parse_pod_list(*body) : Result<PodMap>(tl::unexpected(body.error()));
    if (!pods) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      if (pods.error().what() != last_error) log_("warning: " + pods.error().what() + " (keeping the last pod list)");
      last_error = pods.error().what();
      continue;
    }
    if (!last_error.empty() || ok_.load() == 0)
      log_("kubelet: " + std::to_string(pods->size()) + " pods on this node, from " + cfg_.url);
    last_error.clear();
    ok_.fetch_add(1, std::memory_order_relaxed);
    on_pods_(std::move(*pods));
  }
}

}  // namespace rampart::k8s
