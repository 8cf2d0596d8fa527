/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * syscall.bpf.h - the sys_exit dispatcher's contract. One program on
 * tp_btf/sys_exit tail-calls the handler registered for the syscall number
 * in sys_exit_progs_map; syscalls without a handler cost one failed tail
 * call. Handlers run at exit so they see both the arguments (still in
 * pt_regs) and the result.
 */
#ifndef RAMPART_SYSCALL_BPF_H
#define RAMPART_SYSCALL_BPF_H

#include "policy.bpf.h"

#define RP_SYSCALL_SLOTS 512

/* Handlers by syscall number, filled by rampartd. Empty slot: not traced. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, RP_SYSCALL_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sys_exit_progs_map SEC(".maps") __weak;

#if defined(__TARGET_ARCH_x86)
#define RP_SYSCALL_NR(r) ((r)->orig_ax)
#define RP_ARG0(r) ((r)->di)
#define RP_ARG1(r) ((r)->si)
#define RP_ARG2(r) ((r)->dx)
#define RP_ARG3(r) ((r)->r10)
#define RP_ARG4(r) ((r)->r8)
#define RP_ARG5(r) ((r)->r9)
#elif defined(__TARGET_ARCH_arm64)
/* x0 holds the return value at exit; the first argument survives in orig_x0. */
#define RP_SYSCALL_NR(r) ((r)->syscallno)
#define RP_ARG0(r) ((r)->orig_x0)
#define RP_ARG1(r) ((r)->regs[1])
#define RP_ARG2(r) ((r)->regs[2])
#define RP_ARG3(r) ((r)->regs[3])
#define RP_ARG4(r) ((r)->regs[4])
#define RP_ARG5(r) ((r)->regs[5])
#else
#error "Rampart's syscall handlers support x86_64 and arm64"
#endif

/* The open in flight, by thread (see rp_open_flags); set in file.bpf.c, cleared by the dispatcher. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct rp_open_flags);
} open_flags_map SEC(".maps") __weak;

/* The syscalls that open a file for the caller; an exec opens its binary to read it. */
#if defined(__TARGET_ARCH_x86)
#define RP_NR_OPEN 2
#define RP_NR_CREAT 85
#define RP_NR_OPENAT 257
#define RP_NR_OPENAT2 437
#define RP_NR_EXECVE 59
#define RP_NR_EXECVEAT 322
#else
#define RP_NR_OPEN -1000 /* arm64 has only openat and openat2 */
#define RP_NR_CREAT -1000
#define RP_NR_OPENAT 56
#define RP_NR_OPENAT2 437
#define RP_NR_EXECVE 221
#define RP_NR_EXECVEAT 281
#endif

static __always_inline int rp_is_open_nr(long nr)
{
	return nr == RP_NR_OPENAT || nr == RP_NR_OPEN || nr == RP_NR_OPENAT2 || nr == RP_NR_CREAT ||
	       nr == RP_NR_EXECVE || nr == RP_NR_EXECVEAT;
}

/* Declares a sys_exit handler; rampartd maps it to syscall NAME by its program name. */
#define RP_SYS_EXIT(name)                                                                                              \
	SEC("tp_btf/sys_exit")                                                                                         \
	int BPF_PROG(sys_exit_##name, struct pt_regs *regs, long ret)

/* Filters rampartd's own syscalls, counting them under `type`. */
#define RP_SKIP_SELF(type)                                                                                             \
	do {                                                                                                           \
		if (rp_is_self()) {                                                                                    \
			rp_count(type, RP_STAT_FILTERED);                                                              \
			return 0;                                                                                      \
		}                                                                                                      \
	} while (0)

#endif /* RAMPART_SYSCALL_BPF_H */
