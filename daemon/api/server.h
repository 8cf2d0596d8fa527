// The gRPC control API server (service rampart.v1.Rampart).
//
// Unix socket and SO_PEERCRED: gRPC's C++ API does not show a call's peer
// credentials, and its own Unix listener accepts everyone. So rampartd
// accepts on the socket itself, on a thread of its own: for each connection
// it reads the peer's uid, gid and pid (SO_PEERCRED) and supplementary groups
// (SO_PEERGROUPS), decides, and only then hands the connected fd to gRPC
// (grpc::AddInsecureChannelFromFd). An allowed peer's fd goes to the real
// server; a refused peer's fd goes to a second server whose only service
// answers every method, reflection included, with PERMISSION_DENIED, so the
// client is told why instead of seeing a dropped connection. Refusals are
// logged and audited. The socket file is mode 0600 (0660 with the allowed
// group), but the credential check does not rely on that.
//
// TCP: optional, with mTLS (the client must present a certificate the
// configured CA signed); plain TCP only when the config says insecure.
//
// Threads: handlers run on gRPC's threads and hand every piece of work to
// the pipeline's io_context (boost::asio::post) and wait for the result, so
// the daemon's state has one owner and the event path takes no lock.
#pragma once

#include <grpcpp/channel.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "api/backend.h"
#include "api/event_hub.h"
#include "config/config.h"
#include "policy/policy.h"
#include "util/result.h"

namespace rampart::api {

class ApiServer {
 public:
  using Log = std::function<void(const std::string&)>;  // must be thread-safe
  static Result<std::unique_ptr<ApiServer>> start(const config::ApiConfig& cfg, boost::asio::io_context& io,
                                                  Backend& backend, EventHub& hub, Log log);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Stops accepting, ends streams and in-flight calls (UNAVAILABLE), removes
  // the socket. Call from the main thread once the io_context has stopped.
  void stop();
  // "unix:/run/rampart/rampart.sock (root), tcp 127.0.0.1:50051 (mTLS)"
  std::string describe() const;
  // A channel into the server without a socket (no peer check): for the
  // fuzz target that feeds the handlers requests.
  std::shared_ptr<grpc::Channel> in_process_channel();

  class Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The policy loader's diagnostics as the API's structured errors (made valid UTF-8).
void to_proto(const std::vector<policy::Diagnostic>& diagnostics,
              google::protobuf::RepeatedPtrField<v1::PolicyError>* out);

}  // namespace rampart::api
