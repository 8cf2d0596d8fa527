// Enforce events → rule hits; see violations.h.
#include "score/violations.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "sources/decoder.h"

namespace rampart::score {
namespace {

const Rule kNotAllowed{"rampart.policy.not_allowed", "T1562", 10,
                       "an operation missing from the governing policy's allow-lists"};

std::string target(const rp_enforce_event& e) {
  if (e.family == 4 || e.family == 6) {
    char addr[INET6_ADDRSTRLEN] = "?";
    inet_ntop(e.family == 4 ? AF_INET : AF_INET6, e.addr, addr, sizeof(addr));
    return e.family == 6 ? "[" + std::string(addr) + "]:" + std::to_string(e.port)
                         : std::string(addr) + ":" + std::to_string(e.port);
  }
  return std::string(sources::fixed_str(e.path));
}

bool matches(const policy::DenyRule& d, const rp_enforce_event& e) {
  const std::string_view path = sources::fixed_str(e.path);
  auto any = [&](const std::vector<policy::PathPattern>& list) {
    for (const auto& p : list)
      if (p.matches(path)) return true;
    return false;
  };
  switch (e.op) {
    case RP_EV_CONNECT:
      for (const auto& n : d.connect)
        if (n.matches(e.family, e.addr, e.port)) return true;
      return false;
    case RP_EV_EXEC:
      // A copy of a binary named by contents is reported as its hash.
      for (const auto& h : d.exec_sha256)
        if (path == h.text()) return true;
      return any(d.exec);
    case RP_EV_OPEN:
      return any(d.file_read) || any(d.file_write);
    default:
      return false;
  }
}

}  // namespace

const Rule& not_allowed_rule() { return kNotAllowed; }

Violations::Violations(const policy::PolicySet& set) : set_(&set) {
  for (const auto& p : set.policies()) {
    auto& rules = deny_.emplace_back();
    for (const auto& d : p.deny)
      rules.push_back(Rule{d.id, "", d.weight, d.description.empty() ? std::string_view(d.id) : d.description});
  }
}

std::optional<Violations::Match> Violations::match(const rp_enforce_event& e) const {
  if (!set_ || e.policy_id == 0 || e.policy_id > deny_.size()) return std::nullopt;
  const std::string what = sources::event_type_name(e.op) + std::string(" ") + target(e);
  if (e.reason == RP_REASON_NOT_ALLOWED) return Match{&kNotAllowed, nullptr, what + " is not on the allow-list"};
  if (e.reason != RP_REASON_DENY_RULE) return std::nullopt;
  const auto& policy = set_->policies()[e.policy_id - 1];
  for (size_t i = 0; i < policy.deny.size(); ++i)
    if (matches(policy.deny[i], e))
      return Match{&deny_[e.policy_id - 1][i], &policy.deny[i],
                   what + " matches deny rule '" + policy.deny[i].id + "'"};
  return std::nullopt;
}

}  // namespace rampart::score
