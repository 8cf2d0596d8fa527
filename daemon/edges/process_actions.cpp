// Manual quarantine and release; see process_actions.h.
#include "edges/process_actions.h"

#include <algorithm>

#include "util/clock.h"

namespace rampart::edges {

Outcome ProcessActions::quarantine(uint32_t pid, const std::string& reason, const api::Peer& peer) {
  if (!engine_.enrich().known_process(pid)) {
    audit_.record("quarantine", pid, peer, "not_found", reason);
    return Outcome::error(Outcome::Code::kNotFound, no_process_message(pid));
  }
  auto& act = engine_.act();
  act.manual_quarantine().insert(pid);  // the operator's word holds, in force or pending
  const uint64_t taken_before = act.sockets_taken(), failed_before = act.sockets_take_failed();
  Outcome o;
  if (auto r = act.write_verdict(pid, engine::kQuarantineVerdict, "api quarantine"); !r) {
    // Not in force yet: said so, and retried until it lands (or Release).
    audit_.record("quarantine", pid, peer, "pending", r.error().what());
    o.pending = true;
    o.message = "NOT yet in force: the kernel refused the verdict (" + r.error().what() +
                "); rampartd retries until it lands (rampartctl status: kernel writes)";
    return o;
  }
  act.count_applied();
  audit_.record("quarantine", pid, peer, "ok", reason);
  o.message = !network_enforced_
                  ? "quarantine recorded, but network enforcement is off (enforcement.network): nothing is refused"
              : socket_cut_
                  ? "quarantined: its connect, sendmsg and bind (and its children's) now fail with EPERM, and "
                    "its existing sockets pass no more packets"
                  : "quarantined: its connect, sendmsg and bind (and its children's) now fail with EPERM";
  // Sockets it holds but another process made (inherited, passed): made its own, so cut too.
  if (uint64_t n = act.sockets_taken() - taken_before)
    o.message += "; " + std::to_string(n) + " socket(s) it holds but did not make are cut too";
  if (uint64_t n = act.sockets_take_failed() - failed_before)
    o.message += "; " + std::to_string(n) + " socket(s) it holds could NOT be cut (see the log; retried every " +
                 std::to_string(engine::kSocketScanMs) + " ms)";
  return o;
}

Outcome ProcessActions::release(uint32_t pid, const std::string& reason, const api::Peer& peer) {
  if (!engine_.enrich().known_process(pid)) {
    audit_.record("release", pid, peer, "not_found", reason);
    return Outcome::error(Outcome::Code::kNotFound, no_process_message(pid));
  }
  auto& act = engine_.act();
  auto& trust = engine_.score().trust();
  const bool was_manual = (act.manual_quarantine().erase(pid) + act.overload_quarantine().erase(pid)) > 0;
  const bool was_tracked = trust.tracked(pid);
  if (auto r = act.write_verdict(pid, rp_verdict{0, 0}, "api release"); !r) {
    audit_.record("release", pid, peer, "failed", r.error().what());
    return Outcome::error(Outcome::Code::kFailed,
                          "clearing the verdict for pid " + std::to_string(pid) + ": " + r.error().what());
  }
  trust.on_exit(pid);  // a release pardons: the score starts again at 100
  // Children forked while the verdict stood inherited it in the kernel. Each
  // goes back to what its own score says; distrust that was only inherited
  // is pardoned with the parent. A child quarantined by hand stays.
  const uint64_t now = boot_now_ns();
  uint32_t children = 0;
  for (uint32_t child : engine_.table().descendants(pid)) {
    if (act.quarantine_held(child)) continue;  // held on its own account (API or fail-closed)
    auto own = trust.verdict(child, now);
    if (own && std::all_of(own->evidence.begin(), own->evidence.end(),
                           [](const score::Evidence& e) { return e.rule_id == "rampart.inherited"; })) {
      trust.on_exit(child);
      own.reset();
    }
    const bool enforce = engine_.policies().governing(child).mode == policy::Mode::kEnforce;
    rp_verdict kv = own && enforce ? engine::kernel_verdict(own->level) : rp_verdict{0, 0};
    if (!act.write_verdict(child, kv, "api release of parent " + std::to_string(pid))) continue;  // reported, retried
    ++children;
  }
  audit_.record(
      "release", pid, peer, "ok",
      reason + (children ? (reason.empty() ? "" : "; ") + std::to_string(children) + " descendant(s) released" : ""));
  std::string msg = was_manual || was_tracked ? "released: verdict cleared and score reset to 100"
                                              : "nothing to release: the process had no verdict";
  if (children) msg += "; " + std::to_string(children) + " descendant(s) set back to their own verdicts";
  return Outcome{Outcome::Code::kOk, msg, false, {}};
}

}  // namespace rampart::edges
