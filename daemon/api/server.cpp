// The gRPC control API server; see server.h.
#include "api/server.h"

#include <fcntl.h>
#include <grp.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "outputs/json_writer.h"
#include "policy/policy.h"
#include "rampart/v1/rampart.grpc.pb.h"
#include "sources/decoder.h"
#include "util/file.h"

namespace rampart::api {
namespace {

using namespace std::chrono_literals;

std::string proc_comm(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// Answers every call, on every method, with PERMISSION_DENIED.
class DenyAll : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(std::string why) { Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why)); }
      void OnDone() override { delete this; }
    };
    std::string why;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = reasons_.find(ctx->peer());
      why = it == reasons_.end() ? "access to the Rampart API refused" : it->second;
    }
    return new Reactor(why);
  }
  void set_reason(const std::string& peer, std::string why) {
    std::lock_guard<std::mutex> lock(mu_);
    reasons_[peer] = std::move(why);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string> reasons_;  // "fd:N" → why
};

}  // namespace

std::string Peer::describe() const {
  std::string s = transport;
  if (has_creds) s += " uid " + std::to_string(uid) + " gid " + std::to_string(gid) + " pid " + std::to_string(pid);
  if (!identity.empty()) s += " cn " + identity;
  if (!address.empty()) s += " " + address;
  return s;
}

void to_proto(const std::vector<policy::Diagnostic>& diagnostics,
              google::protobuf::RepeatedPtrField<v1::PolicyError>* out) {
  // An error may quote bytes of the policy text that are not UTF-8; the
  // answer must still serialize (found by the api fuzz target).
  for (const auto& d : diagnostics) {
    auto* e = out->Add();
    e->set_file(outputs::valid_utf8(d.pos.file));
    e->set_line(static_cast<uint32_t>(std::max(d.pos.line, 0)));
    e->set_column(static_cast<uint32_t>(std::max(d.pos.column, 0)));
    e->set_field(outputs::valid_utf8(d.field));
    e->set_message(outputs::valid_utf8(d.message));
  }
}

class ApiServer::Impl final : public v1::Rampart::Service {
 public:
  Impl(const config::ApiConfig& cfg, boost::asio::io_context& io, Backend& backend, EventHub& hub, Log log)
      : cfg_(cfg), io_(io), backend_(backend), hub_(hub), log_(std::move(log)) {}
  ~Impl() override { stop(); }

  Result<void> start();
  void stop();
  std::string describe() const { return described_; }
  grpc::Server* server() const { return server_.get(); }

