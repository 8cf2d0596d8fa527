// SPDX-License-Identifier: GPL-2.0-only
/*
 * priv.bpf.c - privilege changes and kernel tampering.
 * Hooks (sys_exit tail calls): setuid, setreuid, setresuid, setfsuid, setgid,
 * setregid, setresgid, setfsgid, capset, ptrace, process_vm_writev,
 * init_module, finit_module, bpf, mount, umount2, unshare, setns,
 * memfd_create, io_uring_setup; and tp_btf/io_uring_submit_req for each
 * io_uring operation.
 * ptrace is reduced to requests that take control or write to the tracee
 * (attach, seize, traceme, poke*, set*regs); the rest (peeks, continues, one
 * per traced syscall under strace) is counted as filtered.
 *
 * Enforcement: when the caller's enforce-mode policy forbids the operation
 * (rp_policy_rule.deny_priv: setuid/gid, capset, ptrace and process_vm_writev,
 * module loading, bpf(), mount/umount, unshare/setns), the caller is killed
 * with bpf_send_signal. This
 * runs at syscall exit, so the syscall itself has completed: the event says
 * so ("operation_completed": "possibly"). Audit mode reports would-deny.
 */
#include "policy.bpf.h"
#include "syscall.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define RP_NONE ((__u64)-1)
#define RP_IORING_SETUP_SQPOLL (1u << 1) /* uapi; not in BTF */
#define RP_SIGKILL 9

/* RP_PRIV_* that BPF LSM hooks refuse cleanly; set by rampartd once they passed their self-test. */
volatile __u32 rp_lsm_priv = 0;

/* Kills the caller if its policy forbids `priv`; returns 1 if it did. */
static __always_inline int rp_priv_enforce(__u32 op, __u8 priv)
{
	__u32 policy_id = rp_current_policy();
	struct rp_policy_rule *rule;

	if (!policy_id)
		return 0;
	rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (!rule || !(rule->deny_priv & priv) || (rp_lsm_priv & priv))
		return 0;
	if (rule->mode != RP_MODE_ENFORCE) {
		rp_report_enforce(op, policy_id, RP_MECH_SIGKILL, RP_ACT_WOULD_DENY, RP_REASON_NOT_ALLOWED, 0, 0, 0);
		return 0;
	}
	bpf_send_signal(RP_SIGKILL);
	rp_report_enforce(op, policy_id, RP_MECH_SIGKILL, RP_ACT_KILLED, RP_REASON_NOT_ALLOWED, 0, 0, 0);
	return 1;
}

static __always_inline struct rp_syscall_event *rp_sys_begin(struct pt_regs *regs, long ret, __u32 type)
{
	struct rp_syscall_event *ev;

	if (rp_is_self()) {
		rp_count(type, RP_STAT_FILTERED);
		return NULL;
	}
	ev = rp_reserve(type, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->result = ret;
	ev->syscall_nr = (__u32)RP_SYSCALL_NR(regs);
	ev->_pad0 = 0;
	ev->args[0] = ev->args[1] = ev->args[2] = ev->args[3] = RP_NONE;
	ev->aux[0] = 0;
	ev->str[0] = 0;
	return ev;
}

static __always_inline int rp_sys_ids(struct pt_regs *regs, long ret, __u32 type, __u64 r, __u64 e, __u64 s, __u64 fs)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(type, RP_PRIV_SETUID);
	ev = rp_sys_begin(regs, ret, type);

	if (!ev)
		return 0;
	ev->args[0] = r;
	ev->args[1] = e;
	ev->args[2] = s;
	ev->args[3] = fs;
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(setuid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETUID, (__u32)RP_ARG0(regs), RP_NONE, RP_NONE, RP_NONE);
}
RP_SYS_EXIT(setreuid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETUID, (__u32)RP_ARG0(regs), (__u32)RP_ARG1(regs), RP_NONE, RP_NONE);
}
RP_SYS_EXIT(setresuid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETUID, (__u32)RP_ARG0(regs), (__u32)RP_ARG1(regs), (__u32)RP_ARG2(regs),
			  RP_NONE);
}
RP_SYS_EXIT(setfsuid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETUID, RP_NONE, RP_NONE, RP_NONE, (__u32)RP_ARG0(regs));
}
RP_SYS_EXIT(setgid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETGID, (__u32)RP_ARG0(regs), RP_NONE, RP_NONE, RP_NONE);
}
RP_SYS_EXIT(setregid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETGID, (__u32)RP_ARG0(regs), (__u32)RP_ARG1(regs), RP_NONE, RP_NONE);
}
RP_SYS_EXIT(setresgid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETGID, (__u32)RP_ARG0(regs), (__u32)RP_ARG1(regs), (__u32)RP_ARG2(regs),
			  RP_NONE);
}
RP_SYS_EXIT(setfsgid)
{
	return rp_sys_ids(regs, ret, RP_EV_SETGID, RP_NONE, RP_NONE, RP_NONE, (__u32)RP_ARG0(regs));
}

