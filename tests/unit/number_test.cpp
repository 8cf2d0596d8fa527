// parse_number: whole-string integers in a range, and error texts that name
// the value and the range.
#include "util/number.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

using rampart::parse_number;

namespace {

template <class T>
std::string error_of(std::string_view text, T min, T max, int base = 10) {
  auto r = parse_number<T>(text, min, max, base);
  return r ? std::string("(no error)") : r.error().what();
}

}  // namespace

TEST_CASE("parse_number reads a whole decimal integer within its range", "[unit]") {
  CHECK(parse_number<uint16_t>("80", 1, 65535).value() == 80);
  CHECK(parse_number<uint16_t>("65535", 1, 65535).value() == 65535);
  CHECK(parse_number<uint16_t>("1", 1, 65535).value() == 1);
  CHECK(parse_number<uint32_t>("4294967295", 0, UINT32_MAX).value() == UINT32_MAX);
  CHECK(parse_number<uint64_t>("18446744073709551615", 0, UINT64_MAX).value() == UINT64_MAX);
  CHECK(parse_number<int>("-5", -10, 10).value() == -5);
  CHECK(parse_number<uint32_t>("007", 0, 10).value() == 7);  // leading zeros are still the number
}

TEST_CASE("parse_number reads hex without a prefix when asked", "[unit]") {
  CHECK(parse_number<uint64_t>("241", 0, UINT64_MAX, 16).value() == 0x241);
  CHECK(parse_number<uint64_t>("7ffd5c1d", 0, UINT64_MAX, 16).value() == 0x7ffd5c1dULL);
  CHECK(error_of<uint64_t>("0x10", 0, UINT64_MAX, 16).find("must be an integer") != std::string::npos);
}

TEST_CASE("parse_number refuses text that is not only the number", "[unit]") {
  CHECK(error_of<uint16_t>("http", 1, 65535) == "must be an integer (1-65535), got 'http'");
  CHECK(error_of<uint16_t>("", 1, 65535) == "must be an integer (1-65535), got ''");
  CHECK(error_of<uint16_t>("80abc", 1, 65535) == "must be an integer (1-65535), got '80abc'");
  CHECK(error_of<uint16_t>(" 80", 1, 65535) == "must be an integer (1-65535), got ' 80'");
  CHECK(error_of<uint16_t>("80 ", 1, 65535) == "must be an integer (1-65535), got '80 '");
  CHECK(error_of<uint16_t>("+80", 1, 65535) == "must be an integer (1-65535), got '+80'");
  CHECK(error_of<uint32_t>("1.5", 0, 10) == "must be an integer (0-10), got '1.5'");
  // No sign for an unsigned type: -5 is not silently wrapped to a large value.
  CHECK(error_of<uint32_t>("-5", 0, UINT32_MAX) == "must be an integer (0-4294967295), got '-5'");
  // Digits past what the type holds, then junk: still not a number.
  CHECK(error_of<uint16_t>("99999999999abc", 1, 65535).find("must be an integer") != std::string::npos);
}

TEST_CASE("parse_number names the value and the range when it is out of range", "[unit]") {
  CHECK(error_of<uint16_t>("0", 1, 65535) == "must be between 1 and 65535, got 0");
  CHECK(error_of<uint32_t>("70000", 1, 65535) == "must be between 1 and 65535, got 70000");
  // Too large for the type itself, not only for the range.
  CHECK(error_of<uint16_t>("70000", 1, 65535) == "must be between 1 and 65535, got 70000");
  CHECK(error_of<uint32_t>("99999999999999999999", 0, 100) == "must be between 0 and 100, got 99999999999999999999");
  CHECK(error_of<int>("-11", -10, 10) == "must be between -10 and 10, got -11");
  CHECK(error_of<int64_t>("-99999999999999999999", -1, 1).find("must be between -1 and 1") != std::string::npos);
}