  // --- rampart.v1.Rampart ---
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*, v1::GetStatusResponse* out) override {
    return on_loop<v1::GetStatusResponse>(out, [this](v1::GetStatusResponse* r) { return backend_.get_status(r); });
  }

  grpc::Status GetVerdict(grpc::ServerContext*, const v1::GetVerdictRequest* req, v1::Verdict* out) override {
    if (req->pid() == 0) return invalid("pid is required (a process id, > 0)");
    uint32_t pid = req->pid();
    return on_loop<v1::Verdict>(out, [this, pid](v1::Verdict* r) { return backend_.get_verdict(pid, r); });
  }

  grpc::Status ListVerdicts(grpc::ServerContext*, const v1::ListVerdictsRequest* req,
                            v1::ListVerdictsResponse* out) override {
    auto level = req->min_level();
    return on_loop<v1::ListVerdictsResponse>(
        out, [this, level](v1::ListVerdictsResponse* r) { return backend_.list_verdicts(level, r); });
  }

  grpc::Status Quarantine(grpc::ServerContext* ctx, const v1::ProcessRequest* req,
                          v1::ProcessActionResponse* out) override {
    if (auto s = check_pid(req->pid()); !s.ok()) return s;
    return on_loop<v1::ProcessActionResponse>(
        out, [this, r = *req, p = peer_of(ctx)](v1::ProcessActionResponse* o) { return backend_.quarantine(r, p, o); });
  }

  grpc::Status Release(grpc::ServerContext* ctx, const v1::ProcessRequest* req,
                       v1::ProcessActionResponse* out) override {
    if (auto s = check_pid(req->pid()); !s.ok()) return s;
    return on_loop<v1::ProcessActionResponse>(
        out, [this, r = *req, p = peer_of(ctx)](v1::ProcessActionResponse* o) { return backend_.release(r, p, o); });
  }

  grpc::Status ListPolicies(grpc::ServerContext*, const v1::ListPoliciesRequest*,
                            v1::ListPoliciesResponse* out) override {
    return on_loop<v1::ListPoliciesResponse>(out,
                                             [this](v1::ListPoliciesResponse* r) { return backend_.list_policies(r); });
  }

  // Pure parsing: runs here, on the gRPC thread; the daemon is not involved.
  grpc::Status ValidatePolicy(grpc::ServerContext*, const v1::ValidatePolicyRequest* req,
                              v1::ValidatePolicyResponse* out) override {
    if (req->text().empty()) return invalid("text is empty: send the policy YAML to validate");
    std::string source = req->source().empty() ? "<request>" : req->source();
    std::vector<policy::Diagnostic> diagnostics;
    auto set = policy::PolicySet::load_text(req->text(), source, &diagnostics);
    out->set_valid(bool(set));
    if (!set) {
      to_proto(diagnostics, out->mutable_errors());
      return grpc::Status::OK;
    }
    for (const auto& p : set->policies()) out->add_policies(p.name);
    return grpc::Status::OK;
  }

  grpc::Status ReloadPolicies(grpc::ServerContext* ctx, const v1::ReloadPoliciesRequest* req,
                              v1::ReloadPoliciesResponse* out) override {
    if (!req->dir().empty() && !req->text().empty())
      return invalid("give either dir or text, not both (neither: the configured policy directory)");
    if (!req->dir().empty() && req->dir()[0] != '/') return invalid("dir must be an absolute path: " + req->dir());
    return on_loop<v1::ReloadPoliciesResponse>(out, [this, r = *req, p = peer_of(ctx)](v1::ReloadPoliciesResponse* o) {
      return backend_.reload_policies(r, p, o);
    });
  }

  grpc::Status StreamEvents(grpc::ServerContext* ctx, const v1::StreamEventsRequest* req,
                            grpc::ServerWriter<v1::StreamEventsResponse>* writer) override;

  // --- learned profiles ---
  grpc::Status ListProfiles(grpc::ServerContext*, const v1::ListProfilesRequest*,
                            v1::ListProfilesResponse* out) override {
    return on_loop<v1::ListProfilesResponse>(out, [this](auto* r) { return backend_.list_profiles("", r); });
  }
  grpc::Status ProfileStatus(grpc::ServerContext*, const v1::ProfileRequest* req,
                             v1::ListProfilesResponse* out) override {
    return on_loop<v1::ListProfilesResponse>(out,
                                             [this, n = req->name()](auto* r) { return backend_.list_profiles(n, r); });
  }
  grpc::Status GetProfile(grpc::ServerContext*, const v1::ProfileRequest* req, v1::GetProfileResponse* out) override {
    if (req->name().empty()) return invalid("name is required (the learn policy's name)");
    return on_loop<v1::GetProfileResponse>(out,
                                           [this, n = req->name()](auto* r) { return backend_.get_profile(n, r); });
  }
  grpc::Status ExportProfile(grpc::ServerContext*, const v1::ProfileRequest* req,
                             v1::ExportProfileResponse* out) override {
    if (req->name().empty()) return invalid("name is required (the learn policy's name)");
    return on_loop<v1::ExportProfileResponse>(
        out, [this, n = req->name()](auto* r) { return backend_.export_profile(n, r); });
  }
  grpc::Status PromoteProfile(grpc::ServerContext* ctx, const v1::ProfileActionRequest* req,
                              v1::ProfileActionResponse* out) override {
    if (req->name().empty()) return invalid("name is required (the learn policy's name)");
    return on_loop<v1::ProfileActionResponse>(
        out, [this, r = *req, p = peer_of(ctx)](auto* o) { return backend_.promote_profile(r, p, o); });
  }
  grpc::Status RollbackProfile(grpc::ServerContext* ctx, const v1::ProfileActionRequest* req,
                               v1::ProfileActionResponse* out) override {
    if (req->name().empty()) return invalid("name is required (the learn policy's name)");
    return on_loop<v1::ProfileActionResponse>(
        out, [this, r = *req, p = peer_of(ctx)](auto* o) { return backend_.rollback_profile(r, p, o); });
  }

 private:
  static grpc::Status invalid(std::string msg) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg); }
  static grpc::Status unavailable() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "rampartd is shutting down"); }
  grpc::Status check_pid(uint32_t pid) const {
    if (pid == 0) return invalid("pid is required (a process id, > 0)");
    if (pid == 1) return invalid("refusing to act on pid 1 (init): it would take the host down");
    if (pid == static_cast<uint32_t>(getpid())) return invalid("refusing to act on rampartd itself");
    return grpc::Status::OK;
  }

  // Runs fn(response) on the pipeline loop and waits for it. fn and what it
  // captures are copies: if we give up (shutdown), nothing dangles.
  template <typename Resp, typename Fn>
  grpc::Status on_loop(Resp* out, Fn fn) {
    if (stopping_) return unavailable();
    struct State {
      std::promise<grpc::Status> done;
      Resp resp;
    };
    auto st = std::make_shared<State>();
    auto fut = st->done.get_future();
    boost::asio::post(io_, [st, fn = std::move(fn)]() mutable { st->done.set_value(fn(&st->resp)); });
    for (;;) {
      if (fut.wait_for(50ms) == std::future_status::ready) break;
      if (stopping_) return unavailable();
    }
    grpc::Status s;
    try {
      s = fut.get();
    } catch (const std::exception&) {
      return unavailable();
    }
    if (s.ok()) out->Swap(&st->resp);
    return s;
  }

  Peer peer_of(grpc::ServerContext* ctx) {
    std::string id = ctx->peer();
    {
      std::lock_guard<std::mutex> lock(peers_mu_);
      auto it = peers_.find(id);
      if (it != peers_.end()) return it->second;
    }
    Peer p;
    p.transport = "tcp";
    p.address = id;
    auto auth = ctx->auth_context();
    if (auth) {
      auto cn = auth->FindPropertyValues("x509_common_name");
      if (!cn.empty()) p.identity = std::string(cn.front().data(), cn.front().size());
    }
    return p;
  }

  Result<void> open_unix_socket();
  void accept_loop();
  void accept_one(int fd);

  config::ApiConfig cfg_;
  boost::asio::io_context& io_;
  Backend& backend_;
  EventHub& hub_;
  Log log_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> deny_server_;
  DenyAll deny_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::thread acceptor_;
  std::mutex peers_mu_;
  std::unordered_map<std::string, Peer> peers_;  // "fd:N" → credentials
  std::string described_;
};

