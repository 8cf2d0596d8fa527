// Unit tests for the JSON-lines output: JsonWriter's string escaping (quotes,
// backslashes, control characters, invalid UTF-8 turned into U+FFFD) and the
// event schema written by append_event_json() for synthetic records of every
// event type. Every line is parsed back with nlohmann::json, an independent
// strict parser, so "valid JSON" is proven rather than assumed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "outputs/event_json.h"
#include "outputs/json_writer.h"
#include "pipeline/process_table.h"
#include "sources/decoder.h"

using nlohmann::json;
using rampart::outputs::append_event_json;
using rampart::outputs::append_json_string;
using rampart::outputs::EventContext;
using rampart::outputs::format_rfc3339;
using rampart::outputs::JsonWriter;
using rampart::pipeline::ProcessTable;
using rampart::pipeline::ProcSnapshot;

namespace {

const std::string kContainerId = "3f1c9a7e2b8d4c6f0a5e1d9b7c3a2f8e6d4b0c9a1e7f5d3b2a8c6e4f0d1b9a7c";
const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// ---- JsonWriter helpers ----

std::string escaped(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// The string a strict parser reads back from escaped(s).
std::string round_trip(std::string_view s) {
  json j = json::parse(escaped(s));
  REQUIRE(j.is_string());
  return j.get<std::string>();
}

// ---- Synthetic records ----

// Zeroed, 8-byte-aligned storage for one record of `type`, with a header and
// a filled-in rp_proc, as the BPF side would emit it.
class Record {
 public:
  explicit Record(uint32_t type) : words_(rampart::sources::record_size(type) / 8) {
    REQUIRE(!words_.empty());
    auto& h = as<rp_event_hdr>();
    h.type = type;
    h.size = static_cast<uint32_t>(rampart::sources::record_size(type));
    h.ts_ns = 5'000'000'123;
    h.cpu = 2;
    rp_proc& p = proc();
    p.pid = 1235;
    p.tgid = 1234;
    p.ppid = 500;
    p.uid = 1000;
    p.gid = 1001;
    p.euid = 1002;
    p.egid = 1003;
    p.mntns = 4026531840u;
    p.cgroup_id = 9876543210ull;
    p.start_ns = 123456789012345ull;
    std::memcpy(p.comm, "bash", 5);
  }

  template <typename T>
  T& as() {
    return *reinterpret_cast<T*>(words_.data());
  }
  rp_proc& proc() { return *reinterpret_cast<rp_proc*>(&as<rp_event_hdr>() + 1); }

  rampart::sources::EventView view() {
    auto r = rampart::sources::decode(words_.data(), words_.size() * 8);
    REQUIRE(r.has_value());
    return *r;
  }

 private:
  std::vector<uint64_t> words_;
};

constexpr int64_t kBootToRealtime = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z

// One line for `rec`: checks it is exactly one newline-terminated line of
// valid JSON, and returns it parsed.
json line_of(Record& rec, EventContext ctx = {}) {
  if (ctx.boot_to_realtime_ns == 0) ctx.boot_to_realtime_ns = kBootToRealtime;
  std::string out = "previous line\n";  // appends, never overwrites
  append_event_json(out, rec.view(), ctx);
  REQUIRE(out.rfind("previous line\n", 0) == 0);
  std::string line = out.substr(std::strlen("previous line\n"));
  INFO(line);
  REQUIRE(!line.empty());
  REQUIRE(line.back() == '\n');
  REQUIRE(line.find('\n') == line.size() - 1);
  json j;
  REQUIRE_NOTHROW(j = json::parse(line));
  REQUIRE(j.is_object());
  return j;
}

// The fields every event carries, with the values Record sets.
void check_common(const json& j, uint32_t type) {
  INFO(j.dump());
  CHECK(j.at("v") == 1);
  REQUIRE(j.at("time").is_string());
  std::string time = j.at("time").get<std::string>();
  CHECK(time == "2023-11-14T22:13:25.000000123Z");
  CHECK(time.back() == 'Z');
  CHECK(j.at("boot_ns") == 5'000'000'123ull);
  CHECK(j.at("type") == rampart::sources::event_type_name(type));
  CHECK(j.at("cpu") == 2);

  const json& p = j.at("proc");
  REQUIRE(p.is_object());
  CHECK(p.at("pid") == 1235);
  CHECK(p.at("tgid") == 1234);
  CHECK(p.at("ppid") == 500);
  CHECK(p.at("uid") == 1000);
  CHECK(p.at("gid") == 1001);
  CHECK(p.at("euid") == 1002);
  CHECK(p.at("egid") == 1003);
  CHECK(p.at("comm") == "bash");
  CHECK(p.at("start_ns") == 123456789012345ull);
  CHECK(p.at("cgroup_id") == 9876543210ull);
  CHECK(p.at("mntns") == 4026531840ull);
}

bool has_flag(const json& j, const std::string& name) {
  if (!j.contains("flags")) return false;
  for (const auto& f : j.at("flags"))
    if (f == name) return true;
  return false;
}

ProcSnapshot snapshot(uint32_t tgid, uint32_t ppid, const std::string& comm, const std::string& exe,
                      const std::string& cgroup) {
  ProcSnapshot s;
  s.tgid = tgid;
  s.ppid = ppid;
  s.start_ns = tgid * 1000ull;
  s.comm = comm;
  s.exe = exe;
  s.args = {exe};
  s.cgroup_path = cgroup;
  return s;
}

}  // namespace

// ---------------------------------------------------------------- JsonWriter

TEST_CASE("JsonWriter escapes quotes, backslashes and control characters", "[unit]") {
  CHECK(escaped("plain") == "\"plain\"");
  CHECK(escaped("") == "\"\"");
  CHECK(escaped("say \"hi\"") == R"("say \"hi\"")");
  CHECK(escaped("C:\\dir") == R"("C:\\dir")");
  CHECK(escaped("a\nb\tc\rd") == R"("a\nb\tc\rd")");
  CHECK(escaped("\x01\x1f") == R"("\u0001\u001f")");
  CHECK(escaped(std::string_view("a\0b", 3)) == R"("a\u0000b")");
  CHECK(escaped("\x7f") == "\"\x7f\"");  // DEL is valid in a JSON string

  for (std::string_view s :
       {std::string_view("say \"hi\""), std::string_view("C:\\dir\\"), std::string_view("a\nb\tc\rd\b\f"),
        std::string_view("a\0b\x1f", 4), std::string_view("\"\\\"\\")}) {
    INFO(escaped(s));
    CHECK(round_trip(s) == std::string(s));
  }
}

TEST_CASE("JsonWriter passes valid UTF-8 through", "[unit]") {
  for (std::string s : {"caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80", "\xE4\xB8\xAD\xE6\x96\x87", "\xEF\xBF\xBD",
                        "\xF4\x8F\xBF\xBF" /* U+10FFFF */, "\xC2\x80", "\xED\x9F\xBF"}) {
    INFO(s);
    CHECK(escaped(s) == "\"" + s + "\"");  // bytes copied, not \u-escaped
    CHECK(round_trip(s) == s);
  }
}

TEST_CASE("JsonWriter turns invalid UTF-8 into U+FFFD", "[unit]") {
  const std::string R = kReplacement;
  struct Case {
    std::string in;
    std::string out;
  } cases[] = {
      {"\xFF", R},
      {"a\x80z", "a" + R + "z"},            // lone continuation byte
      {"\xC0\xAF", R + R},                  // overlong '/'
      {"\xC1\xBF", R + R},                  // overlong
      {"\xE0\x80\xAF", R + R + R},          // overlong 3-byte
      {"\xED\xA0\x80", R + R + R},          // UTF-16 surrogate
      {"\xF0\x80\x80\xAF", R + R + R + R},  // overlong 4-byte
      {"\xF4\x90\x80\x80", R + R + R + R},  // above U+10FFFF
      {"\xF5\x80", R + R},                  // never a lead byte
      {"\xE2\x82", R + R},                  // cut at the end
      {"\xE2\x82x", R + R + "x"},           // cut in the middle
      {"\xC3\xA9\xFF\xC3\xA9", "\xC3\xA9" + R + "\xC3\xA9"},
  };
  for (const auto& c : cases) {
    INFO(escaped(c.in));
    std::string out = escaped(c.in);
    CHECK(out.find("\\ufffd") != std::string::npos);
    CHECK(round_trip(c.in) == c.out);
  }
}

TEST_CASE("JsonWriter writes objects, arrays, numbers, bools and null", "[unit]") {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("s", "x").field("neg", INT64_MIN).field("big", UINT64_MAX);
  w.field("u16", uint16_t{65535}).field("i32", int32_t{-5}).field("t", true).field("f", false);
  w.key("n").null();
  w.key("arr").begin_array().value(1).value("two").begin_object().end_object().begin_array().end_array();
  w.end_array();
  w.key("obj").begin_object().field("k", 0u).end_object();
  w.end_object();
  INFO(out);

  json j = json::parse(out);
  CHECK(j.at("s") == "x");
  CHECK(j.at("neg").get<int64_t>() == INT64_MIN);
  CHECK(j.at("big").get<uint64_t>() == UINT64_MAX);
  CHECK(j.at("u16") == 65535);
  CHECK(j.at("i32") == -5);
  CHECK(j.at("t") == true);
  CHECK(j.at("f") == false);
  CHECK(j.at("n").is_null());
  CHECK(j.at("arr") == json::parse(R"([1, "two", {}, []])"));
  CHECK(j.at("obj") == json::parse(R"({"k": 0})"));
  CHECK(j.size() == 10);
}

TEST_CASE("format_rfc3339 writes UTC with nanoseconds", "[unit]") {
  char buf[40];
  CHECK(format_rfc3339(buf, 1000000002) == "1970-01-01T00:00:01.000000002Z");
  CHECK(format_rfc3339(buf, 0) == "1970-01-01T00:00:00.000000000Z");
  // The date part is cached per second: same second, next second, back again.
  CHECK(format_rfc3339(buf, 1999999999) == "1970-01-01T00:00:01.999999999Z");
  CHECK(format_rfc3339(buf, 2000000000) == "1970-01-01T00:00:02.000000000Z");
  CHECK(format_rfc3339(buf, 1000000002) == "1970-01-01T00:00:01.000000002Z");
  CHECK(format_rfc3339(buf, kBootToRealtime + 5'000'000'123) == "2023-11-14T22:13:25.000000123Z");
}

// ---------------------------------------------------------------- events

TEST_CASE("every event type is one line of JSON with the common fields", "[unit]") {
  for (uint32_t type = 1; type < RP_EV_MAX; ++type) {
    INFO("type " << type << " (" << rampart::sources::event_type_name(type) << ")");
    Record rec(type);
    json j = line_of(rec);
    check_common(j, type);
    CHECK_FALSE(j.contains("flags"));   // none set
    CHECK_FALSE(j.contains("parent"));  // no process table
    CHECK_FALSE(j.at("proc").contains("exe"));
  }
}

TEST_CASE("hostile strings in records still give valid JSON", "[unit]") {
  Record rec(RP_EV_OPEN);
  auto& e = rec.as<rp_file_event>();
  // comm: quotes, a backslash, a control byte and bad UTF-8, with no NUL.
  std::memset(rec.proc().comm, 'c', RP_COMM_LEN);
  std::memcpy(rec.proc().comm, "a\"b\\c\x01\xFF\xC3", 8);
  std::memset(e.path, 'p', sizeof(e.path));  // unterminated, full length
  e.path[10] = '\n';
  e.path[11] = '\xFE';
  json j = line_of(rec);
  std::string comm = j.at("proc").at("comm").get<std::string>();
  CHECK(comm == "a\"b\\c\x01" + kReplacement + kReplacement + std::string(RP_COMM_LEN - 8, 'c'));
  std::string path = j.at("path").get<std::string>();
  CHECK(path.size() == RP_PATH_MAX - 1 + kReplacement.size());  // every byte kept, \xFE replaced
  CHECK(path[10] == '\n');
}

TEST_CASE("exec events carry filename, argv and flags", "[unit]") {
  Record rec(RP_EV_EXEC);
  auto& e = rec.as<rp_exec_event>();
  std::strcpy(e.filename, "/usr/bin/curl");
  std::strcpy(e.exe_name, "curl");
  static constexpr char kArgs[] = "curl\0-s\0http://example.com/x y\0";
  std::memcpy(e.args, kArgs, sizeof(kArgs) - 1);
  e.args_len = sizeof(kArgs) - 1;
  e.argc = 3;
  e.old_pid = 1235;
  e.exe_ino = 777;
  e.exe_dev = 2049;
  e.exe_nlink = 1;

  SECTION("a file on disk") {
    json j = line_of(rec);
    check_common(j, RP_EV_EXEC);
    CHECK(j.at("filename") == "/usr/bin/curl");
    CHECK(j.at("exe_name") == "curl");
    CHECK(j.at("argv") == json::array({"curl", "-s", "http://example.com/x y"}));
    CHECK(j.at("argc") == 3);
    CHECK(j.at("old_pid") == 1235);
    CHECK(j.at("exe_ino") == 777);
    CHECK(j.at("exe_nlink") == 1);
    CHECK(j.at("fileless") == false);
    CHECK_FALSE(j.contains("flags"));
    CHECK_FALSE(j.contains("replaced_exe"));
  }
  SECTION("argv without a final NUL, cut at RP_ARGS_MAX") {
    e.args_len = 7;  // "curl\0-s" : the last argument has no terminator
    rec.as<rp_event_hdr>().flags = RP_F_ARGS_TRUNCATED;
    json j = line_of(rec);
    CHECK(j.at("argv") == json::array({"curl", "-s"}));
    CHECK(has_flag(j, "args_truncated"));
  }
  SECTION("no argv") {
    e.args_len = 0;
    json j = line_of(rec);
    CHECK(j.at("argv") == json::array());
  }
  SECTION("a memfd") {
    rec.as<rp_event_hdr>().flags = RP_F_FILELESS | RP_F_MEMFD;
    std::strcpy(e.exe_name, "memfd:payload");
    e.exe_nlink = 0;
    json j = line_of(rec);
    CHECK(j.at("fileless") == true);
    REQUIRE(j.at("flags").is_array());
    CHECK(has_flag(j, "fileless"));
    CHECK(has_flag(j, "memfd"));
    CHECK(j.at("flags").size() == 2);
    CHECK(j.at("exe_name") == "memfd:payload");
  }
  SECTION("the image it replaced") {
    EventContext ctx;
    ctx.replaced_exe = "/usr/bin/bash";
    json j = line_of(rec, ctx);
    CHECK(j.at("replaced_exe") == "/usr/bin/bash");
  }
}

TEST_CASE("exec events name the parent, the ancestry and the container", "[unit]") {
  const std::string docker_cgroup = "/system.slice/docker-" + kContainerId + ".scope";
  ProcessTable table;
  table.seed({snapshot(1, 0, "systemd", "/usr/lib/systemd/systemd", "/init.scope"),
              snapshot(500, 1, "sshd", "/usr/sbin/sshd", "/system.slice/ssh.service"),
              snapshot(1234, 500, "bash", "/usr/bin/bash", docker_cgroup)});
  EventContext ctx;
  ctx.table = &table;

  Record rec(RP_EV_EXEC);
  std::strcpy(rec.as<rp_exec_event>().filename, "/usr/bin/bash");
  json j = line_of(rec, ctx);
  check_common(j, RP_EV_EXEC);

  const json& p = j.at("proc");
  CHECK(p.at("exe") == "/usr/bin/bash");
  CHECK(p.at("container_id") == kContainerId);
  CHECK(p.at("cgroup") == docker_cgroup);
  CHECK_FALSE(p.contains("pod_uid"));

  const json& parent = j.at("parent");
  CHECK(parent.at("pid") == 500);
  CHECK(parent.at("comm") == "sshd");
  CHECK(parent.at("exe") == "/usr/sbin/sshd");

  REQUIRE(j.at("ancestry").is_array());
  REQUIRE(j.at("ancestry").size() == 2);
  CHECK(j.at("ancestry")[0] == json::parse(R"({"pid": 500, "exe": "/usr/sbin/sshd"})"));
  CHECK(j.at("ancestry")[1] == json::parse(R"({"pid": 1, "exe": "/usr/lib/systemd/systemd"})"));

  SECTION("a parent the table does not know") {
    rec.proc().ppid = 999;
    table.seed({snapshot(1234, 999, "bash", "/usr/bin/bash", docker_cgroup)});
    json k = line_of(rec, ctx);
    CHECK(k.at("parent") == json::parse(R"({"pid": 999})"));
    CHECK(k.at("ancestry") == json::array());
  }
  SECTION("other events get proc.exe and the container but no parent") {
    Record open(RP_EV_OPEN);
    json k = line_of(open, ctx);
    CHECK(k.at("proc").at("exe") == "/usr/bin/bash");
    CHECK(k.at("proc").at("container_id") == kContainerId);
    CHECK_FALSE(k.contains("parent"));
    CHECK_FALSE(k.contains("ancestry"));
  }
  SECTION("a process outside any container") {
    table.seed({snapshot(1234, 500, "bash", "/usr/bin/bash", "/user.slice/user-1000.slice/session-1.scope")});
    json k = line_of(rec, ctx);
    CHECK(k.at("proc").at("cgroup") == "/user.slice/user-1000.slice/session-1.scope");
    CHECK_FALSE(k.at("proc").contains("container_id"));
  }
}

TEST_CASE("open events carry path, result, error and access", "[unit]") {
  Record rec(RP_EV_OPEN);
  auto& e = rec.as<rp_file_event>();
  e.syscall_nr = SYS_openat;
  e.dirfd = -100;
  std::strcpy(e.path, "/etc/shadow.new");

  SECTION("a failed write with O_CREAT|O_TRUNC") {
    e.flags = O_WRONLY | O_CREAT | O_TRUNC;
    e.mode = 0644;
    e.result = -2;
    json j = line_of(rec);
    check_common(j, RP_EV_OPEN);
    CHECK(j.at("syscall") == "openat");
    CHECK(j.at("path") == "/etc/shadow.new");
    CHECK(j.at("result") == -2);
    CHECK(j.at("error") == "ENOENT");
    CHECK(j.at("access") == "write");
    CHECK(j.at("create") == true);
    CHECK(j.at("truncate") == true);
    CHECK(j.at("open_flags") == (O_WRONLY | O_CREAT | O_TRUNC));
    CHECK(j.at("mode") == 0644);
  }
  SECTION("a successful read") {
    e.flags = O_RDONLY | O_CLOEXEC;
    e.result = 3;
    json j = line_of(rec);
    CHECK(j.at("result") == 3);
    CHECK_FALSE(j.contains("error"));
    CHECK(j.at("access") == "read");
    CHECK(j.at("create") == false);
    CHECK(j.at("truncate") == false);
  }
  SECTION("read-write, permission denied") {
    e.flags = O_RDWR;
    e.result = -13;
    json j = line_of(rec);
    CHECK(j.at("access") == "read_write");
    CHECK(j.at("error") == "EACCES");
  }
  SECTION("a truncated path is flagged") {
    rec.as<rp_event_hdr>().flags = RP_F_PATH_TRUNCATED;
    json j = line_of(rec);
    CHECK(has_flag(j, "path_truncated"));
  }
}

TEST_CASE("connect events carry the remote address in host order", "[unit]") {
  Record rec(RP_EV_CONNECT);
  auto& e = rec.as<rp_net_event>();
  e.syscall_nr = SYS_connect;
  e.fd = 5;
  e.sock_type = SOCK_STREAM;
  e.remote_port = 8080;  // host byte order, per the ABI

  SECTION("ipv4") {
    e.family = RP_AF_INET;
    const uint8_t lo[4] = {127, 0, 0, 1};
    std::memcpy(e.remote_addr, lo, 4);
    e.result = 0;
    json j = line_of(rec);
    check_common(j, RP_EV_CONNECT);
    CHECK(j.at("syscall") == "connect");
    CHECK(j.at("family") == "ipv4");
    CHECK(j.at("sock_type") == "stream");
    CHECK(j.at("fd") == 5);
    CHECK(j.at("remote") == json::parse(R"({"addr": "127.0.0.1", "port": 8080})"));
    CHECK(j.at("local") == json::parse(R"({"addr": "0.0.0.0", "port": 0})"));
    CHECK(j.at("result") == 0);
    CHECK_FALSE(j.contains("error"));
    CHECK_FALSE(j.contains("backlog"));
  }
  SECTION("ipv6, refused") {
    e.family = RP_AF_INET6;
    e.remote_addr[15] = 1;  // ::1
    e.result = -111;
    json j = line_of(rec);
    CHECK(j.at("family") == "ipv6");
    CHECK(j.at("remote").at("addr") == "::1");
    CHECK(j.at("remote").at("port") == 8080);
    CHECK(j.at("local").at("addr") == "::");
    CHECK(j.at("result") == -111);
    CHECK(j.at("error") == "ECONNREFUSED");
  }
}

TEST_CASE("listen events carry the backlog", "[unit]") {
  Record rec(RP_EV_LISTEN);
  auto& e = rec.as<rp_net_event>();
  e.family = RP_AF_INET;
  e.sock_type = SOCK_STREAM;
  e.local_port = 4444;
  e.backlog = 128;
  json j = line_of(rec);
  CHECK(j.at("backlog") == 128);
  CHECK(j.at("local").at("port") == 4444);
}

TEST_CASE("setuid and setgid events list only the ids passed", "[unit]") {
  const uint64_t kUnset = ~0ull;
  SECTION("setuid(0)") {
    Record rec(RP_EV_SETUID);
    auto& e = rec.as<rp_syscall_event>();
    e.syscall_nr = SYS_setuid;
    e.args[0] = 0;
    e.args[1] = e.args[2] = e.args[3] = kUnset;
    json j = line_of(rec);
    check_common(j, RP_EV_SETUID);
    CHECK(j.at("syscall") == "setuid");
    CHECK(j.at("ruid") == 0);
    CHECK_FALSE(j.contains("euid"));
    CHECK_FALSE(j.contains("suid"));
    CHECK_FALSE(j.contains("fsuid"));
    CHECK(j.at("result") == 0);
  }
  SECTION("setresgid(1, 2, 3)") {
    Record rec(RP_EV_SETGID);
    auto& e = rec.as<rp_syscall_event>();
    e.args[0] = 1;
    e.args[1] = 2;
    e.args[2] = 3;
    e.args[3] = kUnset;
    e.result = -1;
    json j = line_of(rec);
    CHECK(j.at("rgid") == 1);
    CHECK(j.at("egid") == 2);
    CHECK(j.at("sgid") == 3);
    CHECK_FALSE(j.contains("fsgid"));
    CHECK(j.at("error") == "EPERM");
  }
}

TEST_CASE("ptrace events name the request and the target", "[unit]") {
  Record rec(RP_EV_PTRACE);
  auto& e = rec.as<rp_syscall_event>();
  e.syscall_nr = SYS_ptrace;
  e.args[0] = 16;  // PTRACE_ATTACH
  e.args[1] = 4321;
  e.args[2] = 0x1000;
  json j = line_of(rec);
  check_common(j, RP_EV_PTRACE);
  CHECK(j.at("syscall") == "ptrace");
  CHECK(j.at("request") == "attach");
  CHECK(j.at("request_nr") == 16);
  CHECK(j.at("target_pid") == 4321);
  CHECK(j.at("addr") == "0x1000");
}

TEST_CASE("memfd_create events carry the name", "[unit]") {
  Record rec(RP_EV_MEMFD_CREATE);
  auto& e = rec.as<rp_syscall_event>();
  e.syscall_nr = SYS_memfd_create;
  std::strcpy(e.aux, "payload");
  e.args[0] = 1;  // MFD_CLOEXEC
  e.result = 3;
  json j = line_of(rec);
  check_common(j, RP_EV_MEMFD_CREATE);
  CHECK(j.at("name") == "payload");
  CHECK(j.at("memfd_flags") == "0x1");
  CHECK(j.at("result") == 3);
}

TEST_CASE("mount events carry the target and the fstype", "[unit]") {
  Record rec(RP_EV_MOUNT);
  auto& e = rec.as<rp_syscall_event>();
  e.syscall_nr = SYS_mount;
  std::strcpy(e.str, "/mnt/data");
  std::strcpy(e.aux, "tmpfs");
  e.args[0] = 0x6;  // MS_NOSUID | MS_NODEV
  json j = line_of(rec);
  check_common(j, RP_EV_MOUNT);
  CHECK(j.at("syscall") == "mount");
  CHECK(j.at("target") == "/mnt/data");
  CHECK(j.at("fstype") == "tmpfs");
  CHECK(j.at("mount_flags") == "0x6");
}

TEST_CASE("exit events split the wait status", "[unit]") {
  Record rec(RP_EV_EXIT);
  auto& e = rec.as<rp_exit_event>();
  SECTION("exit(3)") {
    e.exit_code = 3 << 8;
    json j = line_of(rec);
    check_common(j, RP_EV_EXIT);
    CHECK(j.at("status") == 768);
    CHECK(j.at("exit_code") == 3);
    CHECK(j.at("signal") == 0);
  }
  SECTION("killed by SIGKILL") {
    e.exit_code = 9;
    json j = line_of(rec);
    CHECK(j.at("exit_code") == 0);
    CHECK(j.at("signal") == 9);
  }
  SECTION("SIGSEGV with a core dump") {
    e.exit_code = 0x80 | 11;
    json j = line_of(rec);
    CHECK(j.at("signal") == 11);
  }
}

TEST_CASE("fork, rename and unshare events carry their fields", "[unit]") {
  SECTION("fork") {
    Record rec(RP_EV_FORK);
    auto& e = rec.as<rp_fork_event>();
    e.child_pid = 2000;
    e.child_tgid = 2000;
    e.child_start_ns = 77;
    json j = line_of(rec);
    CHECK(j.at("child_pid") == 2000);
    CHECK(j.at("child_start_ns") == 77);
  }
  SECTION("rename") {
    Record rec(RP_EV_RENAME);
    auto& e = rec.as<rp_rename_event>();
    e.syscall_nr = SYS_renameat2;
    std::strcpy(e.path, "/tmp/a");
    std::strcpy(e.path2, "/usr/bin/sudo");
    json j = line_of(rec);
    CHECK(j.at("syscall") == "renameat2");
    CHECK(j.at("old_path") == "/tmp/a");
    CHECK(j.at("new_path") == "/usr/bin/sudo");
  }
  SECTION("unshare") {
    Record rec(RP_EV_UNSHARE);
    rec.as<rp_syscall_event>().args[0] = 0x10000000 | 0x00020000;  // CLONE_NEWUSER | CLONE_NEWNS
    json j = line_of(rec);
    CHECK(j.at("namespaces") == json::array({"mnt", "user"}));
  }
}

TEST_CASE("valid_utf8 keeps UTF-8 and replaces every other byte with U+FFFD", "[unit]") {
  using rampart::outputs::valid_utf8;
  CHECK(valid_utf8("plain ascii") == "plain ascii");
  CHECK(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC") == "caf\xC3\xA9 \xE2\x82\xAC");
  CHECK(valid_utf8(std::string("a\x00b", 3)) == std::string("a\x00b", 3));  // NUL is valid UTF-8
  CHECK(valid_utf8("x\xFFy") == "x\xEF\xBF\xBDy");
  CHECK(valid_utf8("\xC3") == "\xEF\xBF\xBD");                                  // truncated sequence
  CHECK(valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate, byte by byte
}
