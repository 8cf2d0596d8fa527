// SPDX-License-Identifier: GPL-2.0-only
/*
 * netguard.bpf.c - in-kernel network enforcement.
 * Hooks: cgroup/connect4, cgroup/connect6, cgroup/sendmsg4, cgroup/sendmsg6,
 *        cgroup/bind4, cgroup/bind6 (attached to a cgroup v2 directory:
 *        the root in production, a scratch cgroup in tests).
 * Returning 0 makes the syscall fail with EPERM before anything happens.
 * Default allow: a process with no policy, or whose policy does not restrict
 * the operation, is never refused here.
 */
#include "policy.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define RP_ALLOW 1
#define RP_REFUSE 0

static __always_inline int rp_port_in(const struct rp_port_range *r, __u32 n, __u32 max, __u16 port)
{
	for (__u32 i = 0; i < max; i++) {
		if (i >= n)
			break;
		if (port >= r[i].lo && port <= r[i].hi)
			return 1;
	}
	return 0;
}

static __always_inline void rp_report(__u32 op, __u32 policy_id, __u8 action, __u8 reason, __u8 family,
				      const __u8 *addr, __u16 port)
{
	rp_report_enforce(op, policy_id, RP_MECH_CGROUP_SOCK, action, reason, family, addr, port);
}

/* Decides one operation. addr is in network byte order, port in host order. */
static __always_inline int rp_net_decide(__u32 op, __u8 family, const __u8 *addr, __u16 port)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct rp_verdict *v = bpf_map_lookup_elem(&verdict_map, &tgid);
	__u32 policy_id = rp_current_policy();
	struct rp_policy_rule *rule;
	struct rp_port_set *ports = NULL;
	int allowed;

	if (v && (v->flags & RP_V_DENY_NET)) {
		rp_report(op, policy_id, RP_ACT_DENIED, RP_REASON_VERDICT, family, addr, port);
		return RP_REFUSE;
	}
	if (!policy_id)
		return RP_ALLOW;
	rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (!rule)
		return RP_ALLOW;

	if (op != RP_EV_BIND && rule->has_net_deny) {
		struct rp_port_set *deny;

		if (family == 4) {
			struct rp_net4_key k = {.prefixlen = 32 + 32, .policy_id = policy_id};

			__builtin_memcpy(k.addr, addr, 4);
			deny = bpf_map_lookup_elem(&net_deny4_map, &k);
		} else {
			struct rp_net6_key k = {.prefixlen = 32 + 128, .policy_id = policy_id};

			__builtin_memcpy(k.addr, addr, 16);
			deny = bpf_map_lookup_elem(&net_deny6_map, &k);
		}
		if (deny && rp_port_in(deny->r, deny->n, RP_MAX_PORT_RANGES, port)) {
			/* alert rules, and every rule in audit mode, report and let it through */
			if (deny->action == RP_NET_ALERT || rule->mode != RP_MODE_ENFORCE) {
				rp_report(op, policy_id, RP_ACT_WOULD_DENY, RP_REASON_DENY_RULE, family, addr, port);
			} else {
				rp_report(op, policy_id, RP_ACT_DENIED, RP_REASON_DENY_RULE, family, addr, port);
				return RP_REFUSE;
			}
		}
	}

	if (op == RP_EV_BIND) {
		if (!rule->restrict_bind || port == 0) /* port 0: the kernel picks one; only listen() matters */
			return RP_ALLOW;
		allowed = rp_port_in(rule->listen, rule->n_listen, RP_MAX_LISTEN, port);
	} else {
		if (!rule->restrict_connect)
			return RP_ALLOW;
		if (family == 4) {
			struct rp_net4_key k = {.prefixlen = 32 + 32, .policy_id = policy_id};

			__builtin_memcpy(k.addr, addr, 4);
			ports = bpf_map_lookup_elem(&net_allow4_map, &k);
		} else {
			struct rp_net6_key k = {.prefixlen = 32 + 128, .policy_id = policy_id};

			__builtin_memcpy(k.addr, addr, 16);
			ports = bpf_map_lookup_elem(&net_allow6_map, &k);
		}
		allowed = ports && rp_port_in(ports->r, ports->n, RP_MAX_PORT_RANGES, port);
	}
	if (allowed)
		return RP_ALLOW;
	if (rule->mode != RP_MODE_ENFORCE) {
		rp_report(op, policy_id, RP_ACT_WOULD_DENY, RP_REASON_NOT_ALLOWED, family, addr, port);
		return RP_ALLOW;
	}
	rp_report(op, policy_id, RP_ACT_DENIED, RP_REASON_NOT_ALLOWED, family, addr, port);
	return RP_REFUSE;
}

static __always_inline int rp_v4(struct bpf_sock_addr *ctx, __u32 op)
{
	__u32 ip = ctx->user_ip4;

	return rp_net_decide(op, 4, (const __u8 *)&ip, bpf_ntohs((__u16)ctx->user_port));
}

static __always_inline int rp_v6(struct bpf_sock_addr *ctx, __u32 op)
{
	__u32 ip[4];

	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	return rp_net_decide(op, 6, (const __u8 *)ip, bpf_ntohs((__u16)ctx->user_port));
}

SEC("cgroup/connect4")
int netguard_connect4(struct bpf_sock_addr *ctx)
{
	return rp_v4(ctx, RP_EV_CONNECT);
}

SEC("cgroup/connect6")
int netguard_connect6(struct bpf_sock_addr *ctx)
{
	return rp_v6(ctx, RP_EV_CONNECT);
}

SEC("cgroup/sendmsg4")
int netguard_sendmsg4(struct bpf_sock_addr *ctx)
{
	return rp_v4(ctx, RP_EV_CONNECT);
}

SEC("cgroup/sendmsg6")
int netguard_sendmsg6(struct bpf_sock_addr *ctx)
{
	return rp_v6(ctx, RP_EV_CONNECT);
}

SEC("cgroup/bind4")
int netguard_bind4(struct bpf_sock_addr *ctx)
{
	return rp_v4(ctx, RP_EV_BIND);
}

SEC("cgroup/bind6")
int netguard_bind6(struct bpf_sock_addr *ctx)
{
	return rp_v6(ctx, RP_EV_BIND);
}
