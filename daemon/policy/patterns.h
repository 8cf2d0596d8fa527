// The small value languages inside a policy file: path patterns, network
// rules ("10.0.0.0/8:5432"), listen ports ("8000-8100"), container ids and pod
// UIDs. Each parser checks one string and returns the value or a message that
// says what is wrong; the YAML layer adds the file:line:column.
#pragma once

#include <string>
#include <string_view>

#include "policy/policy.h"
#include "util/result.h"

namespace rampart::policy {

// "/etc/shadow" exact, "/var/log/" prefix, anything with '*', '?' or '[' a
// glob. Must be absolute; in a glob '**' must be a whole path component and
// every '[' needs its ']'.
Result<PathPattern> parse_path_pattern(std::string_view text);

// The characters before the first wildcard: the precedence tiebreaker
// between executable patterns (longer is more specific).
size_t literal_prefix_len(const PathPattern& p);

// "ADDR[/LEN][:PORTS]" for IPv4, "[ADDR[/LEN]][:PORTS]" or a bare
// "ADDR[/LEN]" for IPv6. No port means all ports; PORTS is N or N-M.
Result<NetRule> parse_net_rule(std::string_view text);

// "443" or "8000-8100"; ports are 1-65535.
Result<PortRange> parse_port_range(std::string_view text);

// 64 lowercase hex characters, as the runtime puts it in the cgroup path.
bool is_container_id(std::string_view s);
// A Kubernetes pod UID: a lowercase UUID (8-4-4-4-12) or, for static pods,
// 32 lowercase hex characters.
bool is_pod_uid(std::string_view s);

// A cgroup prefix without trailing '/' ("/" stays "/"); matches the path
// itself and everything below it, component-wise.
std::string normalize_cgroup_prefix(std::string_view prefix);
bool cgroup_prefix_matches(std::string_view prefix, std::string_view cgroup_path);

}  // namespace rampart::policy
