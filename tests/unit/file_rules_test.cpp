// The fanotify guard's pure logic: decisions per policy, access modes, where
// marks go, and denied files by identity and contents.
#include "enforce/file_rules.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "enforce/file_identity.h"
#include "policy/policy.h"

using rampart::enforce::Access;
using rampart::enforce::GuardRule;

namespace {

rampart::policy::Policy load(const std::string& spec) {
  auto set = rampart::policy::PolicySet::load_text(
      "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: p\n"
      "spec:\n  selector:\n    executables: [\"/usr/bin/p\"]\n"
      "  mode: enforce\n" +
          spec,
      "p.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  return set->policies()[0];
}

}  // namespace

TEST_CASE("exec: deny rules win over the allow-list, and no allow-list allows the rest", "[unit]") {
  GuardRule r =
      rampart::enforce::guard_rule(load("  allow:\n    exec: [\"/usr/bin/*\"]\n"
                                        "  deny:\n    - id: no-curl\n      exec: [\"/usr/bin/curl\"]\n"));
  CHECK(r.has_exec_rules());
  CHECK_FALSE(r.has_file_rules());
  CHECK(rampart::enforce::exec_reason(r, "/usr/bin/ls") == 0);
  CHECK(rampart::enforce::exec_reason(r, "/usr/bin/curl") == RP_REASON_DENY_RULE);
  CHECK(rampart::enforce::exec_reason(r, "/tmp/x") == RP_REASON_NOT_ALLOWED);

  GuardRule only_deny =
      rampart::enforce::guard_rule(load("  deny:\n    - id: no-nc\n      exec: [\"/usr/bin/nc*\"]\n"));
  CHECK(rampart::enforce::exec_reason(only_deny, "/tmp/x") == 0);
  CHECK(rampart::enforce::exec_reason(only_deny, "/usr/bin/ncat") == RP_REASON_DENY_RULE);
}

TEST_CASE("files: reads and writes are judged apart", "[unit]") {
  GuardRule r =
      rampart::enforce::guard_rule(load("  allow:\n    files:\n      write: [\"/var/log/app/\"]\n"
                                        "  deny:\n    - id: no-keys\n      files: { read: [\"/etc/keys/\"] }\n"
                                        "    - id: watch\n      files: { read: [\"/etc/motd\"] }\n"
                                        "      action: alert\n"));
  CHECK(r.has_file_rules());
  auto log = rampart::enforce::open_reasons(r, "/var/log/app/x.log");
  CHECK(log.allowed());
  auto etc = rampart::enforce::open_reasons(r, "/etc/hosts");
  CHECK(etc.read == 0);  // reads are not restricted
  CHECK(etc.write == RP_REASON_NOT_ALLOWED);
  CHECK_FALSE(etc.uniform());
  auto key = rampart::enforce::open_reasons(r, "/etc/keys/a.pem");
  CHECK(key.read == RP_REASON_DENY_RULE);
  CHECK(key.write == RP_REASON_NOT_ALLOWED);
  // An alert rule is not a refusal: it comes from the event stream.
  CHECK(rampart::enforce::open_reasons(r, "/etc/motd").read == 0);
}

TEST_CASE("the access mode comes from the open's flags, and O_PATH neither reads nor writes", "[unit]") {
  using rampart::enforce::access_from_flags;
  auto a = access_from_flags(O_WRONLY | O_CREAT | O_TRUNC);
  CHECK_FALSE(a.read);
  CHECK(a.write);
  a = access_from_flags(O_RDONLY | O_CLOEXEC);
  CHECK(a.read);
  CHECK_FALSE(a.write);
  a = access_from_flags(O_RDWR);
  CHECK((a.read && a.write));
  a = access_from_flags(O_RDONLY | O_TRUNC);  // truncates: a write
  CHECK(a.write);
  a = access_from_flags(O_ACCMODE);  // 3: the kernel checks read and write permission
  CHECK((a.read && a.write));
  // O_PATH: the kernel drops every flag but a few, and the file is not opened for I/O.
  for (uint64_t extra : {uint64_t{0}, uint64_t{O_RDWR}, uint64_t{O_WRONLY | O_TRUNC | O_CREAT}, uint64_t{O_NOFOLLOW}}) {
    a = access_from_flags(O_PATH | extra);
    CHECK_FALSE(a.read);
    CHECK_FALSE(a.write);
  }
}

TEST_CASE("marks: files by inode, prefixes and globs by every directory below them, missing files by parent",
          "[unit]") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/rampart-marks-XXXXXX";
  const std::string d = mkdtemp(tmpl);
  fs::create_directories(d + "/conf/a/b");
  fs::create_directories(d + "/keys");
  std::ofstream(d + "/conf/a/x.conf") << "x";
  std::ofstream(d + "/secret") << "s";
  auto pat = [](const std::string& text) {
    rampart::policy::PathPattern p;
    p.text = text;
    p.kind = text.back() == '/'                    ? rampart::policy::PathPattern::Kind::kPrefix
             : text.find('*') != std::string::npos ? rampart::policy::PathPattern::Kind::kGlob
                                                   : rampart::policy::PathPattern::Kind::kExact;
    return p;
  };
  auto plan = rampart::enforce::plan_marks(
      {pat(d + "/secret"), pat(d + "/conf/"), pat(d + "/keys/*.pem"), pat(d + "/new-file"), pat("/nonexistent-rp/x")},
      true);
  CHECK(plan.files == std::vector<std::string>{d + "/secret"});
  std::vector<std::string> dirs = {d, d + "/conf", d + "/conf/a", d + "/conf/a/b", d + "/keys"};
  CHECK(plan.dirs == dirs);  // d: the parent of new-file
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0].find("/nonexistent-rp/x") != std::string::npos);

  // Without missing_parent, a missing file marks nothing; a limit keeps the shallow directories.
  auto bounded = rampart::enforce::plan_marks({pat(d + "/new-file"), pat(d + "/conf/")}, false, 2);
  CHECK(bounded.dirs == std::vector<std::string>{d + "/conf", d + "/conf/a"});
  CHECK(bounded.dirs_truncated == 1);
  fs::remove_all(d);
}

