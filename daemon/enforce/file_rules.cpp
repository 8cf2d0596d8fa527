// Exec and file decisions, mark planning and access modes; see file_rules.h.
#include "enforce/file_rules.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>

#include "util/number.h"

namespace rampart::enforce {
namespace {

bool any(const std::vector<policy::PathPattern>& list, std::string_view path) {
  for (const auto& p : list)
    if (p.matches(path)) return true;
  return false;
}

uint8_t reason(bool restricted, const std::vector<policy::PathPattern>& allow,
               const std::vector<policy::PathPattern>& deny, std::string_view path) {
  if (any(deny, path)) return RP_REASON_DENY_RULE;
  if (restricted && !any(allow, path)) return RP_REASON_NOT_ALLOWED;
  return 0;
}

// A name that is a symlink, or that goes through one, names its target too:
// the kernel reports the file a path resolves to (/usr/bin/python3.11 for
// /usr/bin/python3), never the link. Resolved when the policy is compiled.
void add_link_targets(std::vector<policy::PathPattern>& list) {
  const size_t n = list.size();
  for (size_t i = 0; i < n; ++i) {
    if (list[i].kind != policy::PathPattern::Kind::kExact) continue;
    std::error_code ec;
    std::string target = std::filesystem::canonical(list[i].text, ec).string();
    if (ec || target == list[i].text) continue;
    policy::PathPattern t = list[i];
    t.text = std::move(target);
    list.push_back(std::move(t));
  }
}

}  // namespace

std::string literal_dir(const policy::PathPattern& p) {
  if (p.kind == policy::PathPattern::Kind::kPrefix)
    return p.text.size() > 1 ? p.text.substr(0, p.text.size() - 1) : "/";
  size_t wild = p.text.find_first_of("*?[");
  size_t slash = p.text.rfind('/', wild);
  return slash == 0 ? "/" : p.text.substr(0, slash);
}

GuardRule guard_rule(const policy::Policy& p) {
  GuardRule r;
  r.enforce = p.mode == policy::Mode::kEnforce;
  r.restrict_exec = p.allow.has_exec;
  r.exec_allow = p.allow.exec;
  r.restrict_read = p.allow.has_file_read;
  r.restrict_write = p.allow.has_file_write;
  r.read_allow = p.allow.file_read;
  r.write_allow = p.allow.file_write;
  for (const auto& d : p.deny) {
    if (d.action == policy::Action::kAlert) continue;  // alerts come from the event stream, not from a mark
    r.exec_deny.insert(r.exec_deny.end(), d.exec.begin(), d.exec.end());
    r.exec_deny_sha256.insert(r.exec_deny_sha256.end(), d.exec_sha256.begin(), d.exec_sha256.end());
    r.read_deny.insert(r.read_deny.end(), d.file_read.begin(), d.file_read.end());
    r.write_deny.insert(r.write_deny.end(), d.file_write.begin(), d.file_write.end());
  }
  for (auto* list : {&r.exec_allow, &r.read_allow, &r.write_allow, &r.exec_deny, &r.read_deny, &r.write_deny})
    add_link_targets(*list);
  return r;
}

bool exec_denied(const GuardRule& r, std::string_view path) { return any(r.exec_deny, path); }

uint8_t exec_reason(const GuardRule& r, std::string_view path) {
  return reason(r.restrict_exec, r.exec_allow, r.exec_deny, path);
}

OpenReasons open_reasons(const GuardRule& r, std::string_view path) {
  return {reason(r.restrict_read, r.read_allow, r.read_deny, path),
          reason(r.restrict_write, r.write_allow, r.write_deny, path)};
}

Access access_from_flags(uint64_t flags) {
  // O_PATH opens neither reads nor writes: the kernel ignores the other flags.
  if (flags & O_PATH) return {};
  const uint64_t acc = flags & O_ACCMODE;
  Access a;
  // O_ACCMODE itself (3) asks for both, as the kernel checks it.
  a.read = acc == O_RDONLY || acc == O_RDWR || acc == O_ACCMODE;
  a.write = acc != O_RDONLY || (flags & (O_TRUNC | O_CREAT)) != 0;
  return a;
}

std::optional<std::string> interpreter_of(int fd) {
  unsigned char head[256];
  ssize_t n = pread(fd, head, sizeof(head), 0);
  if (n < 4) return std::nullopt;
  if (head[0] == '#' && head[1] == '!') {
    std::string_view line(reinterpret_cast<const char*>(head) + 2, static_cast<size_t>(n) - 2);
    line = line.substr(0, line.find('\n'));
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) return std::nullopt;
    line.remove_prefix(start);
    std::string path(line.substr(0, line.find_first_of(" \t\r")));
    if (path.empty() || path[0] != '/') return std::nullopt;
    return path;
  }
  Elf64_Ehdr eh;
  if (static_cast<size_t>(n) < sizeof(eh) || std::memcmp(head, ELFMAG, SELFMAG) != 0 || head[EI_CLASS] != ELFCLASS64)
    return std::nullopt;
  std::memcpy(&eh, head, sizeof(eh));
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) return std::nullopt;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof(ph), static_cast<off_t>(eh.e_phoff + i * sizeof(ph))) != sizeof(ph)) return std::nullopt;
    if (ph.p_type != PT_INTERP) continue;
    if (ph.p_filesz < 2 || ph.p_filesz > 4096) return std::nullopt;
    std::string path(ph.p_filesz, '\0');
    if (pread(fd, path.data(), ph.p_filesz, static_cast<off_t>(ph.p_offset)) != static_cast<ssize_t>(ph.p_filesz))
      return std::nullopt;
    path.resize(std::strlen(path.c_str()));
    return path;
  }
  return std::nullopt;
}

