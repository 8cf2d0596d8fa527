// SPDX-License-Identifier: GPL-2.0-only
/*
 * netguard.bpf.c - in-kernel network enforcement.
 * Hooks: cgroup/connect4, cgroup/connect6, cgroup/sendmsg4, cgroup/sendmsg6,
 *        cgroup/bind4, cgroup/bind6, cgroup/sock_create, cgroup_skb/egress,
 *        cgroup_skb/ingress (attached to a cgroup v2 directory: the root in
 *        production, a scratch cgroup in tests).
 * A sock_addr hook returning 0 makes the syscall fail with EPERM before
 * anything happens. Destinations are decided as what they are: an
 * IPv4-mapped IPv6 address as the IPv4 address, and an unspecified one
 * (0.0.0.0, ::), which the kernel sends to this host, also as the address
 * it reaches (127.0.0.1, the socket's bound IPv4 address, ::1); deny rules
 * take a loopback address also as the other family's loopback.
 * Quarantine also cuts sockets that already exist: every inet socket records
 * its owner (the process that created, connected, bound or last sent on it)
 * in socket storage, which accepted sockets inherit from their listener, and
 * the skb hooks drop each packet, in and out, of a socket whose owner's
 * verdict denies the network. A socket a quarantined process holds but did
 * not make (inherited, passed over SCM_RIGHTS, taken with pidfd_getfd) is
 * made its own by rampartd, from the process's fd table, when the verdict
 * lands and every 500 ms while it holds, and by the egress hook when the
 * process sends on it; a quarantined owner keeps its sockets while the
 * verdict holds, whoever else uses them. A socket with no
 * such verdict costs one storage lookup and one verdict lookup per packet.
 * Default allow: a process with no policy, or whose policy does not restrict
 * the operation, is never refused here.
 */
#include "policy.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define RP_ALLOW 1
#define RP_REFUSE 0

#define RP_AF_INET_SK 2
#define RP_AF_INET6_SK 10
#define RP_ETH_P_IP 0x0800
#define RP_ETH_P_IPV6 0x86DD
#define RP_IPPROTO_TCP 6
#define RP_IPPROTO_UDP 17

/* Set by rampartd before load: 1 when the kernel has socket storage in the
 * cgroup sock, sock_addr and skb programs (the skb hooks are loaded). */
const volatile __u32 rp_netcut = 0;

/* Set by rampartd before load: 1 when cgroup skb programs may ask for the
 * current task (bpf_get_current_pid_tgid there came after 6.1). Without it
 * the take at a quarantined task's first send is dead code, and only
 * rampartd's fd scan takes sockets the process did not create. */
const volatile __u32 rp_send_take = 0;

/* socket -> owner. Lives and dies with the socket; a socket accepted from a
 * listener gets a copy (BPF_F_CLONE). No entry (memory short, or a socket
 * older than rampartd): the socket is never cut, and the failure is counted. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct rp_sock_owner);
} sock_owner_map SEC(".maps");

/* Packets dropped because their socket's owner is quarantined: [0] out, [1] in. Fixed size. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} netcut_drops_map SEC(".maps");

/* A destination in up to three forms: [0] as given (an IPv4-mapped address
 * as IPv4), then for an unspecified address where the kernel really sends
 * it, then for a loopback address the other family's loopback, for deny
 * rules only. */
struct rp_form {
	__u32 flags;	/* RP_F_NET_* for an event about this form */
	__u8 family;	/* 4 or 6 */
	__u8 deny_only; /* 1: deny rules decide on this form, allow-lists do not */
	__u8 _pad[2];
	__u8 addr[16]; /* network order */
};
#define RP_FORMS 3
struct rp_dest {
	__u32 n;
	__u16 port; /* host order */
	__u16 _pad;
	struct rp_form f[RP_FORMS];
};

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

static __always_inline void rp_report(__u32 op, __u32 policy_id, __u8 action, __u8 reason, const struct rp_form *f,
				      __u16 port)
{
	rp_report_enforce_flags(op, policy_id, RP_MECH_CGROUP_SOCK, action, reason, f->family, f->addr, port, f->flags);
}

