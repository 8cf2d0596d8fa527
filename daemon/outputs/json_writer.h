// A small streaming JSON writer that appends to a std::string. It is on the
// event path (one object per event), so it does no allocation of its own
// beyond the output buffer and escapes strings per RFC 8259, turning bytes
// that are not valid UTF-8 into U+FFFD so that every line stays valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace rampart::outputs {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  // Any integer type (the ABI's __u64 is unsigned long long, uint64_t is not).
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) JsonWriter& value(T v) {
    if constexpr (std::is_signed_v<T>)
      return signed_value(static_cast<int64_t>(v));
    else
      return unsigned_value(static_cast<uint64_t>(v));
  }
  JsonWriter& value(bool v);
  JsonWriter& null();

  template <typename T>
  JsonWriter& field(std::string_view k, T v) {
    key(k);
    return value(v);
  }

 private:
  JsonWriter& signed_value(int64_t v);
  JsonWriter& unsigned_value(uint64_t v);
  void separate();

  std::string& out_;
  bool need_comma_ = false;
};

// Appends s as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);

// s with every byte that does not start a valid UTF-8 sequence replaced by
// U+FFFD: for protobuf string fields, which must be UTF-8 (a policy error
// may quote bytes of the text it is about).
std::string valid_utf8(std::string_view s);

}  // namespace rampart::outputs
