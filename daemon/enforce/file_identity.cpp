// Denied files by identity and by contents; see file_identity.h.
#include "enforce/file_identity.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>

namespace rampart::enforce {
namespace {

// Binaries hashed at start from prefix and glob rules: a deny of a whole
// directory of binaries would otherwise read all of them.
constexpr size_t kMaxWalkHashed = 256;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

std::optional<Sha256> sha256_of(int fd, uint64_t max_bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return std::nullopt;
  char buf[65536];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof(buf), static_cast<off_t>(total));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > max_bytes) return std::nullopt;
    if (EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n)) != 1) return std::nullopt;
  }
  Sha256 out{};
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) return std::nullopt;
  return out;
}

std::string file_handle_of(int fd) {
  struct {
    file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h{};
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) != 0) return {};
  std::string out(reinterpret_cast<const char*>(&h.fh.handle_type), sizeof(h.fh.handle_type));
  out.append(reinterpret_cast<const char*>(h.fh.f_handle), h.fh.handle_bytes);
  return out;
}

bool DeniedObjects::add(int fd, uint32_t flags, const std::string& name) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  std::string handle = file_handle_of(fd);
  auto it = ids_.find(id);
  bool changed = false;
  if (it == ids_.end() || it->second.handle != handle) {
    if (it == ids_.end() && ids_.size() >= kMaxIds) return false;
    ids_[id] = {flags, std::move(handle), name};  // a reused inode number: the old file is gone
    changed = true;
  } else if ((it->second.flags & flags) != flags) {
    it->second.flags |= flags;
    changed = true;
  }
  if ((flags & RP_PR_EXEC_DENY) && contents_ < kMaxContents) {
    if (auto sum = sha256_of(fd, kMaxHashed)) {
      auto& same = by_size_[static_cast<uint64_t>(st.st_size)];
      if (std::none_of(same.begin(), same.end(), [&](const Content& c) { return c.sum == *sum; })) {
        same.push_back({*sum, name});
        ++contents_;
        changed = true;
      }
    }
  }
  return changed;
}

void DeniedObjects::add_hash(const Sha256& sum, const std::string& name) { any_size_.push_back({sum, name}); }

std::optional<Sha256> DeniedObjects::hash(int fd, const FileVersion& v) const {
  if (auto it = hashed_.find(v.id);
      it != hashed_.end() && it->second.size == v.size && it->second.ctime_ns == v.ctime_ns)
    return it->second.sum;
  auto sum = sha256_of(fd, kMaxHashed);
  if (!sum) return std::nullopt;
  if (hashed_.size() >= kMaxHashCache) hashed_.clear();
  hashed_[v.id] = {v.size, v.ctime_ns, *sum};
  return sum;
}

Denial DeniedObjects::match(int fd, const FileVersion& v, bool exec) const {
  Denial d;
  if (auto it = ids_.find(v.id); it != ids_.end()) {
    // Without a handle to compare, (dev, ino) decides: the stricter answer.
    const std::string handle = it->second.handle.empty() ? std::string() : file_handle_of(fd);
    if (it->second.handle.empty() || handle.empty() || handle == it->second.handle) {
      d.flags = it->second.flags;
      d.name = it->second.name;
    }
  }
  if (!exec || (d.flags & RP_PR_EXEC_DENY)) return d;
  auto same = by_size_.find(v.size);
  if (same == by_size_.end() && any_size_.empty()) return d;
  auto sum = hash(fd, v);
  if (!sum) return d;
  for (const auto* list : {same == by_size_.end() ? nullptr : &same->second, &any_size_})
    if (list)
      for (const auto& c : *list)
        if (c.sum == *sum) {
          d.flags |= RP_PR_EXEC_DENY;
          d.name = c.name;
          return d;
        }
  return d;
}

DeniedObjects denied_objects(const GuardRule& r, std::vector<std::string>& files, std::vector<std::string>& notes,
                             size_t limit) {
  namespace fs = std::filesystem;
  DeniedObjects out;
  size_t seen = 0, hashed_from_walks = 0;
  bool full = false;
  auto take = [&](const std::string& path, uint32_t flags, bool walked) {
    if (seen >= limit) {
      full = true;
      return;
    }
    // O_PATH first: opening a device or a FIFO to read it can have effects.
    Fd f{open(path.c_str(), O_PATH | O_CLOEXEC | O_NOFOLLOW)};
    struct stat st {};
    if (f.fd < 0 || fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    ++seen;
    // A binary is read to hash it, unless too many came from directory walks.
    if ((flags & RP_PR_EXEC_DENY) && (!walked || hashed_from_walks++ < kMaxWalkHashed)) {
      Fd rd{open(("/proc/self/fd/" + std::to_string(f.fd)).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
      out.add(rd.fd >= 0 ? rd.fd : f.fd, flags, path);
    } else {
      out.add(f.fd, flags, path);  // an O_PATH fd: identity only, it cannot be read
    }
    // A denied binary too: the dynamic loader run as a program (ld.so FILE)
    // maps it after a plain open, which only an inode mark sees.
    files.push_back(path);
  };
  const std::pair<const std::vector<policy::PathPattern>*, uint32_t> lists[] = {
      {&r.read_deny, RP_PR_READ_DENY}, {&r.write_deny, RP_PR_WRITE_DENY}, {&r.exec_deny, RP_PR_EXEC_DENY}};
  for (const auto& [list, flags] : lists)
    for (const auto& p : *list) {
      if (p.kind == policy::PathPattern::Kind::kExact) {
        take(p.text, flags, false);
        continue;
      }
      const std::string dir = literal_dir(p);
      std::error_code ec;
      for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
           !ec && it != end && !full; it.increment(ec)) {
        std::error_code tec;
        if (!it->is_regular_file(tec) || it->is_symlink(tec)) continue;
        const std::string path = it->path().string();
        if (p.matches(path)) take(path, flags, true);
      }
    }
  for (const auto& h : r.exec_deny_sha256) out.add_hash(h.sha256, h.text());
  if (full)
    notes.push_back("deny rules name more than " + std::to_string(limit) +
                    " existing files: the rest are denied by name only (a hard link or bind mount of one is not)");
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return out;
}

}  // namespace rampart::enforce
