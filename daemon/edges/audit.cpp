// The audit trail; see audit.h.
#include "edges/audit.h"

#include "ops/log.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart::edges {

void Audit::record(const std::string& action, uint32_t pid, const api::Peer& peer, const std::string& result,
                   const std::string& detail) {
  outputs::JsonWriter w(out_.buffer());
  out_.begin_record(w, boot_now_ns(), "audit");
  w.field("action", action);
  if (pid) w.field("pid", pid);
  w.field("result", result);
  if (!detail.empty()) w.field("detail", detail);
  w.key("peer").begin_object();
  w.field("transport", peer.transport);
  if (peer.has_creds) w.field("uid", peer.uid).field("gid", peer.gid).field("pid", peer.pid);
  if (!peer.address.empty()) w.field("address", peer.address);
  if (!peer.identity.empty()) w.field("identity", peer.identity);
  w.end_object();
  out_.end_record(w);
  ops::log_line("audit: " + action + (pid ? " pid " + std::to_string(pid) : std::string()) + " by " + peer.describe() +
                ": " + result + (detail.empty() ? "" : " (" + detail + ")"));
}

}  // namespace rampart::edges