MarkPlan plan_marks(const std::vector<policy::PathPattern>& patterns, bool missing_parent, size_t max_dirs) {
  namespace fs = std::filesystem;
  MarkPlan plan;
  std::vector<std::string> roots;  // directories to mark with everything below them
  for (const auto& p : patterns) {
    struct stat st {};
    if (p.kind == policy::PathPattern::Kind::kExact) {
      if (stat(p.text.c_str(), &st) == 0) {
        (S_ISDIR(st.st_mode) ? plan.dirs : plan.files).push_back(p.text);
        continue;
      }
      if (!missing_parent) continue;
      // Not there yet: its directory's mark sees it once it is created and opened.
      std::string parent = fs::path(p.text).parent_path();
      if (stat(parent.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        plan.dirs.push_back(parent);
      } else {
        plan.notes.push_back(p.pos.str() + ": " + p.text +
                             " and its directory do not exist: not protected until "
                             "rampartd restarts or reloads after they do");
      }
      continue;
    }
    std::string dir = literal_dir(p);
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      plan.notes.push_back(p.pos.str() + ": " + dir + " (under " + p.text + ") is not a directory: nothing marked");
      continue;
    }
    roots.push_back(dir);
  }
  // Breadth first, so that a limit keeps the shallow directories.
  std::deque<std::string> queue(roots.begin(), roots.end());
  std::vector<std::string> walked;
  while (!queue.empty()) {
    std::string dir = std::move(queue.front());
    queue.pop_front();
    if (std::find(walked.begin(), walked.end(), dir) != walked.end()) continue;
    if (walked.size() >= max_dirs) {
      ++plan.dirs_truncated;
      continue;
    }
    walked.push_back(dir);
    std::error_code ec;
    for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::error_code tec;
      if (it->is_directory(tec) && !it->is_symlink(tec)) queue.push_back(it->path().string());
    }
  }
  plan.dirs.insert(plan.dirs.end(), walked.begin(), walked.end());
  std::sort(plan.dirs.begin(), plan.dirs.end());
  plan.dirs.erase(std::unique(plan.dirs.begin(), plan.dirs.end()), plan.dirs.end());
  std::sort(plan.files.begin(), plan.files.end());
  plan.files.erase(std::unique(plan.files.begin(), plan.files.end()), plan.files.end());
  if (plan.dirs_truncated)
    plan.notes.push_back(std::to_string(plan.dirs_truncated) + " directories past the limit of " +
                         std::to_string(max_dirs) + " were not marked");
  return plan;
}

