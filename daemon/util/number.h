// parse_number: the one way Rampart reads an integer from text (config
// values, policy fields, ports, pids, /proc fields, command-line arguments).
// The whole text must be the number, in range; no sign, space or suffix is
// skipped. The error names the value and the range, phrased to follow the
// name of what was parsed: "'spec.x' must be between 1 and 10, got 11".
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

#include "util/result.h"

namespace rampart {

// An integer of type T in [min, max], written in `base` (10, or 16 for
// /proc's hex fields, without "0x"). Errors:
//   "must be an integer (MIN-MAX), got 'TEXT'"  (empty, not digits, a sign or junk)
//   "must be between MIN and MAX, got TEXT"     (a number outside the range)
template <std::integral T>
Result<T> parse_number(std::string_view text, T min, T max, int base = 10) {
  auto not_integer = [&] {
    return fail("must be an integer (" + std::to_string(min) + "-" + std::to_string(max) + "), got '" +
                std::string(text) + "'");
  };
  auto out_of_range = [&] {
    return fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                std::string(text));
  };
  // from_chars would take a leading '-' for a signed T; a '+' it never takes.
  if (text.empty() || text.front() == '+') return not_integer();
  T value{};
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value, base);
  if (ec == std::errc::invalid_argument || p != end) return not_integer();  // "abc", "12abc"
  // Every digit was read but the value does not fit T: out of range, as is
  // one that fits T but not [min, max].
  if (ec == std::errc::result_out_of_range || value < min || value > max) return out_of_range();
  return value;
}

}  // namespace rampart