RP_SYS_EXIT(capset)
{
	struct rp_syscall_event *ev;
	struct __user_cap_header_struct hdr = {};
	struct __user_cap_data_struct data[2] = {};

	rp_priv_enforce(RP_EV_CAPSET, RP_PRIV_CAPSET);
	ev = rp_sys_begin(regs, ret, RP_EV_CAPSET);
	if (!ev)
		return 0;
	bpf_probe_read_user(&hdr, sizeof(hdr), (void *)RP_ARG0(regs));
	bpf_probe_read_user(&data, sizeof(data), (void *)RP_ARG1(regs));
	ev->args[0] = (__u32)hdr.pid;
	ev->args[1] = data[0].effective | ((__u64)data[1].effective << 32);
	ev->args[2] = data[0].permitted | ((__u64)data[1].permitted << 32);
	ev->args[3] = data[0].inheritable | ((__u64)data[1].inheritable << 32);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(ptrace)
{
	__u64 req = RP_ARG0(regs);
	struct rp_syscall_event *ev;

	switch (req) {
	case 0:	     /* PTRACE_TRACEME */
	case 4:	     /* PTRACE_POKETEXT */
	case 5:	     /* PTRACE_POKEDATA */
	case 6:	     /* PTRACE_POKEUSER */
	case 13:     /* PTRACE_SETREGS */
	case 15:     /* PTRACE_SETFPREGS */
	case 16:     /* PTRACE_ATTACH */
	case 0x4205: /* PTRACE_SETREGSET */
	case 0x4206: /* PTRACE_SEIZE */
		break;
	default:
		rp_count(RP_EV_PTRACE, RP_STAT_FILTERED);
		return 0;
	}
	rp_priv_enforce(RP_EV_PTRACE, RP_PRIV_PTRACE);
	ev = rp_sys_begin(regs, ret, RP_EV_PTRACE);
	if (!ev)
		return 0;
	ev->args[0] = req;
	ev->args[1] = (__u32)RP_ARG1(regs);
	ev->args[2] = RP_ARG2(regs);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(process_vm_writev)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_PROCESS_VM_WRITEV, RP_PRIV_PTRACE);
	ev = rp_sys_begin(regs, ret, RP_EV_PROCESS_VM_WRITEV);
	if (!ev)
		return 0;
	ev->args[0] = (__u32)RP_ARG0(regs);
	ev->args[1] = RP_ARG4(regs); /* remote iovec count */
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(init_module)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_MODULE_LOAD, RP_PRIV_MODULE);
	ev = rp_sys_begin(regs, ret, RP_EV_MODULE_LOAD);
	if (!ev)
		return 0;
	ev->args[1] = RP_ARG1(regs);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(finit_module)
{
	struct rp_syscall_event *ev;
	int fd = (int)RP_ARG0(regs);

	rp_priv_enforce(RP_EV_MODULE_LOAD, RP_PRIV_MODULE);
	ev = rp_sys_begin(regs, ret, RP_EV_MODULE_LOAD);
	if (!ev)
		return 0;
	ev->args[0] = fd;
	ev->args[2] = RP_ARG2(regs);
	rp_file_path(ev->str, rp_fd_file(bpf_get_current_task_btf(), fd), &ev->hdr.flags, RP_F_PATH_TRUNCATED);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(bpf)
{
	struct rp_syscall_event *ev;
	__u32 cmd = (__u32)RP_ARG0(regs);
	__u32 kind = 0;

	if (!rp_is_self())
		rp_priv_enforce(RP_EV_BPF, RP_PRIV_BPF);
	/* Map element reads and writes (lookup, update, delete, next key, their
	 * batch forms) are the bulk of bpf() calls and tell no rule anything;
	 * reporting them would also make two rampartd instances trace each
	 * other's map lookups without end. */
	if ((cmd >= 1 && cmd <= 4) || cmd == 21 || (cmd >= 24 && cmd <= 27)) {
		rp_count(RP_EV_BPF, RP_STAT_FILTERED);
		return 0;
	}
	ev = rp_sys_begin(regs, ret, RP_EV_BPF);
	if (!ev)
		return 0;
	ev->args[0] = cmd;
	/* BPF_MAP_CREATE and BPF_PROG_LOAD: the attr starts with the map or program type */
	if ((cmd == 0 || cmd == 5) && bpf_probe_read_user(&kind, sizeof(kind), (void *)RP_ARG1(regs)) == 0)
		ev->args[1] = kind;
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(mount)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_MOUNT, RP_PRIV_MOUNT);
	ev = rp_sys_begin(regs, ret, RP_EV_MOUNT);
	if (!ev)
		return 0;
	ev->args[0] = RP_ARG3(regs);
	bpf_probe_read_user_str(ev->aux, sizeof(ev->aux), (void *)RP_ARG2(regs));
	rp_read_user_path(ev->str, (const char *)RP_ARG1(regs), RP_AT_FDCWD, &ev->hdr.flags, RP_F_PATH_TRUNCATED,
			  RP_F_PATH_RESOLVED);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(umount2)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_UMOUNT, RP_PRIV_MOUNT);
	ev = rp_sys_begin(regs, ret, RP_EV_UMOUNT);
	if (!ev)
		return 0;
	ev->args[0] = RP_ARG1(regs);
	rp_read_user_path(ev->str, (const char *)RP_ARG0(regs), RP_AT_FDCWD, &ev->hdr.flags, RP_F_PATH_TRUNCATED,
			  RP_F_PATH_RESOLVED);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(unshare)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_UNSHARE, RP_PRIV_NS);
	ev = rp_sys_begin(regs, ret, RP_EV_UNSHARE);
	if (!ev)
		return 0;
	ev->args[0] = RP_ARG0(regs);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(setns)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_SETNS, RP_PRIV_NS);
	ev = rp_sys_begin(regs, ret, RP_EV_SETNS);
	if (!ev)
		return 0;
	ev->args[0] = (__u32)RP_ARG0(regs);
	ev->args[1] = (__u32)RP_ARG1(regs);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(memfd_create)
{
	struct rp_syscall_event *ev = rp_sys_begin(regs, ret, RP_EV_MEMFD_CREATE);

	if (!ev)
		return 0;
	ev->args[0] = (__u32)RP_ARG1(regs);
	bpf_probe_read_user_str(ev->aux, sizeof(ev->aux), (void *)RP_ARG0(regs));
	rp_submit(ev);
	return 0;
}

