// SPDX-License-Identifier: GPL-2.0-only
/*
 * file.bpf.c - file access and metadata changes.
 * Hooks (sys_exit tail calls): open, openat, openat2, creat, truncate, unlink, unlinkat,
 * rmdir, rename, renameat, renameat2, chmod, fchmod, fchmodat, fchmodat2,
 * chown, lchown, fchown, fchownat. And tp_btf/sys_enter: the flags of the
 * open in flight, by thread (open_flags_map).
 * Paths are read from the caller's arguments and made absolute in-kernel when
 * relative; fd-based calls (fchmod, fchown) resolve the fd's file.
 */
#include "policy.bpf.h"
#include "syscall.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define RP_O_WRONLY 01
#define RP_O_CREAT 0100
#define RP_O_TRUNC 01000
#define RP_AT_REMOVEDIR 0x200
#define RP_NO_ID 0xffffffffu

struct rp_file_args {
	__u32 type;
	int dirfd;
	const char *upath; /* NULL: take the path from fd */
	int fd;
	__u32 flags;
	__u32 mode;
	__u32 uid;
	__u32 gid;
};

static __always_inline int rp_emit_file(struct pt_regs *regs, long ret, struct rp_file_args *a)
{
	struct rp_file_event *ev;

	RP_SKIP_SELF(a->type);
	ev = rp_reserve(a->type, sizeof(*ev));
	if (!ev)
		return 0;
	ev->result = ret;
	ev->syscall_nr = (__u32)RP_SYSCALL_NR(regs);
	ev->flags = a->flags;
	ev->mode = a->mode;
	ev->uid = a->uid;
	ev->gid = a->gid;
	ev->dirfd = a->dirfd;
	ev->policy_id = 0;
	ev->_pad0 = 0;
	if (a->type == RP_EV_OPEN) {
		/* The policy as of this open: rampartd checks allow.files after the fact. */
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u32 *id = bpf_map_lookup_elem(&proc_policy_map, &tgid);

		ev->policy_id = id ? *id : 0;
	}
	if (a->upath)
		rp_read_user_path(ev->path, a->upath, a->dirfd, &ev->hdr.flags, RP_F_PATH_TRUNCATED,
				  RP_F_PATH_RESOLVED);
	else
		rp_file_path(ev->path, rp_fd_file(bpf_get_current_task_btf(), a->fd), &ev->hdr.flags,
			     RP_F_PATH_TRUNCATED);
	rp_submit(ev);
	return 0;
}

/*
 * Records the flags of the open the thread is entering, for the fanotify
 * guard, which is told the thread of a permission event and must tell a
 * read from a write. The flags of open, openat and creat are in registers,
 * which is what the syscall uses; openat2's are in the caller's memory,
 * which another thread can change after this read and before the kernel's
 * copy, so they are marked unknown (the guard then assumes read and write).
 * An exec opens its binary (and then its loader) as an exec: the call gets
 * an id of its own, which ties the loader's open to the exec that opened the
 * binary and not to an earlier, failed one. A non-leader's successful exec
 * leaves under the leader's tid; process.bpf.c clears its old entry.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(open_flags_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid;
	struct rp_open_flags of = {};
	__u32 tid;

	if (!rp_is_open_nr(id))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tid = (__u32)pid_tgid;
	of.tgid = pid_tgid >> 32;
	of.known = 1;
	if (id == RP_NR_OPENAT)
		of.flags = (__u32)RP_ARG2(regs);
	else if (id == RP_NR_OPEN)
		of.flags = (__u32)RP_ARG1(regs);
	else if (id == RP_NR_CREAT)
		of.flags = RP_O_CREAT | RP_O_WRONLY | RP_O_TRUNC;
	else if (id == RP_NR_OPENAT2)
		of.known = 0;
	else
		of.exec_id = bpf_ktime_get_ns();
	bpf_map_update_elem(&open_flags_map, &tid, &of, BPF_ANY);
	return 0;
}

RP_SYS_EXIT(open)
{
	struct rp_file_args a = {
	    RP_EV_OPEN, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1, (__u32)RP_ARG1(regs), (__u32)RP_ARG2(regs),
	    RP_NO_ID,	RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(creat)
{
	struct rp_file_args a = {RP_EV_OPEN,
				 RP_AT_FDCWD,
				 (const char *)RP_ARG0(regs),
				 -1,
				 RP_O_CREAT | RP_O_WRONLY | RP_O_TRUNC,
				 (__u32)RP_ARG1(regs),
				 RP_NO_ID,
				 RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(openat)
{
	struct rp_file_args a = {RP_EV_OPEN,
				 (int)RP_ARG0(regs),
				 (const char *)RP_ARG1(regs),
				 -1,
				 (__u32)RP_ARG2(regs),
				 (__u32)RP_ARG3(regs),
				 RP_NO_ID,
				 RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(openat2)
{
	struct open_how how = {};
	struct rp_file_args a = {RP_EV_OPEN, (int)RP_ARG0(regs), (const char *)RP_ARG1(regs), -1, 0, 0, RP_NO_ID,
				 RP_NO_ID};

	bpf_probe_read_user(&how, sizeof(how), (void *)RP_ARG2(regs));
	a.flags = (__u32)how.flags;
	a.mode = (__u32)how.mode;
	return rp_emit_file(regs, ret, &a);
}

/* truncate(2) opens nothing, and fanotify sees no open: it is reported as
 * an open for writing with O_TRUNC, which is what file rules judge it as. */