/* The policy's deny (deny != 0) or allow entry for one form of a destination. */
static __always_inline struct rp_port_set *rp_net_lookup(int deny, __u32 policy_id, const struct rp_form *f)
{
	if (f->family == 4) {
		struct rp_net4_key k = {.prefixlen = 32 + 32, .policy_id = policy_id};

		__builtin_memcpy(k.addr, f->addr, 4);
		if (deny)
			return bpf_map_lookup_elem(&net_deny4_map, &k);
		return bpf_map_lookup_elem(&net_allow4_map, &k);
	} else {
		struct rp_net6_key k = {.prefixlen = 32 + 128, .policy_id = policy_id};

		__builtin_memcpy(k.addr, f->addr, 16);
		if (deny)
			return bpf_map_lookup_elem(&net_deny6_map, &k);
		return bpf_map_lookup_elem(&net_allow6_map, &k);
	}
}

/*
 * Decides one operation. A deny rule matching any form refuses; an
 * allow-list entry for a form that is not deny-only allows (the unspecified
 * form reaches nothing but the next).
 */
static __always_inline int rp_net_decide(__u32 op, const struct rp_dest *d)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct rp_verdict *v = bpf_map_lookup_elem(&verdict_map, &tgid);
	__u32 policy_id = rp_current_policy();
	struct rp_policy_rule *rule;
	struct rp_port_set *ports;
	int allowed = 0;

	if (v && (v->flags & RP_V_DENY_NET)) {
		rp_report(op, policy_id, RP_ACT_DENIED, RP_REASON_VERDICT, &d->f[0], d->port);
		return RP_REFUSE;
	}
	if (!policy_id)
		return RP_ALLOW;
	rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (!rule)
		return RP_ALLOW;

	if (op != RP_EV_BIND && rule->has_net_deny) {
#pragma unroll
		for (int i = 0; i < RP_FORMS; i++) {
			struct rp_port_set *deny;

			if (i >= d->n)
				break;
			deny = rp_net_lookup(1, policy_id, &d->f[i]);
			if (!deny || !rp_port_in(deny->r, deny->n, RP_MAX_PORT_RANGES, d->port))
				continue;
			/* alert rules, and every rule in audit mode, report and let it through */
			if (deny->action == RP_NET_ALERT || rule->mode != RP_MODE_ENFORCE) {
				rp_report(op, policy_id, RP_ACT_WOULD_DENY, RP_REASON_DENY_RULE, &d->f[i], d->port);
				break;
			}
			rp_report(op, policy_id, RP_ACT_DENIED, RP_REASON_DENY_RULE, &d->f[i], d->port);
			return RP_REFUSE;
		}
	}

	if (op == RP_EV_BIND) {
		if (!rule->restrict_bind || d->port == 0) /* port 0: the kernel picks one; only listen() matters */
			return RP_ALLOW;
		allowed = rp_port_in(rule->listen, rule->n_listen, RP_MAX_LISTEN, d->port);
	} else {
		if (!rule->restrict_connect)
			return RP_ALLOW;
#pragma unroll
		for (int i = 0; i < RP_FORMS; i++) {
			if (i >= d->n)
				break;
			if (d->f[i].deny_only)
				continue;
			ports = rp_net_lookup(0, policy_id, &d->f[i]);
			if (ports && rp_port_in(ports->r, ports->n, RP_MAX_PORT_RANGES, d->port)) {
				allowed = 1;
				break;
			}
		}
	}
	if (allowed)
		return RP_ALLOW;
	if (rule->mode != RP_MODE_ENFORCE) {
		rp_report(op, policy_id, RP_ACT_WOULD_DENY, RP_REASON_NOT_ALLOWED, &d->f[0], d->port);
		return RP_ALLOW;
	}
	rp_report(op, policy_id, RP_ACT_DENIED, RP_REASON_NOT_ALLOWED, &d->f[0], d->port);
	return RP_REFUSE;
}

