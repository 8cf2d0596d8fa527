// The gRPC API's answers (api::Backend), translated between the generated
// protobuf types and rampartd's own: reads come from the engine's state
// (verdicts, policies, profiles), actions go through the daemon's Control.
// This and server.cpp are the only places that know the generated types.
#pragma once

#include "api/backend.h"
#include "control.h"

namespace rampart::api {

class Service final : public Backend {
 public:
  explicit Service(Control& control) : control_(control) {}

  grpc::Status get_status(v1::GetStatusResponse* out) override;
  grpc::Status get_verdict(uint32_t pid, v1::Verdict* out) override;
  grpc::Status list_verdicts(v1::Level min_level, v1::ListVerdictsResponse* out) override;
  grpc::Status quarantine(const v1::ProcessRequest& req, const Peer& peer, v1::ProcessActionResponse* out) override;
  grpc::Status release(const v1::ProcessRequest& req, const Peer& peer, v1::ProcessActionResponse* out) override;
  grpc::Status list_policies(v1::ListPoliciesResponse* out) override;
  grpc::Status reload_policies(const v1::ReloadPoliciesRequest& req, const Peer& peer,
                               v1::ReloadPoliciesResponse* out) override;
  grpc::Status list_profiles(const std::string& name, v1::ListProfilesResponse* out) override;
  grpc::Status get_profile(const std::string& name, v1::GetProfileResponse* out) override;
  grpc::Status export_profile(const std::string& name, v1::ExportProfileResponse* out) override;
  grpc::Status promote_profile(const v1::ProfileActionRequest& req, const Peer& peer,
                               v1::ProfileActionResponse* out) override;
  grpc::Status rollback_profile(const v1::ProfileActionRequest& req, const Peer& peer,
                                v1::ProfileActionResponse* out) override;
  void peer_refused(const Peer& peer, const std::string& why) override { control_.peer_refused(peer, why); }

 private:
  void fill_profile_summary(const engine::Learner::State& st, v1::ProfileSummary* out) const;

  Control& control_;
};

// A reload's result as the API answers it.
void to_proto(const ReloadAnswer& a, v1::ReloadPoliciesResponse* out);

}  // namespace rampart::api