Result<void> ApiServer::Impl::open_unix_socket() {
  const std::string& path = cfg_.socket;
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return fail("api.socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("api.socket " + path + " exists and is not a socket; remove it or choose another path");
    // A live socket means another rampartd: never steal it.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) close(probe);
    if (live) return fail("another process (a running rampartd?) is serving the API on " + path);
    unlink(path.c_str());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) return fail_errno("creating the API socket");
  // Created 0600 already: no moment in which the file is wider than that.
  mode_t old = umask(0177);
  int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (rc != 0) return fail_errno("binding the API socket " + path);
  if (!cfg_.allowed_group.empty()) {
    if (chown(path.c_str(), 0, cfg_.allowed_gid) != 0 || chmod(path.c_str(), 0660) != 0)
      return fail_errno("giving the API socket " + path + " to group " + cfg_.allowed_group);
  }
  if (listen(listen_fd_, 64) != 0) return fail_errno("listening on the API socket " + path);
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) return fail_errno("eventfd");
  return {};
}

void ApiServer::Impl::accept_loop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_("warning: API accept loop: poll: " + std::string(std::strerror(errno)));
      return;
    }
    if (fds[1].revents) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      log_("warning: API accept: " + std::string(std::strerror(errno)));
      std::this_thread::sleep_for(10ms);  // EMFILE and the like: do not spin
      continue;
    }
    accept_one(fd);
  }
}

