/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * common.bpf.h - maps and helpers shared by every Rampart BPF program: the
 * event ring buffer, the per-CPU stats map, the task identity every record
 * carries, and path reading/resolution. Maps are __weak so that each
 * *.bpf.c can include this header and `bpftool gen object` merges them into
 * one definition.
 */
#ifndef RAMPART_COMMON_BPF_H
#define RAMPART_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "shared/rp_abi.h"

#define RP_AT_FDCWD -100
#define RP_S_IFMT 00170000
#define RP_S_IFSOCK 0140000
#define RP_EAGAIN 11

/* Load-time knobs, set by rampartd through skel->rodata before load. */
const volatile __u32 rp_self_tgid __weak = 0;	      /* rampartd's own events are filtered */
const volatile __u64 rp_wakeup_bytes __weak = 262144; /* wake the consumer past this backlog */

/*
 * All events. Size set by rampartd before load (ringbuf.size_mb). When full,
 * bpf_ringbuf_reserve fails and the record is counted as dropped for its type.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events_map SEC(".maps") __weak;

/* Per-CPU counters by event type; fixed size, never full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RP_EV_MAX);
	__type(key, __u32);
	__type(value, struct rp_stats);
} stats_map SEC(".maps") __weak;

/*
 * Rate limits (0: off), as GCRA cells: an event passes while its bucket's
 * theoretical arrival time is at most `burst` ahead of now, and each passing
 * event moves it `interval` further. Set by rampartd from ratelimit.*.
 */
const volatile __u64 rp_rl_proc_interval_ns __weak = 0;
const volatile __u64 rp_rl_proc_burst_ns __weak = 0;
const volatile __u64 rp_rl_cgroup_interval_ns __weak = 0;
const volatile __u64 rp_rl_cgroup_burst_ns __weak = 0;

/* tgid -> theoretical arrival time. LRU: an evicted process starts with a full burst. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} rate_proc_map SEC(".maps") __weak;

/* cgroup v2 id -> theoretical arrival time. LRU, as above. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} rate_cgroup_map SEC(".maps") __weak;

/*
 * tgid -> the events it lost (ring buffer full, or rate-limited) since
 * rampartd last drained the entry; rampartd reads and deletes entries a few
 * times a second and names the processes in an "overload" alert. LRU: when
 * more processes lose events between two drains than it holds, the oldest
 * entries go; the per-type totals in stats_map still count every loss.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct rp_loss);
} loss_map SEC(".maps") __weak;

/* Scratch space for building paths backwards; one slot per CPU. */
#define RP_SCRATCH_HALF 1024
#define RP_SCRATCH_MASK (RP_SCRATCH_HALF - 1)
struct rp_scratch {
	char buf[RP_SCRATCH_HALF * 2];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_scratch);
} scratch_map SEC(".maps") __weak;

enum rp_stat_kind { RP_STAT_EMITTED, RP_STAT_FILTERED, RP_STAT_DROPPED, RP_STAT_ERRORS, RP_STAT_RATE_LIMITED };

static __always_inline void rp_count(__u32 type, enum rp_stat_kind kind)
{
	struct rp_stats *s = bpf_map_lookup_elem(&stats_map, &type);

	if (!s)
		return;
	switch (kind) {
	case RP_STAT_EMITTED:
		s->emitted++;
		break;
	case RP_STAT_FILTERED:
		s->filtered++;
		break;
	case RP_STAT_DROPPED:
		s->dropped++;
		break;
	case RP_STAT_ERRORS:
		s->errors++;
		break;
	case RP_STAT_RATE_LIMITED:
		s->rate_limited++;
		break;
	}
}

/* Template for a new loss_map entry (no stack: the handlers' frames are full). */
static const struct rp_loss rp_zero_loss;

/* Records, against the current process, an event of `type` that rampartd will not get. */
static __always_inline void rp_note_loss(__u32 type, enum rp_stat_kind kind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid = task->tgid;
	__u64 now = bpf_ktime_get_boot_ns();
	struct rp_loss *l;

	rp_count(type, kind);
	l = bpf_map_lookup_elem(&loss_map, &tgid);
	if (!l) {
		bpf_map_update_elem(&loss_map, &tgid, &rp_zero_loss, BPF_NOEXIST);
		l = bpf_map_lookup_elem(&loss_map, &tgid);
		if (!l)
			return;
	}
	if (kind == RP_STAT_DROPPED)
		__sync_fetch_and_add(&l->dropped, 1);
	else
		__sync_fetch_and_add(&l->rate_limited, 1);
	if (!l->first_ns)
		l->first_ns = now;
	l->last_ns = now;
	l->tgid = tgid;
	l->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	l->types |= 1u << (type & 31);
	__builtin_memcpy(l->comm, task->comm, sizeof(l->comm));
}

/* One GCRA step on a bucket: 1 if the event passes (and is charged), 0 if over the rate. */
static __always_inline int rp_gcra(__u64 *tat, __u64 now, __u64 interval, __u64 burst)
{
	__u64 t = *tat;

	if (t < now)
		t = now;
	if (t - now > burst)
		return 0;
	/* Not atomic: two CPUs racing on one bucket may let one extra event through. */
	*tat = t + interval;
	return 1;
}