/*
 * io_uring: the ring's setup, refused (by a kill before the ring fd reaches
 * the caller's code) where the policy says `ioUring: false`, and each
 * operation as it is submitted, so that what io_uring does on a process's
 * behalf (open, read, connect, send, ...) is seen like its syscalls.
 */
RP_SYS_EXIT(io_uring_setup)
{
	struct rp_syscall_event *ev;

	rp_priv_enforce(RP_EV_IO_URING, RP_PRIV_IO_URING);
	ev = rp_sys_begin(regs, ret, RP_EV_IO_URING);
	if (!ev)
		return 0;
	ev->args[0] = (__u32)RP_ARG0(regs);
	rp_submit(ev);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(io_uring_submit, struct io_kiocb *req)
{
	struct rp_syscall_event *ev;
	__u8 op;

	if (rp_is_self()) {
		rp_count(RP_EV_IO_URING, RP_STAT_FILTERED);
		return 0;
	}
	ev = rp_reserve(RP_EV_IO_URING, sizeof(*ev));
	if (!ev)
		return 0;
	op = BPF_CORE_READ(req, opcode);
	ev->result = 0;
	ev->syscall_nr = RP_IO_URING_SUBMIT;
	ev->_pad0 = 0;
	ev->args[0] = op;
	ev->args[1] = (__u32)BPF_CORE_READ(req, cqe.fd);
	ev->args[2] = BPF_CORE_READ(req, cqe.user_data);
	ev->args[3] = (BPF_CORE_READ(req, ctx, flags) & RP_IORING_SETUP_SQPOLL) != 0;
	ev->aux[0] = 0;
	ev->str[0] = 0;
	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2) {
		/* Prepared already: the name was copied in (getname) when the request was. */
		struct io_open *open = (struct io_open *)&req->cmd;
		const char *name = BPF_CORE_READ(open, filename, name);

		if (bpf_probe_read_kernel_str(ev->str, sizeof(ev->str), name) == sizeof(ev->str))
			ev->hdr.flags |= RP_F_PATH_TRUNCATED;
	} else if (op == IORING_OP_CONNECT) {
		struct io_connect *conn = (struct io_connect *)&req->cmd;
		void *addr = BPF_CORE_READ(conn, addr);

		/* The process's own sockaddr: read in its address space, at most aux's 32 bytes. */
		if (bpf_probe_read_user(ev->aux, 28, addr) != 0)
			ev->aux[0] = ev->aux[1] = 0;
	}
	rp_submit(ev);
	return 0;
}
