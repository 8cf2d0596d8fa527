// What the gRPC server asks of rampartd, in the generated types; the only
// implementation is api::Service (service.h), which answers from the
// engine's state and the daemon's Control in core types. Every method runs
// on the pipeline's loop thread (the server posts it there and waits for
// the answer), so the daemon's state is read and changed by that one thread
// only.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>

#include "api/peer.h"
#include "rampart/v1/rampart.pb.h"

namespace rampart::api {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual grpc::Status get_status(v1::GetStatusResponse* out) = 0;
  virtual grpc::Status get_verdict(uint32_t pid, v1::Verdict* out) = 0;
  virtual grpc::Status list_verdicts(v1::Level min_level, v1::ListVerdictsResponse* out) = 0;
  virtual grpc::Status quarantine(const v1::ProcessRequest& req, const Peer& peer, v1::ProcessActionResponse* out) = 0;
  virtual grpc::Status release(const v1::ProcessRequest& req, const Peer& peer, v1::ProcessActionResponse* out) = 0;
  virtual grpc::Status list_policies(v1::ListPoliciesResponse* out) = 0;
  virtual grpc::Status reload_policies(const v1::ReloadPoliciesRequest& req, const Peer& peer,
                                       v1::ReloadPoliciesResponse* out) = 0;
  virtual grpc::Status list_profiles(const std::string& name, v1::ListProfilesResponse* out) = 0;
  virtual grpc::Status get_profile(const std::string& name, v1::GetProfileResponse* out) = 0;
  virtual grpc::Status export_profile(const std::string& name, v1::ExportProfileResponse* out) = 0;
  virtual grpc::Status promote_profile(const v1::ProfileActionRequest& req, const Peer& peer,
                                       v1::ProfileActionResponse* out) = 0;
  virtual grpc::Status rollback_profile(const v1::ProfileActionRequest& req, const Peer& peer,
                                        v1::ProfileActionResponse* out) = 0;
  // A peer the access check refused (logged and audited by the daemon).
  virtual void peer_refused(const Peer& peer, const std::string& why) = 0;
};

}  // namespace rampart::api