static __always_inline int rp_bucket_passes(void *map, const void *key, __u64 now, __u64 interval, __u64 burst)
{
	__u64 *tat = bpf_map_lookup_elem(map, key);

	if (!tat) {
		__u64 first = now + interval;

		bpf_map_update_elem(map, key, &first, BPF_NOEXIST);
		return 1;
	}
	return rp_gcra(tat, now, interval, burst);
}

/* Whether an event of `type` from the current task is over its process's or cgroup's rate. */
static __always_inline int rp_over_rate(__u32 type)
{
	struct task_struct *task;
	__u64 now;

	if (!(RP_RATE_LIMITED_TYPES & (1u << (type & 31))))
		return 0;
	if (!rp_rl_proc_interval_ns && !rp_rl_cgroup_interval_ns)
		return 0;
	task = bpf_get_current_task_btf();
	now = bpf_ktime_get_boot_ns();
	if (rp_rl_proc_interval_ns) {
		__u32 tgid = task->tgid;

		if (!rp_bucket_passes(&rate_proc_map, &tgid, now, rp_rl_proc_interval_ns, rp_rl_proc_burst_ns))
			return 1;
	}
	if (rp_rl_cgroup_interval_ns) {
		__u64 cgid = task->cgroups->dfl_cgrp->kn->id;

		if (!rp_bucket_passes(&rate_cgroup_map, &cgid, now, rp_rl_cgroup_interval_ns, rp_rl_cgroup_burst_ns))
			return 1;
	}
	return 0;
}

static __always_inline int rp_is_self(void)
{
	return rp_self_tgid && bpf_get_current_task_btf()->tgid == rp_self_tgid;
}

/*
 * Direct loads through BTF pointers instead of helpers (BPF_CORE_READ,
 * bpf_get_current_comm, bpf_get_current_uid_gid, ...): in tp_btf programs
 * they compile to inline, fault-safe loads, while each helper call costs
 * 30-60 ns on the machines we measured, most of the cost of an event.
 */
static __always_inline void rp_fill_proc(struct rp_proc *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = task->cred;
	struct nsproxy *ns = task->nsproxy;

	p->pid = task->pid;
	p->tgid = task->tgid;
	p->ppid = task->real_parent->tgid;
	p->uid = cred->uid.val;
	p->gid = cred->gid.val;
	p->euid = cred->euid.val;
	p->egid = cred->egid.val;
	p->mntns = ns ? ns->mnt_ns->ns.inum : 0; /* NULL once the task is exiting */
	p->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	p->start_ns = task->group_leader->start_boottime;
	__builtin_memcpy(p->comm, task->comm, sizeof(p->comm));
}

/*
 * Reserves a record of `size` bytes and fills its header and the task
 * identity. An event over its rate, or one the full ring buffer has no room
 * for, is counted (per type, and against its process in loss_map) and NULL
 * returned.
 */
/*
 * events.exclude: a bit per RP_EV_* whose events are only emitted for a
 * process a policy governs. Its programs stay loaded, so what they enforce
 * goes on; the host's other processes pay for no record.
 */
const volatile __u32 rp_excluded_types __weak = 0;

/* policy.bpf.h, which every program includes. */
static __always_inline __u32 rp_current_policy(void);

static __always_inline void *rp_reserve(__u32 type, __u32 size)
{
	struct rp_event_hdr *hdr;

	if (type < 32 && (rp_excluded_types & (1u << type)) && !rp_current_policy()) {
		rp_count(type, RP_STAT_FILTERED);
		return NULL;
	}
	if (rp_over_rate(type)) {
		rp_note_loss(type, RP_STAT_RATE_LIMITED);
		return NULL;
	}
	hdr = bpf_ringbuf_reserve(&events_map, size, 0);
	if (!hdr) {
		rp_note_loss(type, RP_STAT_DROPPED);
		return NULL;
	}
	hdr->type = type;
	hdr->size = size;
	hdr->ts_ns = bpf_ktime_get_boot_ns();
	hdr->flags = 0;
	hdr->cpu = bpf_get_smp_processor_id();
	rp_fill_proc((struct rp_proc *)(hdr + 1));
	return hdr;
}

/*
 * Submits without waking the consumer, except for the one record that takes
 * the backlog across rp_wakeup_bytes: rampartd also drains on a short timer,
 * and a wake-up per record (irq_work, often an IPI) would cost more than the
 * rest of the event path together.
 */
static __always_inline void rp_submit(void *rec)
{
	struct rp_event_hdr *hdr = rec;
	__u32 type = hdr->type;
	__u64 avail = bpf_ringbuf_query(&events_map, BPF_RB_AVAIL_DATA);
	__u64 flags = BPF_RB_NO_WAKEUP;

	/* avail already counts this record (reserved): wake only on the crossing */
	if (avail >= rp_wakeup_bytes && avail < rp_wakeup_bytes + hdr->size + 8)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
	rp_count(type, RP_STAT_EMITTED);
}

