/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy.bpf.h - the enforcement maps that rampartd writes and the programs
 * read: which policy governs a process, the compiled allow-lists, and the
 * per-process trust verdicts. A process's policy and verdict are inherited
 * at fork in the kernel (process.bpf.c), so a child can never run ahead of
 * rampartd unpoliced.
 */
#ifndef RAMPART_POLICY_BPF_H
#define RAMPART_POLICY_BPF_H

#include "common.bpf.h"

/* tgid -> policy id. Full: a new process is not assigned (counted as an error on fork). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} proc_policy_map SEC(".maps") __weak;

/* cgroup v2 id -> policy id, for selectors that name a cgroup or container. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} cgroup_policy_map SEC(".maps") __weak;

/* executable (dev, inode) -> policy id: exec assigns the policy in the kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rp_exe_key);
	__type(value, __u32);
} exe_policy_map SEC(".maps") __weak;

/* policy id -> rule; fixed size, never full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RP_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct rp_policy_rule);
} policy_map SEC(".maps") __weak;

/* (policy id, network) -> allowed ports. Full: rampartd refuses the policy at load. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rp_net4_key);
	__type(value, struct rp_port_set);
} net_allow4_map SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rp_net6_key);
	__type(value, struct rp_port_set);
} net_allow6_map SEC(".maps") __weak;

/* (policy id, network) -> denied ports, from deny rules; checked before the allow-lists. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rp_net4_key);
	__type(value, struct rp_port_set);
} net_deny4_map SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rp_net6_key);
	__type(value, struct rp_port_set);
} net_deny6_map SEC(".maps") __weak;

/* tgid -> trust verdict. Full: a new verdict cannot be set (rampartd reports it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct rp_verdict);
} verdict_map SEC(".maps") __weak;

/* Processes that exited under a verdict denying them the network (see
 * rp_proc_key). LRU: after this many such exits the oldest are forgotten,
 * and their sockets, if still open, pass again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rp_proc_key);
	__type(value, __u8);
} cut_exited_map SEC(".maps") __weak;

/* The policy governing the current process: its own entry, else its cgroup's. */
static __always_inline __u32 rp_current_policy(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 cgid;
	__u32 *id = bpf_map_lookup_elem(&proc_policy_map, &tgid);

	if (id)
		return *id;
	cgid = bpf_get_current_cgroup_id();
	id = bpf_map_lookup_elem(&cgroup_policy_map, &cgid);
	return id ? *id : 0;
}

/* Emits an enforce event with hdr.flags; addr may be NULL for non-network operations. */
static __always_inline void rp_report_enforce_flags(__u32 op, __u32 policy_id, __u8 mechanism, __u8 action, __u8 reason,
						    __u8 family, const __u8 *addr, __u16 port, __u32 flags)
{
	struct rp_enforce_event *ev = rp_reserve(RP_EV_ENFORCE, sizeof(*ev));

	if (!ev)
		return;
	ev->hdr.flags = flags;
	ev->op = op;
	ev->policy_id = policy_id;
	ev->mechanism = mechanism;
	ev->action = action;
	ev->reason = reason;
	ev->family = family;
	ev->port = port;
	ev->_pad0 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	ev->path[0] = 0;
	if (addr && family == 4)
		__builtin_memcpy(ev->addr, addr, 4);
	else if (addr && family == 6)
		__builtin_memcpy(ev->addr, addr, 16);
	rp_submit(ev);
}

static __always_inline void rp_report_enforce(__u32 op, __u32 policy_id, __u8 mechanism, __u8 action, __u8 reason,
					      __u8 family, const __u8 *addr, __u16 port)
{
	rp_report_enforce_flags(op, policy_id, mechanism, action, reason, family, addr, port, 0);
}

#endif /* RAMPART_POLICY_BPF_H */