/* 1 if the process's verdict denies it the network (quarantine). */
static __always_inline int rp_net_denied(__u32 tgid)
{
	struct rp_verdict *v = bpf_map_lookup_elem(&verdict_map, &tgid);

	return v && (v->flags & RP_V_DENY_NET);
}

/*
 * Records the calling process as the socket's owner (rewritten only when it
 * changes). A socket whose owner is quarantined stays that owner's while the
 * verdict holds: another holder connecting or sending on it must not end the
 * cut.
 */
static __always_inline void rp_own(void *sk)
{
	struct rp_sock_owner *o;
	__u32 tgid;

	if (!rp_netcut)
		return;
	o = bpf_sk_storage_get(&sock_owner_map, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o) {
		rp_count(RP_EV_ENFORCE, RP_STAT_ERRORS);
		return;
	}
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (o->proc.tgid == tgid || (o->proc.tgid && rp_net_denied(o->proc.tgid)))
		return;
	rp_fill_proc(&o->proc);
	o->taken = 0;
	o->cut = 0;
}

static __always_inline void rp_set4(struct rp_form *f, __u32 ip, __u32 flags)
{
	f->family = 4;
	f->flags = flags;
	__builtin_memcpy(f->addr, &ip, 4);
}

/* An IPv4 destination (ip in network order); 0.0.0.0 also as where it goes. */
static __always_inline void rp_dest4(struct rp_dest *d, __u32 ip, __u32 flags, struct bpf_sock *sk)
{
	d->n = 1;
	rp_set4(&d->f[0], ip, flags);
	if (ip == 0) {
		/* the kernel sends to the socket's bound address, else to 127.0.0.1 */
		__u32 to = bpf_htonl(0x7f000001);

		if (sk->family == RP_AF_INET_SK && sk->src_ip4)
			to = sk->src_ip4;
		rp_set4(&d->f[1], to, flags | RP_F_NET_UNSPECIFIED);
		d->n = 2;
	}
}

/*
 * A loopback destination (127.0.0.1, ::1) is decided by deny rules also as
 * the other family's loopback: a service on loopback is reached through
 * both when it listens on a dual-stack socket, so a deny of 127.0.0.1:PORT
 * refuses [::1]:PORT and ::, and a deny of [::1]:PORT refuses 127.0.0.1 and
 * 0.0.0.0. Allow-lists are not widened.
 */
static __always_inline void rp_other_loopback(struct rp_dest *d)
{
	struct rp_form t = {};

#pragma unroll
	for (int i = 0; i < 2; i++) {
		__u32 a[4];

		if (i >= d->n)
			break;
		__builtin_memcpy(a, d->f[i].addr, 16);
		if (d->f[i].family == 4 && a[0] == bpf_htonl(0x7f000001)) {
			t.family = 6;
			t.addr[15] = 1;
		} else if (d->f[i].family == 6 && !(a[0] | a[1] | a[2]) && a[3] == bpf_htonl(1)) {
			t.family = 4;
			a[0] = bpf_htonl(0x7f000001);
			__builtin_memcpy(t.addr, a, 4);
		} else {
			continue;
		}
		t.flags = d->f[i].flags | RP_F_NET_LOOPBACK;
		t.deny_only = 1;
		if (d->n == 1)
			d->f[1] = t;
		else
			d->f[2] = t;
		d->n++;
		break;
	}
}

static __always_inline int rp_v4(struct bpf_sock_addr *ctx, __u32 op)
{
	struct rp_dest d = {};
	int verdict;

	d.port = bpf_ntohs((__u16)ctx->user_port);
	rp_dest4(&d, ctx->user_ip4, 0, ctx->sk);
	rp_other_loopback(&d);
	verdict = rp_net_decide(op, &d);
	if (verdict == RP_ALLOW)
		rp_own(ctx->sk);
	return verdict;
}

