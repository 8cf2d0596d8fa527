# Writes vmlinux.h from a BTF file, with a clear error when the BTF is missing.
if(NOT EXISTS "${BTF}")
  message(FATAL_ERROR "BTF file ${BTF} not found: the kernel needs CONFIG_DEBUG_INFO_BTF=y, "
                      "or pass -DRAMPART_VMLINUX_BTF=/path/to/vmlinux to CMake")
endif()
execute_process(COMMAND ${BPFTOOL} btf dump file ${BTF} format c
                OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bpftool btf dump of ${BTF} failed (${rc})")
endif()
file(RENAME ${OUT}.tmp ${OUT})
