// Unit tests for the checked decoder (daemon/sources/decoder.h): every valid
// record type decodes to a view of the same bytes, and every malformed input
// (short, null, unknown type, wrong declared size, truncated buffer, argv
// length out of bounds) is rejected with its own error before any field is
// read. Records are built in 8-byte-aligned buffers, as the ring buffer hands
// them out.
#include "sources/decoder.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <iterator>
#include <set>
#include <string>
#include <vector>

using rampart::sources::decode;
using rampart::sources::decode_error_name;
using rampart::sources::DecodeError;
using rampart::sources::event_type_from_name;
using rampart::sources::event_type_name;
using rampart::sources::EventView;
using rampart::sources::fixed_str;
using rampart::sources::kDecodeErrorCount;
using rampart::sources::record_size;

namespace {

// Zeroed, 8-byte-aligned bytes with a header at the front.
class Buffer {
 public:
  explicit Buffer(size_t bytes) : words_((bytes + 7) / 8 + 1) {}
  void* data() { return words_.data(); }
  rp_event_hdr& hdr() { return *reinterpret_cast<rp_event_hdr*>(words_.data()); }
  rp_proc& proc() { return *reinterpret_cast<rp_proc*>(&hdr() + 1); }

 private:
  std::vector<uint64_t> words_;
};

// A record of `type` whose header declares `declared` bytes, in a buffer with
// room for at least `room` bytes.
Buffer record(uint32_t type, uint32_t declared, size_t room) {
  Buffer b(std::max<size_t>(room, declared));
  b.hdr().type = type;
  b.hdr().size = declared;
  b.hdr().ts_ns = 123456789;
  b.hdr().cpu = 3;
  return b;
}

DecodeError error_of(const void* data, size_t len) {
  auto r = decode(data, len);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

// A typed record, decoded from its own storage; checks the view reads it.
template <typename T>
void check_typed(uint32_t type) {
  T rec{};
  rec.hdr.type = type;
  rec.hdr.size = sizeof(T);
  rec.proc.tgid = 4242;
  auto r = decode(&rec, sizeof(rec));
  INFO("type " << event_type_name(type));
  REQUIRE(r.has_value());
  CHECK(r->hdr == &rec.hdr);
  CHECK(r->type() == type);
  CHECK(&r->template as<T>() == &rec);
  CHECK(r->proc().tgid == 4242u);
}

}  // namespace

TEST_CASE("decode accepts a well-formed record of every type", "[unit]") {
  for (uint32_t type = 1; type < RP_EV_MAX; ++type) {
    INFO("type " << type << " (" << event_type_name(type) << ")");
    const auto size = static_cast<uint32_t>(record_size(type));
    REQUIRE(size >= sizeof(rp_event_hdr) + sizeof(rp_proc));
    Buffer b = record(type, size, size);
    b.proc().pid = 7;
    b.proc().tgid = 8;
    std::memcpy(b.proc().comm, "worker", 7);

    auto r = decode(b.data(), size);
    REQUIRE(r.has_value());
    CHECK(r->hdr == b.data());  // a view, not a copy
    CHECK(r->type() == type);
    CHECK(r->hdr->size == size);
    CHECK(r->hdr->ts_ns == 123456789u);
    CHECK(r->hdr->cpu == 3u);
    CHECK(r->proc().pid == 7u);
    CHECK(r->proc().tgid == 8u);
    CHECK(fixed_str(r->proc().comm) == "worker");

    // Bytes past the declared record (ring-buffer padding) are not read.
    CHECK(decode(b.data(), size + 8).has_value());
  }
}

TEST_CASE("decode views each record as its ABI struct", "[unit]") {
  check_typed<rp_exec_event>(RP_EV_EXEC);
  check_typed<rp_fork_event>(RP_EV_FORK);
  check_typed<rp_exit_event>(RP_EV_EXIT);
  for (uint32_t t : {RP_EV_OPEN, RP_EV_UNLINK, RP_EV_CHMOD, RP_EV_CHOWN}) check_typed<rp_file_event>(t);
  check_typed<rp_rename_event>(RP_EV_RENAME);
  for (uint32_t t : {RP_EV_CONNECT, RP_EV_ACCEPT, RP_EV_BIND, RP_EV_LISTEN}) check_typed<rp_net_event>(t);
  for (uint32_t t = RP_EV_SETUID; t <= RP_EV_MEMFD_CREATE; ++t) check_typed<rp_syscall_event>(t);

  rp_exec_event e{};
  e.hdr.type = RP_EV_EXEC;
  e.hdr.size = sizeof(e);
  e.argc = 2;
  e.args_len = 5;
  std::memcpy(e.args, "ls\0-l", 5);
  auto r = decode(&e, sizeof(e));
  REQUIRE(r.has_value());
  CHECK(r->as<rp_exec_event>().argc == 2u);
  CHECK(std::string(r->as<rp_exec_event>().args, r->as<rp_exec_event>().args_len) == std::string("ls\0-l", 5));
}

TEST_CASE("decode rejects input shorter than a header", "[unit]") {
  Buffer b = record(RP_EV_EXEC, sizeof(rp_exec_event), sizeof(rp_exec_event));
  CHECK(error_of(b.data(), 0) == DecodeError::kTooShort);
  CHECK(error_of(b.data(), 1) == DecodeError::kTooShort);
  CHECK(error_of(b.data(), sizeof(rp_event_hdr) - 1) == DecodeError::kTooShort);

  SECTION("null data, whatever the length") {
    CHECK(error_of(nullptr, 0) == DecodeError::kTooShort);
    CHECK(error_of(nullptr, sizeof(rp_exec_event)) == DecodeError::kTooShort);
  }
}

TEST_CASE("decode rejects unknown event types", "[unit]") {
  // The declared size is that of a real record, so only the type is wrong.
  for (uint32_t type : {0u, 999u, static_cast<uint32_t>(RP_EV_MAX), ~0u}) {
    INFO("type " << type);
    Buffer b = record(type, sizeof(rp_syscall_event), sizeof(rp_syscall_event));
    CHECK(error_of(b.data(), sizeof(rp_syscall_event)) == DecodeError::kUnknownType);
    // The type is checked before the size.
    b.hdr().size = 0;
    CHECK(error_of(b.data(), sizeof(rp_syscall_event)) == DecodeError::kUnknownType);
  }
}

TEST_CASE("decode rejects a declared size other than the record's", "[unit]") {
  for (uint32_t type = 1; type < RP_EV_MAX; ++type) {
    INFO("type " << type << " (" << event_type_name(type) << ")");
    const auto size = static_cast<uint32_t>(record_size(type));
    const size_t room = size + 64;  // the buffer itself is always long enough
    for (uint32_t declared :
         {0u, static_cast<uint32_t>(sizeof(rp_event_hdr)), size - 8, size - 1, size + 1, size + 8, ~0u}) {
      INFO("declared " << declared);
      Buffer b = record(type, size, room);
      b.hdr().size = declared;
      CHECK(error_of(b.data(), room) == DecodeError::kSizeMismatch);
    }
  }

  SECTION("the size of another record type") {
    Buffer b = record(RP_EV_EXEC, sizeof(rp_file_event), sizeof(rp_exec_event));
    CHECK(error_of(b.data(), sizeof(rp_exec_event)) == DecodeError::kSizeMismatch);
    Buffer c = record(RP_EV_OPEN, sizeof(rp_syscall_event), sizeof(rp_syscall_event));
    CHECK(error_of(c.data(), sizeof(rp_syscall_event)) == DecodeError::kSizeMismatch);
  }
}

TEST_CASE("decode rejects a buffer shorter than the declared size", "[unit]") {
  for (uint32_t type = 1; type < RP_EV_MAX; ++type) {
    INFO("type " << type << " (" << event_type_name(type) << ")");
    const auto size = static_cast<uint32_t>(record_size(type));
    Buffer b = record(type, size, size);
    CHECK(error_of(b.data(), size - 1) == DecodeError::kSizeMismatch);
    CHECK(error_of(b.data(), size - 8) == DecodeError::kSizeMismatch);
    CHECK(error_of(b.data(), sizeof(rp_event_hdr)) == DecodeError::kSizeMismatch);
    CHECK(decode(b.data(), size).has_value());
  }
}

TEST_CASE("decode bounds the exec argv length", "[unit]") {
  rp_exec_event e{};
  e.hdr.type = RP_EV_EXEC;
  e.hdr.size = sizeof(e);

  e.args_len = 0;
  CHECK(decode(&e, sizeof(e)).has_value());
  e.args_len = RP_ARGS_MAX;
  CHECK(decode(&e, sizeof(e)).has_value());

  e.args_len = RP_ARGS_MAX + 1;
  CHECK(error_of(&e, sizeof(e)) == DecodeError::kBadField);
  e.args_len = ~0u;
  CHECK(error_of(&e, sizeof(e)) == DecodeError::kBadField);
}

TEST_CASE("decode errors have distinct names", "[unit]") {
  const DecodeError all[] = {DecodeError::kTooShort, DecodeError::kUnknownType, DecodeError::kSizeMismatch,
                             DecodeError::kBadField};
  STATIC_REQUIRE(std::size(all) == kDecodeErrorCount);
  std::set<std::string> names;
  for (DecodeError e : all) {
    std::string name = decode_error_name(e);
    CHECK(name != "unknown");
    names.insert(name);
  }
  CHECK(names.size() == kDecodeErrorCount);
  CHECK(std::string(decode_error_name(DecodeError::kTooShort)) == "too_short");
  CHECK(std::string(decode_error_name(DecodeError::kSizeMismatch)) == "size_mismatch");
}

TEST_CASE("fixed_str stops at the first NUL or the end of the array", "[unit]") {
  SECTION("terminated") {
    char f[8] = "abc";
    CHECK(fixed_str(f) == "abc");
  }
  SECTION("empty") {
    char f[8] = {};
    CHECK(fixed_str(f).empty());
  }
  SECTION("unterminated: the whole array and not a byte more") {
    // A guard byte right after the field would be read by strlen.
    struct {
      char field[RP_COMM_LEN];
      char guard[8];
    } s;
    std::memset(s.field, 'x', sizeof(s.field));
    std::memset(s.guard, 'G', sizeof(s.guard));
    auto v = fixed_str(s.field);
    CHECK(v.size() == RP_COMM_LEN);
    CHECK(v == std::string(RP_COMM_LEN, 'x'));
    CHECK(v.data() == s.field);
  }
  SECTION("a NUL in the middle hides what follows") {
    char f[RP_AUX_LEN] = {};
    std::memcpy(f, "memfd:x\0junk", 12);
    CHECK(fixed_str(f) == "memfd:x");
  }
  SECTION("a full-length path field") {
    rp_file_event e{};
    std::memset(e.path, '/', sizeof(e.path));  // path is the last field: nothing follows it
    CHECK(fixed_str(e.path).size() == RP_PATH_MAX);
  }
}

TEST_CASE("event type names round-trip for every type", "[unit]") {
  std::set<std::string> seen;
  for (uint32_t type = 1; type < RP_EV_MAX; ++type) {
    std::string name = event_type_name(type);
    INFO("type " << type << " name " << name);
    CHECK(name != "unknown");
    CHECK_FALSE(name.empty());
    CHECK(event_type_from_name(name) == type);
    seen.insert(name);
  }
  CHECK(seen.size() == RP_EV_MAX - 1);  // names are unique

  // A few spelled out: these are the names in the JSON schema and the config.
  CHECK(std::string(event_type_name(RP_EV_EXEC)) == "exec");
  CHECK(std::string(event_type_name(RP_EV_OPEN)) == "open");
  CHECK(std::string(event_type_name(RP_EV_PROCESS_VM_WRITEV)) == "process_vm_writev");
  CHECK(std::string(event_type_name(RP_EV_MEMFD_CREATE)) == "memfd_create");
}

TEST_CASE("bad event types and names map to unknown and 0", "[unit]") {
  for (uint32_t type : {0u, static_cast<uint32_t>(RP_EV_MAX), 999u, ~0u})
    CHECK(std::string(event_type_name(type)) == "unknown");
  CHECK(event_type_from_name("unknown") == 0u);
  CHECK(event_type_from_name("") == 0u);
  CHECK(event_type_from_name("EXEC") == 0u);
  CHECK(event_type_from_name("exec ") == 0u);
  CHECK(event_type_from_name(std::string_view("exec\0", 5)) == 0u);
  CHECK(event_type_from_name("stats") == 0u);
}