TEST_CASE("the interpreter an exec opens next: PT_INTERP of a dynamic binary, a script's #! program", "[unit]") {
  auto of = [](const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto r = rampart::enforce::interpreter_of(fd);
    close(fd);
    return r;
  };
  auto ld = of("/bin/true");
  REQUIRE(ld.has_value());
  CHECK(ld->find("ld-linux") != std::string::npos);
  char tmpl[] = "/tmp/rampart-interp-XXXXXX";
  const std::string d = mkdtemp(tmpl);
  std::ofstream(d + "/a.sh") << "#!/bin/sh -e\necho hi\n";
  std::ofstream(d + "/b.sh") << "#!  /usr/bin/env python3\n";
  std::ofstream(d + "/c.txt") << "plain text\n";
  std::ofstream(d + "/d.sh") << "#!relative\n";
  CHECK(of(d + "/a.sh") == std::optional<std::string>("/bin/sh"));
  CHECK(of(d + "/b.sh") == std::optional<std::string>("/usr/bin/env"));
  CHECK_FALSE(of(d + "/c.txt").has_value());
  CHECK_FALSE(of(d + "/d.sh").has_value());
  std::filesystem::remove_all(d);
}

namespace {

struct Opened {
  int fd;
  struct stat st {};
  explicit Opened(const std::string& path) : fd(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    REQUIRE(fd >= 0);
    REQUIRE(fstat(fd, &st) == 0);
  }
  ~Opened() { close(fd); }
  rampart::enforce::Denial in(const rampart::enforce::DeniedObjects& d, bool exec) const {
    const uint64_t ctime = uint64_t(st.st_ctim.tv_sec) * 1'000'000'000 + uint64_t(st.st_ctim.tv_nsec);
    return d.match(fd,
                   {{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)},
                    static_cast<uint64_t>(st.st_size),
                    ctime},
                   exec);
  }
  uint32_t flags_in(const rampart::enforce::DeniedObjects& d, bool exec) const { return in(d, exec).flags; }
};

}  // namespace