static __always_inline struct file *rp_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file *f = NULL;

	if (fd < 0 || !fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	/* a variable index into the fd array needs a probe read */
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	return f;
}

#define RP_MAX_DEPTH 32

/*
 * Writes the absolute path of `dentry`/`vfsmnt` (as seen from the task's
 * root) into scratch, ending just before offset `end`, and returns its start
 * offset, or -1 if it does not fit. Components are prepended walking towards
 * the root, crossing mount points.
 */
static __noinline int rp_walk_path(struct rp_scratch *s, struct dentry *dentry, struct vfsmount *vfsmnt, int end)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dentry *root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	int off = end;

	for (int i = 0; i < RP_MAX_DEPTH; i++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct qstr name;

		if (dentry == root_dentry && vfsmnt == root_mnt)
			break;
		if (dentry == mnt_root || dentry == parent) {
			struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

			if (mp == mnt)
				break; /* the global root */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mp;
			vfsmnt = &mp->mnt;
			continue;
		}
		name = BPF_CORE_READ(dentry, d_name);
		off -= (int)(name.len & (RP_PATH_MAX - 1)) + 1;
		if (off < 0)
			return -1;
		s->buf[off & RP_SCRATCH_MASK] = '/';
		bpf_probe_read_kernel(&s->buf[(off + 1) & RP_SCRATCH_MASK], name.len & (RP_PATH_MAX - 1), name.name);
		dentry = parent;
	}
	if (off == end) { /* the root itself */
		off--;
		s->buf[off & RP_SCRATCH_MASK] = '/';
	}
	return off;
}

/* Copies the string at scratch[off] into dst (RP_PATH_MAX), flagging a cut. */
static __always_inline void rp_scratch_copy(char *dst, struct rp_scratch *s, int off, __u32 *flags, __u32 cut_flag)
{
	if (RP_SCRATCH_HALF - off > RP_PATH_MAX)
		*flags |= cut_flag;
	bpf_probe_read_kernel_str(dst, RP_PATH_MAX, &s->buf[off & RP_SCRATCH_MASK]);
}

/* Absolute path of an open file, into dst. Returns 0 on success. */
static __always_inline int rp_file_path(char *dst, struct file *f, __u32 *flags, __u32 cut_flag)
{
	__u32 zero = 0;
	struct rp_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	int off;

	dst[0] = 0;
	if (!s || !f)
		return -1;
	s->buf[(RP_SCRATCH_HALF - 1) & RP_SCRATCH_MASK] = 0;
	off = rp_walk_path(s, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), RP_SCRATCH_HALF - 1);
	if (off < 0) {
		*flags |= cut_flag;
		return -1;
	}
	rp_scratch_copy(dst, s, off, flags, cut_flag);
	return 0;
}

/*
 * Reads a user path argument into dst (RP_PATH_MAX). A relative path is made
 * absolute against the task's cwd or `dirfd`, so that policy can match it;
 * `resolved_flag` says so. Cuts are flagged with `cut_flag`.
 */
static __always_inline void rp_read_user_path(char *dst, const char *upath, int dirfd, __u32 *flags, __u32 cut_flag,
					      __u32 resolved_flag)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct rp_scratch *s;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	__u32 zero = 0;
	long len;
	int off;
	char c = 0;

	len = bpf_probe_read_user_str(dst, RP_PATH_MAX, upath);
	if (len <= 0) {
		dst[0] = 0;
		return;
	}
	if (len == RP_PATH_MAX) {
		bpf_probe_read_user(&c, 1, upath + RP_PATH_MAX - 1);
		if (c)
			*flags |= cut_flag;
	}
	if (dst[0] == '/')
		return;

	s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return;
	if (dirfd == RP_AT_FDCWD) {
		dentry = BPF_CORE_READ(task, fs, pwd.dentry);
		vfsmnt = BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		struct file *f = rp_fd_file(task, dirfd);

		if (!f)
			return;
		dentry = BPF_CORE_READ(f, f_path.dentry);
		vfsmnt = BPF_CORE_READ(f, f_path.mnt);
	}
	/* "/" + the relative path at the end of the first half, then the base before it. */
	off = RP_SCRATCH_HALF - 1 - (int)len;
	if (off < 0)
		return;
	s->buf[off & RP_SCRATCH_MASK] = '/';
	bpf_probe_read_kernel(&s->buf[(off + 1) & RP_SCRATCH_MASK], (__u32)len & (2 * RP_PATH_MAX - 1), dst);
	s->buf[(RP_SCRATCH_HALF - 1) & RP_SCRATCH_MASK] = 0;
	off = rp_walk_path(s, dentry, vfsmnt, off);
	if (off < 0)
		return; /* keep the relative form */
	/* a base of "/" plus "/rel" gives "//rel": skip the doubled slash */
	if (s->buf[off & RP_SCRATCH_MASK] == '/' && s->buf[(off + 1) & RP_SCRATCH_MASK] == '/')
		off++;
	rp_scratch_copy(dst, s, off, flags, cut_flag);
	*flags |= resolved_flag;
}

#endif /* RAMPART_COMMON_BPF_H */