RP_SYS_EXIT(truncate)
{
	struct rp_file_args a = {RP_EV_OPEN, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1, RP_O_WRONLY | RP_O_TRUNC, 0,
				 RP_NO_ID,   RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(unlink)
{
	struct rp_file_args a = {RP_EV_UNLINK, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1, 0, 0, RP_NO_ID, RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(rmdir)
{
	struct rp_file_args a = {RP_EV_UNLINK, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1, RP_AT_REMOVEDIR, 0,
				 RP_NO_ID,     RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(unlinkat)
{
	struct rp_file_args a = {
	    RP_EV_UNLINK, (int)RP_ARG0(regs), (const char *)RP_ARG1(regs), -1, (__u32)RP_ARG2(regs), 0, RP_NO_ID,
	    RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(chmod)
{
	struct rp_file_args a = {RP_EV_CHMOD, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1, 0, (__u32)RP_ARG1(regs),
				 RP_NO_ID,    RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(fchmod)
{
	struct rp_file_args a = {RP_EV_CHMOD, RP_AT_FDCWD,	    0,	      (int)RP_ARG0(regs),
				 0,	      (__u32)RP_ARG1(regs), RP_NO_ID, RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(fchmodat)
{
	struct rp_file_args a = {
	    RP_EV_CHMOD, (int)RP_ARG0(regs), (const char *)RP_ARG1(regs), -1, 0, (__u32)RP_ARG2(regs), RP_NO_ID,
	    RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(fchmodat2)
{
	struct rp_file_args a = {RP_EV_CHMOD,
				 (int)RP_ARG0(regs),
				 (const char *)RP_ARG1(regs),
				 -1,
				 (__u32)RP_ARG3(regs),
				 (__u32)RP_ARG2(regs),
				 RP_NO_ID,
				 RP_NO_ID};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(chown)
{
	struct rp_file_args a = {RP_EV_CHOWN, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1,
				 0,	      0,	   (__u32)RP_ARG1(regs),	(__u32)RP_ARG2(regs)};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(lchown)
{
	struct rp_file_args a = {RP_EV_CHOWN, RP_AT_FDCWD, (const char *)RP_ARG0(regs), -1,
				 0,	      0,	   (__u32)RP_ARG1(regs),	(__u32)RP_ARG2(regs)};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(fchown)
{
	struct rp_file_args a = {RP_EV_CHOWN,	       RP_AT_FDCWD,	    0, (int)RP_ARG0(regs), 0, 0,
				 (__u32)RP_ARG1(regs), (__u32)RP_ARG2(regs)};
	return rp_emit_file(regs, ret, &a);
}

RP_SYS_EXIT(fchownat)
{
	struct rp_file_args a = {
	    RP_EV_CHOWN, (int)RP_ARG0(regs),   (const char *)RP_ARG1(regs), -1, (__u32)RP_ARG4(regs),
	    0,		 (__u32)RP_ARG2(regs), (__u32)RP_ARG3(regs)};
	return rp_emit_file(regs, ret, &a);
}

static __always_inline int rp_emit_rename(struct pt_regs *regs, long ret, int olddfd, const char *oldp, int newdfd,
					  const char *newp, __u32 flags)
{
	struct rp_rename_event *ev;

	RP_SKIP_SELF(RP_EV_RENAME);
	ev = rp_reserve(RP_EV_RENAME, sizeof(*ev));
	if (!ev)
		return 0;
	ev->result = ret;
	ev->syscall_nr = (__u32)RP_SYSCALL_NR(regs);
	ev->flags = flags;
	rp_read_user_path(ev->path, oldp, olddfd, &ev->hdr.flags, RP_F_PATH_TRUNCATED, RP_F_PATH_RESOLVED);
	rp_read_user_path(ev->path2, newp, newdfd, &ev->hdr.flags, RP_F_PATH2_TRUNCATED, RP_F_PATH2_RESOLVED);
	rp_submit(ev);
	return 0;
}

RP_SYS_EXIT(rename)
{
	return rp_emit_rename(regs, ret, RP_AT_FDCWD, (const char *)RP_ARG0(regs), RP_AT_FDCWD,
			      (const char *)RP_ARG1(regs), 0);
}

RP_SYS_EXIT(renameat)
{
	return rp_emit_rename(regs, ret, (int)RP_ARG0(regs), (const char *)RP_ARG1(regs), (int)RP_ARG2(regs),
			      (const char *)RP_ARG3(regs), 0);
}

RP_SYS_EXIT(renameat2)
{
	return rp_emit_rename(regs, ret, (int)RP_ARG0(regs), (const char *)RP_ARG1(regs), (int)RP_ARG2(regs),
			      (const char *)RP_ARG3(regs), (__u32)RP_ARG4(regs));
}