void ApiServer::Impl::accept_one(int fd) {
  Peer p;
  p.transport = "unix";
  p.address = cfg_.socket;
  ucred cred{};
  socklen_t len = sizeof(cred);
  std::string why;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    why = std::string("cannot read the peer's credentials (SO_PEERCRED): ") + std::strerror(errno);
  } else {
    p.has_creds = true;
    p.uid = cred.uid;
    p.gid = cred.gid;
    p.pid = static_cast<uint32_t>(cred.pid);
    bool allowed = cred.uid == 0;
    if (!allowed && !cfg_.allowed_group.empty()) {
      allowed = cred.gid == cfg_.allowed_gid;
      gid_t groups[256];
      socklen_t glen = sizeof(groups);
      if (!allowed && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
        for (size_t i = 0; i < glen / sizeof(gid_t); ++i) allowed = allowed || groups[i] == cfg_.allowed_gid;
    }
    if (!allowed)
      why = "access to the Rampart API refused: uid " + std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) +
            ") is not root" +
            (cfg_.allowed_group.empty() ? std::string(" (api.allowed_group is not set: root only)")
                                        : " and not in group '" + cfg_.allowed_group + "'");
  }
  std::string key = "fd:" + std::to_string(fd);
  if (!why.empty()) {
    std::string comm = p.has_creds ? proc_comm(p.pid) : "";
    deny_.set_reason(key, why);
    // Logged and audited by the daemon, on its loop.
    boost::asio::post(
        io_, [this, p, detail = why + (comm.empty() ? "" : "; client " + comm)] { backend_.peer_refused(p, detail); });
    grpc::AddInsecureChannelFromFd(deny_server_.get(), fd);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    peers_[key] = p;  // an fd number is reused only after gRPC closed it
  }
  grpc::AddInsecureChannelFromFd(server_.get(), fd);
}

Result<void> ApiServer::Impl::start() {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const int max_bytes = static_cast<int>(cfg_.max_message_kb) * 1024;
  grpc::ServerBuilder builder;
  builder.RegisterService(this);
  builder.SetMaxReceiveMessageSize(max_bytes);
  std::string tcp_desc;
  int tcp_port = 0;
  if (!cfg_.tcp_address.empty()) {
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (cfg_.insecure) {
      creds = grpc::InsecureServerCredentials();
      tcp_desc = "tcp " + cfg_.tcp_address + " (INSECURE: plain TCP, no client authentication)";
    } else {
      grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
      for (auto [path, what, into] : {std::tuple{&cfg_.tls_ca, "api.tcp.tls_ca", &opts.pem_root_certs},
                                      std::tuple{&cfg_.tls_key, "api.tcp.tls_key", &pair.private_key},
                                      std::tuple{&cfg_.tls_cert, "api.tcp.tls_cert", &pair.cert_chain}}) {
        auto text = read_text_file(*path, what);
        if (!text) return fail(text.error().what());
        *into = std::move(*text);
      }
      opts.pem_key_cert_pairs.push_back(pair);
      creds = grpc::SslServerCredentials(opts);
      tcp_desc = "tcp " + cfg_.tcp_address + " (mTLS)";
    }
    builder.AddListeningPort(cfg_.tcp_address, creds, &tcp_port);
  }
  server_ = builder.BuildAndStart();
  if (!server_) return fail("starting the gRPC server" + (tcp_desc.empty() ? "" : " on " + tcp_desc));
  if (!cfg_.tcp_address.empty() && tcp_port == 0)
    return fail("api.tcp.address " + cfg_.tcp_address + ": cannot listen there (in use, or not a local address?)");

  grpc::ServerBuilder deny_builder;
  deny_builder.RegisterCallbackGenericService(&deny_);
  deny_builder.SetMaxReceiveMessageSize(4096);
  deny_server_ = deny_builder.BuildAndStart();
  if (!deny_server_) return fail("starting the gRPC refusal server");

  if (!cfg_.socket.empty()) {
    if (auto r = open_unix_socket(); !r) return r;
    acceptor_ = std::thread([this] { accept_loop(); });
    described_ = "unix:" + cfg_.socket +
                 (cfg_.allowed_group.empty() ? " (root only)" : " (root and group " + cfg_.allowed_group + ")");
  }
  if (!tcp_desc.empty()) described_ += (described_.empty() ? "" : ", ") + tcp_desc;
  if (described_.empty()) described_ = "no listener (api.socket and api.tcp.address are both empty)";
  return {};
}

