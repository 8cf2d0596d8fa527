// The bypass tier's exec payload: its entry point's first instructions create
// the file named by argv[1] (openat(AT_FDCWD, argv[1], O_WRONLY|O_CREAT)),
// then it exits 0. Static, no libc and no loader, so nothing of the image
// runs before that: if the file does not appear, the image ran nothing.
#if defined(__x86_64__)
asm(R"(
  .globl _start
_start:
  mov 16(%rsp), %rsi
  mov $-100, %rdi
  mov $0x41, %edx
  mov $0644, %r10d
  mov $257, %eax
  syscall
  xor %edi, %edi
  mov $60, %eax
  syscall
)");
#elif defined(__aarch64__)
asm(R"(
  .globl _start
_start:
  ldr x1, [sp, #16]
  mov x0, #-100
  mov x2, #0x41
  mov x3, #0644
  mov x8, #56
  svc #0
  mov x0, #0
  mov x8, #93
  svc #0
)");
#else
#error "exec_payload.cpp: no entry point for this architecture"
#endif