std::vector<PathEntry> compile_path_rules(const std::vector<PathRuleInput>& inputs, std::vector<std::string>& notes,
                                          size_t glob_limit) {
  namespace fs = std::filesystem;
  std::vector<PathEntry> out;
  auto add = [&](const std::string& bytes, bool exact, uint32_t flags, const policy::PathPattern& from) {
    if (bytes.size() + (exact ? 1 : 0) > RP_LSM_PATH) {
      notes.push_back(from.pos.str() + ": " + bytes + " is longer than " + std::to_string(RP_LSM_PATH - 1) +
                      " bytes: left out of the kernel's path rules");
      return;
    }
    for (auto& e : out)
      if (e.bytes == bytes && e.exact == exact) {
        e.flags |= flags;
        return;
      }
    out.push_back({bytes, exact, flags});
  };
  for (const auto& [pattern, flags] : inputs) {
    switch (pattern.kind) {
      case policy::PathPattern::Kind::kExact:
        add(pattern.text, true, flags, pattern);
        break;
      case policy::PathPattern::Kind::kPrefix:
        add(pattern.text, false, flags, pattern);
        if (pattern.text.size() > 1) add(pattern.text.substr(0, pattern.text.size() - 1), true, flags, pattern);
        break;
      case policy::PathPattern::Kind::kGlob: {
        std::string dir = literal_dir(pattern);
        size_t seen = 0;
        std::error_code ec;
        for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
             !ec && it != end; it.increment(ec)) {
          if (++seen > glob_limit * 16) break;  // bound the walk itself
          const std::string path = it->path().string();
          if (!pattern.matches(path)) continue;
          add(path, true, flags, pattern);
          if (out.size() > glob_limit) break;
        }
        notes.push_back(pattern.pos.str() + ": glob " + pattern.text +
                        " is compiled as the files it matches now; files created later match after a reload");
        break;
      }
    }
  }
  for (auto& e : out)
    for (const auto& p : out)
      if (!p.exact && &p != &e && e.bytes.size() >= p.bytes.size() && e.bytes.compare(0, p.bytes.size(), p.bytes) == 0)
        e.flags |= p.flags;
  return out;
}

std::vector<PathRuleInput> path_inputs(const GuardRule& r) {
  std::vector<PathRuleInput> in;
  const std::pair<const std::vector<policy::PathPattern>*, uint32_t> lists[] = {
      {&r.exec_allow, RP_PR_EXEC_ALLOW},   {&r.exec_deny, RP_PR_EXEC_DENY}, {&r.read_allow, RP_PR_READ_ALLOW},
      {&r.write_allow, RP_PR_WRITE_ALLOW}, {&r.read_deny, RP_PR_READ_DENY}, {&r.write_deny, RP_PR_WRITE_DENY}};
  for (const auto& [list, flag] : lists)
    for (const auto& p : *list) in.push_back({p, flag});
  return in;
}

uint8_t path_flags(const GuardRule& r) {
  uint8_t f = 0;
  if (r.restrict_exec) f |= RP_PATHS_RESTRICT_EXEC;
  if (r.restrict_read) f |= RP_PATHS_RESTRICT_READ;
  if (r.restrict_write) f |= RP_PATHS_RESTRICT_WRITE;
  if (!path_inputs(r).empty()) f |= RP_PATHS_ANY;
  return f;
}

rp_path_key path_key(uint32_t policy_id, const PathEntry& e) {
  rp_path_key k{};
  const size_t n = std::min(e.bytes.size(), sizeof(k.path) - 1);
  std::memcpy(k.path, e.bytes.data(), n);
  k.policy_id = policy_id;
  k.prefixlen = static_cast<uint32_t>(32 + 8 * (n + (e.exact ? 1 : 0)));
  return k;
}

}  // namespace rampart::enforce