void ApiServer::Impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) == sizeof(one))
      acceptor_.join();
    else
      acceptor_.detach();
  }
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + 1s);
  if (deny_server_) deny_server_->Shutdown(std::chrono::system_clock::now() + 200ms);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(cfg_.socket.c_str());
  }
  if (stop_fd_ >= 0) close(stop_fd_);
  listen_fd_ = stop_fd_ = -1;
}

grpc::Status ApiServer::Impl::StreamEvents(grpc::ServerContext* ctx, const v1::StreamEventsRequest* req,
                                           grpc::ServerWriter<v1::StreamEventsResponse>* writer) {
  EventFilter f;
  for (const auto& t : req->types()) {
    uint32_t type = sources::event_type_from_name(t);
    if (type == 0 || type >= f.types.size()) return invalid("unknown event type '" + t + "'");
    f.types.set(type);
  }
  f.pid = req->pid();
  f.tgid = req->tgid();
  f.container_prefix = req->container_id();
  if (!f.container_prefix.empty() &&
      (f.container_prefix.size() < 12 || f.container_prefix.find_first_not_of("0123456789abcdef") != std::string::npos))
    return invalid("container_id must be at least 12 lowercase hex digits, got '" + f.container_prefix + "'");
  f.policy = req->policy();
  f.min_level = static_cast<uint8_t>(req->min_level());

  auto sub = std::make_shared<Subscriber>(std::move(f), cfg_.stream_queue);
  struct Nothing {
    void Swap(Nothing*) {}
  } nothing;
  // Subscribed before the client hears back, so it sees every event after.
  if (auto s = on_loop<Nothing>(&nothing,
                                [this, sub](Nothing*) {
                                  hub_.subscribe(sub);
                                  return grpc::Status::OK;
                                });
      !s.ok())
    return s;
  writer->SendInitialMetadata();

  std::vector<QueuedEvent> batch;
  v1::StreamEventsResponse msg;
  uint64_t missed_total = 0;
  grpc::Status result = grpc::Status::OK;
  while (!ctx->IsCancelled()) {
    if (stopping_) {
      result = unavailable();
      break;
    }
    batch.clear();
    if (sub->pop(batch, 256) == 0) {
      std::this_thread::sleep_for(2ms);
      continue;
    }
    bool ok = true;
    for (auto& q : batch) {
      if (q.missed_before) {
        missed_total += q.missed_before;
        msg.Clear();
        msg.mutable_gap()->set_missed(q.missed_before);
        msg.mutable_gap()->set_missed_total(missed_total);
        if (!(ok = writer->Write(msg))) break;
      }
      msg.Clear();
      auto* e = msg.mutable_event();
      e->set_type(sources::event_type_name(q.type));
      e->set_boot_ns(q.boot_ns);
      e->set_pid(q.pid);
      e->set_tgid(q.tgid);
      e->set_ppid(q.ppid);
      e->set_uid(q.uid);
      e->set_comm(std::move(q.comm));
      e->set_exe(std::move(q.exe));
      e->set_container_id(std::move(q.container_id));
      e->set_json(std::move(q.json));
      if (!(ok = writer->Write(msg))) break;
    }
    if (!ok) break;  // the client went away
  }
  boost::asio::post(io_, [this, sub] { hub_.unsubscribe(sub.get()); });
  return result;
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiServer::~ApiServer() = default;

Result<std::unique_ptr<ApiServer>> ApiServer::start(const config::ApiConfig& cfg, boost::asio::io_context& io,
                                                    Backend& backend, EventHub& hub, Log log) {
  auto impl = std::make_unique<Impl>(cfg, io, backend, hub, std::move(log));
  if (auto r = impl->start(); !r) return tl::unexpected(r.error());
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

void ApiServer::stop() { impl_->stop(); }
std::string ApiServer::describe() const { return impl_->describe(); }
std::shared_ptr<grpc::Channel> ApiServer::in_process_channel() {
  return impl_->server()->InProcessChannel(grpc::ChannelArguments{});
}

}  // namespace rampart::api