static __always_inline int rp_v6(struct bpf_sock_addr *ctx, __u32 op)
{
	struct rp_dest d = {};
	struct bpf_sock *sk = ctx->sk;
	__u32 ip[4];
	int verdict;

	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	d.port = bpf_ntohs((__u16)ctx->user_port);
	if (ip[0] == 0 && ip[1] == 0 && ip[2] == bpf_htonl(0xffff)) {
		/* ::ffff:a.b.c.d is IPv4 on the wire: the IPv4 rules decide */
		rp_dest4(&d, ip[3], RP_F_NET_MAPPED, sk);
	} else {
		d.n = 1;
		d.f[0].family = 6;
		__builtin_memcpy(d.f[0].addr, ip, 16);
		if (!(ip[0] | ip[1] | ip[2] | ip[3])) {
			/* :: goes to ::1, or to 127.0.0.1 from a socket bound to a mapped address */
			d.n = 2;
			if (sk->src_ip6[0] == 0 && sk->src_ip6[1] == 0 && sk->src_ip6[2] == bpf_htonl(0xffff)) {
				rp_set4(&d.f[1], bpf_htonl(0x7f000001), RP_F_NET_UNSPECIFIED | RP_F_NET_MAPPED);
			} else {
				d.f[1].family = 6;
				d.f[1].flags = RP_F_NET_UNSPECIFIED;
				__builtin_memcpy(d.f[1].addr, ip, 16);
				d.f[1].addr[15] = 1;
			}
		}
	}
	rp_other_loopback(&d);
	verdict = rp_net_decide(op, &d);
	if (verdict == RP_ALLOW)
		rp_own(sk);
	return verdict;
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

/* Every new inet socket gets its owner, so that a later quarantine can cut it. */
SEC("cgroup/sock_create")
int netguard_sock_create(struct bpf_sock *ctx)
{
	rp_own(ctx);
	return 1;
}

/* The far end of a packet (network order address, host order port) into ev. */
static __always_inline void rp_packet_peer(struct __sk_buff *skb, struct rp_enforce_event *ev, int egress)
{
	__u8 proto = 0;
	__u32 l4 = 0;
	__u16 ports[2] = {};

	if (skb->protocol == bpf_htons(RP_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) != 0)
			return;
		ev->family = 4;
		__builtin_memcpy(ev->addr, egress ? &ip.daddr : &ip.saddr, 4);
		proto = ip.protocol;
		l4 = (__u32)ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(RP_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) != 0)
			return;
		ev->family = 6;
		__builtin_memcpy(ev->addr, egress ? &ip6.daddr : &ip6.saddr, 16);
		proto = ip6.nexthdr;
		l4 = sizeof(ip6);
	}
	if ((proto == RP_IPPROTO_TCP || proto == RP_IPPROTO_UDP) && l4 <= 60 &&
	    bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) == 0)
		ev->port = bpf_ntohs(egress ? ports[1] : ports[0]);
}

/* One enforce event for the first packet cut in a direction, named after the socket's owner. */
static __always_inline void rp_report_cut(struct __sk_buff *skb, struct rp_sock_owner *o, __u32 dir)
{
	struct rp_enforce_event *ev = bpf_ringbuf_reserve(&events_map, sizeof(*ev), 0);
	__u32 tgid = o->proc.tgid;
	__u32 *policy_id;

	if (!ev) {
		rp_count(RP_EV_ENFORCE, RP_STAT_DROPPED);
		o->reported &= ~dir; /* the next packet tries again */
		return;
	}
	ev->hdr.type = RP_EV_ENFORCE;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ts_ns = bpf_ktime_get_boot_ns();
	ev->hdr.flags = o->taken ? RP_F_NET_TAKEN : 0;
	ev->hdr.cpu = bpf_get_smp_processor_id();
	/* not the current task: in softirq that is whoever was interrupted */
	__builtin_memcpy(&ev->proc, &o->proc, sizeof(ev->proc));
	policy_id = bpf_map_lookup_elem(&proc_policy_map, &tgid);
	ev->op = dir == RP_CUT_EGRESS ? RP_OP_SEND : RP_OP_RECEIVE;
	ev->policy_id = policy_id ? *policy_id : 0;
	ev->mechanism = RP_MECH_CGROUP_SKB;
	ev->action = RP_ACT_DENIED;
	ev->reason = RP_REASON_VERDICT;
	ev->family = 0;
	ev->port = 0;
	ev->_pad0 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	ev->path[0] = 0;
	rp_packet_peer(skb, ev, dir == RP_CUT_EGRESS);
	rp_submit(ev);
}