TEST_CASE("deny rules hold by identity: a hard link, a rename and a byte copy of a denied binary, not a look-alike",
          "[unit]") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/rampart-ids-XXXXXX";
  const std::string d = mkdtemp(tmpl);
  fs::create_directories(d + "/keys");
  std::ofstream(d + "/keys/a.pem") << "key a";
  std::ofstream(d + "/keys/b.pem") << "key b";
  std::ofstream(d + "/tool") << "#!/bin/sh\necho tool\n";
  std::ofstream(d + "/plain") << "nothing denied";
  GuardRule r =
      rampart::enforce::guard_rule(load("  deny:\n    - id: d\n      files: { read: [\"" + d + "/keys/\"], write: [\"" +
                                        d + "/plain-missing\"] }\n      exec: [\"" + d + "/tool\"]\n"));
  std::vector<std::string> files, notes;
  auto denied = rampart::enforce::denied_objects(r, files, notes);
  // Inode marks; the binary too (the loader run as a program opens it to read).
  CHECK(files == std::vector<std::string>{d + "/keys/a.pem", d + "/keys/b.pem", d + "/tool"});
  CHECK(denied.size() == 3);
  CHECK(notes.empty());

  fs::create_hard_link(d + "/keys/a.pem", d + "/link");
  fs::rename(d + "/keys/b.pem", d + "/moved");
  CHECK(Opened(d + "/link").flags_in(denied, false) == RP_PR_READ_DENY);
  CHECK(Opened(d + "/link").in(denied, false).name == d + "/keys/a.pem");  // reported as the rule knows it
  CHECK(Opened(d + "/moved").flags_in(denied, false) == RP_PR_READ_DENY);
  CHECK(Opened(d + "/plain").flags_in(denied, false) == 0);

  fs::copy_file(d + "/tool", d + "/copy");
  CHECK(Opened(d + "/copy").flags_in(denied, true) == RP_PR_EXEC_DENY);  // same bytes
  CHECK(Opened(d + "/copy").flags_in(denied, false) == 0);               // contents count for exec only
  std::ofstream(d + "/near") << "#!/bin/sh\necho tooL\n";                // same size, other bytes
  CHECK(Opened(d + "/near").flags_in(denied, true) == 0);

  // A file denied later, by name, is added once.
  {
    Opened plain(d + "/plain");
    CHECK(denied.add(plain.fd, RP_PR_WRITE_DENY, d + "/plain"));
    CHECK_FALSE(denied.add(plain.fd, RP_PR_WRITE_DENY, d + "/plain"));
    CHECK(plain.flags_in(denied, false) == RP_PR_WRITE_DENY);
  }
  // A limit keeps the set bounded, and says so.
  std::vector<std::string> few, why;
  auto bounded = rampart::enforce::denied_objects(r, few, why, 1);
  CHECK(bounded.size() == 1);
  REQUIRE(why.size() == 1);
  CHECK(why[0].find("more than 1 existing files") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("an exec deny rule on contents: sha256:HEX matches any copy, and bad hashes are refused with their place",
          "[unit]") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/rampart-sha-XXXXXX";
  const std::string d = mkdtemp(tmpl);
  std::ofstream(d + "/tool") << "abc";  // SHA-256 of "abc" is well known
  std::ofstream(d + "/other") << "abd";
  const std::string sum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  GuardRule r = rampart::enforce::guard_rule(load("  deny:\n    - id: d\n      exec: [\"sha256:" + sum + "\"]\n"));
  CHECK(r.has_exec_rules());
  REQUIRE(r.exec_deny_sha256.size() == 1);
  CHECK(r.exec_deny_sha256[0].text() == "sha256:" + sum);
  std::vector<std::string> files, notes;
  auto denied = rampart::enforce::denied_objects(r, files, notes);
  auto tool = Opened(d + "/tool").in(denied, true);
  CHECK(tool.flags == RP_PR_EXEC_DENY);
  CHECK(tool.name == "sha256:" + sum);
  CHECK(Opened(d + "/other").flags_in(denied, true) == 0);
  CHECK(Opened(d + "/tool").flags_in(denied, false) == 0);  // contents decide execs only

  auto bad = rampart::policy::PolicySet::load_text(
      "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: p\n"
      "spec:\n  selector:\n    executables: [\"/usr/bin/p\"]\n  mode: enforce\n"
      "  deny:\n    - id: d\n      exec: [\"sha256:abc\"]\n",
      "p.yaml");
  REQUIRE_FALSE(bad.has_value());
  CHECK_THAT(bad.error().what(), Catch::Contains("p.yaml:11:14") && Catch::Contains("64 hexadecimal digits"));
  fs::remove_all(d);
}

TEST_CASE("an exact name that is a symlink, or goes through one, also names its target, in allow and deny lists",
          "[unit]") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/rampart-links-XXXXXX";
  const std::string d = mkdtemp(tmpl);
  fs::create_directories(d + "/real");
  std::ofstream(d + "/real/key") << "key";
  std::ofstream(d + "/real/tool") << "tool";
  fs::create_symlink(d + "/real/key", d + "/key-link");
  fs::create_symlink(d + "/real/tool", d + "/tool-link");
  fs::create_directory_symlink(d + "/real", d + "/dir-link");
  GuardRule r = rampart::enforce::guard_rule(
      load("  allow:\n    exec: [\"" + d + "/tool-link\"]\n  deny:\n    - id: d\n      files: { read: [\"" + d +
           "/key-link\", \"" + d + "/dir-link/key\", \"" + d + "/missing\"] }\n"));
  // The kernel reports the file a name resolves to, never the link.
  CHECK(rampart::enforce::exec_reason(r, d + "/real/tool") == 0);
  CHECK(rampart::enforce::exec_reason(r, d + "/tool-link") == 0);
  CHECK(rampart::enforce::exec_reason(r, d + "/real/other") == RP_REASON_NOT_ALLOWED);
  CHECK(rampart::enforce::open_reasons(r, d + "/real/key").read == RP_REASON_DENY_RULE);
  CHECK(rampart::enforce::open_reasons(r, d + "/key-link").read == RP_REASON_DENY_RULE);
  // Each target once per name; a name that resolves to itself or to nothing adds nothing.
  CHECK(r.read_deny.size() == 5);
  CHECK(r.exec_allow.size() == 2);
  fs::remove_all(d);
}
