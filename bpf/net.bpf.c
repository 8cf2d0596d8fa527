// SPDX-License-Identifier: GPL-2.0-only
/*
 * net.bpf.c - IPv4/IPv6 socket operations.
 * Hooks (sys_exit tail calls): connect, accept, accept4, bind, listen.
 * Other families (unix, netlink, ...) are counted as filtered. Accepts that
 * fail with EAGAIN (every idle poll of a non-blocking server) are filtered too.
 * Addresses come from the caller's sockaddr when it passed one (connect,
 * bind), else from the socket itself.
 */
#include "syscall.bpf.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline struct sock *rp_fd_sock(int fd)
{
	struct file *f = rp_fd_file(bpf_get_current_task_btf(), fd);
	struct socket *sock;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & RP_S_IFMT) != RP_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* Fills family, type and both endpoints from the socket. Returns the family. */
static __always_inline __u16 rp_sock_endpoints(struct rp_net_event *ev, struct sock *sk)
{
	__u16 family;

	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->sock_type = BPF_CORE_READ(sk, sk_type);
	ev->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == RP_AF_INET) {
		BPF_CORE_READ_INTO(ev->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(ev->remote_addr, sk, __sk_common.skc_daddr);
	} else if (family == RP_AF_INET6) {
		BPF_CORE_READ_INTO(ev->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(ev->remote_addr, sk, __sk_common.skc_v6_daddr);
	}
	return family;
}

/* Reads a user sockaddr into addr/port. Returns its family, 0 when unreadable. */
static __always_inline __u16 rp_user_sockaddr(const void *uaddr, __u8 *addr, __u16 *port)
{
	struct sockaddr_in6 sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), uaddr) < 0)
		return 0;
	if (sa.sin6_family == RP_AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;

		*port = bpf_ntohs(in->sin_port);
		__builtin_memcpy(addr, &in->sin_addr, 4);
	} else if (sa.sin6_family == RP_AF_INET6) {
		if (bpf_probe_read_user(&sa, sizeof(sa), uaddr) < 0)
			return 0;
		*port = bpf_ntohs(sa.sin6_port);
		__builtin_memcpy(addr, &sa.sin6_addr, 16);
	}
	return sa.sin6_family;
}

enum rp_addr_from { RP_ADDR_SOCK, RP_ADDR_REMOTE, RP_ADDR_LOCAL };

static __always_inline int rp_emit_net(struct pt_regs *regs, long ret, __u32 type, int fd, int sock_fd,
				       const void *uaddr, enum rp_addr_from from, __u32 backlog)
{
	struct rp_net_event *ev;
	__u16 family, ufamily = 0;

	RP_SKIP_SELF(type);
	ev = rp_reserve(type, sizeof(*ev));
	if (!ev)
		return 0;
	ev->result = ret;
	ev->syscall_nr = (__u32)RP_SYSCALL_NR(regs);
	ev->fd = fd;
	ev->backlog = backlog;
	ev->_pad0 = 0;
	ev->sock_type = 0;
	ev->local_port = 0;
	ev->remote_port = 0;
	__builtin_memset(ev->local_addr, 0, sizeof(ev->local_addr));
	__builtin_memset(ev->remote_addr, 0, sizeof(ev->remote_addr));

	family = rp_sock_endpoints(ev, rp_fd_sock(sock_fd));
	if (from == RP_ADDR_REMOTE)
		ufamily = rp_user_sockaddr(uaddr, ev->remote_addr, &ev->remote_port);
	else if (from == RP_ADDR_LOCAL)
		ufamily = rp_user_sockaddr(uaddr, ev->local_addr, &ev->local_port);
	if (ufamily)
		family = ufamily;
	if (family != RP_AF_INET && family != RP_AF_INET6) {
		bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
		rp_count(type, RP_STAT_FILTERED);
		return 0;
	}
	ev->family = family;
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(connect)
{
	int fd = (int)RP_ARG0(regs);

	return rp_emit_net(regs, ret, RP_EV_CONNECT, fd, fd, (const void *)RP_ARG1(regs), RP_ADDR_REMOTE, 0);
}

RP_SYS_EXIT(bind)
{
	int fd = (int)RP_ARG0(regs);

	return rp_emit_net(regs, ret, RP_EV_BIND, fd, fd, (const void *)RP_ARG1(regs), RP_ADDR_LOCAL, 0);
}

RP_SYS_EXIT(listen)
{
	int fd = (int)RP_ARG0(regs);

	return rp_emit_net(regs, ret, RP_EV_LISTEN, fd, fd, 0, RP_ADDR_SOCK, (__u32)RP_ARG1(regs));
}

static __always_inline int rp_emit_accept(struct pt_regs *regs, long ret)
{
	int fd = (int)RP_ARG0(regs);

	if (ret == -RP_EAGAIN) {
		rp_count(RP_EV_ACCEPT, RP_STAT_FILTERED);
		return 0;
	}
	/* the accepted socket carries both endpoints; on failure use the listener */
	return rp_emit_net(regs, ret, RP_EV_ACCEPT, fd, ret >= 0 ? (int)ret : fd, 0, RP_ADDR_SOCK, 0);
}

RP_SYS_EXIT(accept)
{
	return rp_emit_accept(regs, ret);
}

RP_SYS_EXIT(accept4)
{
	return rp_emit_accept(regs, ret);
}