/*
 * 1 if an outgoing packet is sent by the current task, in process context:
 * a UDP socket's always are; a TCP socket's while its user holds the socket
 * lock, under which the kernel's softirq paths (timers, ACKs) never send.
 * Elsewhere the current task is whoever was interrupted.
 */
static __always_inline int rp_sent_by_current(struct bpf_sock *sk)
{
	struct tcp_sock *tp;

	if (sk->protocol == RP_IPPROTO_UDP)
		return 1;
	if (sk->protocol != RP_IPPROTO_TCP)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->inet_conn.icsk_inet.sk.sk_lock.owned;
}

/*
 * A quarantined process sending on a socket another process owns (one it
 * was passed or took since rampartd last looked): the socket becomes its
 * own, and is cut from this packet on, both ways.
 */
static __always_inline int rp_take_on_send(struct bpf_sock *sk, struct rp_sock_owner *o)
{
	__u32 tgid;

	if (!rp_send_take)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == o->proc.tgid || !rp_net_denied(tgid) || !rp_sent_by_current(sk))
		return 0;
	rp_fill_proc(&o->proc);
	o->taken = 1;
	o->reported = 0;
	return 1;
}

/*
 * 1 if the socket was cut and its owner has exited under that verdict: the
 * kernel still sends what the process wrote (retransmits, FIN). A socket
 * that was never cut pays nothing here; a released one is cut no more.
 */
static __always_inline int rp_owner_exited_cut(struct rp_sock_owner *o, struct rp_verdict *v)
{
	struct rp_proc_key k = {};

	if (!o->cut)
		return 0;
	k.tgid = o->proc.tgid;
	k.start_ns = o->proc.start_ns;
	if (!v && bpf_map_lookup_elem(&cut_exited_map, &k))
		return 1;
	o->cut = 0;
	return 0;
}

/* 1: the packet passes; 0: dropped, its socket's owner is quarantined. */
static __always_inline int rp_cut(struct __sk_buff *skb, __u32 dir)
{
	struct bpf_sock *sk = skb->sk;
	struct rp_sock_owner *o;
	struct rp_verdict *v;
	__u32 tgid, slot;
	__u64 *drops;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1; /* request and timewait sockets: their listener's SYN and ACK are cut */
	o = bpf_sk_storage_get(&sock_owner_map, sk, 0, 0);
	if (!o)
		return 1;
	tgid = o->proc.tgid;
	v = bpf_map_lookup_elem(&verdict_map, &tgid);
	if ((!v || !(v->flags & RP_V_DENY_NET)) && !(dir == RP_CUT_EGRESS && rp_take_on_send(sk, o)) &&
	    !rp_owner_exited_cut(o, v)) {
		if (o->reported) /* released: a new quarantine reports again */
			o->reported = 0;
		return 1;
	}
	if (!o->cut)
		o->cut = 1;
	slot = dir == RP_CUT_EGRESS ? 0 : 1;
	drops = bpf_map_lookup_elem(&netcut_drops_map, &slot);
	if (drops)
		*drops += 1;
	/* Not atomic: two CPUs may both report a socket's first drop. */
	if (!(o->reported & dir)) {
		o->reported |= dir;
		rp_report_cut(skb, o, dir);
	}
	return 0;
}

SEC("cgroup_skb/egress")
int netguard_egress(struct __sk_buff *skb)
{
	return rp_cut(skb, RP_CUT_EGRESS);
}

SEC("cgroup_skb/ingress")
int netguard_ingress(struct __sk_buff *skb)
{
	return rp_cut(skb, RP_CUT_INGRESS);
}
