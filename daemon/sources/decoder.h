// The checked decoder: turns one raw ring-buffer record into a typed view.
// It checks the length, the type and the declared size against the ABI
// before any field is read, and bounds every variable-length field. The view
// points into the record (no copy): it is valid while the record is, which
// for the ring buffer means during the consume callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <tl/expected.hpp>

#include "shared/rp_abi.h"

namespace rampart::sources {

enum class DecodeError : uint8_t {
  kTooShort,      // shorter than a header
  kUnknownType,   // type not in this build's ABI
  kSizeMismatch,  // hdr.size is not the size of its type, or the buffer is shorter
  kBadField,      // a length or count field is out of its bounds
};
inline constexpr size_t kDecodeErrorCount = 4;
const char* decode_error_name(DecodeError e);

struct EventView {
  const rp_event_hdr* hdr = nullptr;

  uint32_t type() const { return hdr->type; }
  const rp_proc& proc() const { return *reinterpret_cast<const rp_proc*>(hdr + 1); }
  template <typename T>
  const T& as() const {
    return *reinterpret_cast<const T*>(hdr);
  }
};

tl::expected<EventView, DecodeError> decode(const void* data, size_t len);

// The record layout (struct) size for an event type, 0 if unknown.
size_t record_size(uint32_t type);
// "exec", "open", ... ; "unknown" for types outside the ABI.
const char* event_type_name(uint32_t type);
// Inverse of event_type_name; 0 when the name is not an event type.
uint32_t event_type_from_name(std::string_view name);

// A fixed-size char field as a string: up to the first NUL, never past the end.
template <size_t N>
std::string_view fixed_str(const char (&field)[N]) {
  return std::string_view(field, strnlen(field, N));
}

// Calls fn(std::string_view) for each argument of an exec record's argv
// (NUL-separated, args_len bytes; the decoder has bounded args_len).
template <typename Fn>
void for_each_arg(const rp_exec_event& e, Fn&& fn) {
  std::string_view rest(e.args, e.args_len);
  while (!rest.empty()) {
    auto nul = rest.find('\0');
    fn(rest.substr(0, nul));
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }
}

}  // namespace rampart::sources
