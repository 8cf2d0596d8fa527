# bpf_object(NAME SOURCES a.bpf.c ... HEADERS h ... [SKELETON_NAME n])
#
# Compiles each BPF source with clang -target bpf against a vmlinux.h that is
# generated at build time from RAMPART_VMLINUX_BTF, links the objects into one
# with `bpftool gen object`, and generates a libbpf skeleton from it with
# `bpftool gen skeleton`. The skeleton embeds the object's bytes, so the
# programs ship inside the binary. Gives an INTERFACE target NAME whose
# include directory holds <NAME>.skel.h.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(RAMPART_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH
    "BTF file that vmlinux.h is generated from (default: the running kernel's)")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "Rampart BPF programs support x86_64 and arm64, not ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
set(BPF_VMLINUX_H ${BPF_GEN_DIR}/vmlinux.h)

add_custom_command(
  OUTPUT ${BPF_VMLINUX_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${BPF_GEN_DIR}
  COMMAND ${CMAKE_COMMAND} -DBPFTOOL=${BPFTOOL} -DBTF=${RAMPART_VMLINUX_BTF} -DOUT=${BPF_VMLINUX_H}
          -P ${CMAKE_CURRENT_LIST_DIR}/gen_vmlinux.cmake
  COMMENT "Generating vmlinux.h from ${RAMPART_VMLINUX_BTF}"
  VERBATIM)
# One target owns the header: every BPF object's target waits for it, so two
# of them never run the rule at once (they raced in a parallel build: one
# renamed the other's half-written file away).
add_custom_target(rampart_vmlinux_h DEPENDS ${BPF_VMLINUX_H})

function(bpf_object name)
  cmake_parse_arguments(BO "" "SKELETON_NAME" "SOURCES;HEADERS" ${ARGN})
  if(NOT BO_SKELETON_NAME)
    set(BO_SKELETON_NAME ${name})
  endif()
  set(objects)
  foreach(src ${BO_SOURCES})
    get_filename_component(base ${src} NAME_WE)
    set(obj ${BPF_GEN_DIR}/${base}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -O2 -g -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
              -Wall -Werror -I${BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf
              -c ${CMAKE_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_SOURCE_DIR}/${src} ${BO_HEADERS} ${BPF_VMLINUX_H}
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  set(linked ${BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${BPF_GEN_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${linked} ${skel}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${BO_SKELETON_NAME} > ${skel}
    DEPENDS ${objects}
    COMMENT "BPF link + skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_gen DEPENDS ${skel})
  add_dependencies(${name}_gen rampart_vmlinux_h)
  add_library(${name} INTERFACE)
  add_dependencies(${name} ${name}_gen)
  target_include_directories(${name} INTERFACE ${BPF_GEN_DIR} ${CMAKE_SOURCE_DIR}/bpf)
endfunction()
