// Policy → kernel maps; see compiler.h.
#include "enforce/compiler.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>

namespace rampart::enforce {
namespace {

struct NetEntry {
  uint8_t family;
  std::array<uint8_t, 16> addr;
  uint8_t prefix_len;
  std::vector<rp_port_range> ports;
  uint32_t action;               // RP_NET_* for deny rules, 0 for allow-lists
  const policy::NetRule* first;  // for error messages
};

// A network rule and what it does: allow-list entries have action 0.
struct NetItem {
  const policy::NetRule* rule;
  uint32_t action;
};

// Does network `outer` contain `inner` (same family, shorter or equal prefix)?
bool contains(const NetEntry& outer, const NetEntry& inner) {
  if (outer.family != inner.family || outer.prefix_len > inner.prefix_len) return false;
  for (int bit = 0; bit < outer.prefix_len; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((outer.addr[bit / 8] & mask) != (inner.addr[bit / 8] & mask)) return false;
  }
  return true;
}

// kill > deny > alert: where deny rules overlap, the strongest action wins.
int severity(uint32_t action) { return action == RP_NET_KILL ? 3 : action == RP_NET_DENY ? 2 : action ? 1 : 0; }

uint32_t net_action(policy::Action a) {
  switch (a) {
    case policy::Action::kKill:
      return RP_NET_KILL;
    case policy::Action::kAlert:
      return RP_NET_ALERT;
    default:
      return RP_NET_DENY;
  }
}

rp_port_set to_port_set(const std::vector<rp_port_range>& ranges) {
  rp_port_set s{};
  s.n = static_cast<uint32_t>(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) s.r[i] = ranges[i];
  return s;
}

Result<void> compile_network(const policy::Policy& p, uint32_t id, const std::vector<NetItem>& items, NetList list,
                             MapWriter& maps) {
  std::vector<NetEntry> entries;
  for (const auto& item : items) {
    const policy::NetRule* rule = item.rule;
    const uint32_t action = item.action;
    auto same = std::find_if(entries.begin(), entries.end(), [&](const NetEntry& e) {
      return e.family == rule->family && e.prefix_len == rule->prefix_len && e.addr == rule->addr;
    });
    if (same == entries.end())
      same = entries.insert(entries.end(), NetEntry{rule->family, rule->addr, rule->prefix_len, {}, action, rule});
    same->ports.push_back({rule->port_lo, rule->port_hi});
    if (severity(action) > severity(same->action)) same->action = action;
  }
  // The kernel's LPM lookup finds only the longest matching network, so each
  // network carries the ports (and the strongest action) of every wider
  // network that contains it.
  std::vector<std::vector<rp_port_range>> full(entries.size());
  std::vector<uint32_t> actions(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    actions[i] = entries[i].action;
    for (const auto& outer : entries) {
      if (!contains(outer, entries[i])) continue;
      full[i].insert(full[i].end(), outer.ports.begin(), outer.ports.end());
      if (severity(outer.action) > severity(actions[i])) actions[i] = outer.action;
    }
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    auto ranges = merge_ranges(full[i]);
    if (ranges.size() > RP_MAX_PORT_RANGES)
      return fail(entries[i].first->pos.str() + ": policy '" + p.name + "': more than " +
                  std::to_string(RP_MAX_PORT_RANGES) + " separate port ranges for one network");
    auto ports = to_port_set(ranges);
    ports.action = actions[i];
    const auto& e = entries[i];
    Result<void> r;
    if (e.family == 4) {
      uint8_t a[4];
      std::memcpy(a, e.addr.data(), 4);
      r = maps.add_net4(list, id, a, e.prefix_len, ports);
    } else {
      uint8_t a[16];
      std::memcpy(a, e.addr.data(), 16);
      r = maps.add_net6(list, id, a, e.prefix_len, ports);
    }
    if (!r) return fail(e.first->pos.str() + ": policy '" + p.name + "': " + r.error().what());
  }
  return {};
}

}  // namespace

std::optional<rp_exe_key> stat_exe(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  rp_exe_key k{};
  k.ino = st.st_ino;
  // The kernel's s_dev is MKDEV(major, minor) = major << 20 | minor.
  k.dev = (major(st.st_dev) << 20) | minor(st.st_dev);
  return k;
}

uint32_t Compiled::id_of(const std::string& name) const {
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? 0 : static_cast<uint32_t>(it - names.begin()) + 1;
}

std::vector<rp_port_range> merge_ranges(std::vector<rp_port_range> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const rp_port_range& a, const rp_port_range& b) {
    return a.lo < b.lo || (a.lo == b.lo && a.hi < b.hi);
  });
  std::vector<rp_port_range> out;
  for (const auto& r : ranges) {
    if (!out.empty() && static_cast<uint32_t>(r.lo) <= static_cast<uint32_t>(out.back().hi) + 1)
      out.back().hi = std::max(out.back().hi, r.hi);
    else
      out.push_back(r);
  }
  return out;
}

