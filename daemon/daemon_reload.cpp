// Policy hot reload; see daemon.h.
#include "daemon.h"

namespace rampart {

uint32_t Daemon::policy_kernel_id(const std::string& name) const { return compiled_.id_of(name); }

grpc::Status Daemon::reload_policies(const v1::ReloadPoliciesRequest&, const api::Peer&,
                                     v1::ReloadPoliciesResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "reload: not yet");
}

}  // namespace rampart