Result<Compiled> install(const policy::PolicySet& set, MapWriter& maps, const ExeResolver& resolve, bool path_rules) {
  Compiled c;
  const auto& policies = set.policies();
  if (policies.size() >= RP_MAX_POLICIES)
    return fail("too many policies: " + std::to_string(policies.size()) + " (at most " +
                std::to_string(RP_MAX_POLICIES - 1) + ")");
  for (size_t i = 0; i < policies.size(); ++i) {
    const policy::Policy& p = policies[i];
    const uint32_t id = static_cast<uint32_t>(i) + 1;
    c.names.push_back(p.name);

    rp_policy_rule rule{};
    rule.mode = p.mode == policy::Mode::kEnforce ? RP_MODE_ENFORCE : RP_MODE_AUDIT;  // learn denies nothing
    rule.restrict_connect = p.allow.has_connect;
    rule.restrict_bind = p.allow.has_listen;
    rule.deny_priv =
        static_cast<uint8_t>((p.allow.setuid ? 0 : RP_PRIV_SETUID) | (p.allow.capset ? 0 : RP_PRIV_CAPSET) |
                             (p.allow.ptrace ? 0 : RP_PRIV_PTRACE) | (p.allow.module_load ? 0 : RP_PRIV_MODULE) |
                             (p.allow.bpf ? 0 : RP_PRIV_BPF) | (p.allow.mount ? 0 : RP_PRIV_MOUNT) |
                             (p.allow.namespaces ? 0 : RP_PRIV_NS) | (p.allow.io_uring ? 0 : RP_PRIV_IO_URING));
    std::vector<NetItem> allow_net, deny_net;
    for (const auto& r : p.allow.connect) allow_net.push_back({&r, 0});
    for (const auto& d : p.deny)
      for (const auto& r : d.connect) deny_net.push_back({&r, net_action(d.action)});
    rule.has_net_deny = !deny_net.empty();
    // Without BPF LSM, exec is checked by fanotify, which cannot see every
    // exec: the ones it cannot see are killed in the kernel instead.
    // A copy of a binary a deny rule names is known by its size in the
    // kernel (the guard fills exec_deny_size_map); a "sha256:" rule's size is not.
    if (!path_rules) {
      if (p.allow.has_exec) rule.exec_guard |= RP_EXEC_FAIL_CLOSED;
      for (const auto& d : p.deny) {
        if (d.action == policy::Action::kAlert) continue;
        if (!d.exec.empty()) rule.exec_guard |= RP_EXEC_DENY_SIZES;
        if (!d.exec_sha256.empty()) rule.exec_guard |= RP_EXEC_DENY_UNSEEN;
      }
    }
    if (path_rules) {
      const GuardRule g = guard_rule(p);
      rule.path_flags = path_flags(g);
      if (rule.path_flags & RP_PATHS_ANY) c.paths.emplace_back(id, compile_path_rules(path_inputs(g), c.notes));
    }
    std::vector<rp_port_range> listen;
    for (const auto& l : p.allow.listen) listen.push_back({l.lo, l.hi});
    listen = merge_ranges(listen);
    if (listen.size() > RP_MAX_LISTEN)
      return fail(p.pos.str() + ": policy '" + p.name + "': more than " + std::to_string(RP_MAX_LISTEN) +
                  " separate listen port ranges");
    rule.n_listen = static_cast<uint8_t>(listen.size());
    for (size_t k = 0; k < listen.size(); ++k) rule.listen[k] = listen[k];
    if (auto r = maps.set_policy_rule(id, rule); !r)
      return fail(p.pos.str() + ": policy '" + p.name + "': " + r.error().what());
    if (auto r = compile_network(p, id, allow_net, NetList::kAllow, maps); !r) return tl::unexpected(r.error());
    if (auto r = compile_network(p, id, deny_net, NetList::kDeny, maps); !r) return tl::unexpected(r.error());

    for (const auto& exe : p.selector.executables) {
      if (exe.kind != policy::PathPattern::Kind::kExact) {
        c.notes.push_back(exe.pos.str() + ": policy '" + p.name + "': executable pattern '" + exe.text +
                          "' is matched in userspace at exec (a short window before the policy applies)");
        continue;
      }
      auto key = resolve(exe.text);
      if (!key) {
        c.notes.push_back(exe.pos.str() + ": policy '" + p.name + "': " + exe.text +
                          " does not exist now; matched by path in userspace if it appears");
        continue;
      }
      if (auto r = maps.assign_exe(*key, id); !r)
        return fail(exe.pos.str() + ": policy '" + p.name + "': " + r.error().what());
    }
  }
  return c;
}

}  // namespace rampart::enforce
