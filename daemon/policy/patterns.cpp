// Path patterns, network rules and identifiers of a policy: parsing with
// precise complaints, and the matchers that run on every event. The glob
// matcher is our own because fnmatch(FNM_PATHNAME) has no '**'. It works on
// path components: '**' stands for zero or more whole components, and inside
// a component '*' is any run of characters, '?' one character and '[...]' a
// class. Both levels use the greedy star-with-backtrack walk, which is
// linear-ish and never recursive.
#include "policy/patterns.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "util/number.h"

namespace rampart::policy {
namespace {

constexpr std::string_view kWildcards = "*?[";

// The class starting at pat[i] == '['. Returns the index just past its ']'
// or npos when there is none. Sets *matched when c is in the class.
size_t match_class(std::string_view pat, size_t i, char c, bool* matched) {
  size_t j = i + 1;
  bool negate = false;
  if (j < pat.size() && (pat[j] == '!' || pat[j] == '^')) {
    negate = true;
    ++j;
  }
  bool hit = false;
  bool first = true;  // a ']' right after '[' or '[!' is a literal
  while (j < pat.size() && (first || pat[j] != ']')) {
    first = false;
    char lo = pat[j];
    if (j + 2 < pat.size() && pat[j + 1] == '-' && pat[j + 2] != ']') {
      char hi = pat[j + 2];
      if (c >= lo && c <= hi) hit = true;
      j += 3;
    } else {
      if (c == lo) hit = true;
      ++j;
    }
  }
  if (j >= pat.size()) return std::string_view::npos;
  *matched = hit != negate;
  return j + 1;
}

// One component (no '/' in either side).
bool match_component(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0;
  size_t star_p = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (p < pat.size()) {
      char pc = pat[p];
      if (pc == '*') {
        star_p = ++p;
        star_i = i;
        continue;
      }
      if (pc == '?') {
        ++p, ++i;
        continue;
      }
      if (pc == '[') {
        bool in = false;
        size_t next = match_class(pat, p, s[i], &in);
        if (next == std::string_view::npos) {
          if (s[i] == '[') {  // unclosed: a literal '[' (validation rejects it anyway)
            ++p, ++i;
            continue;
          }
        } else if (in) {
          p = next, ++i;
          continue;
        }
      } else if (pc == s[i]) {
        ++p, ++i;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    i = ++star_i;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

// The component of s starting at off, and where the next one starts (past
// the '/'; s.size() + 1 once there are no more).
std::string_view component(std::string_view s, size_t off, size_t* next) {
  size_t end = s.find('/', off);
  if (end == std::string_view::npos) end = s.size();
  *next = end + 1;
  return s.substr(off, end - off);
}

// Both start with '/', which is skipped; then component by component.
bool match_glob(std::string_view pat, std::string_view path) {
  pat.remove_prefix(1);
  path.remove_prefix(1);
  const size_t pn = pat.size(), sn = path.size();
  size_t p = 0, s = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (s <= sn) {
    if (p <= pn) {
      size_t p_next = 0, s_next = 0;
      std::string_view pc = component(pat, p, &p_next);
      if (pc == "**") {
        star_p = p = p_next;
        star_s = s;
        continue;
      }
      std::string_view sc = component(path, s, &s_next);
      if (match_component(pc, sc)) {
        p = p_next, s = s_next;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    // '**' takes one more component and the rest of the pattern tries again.
    size_t skip = 0;
    component(path, star_s, &skip);
    star_s = skip;
    p = star_p, s = star_s;
  }
  for (;;) {  // the path is used up: what is left of the pattern must be '**'
    if (p > pn) return true;
    size_t p_next = 0;
    if (component(pat, p, &p_next) != "**") return false;
    p = p_next;
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

Result<uint16_t> parse_port(std::string_view s) {
  auto v = parse_number<uint16_t>(s, 1, 65535);
  if (v) return v;
  // All digits and still refused: the number is out of range.
  if (!all_digits(s)) return fail("port '" + std::string(s) + "' is not a number");
  return fail("port " + std::string(s) + " is out of range (1-65535)");
}

std::string address_text(int af, const uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(af, addr, buf, sizeof buf);
  return buf;
}

// "ADDR" or "ADDR/LEN" of a known family into r.
Result<void> parse_network(std::string_view text, uint8_t family, NetRule& r) {
  std::string_view addr = text;
  std::string_view len;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len = text.substr(slash + 1);
  }
  int af = family == 4 ? AF_INET : AF_INET6;
  unsigned max_len = family == 4 ? 32 : 128;
  const char* fam = family == 4 ? "IPv4" : "IPv6";
  if (inet_pton(af, std::string(addr).c_str(), r.addr.data()) != 1) {
    std::string msg = "bad " + std::string(fam) + " address '" + std::string(addr) + "'";
    if (family == 4) msg += " (expected a dotted quad such as 10.0.0.0; host names are not resolved)";
    return fail(msg);
  }
  r.family = family;
  r.prefix_len = static_cast<uint8_t>(max_len);
  if (text.find('/') != std::string_view::npos) {
    auto v = parse_number<unsigned>(len, 0, max_len);
    if (!v && !all_digits(len))
      return fail("bad prefix length '/" + std::string(len) + "' (expected 0-" + std::to_string(max_len) + ")");
    if (!v)
      return fail("prefix length /" + std::string(len) + " is too long for " + fam + " (0-" + std::to_string(max_len) +
                  ")");
    r.prefix_len = static_cast<uint8_t>(*v);
  }
  // Host bits below the prefix are almost always a typo for the network.
  std::array<uint8_t, 16> net = r.addr;
  for (unsigned bit = r.prefix_len; bit < max_len; ++bit) net[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  if (net != r.addr) {
    std::string want = address_text(af, net.data()) + "/" + std::to_string(r.prefix_len);
    return fail("host bits set in " + std::string(text) + ": did you mean " + want + "?");
  }
  return {};
}

}  // namespace

bool PathPattern::matches(std::string_view path) const {
  if (path.empty() || path.front() != '/') return false;
  switch (kind) {
    case Kind::kExact:
      return path == text;
    case Kind::kPrefix: {
      // "/a/b/" covers "/a/b" itself and everything below it.
      std::string_view dir = std::string_view(text).substr(0, text.size() - 1);
      return path == dir || path.starts_with(text);
    }
    case Kind::kGlob:
      return match_glob(text, path);
  }
  return false;
}

bool NetRule::matches(uint8_t fam, const uint8_t* a, uint16_t port) const {
  if (fam != family || port < port_lo || port > port_hi) return false;
  unsigned full = prefix_len / 8, rest = prefix_len % 8;
  if (std::memcmp(addr.data(), a, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (addr[full] & mask) == (a[full] & mask);
}

Result<PathPattern> parse_path_pattern(std::string_view text) {
  if (text.empty()) return fail("empty path pattern");
  if (text.front() != '/') return fail("path pattern '" + std::string(text) + "' is relative: it must start with '/'");
  PathPattern p;
  p.text = std::string(text);
  bool glob = text.find_first_of(kWildcards) != std::string_view::npos;
  p.kind = glob                 ? PathPattern::Kind::kGlob
           : text.back() == '/' ? PathPattern::Kind::kPrefix
                                : PathPattern::Kind::kExact;

  // Components: the kernel reports resolved paths, so "//", "." and ".."
  // could never match.
  std::string_view body = text.substr(1);
  if (!body.empty() && body.back() == '/') {
    if (glob)
      return fail("glob '" + std::string(text) + "' ends in '/': use '" + std::string(text) +
                  "**' for everything below a directory");
    body.remove_suffix(1);
  }
  if (!body.empty()) {
    for (size_t off = 0, next = 0; off <= body.size(); off = next) {
      std::string_view c = component(body, off, &next);
      if (c.empty()) return fail("path pattern '" + std::string(text) + "' has an empty component ('//')");
      if (c == "." || c == "..")
        return fail("path pattern '" + std::string(text) + "' has a '" + std::string(c) +
                    "' component: paths are matched after resolution, so write it without");
    }
  }
  if (!glob) return p;

  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '[') {
      bool unused = false;
      size_t end = match_class(text, i, 'x', &unused);
      if (end == std::string_view::npos)
        return fail("unbalanced '[' at offset " + std::to_string(i) + " in '" + std::string(text) +
                    "': a character class needs its closing ']'");
      std::string_view cls = text.substr(i, end - i);
      if (cls.find('/') != std::string_view::npos)
        return fail("character class " + std::string(cls) + " in '" + std::string(text) +
                    "' contains '/': a class matches one character within a component");
      for (size_t j = 1; j + 2 < cls.size(); ++j) {
        if (cls[j + 1] == '-' && cls[j + 2] != ']' && cls[j] > cls[j + 2])
          return fail("empty range " + std::string(cls.substr(j, 3)) + " in '" + std::string(text) + "'");
      }
      i = end - 1;
    } else if (c == '*') {
      size_t run = text.find_first_not_of('*', i);
      if (run == std::string_view::npos) run = text.size();
      size_t n = run - i;
      bool whole = text[i - 1] == '/' && (run == text.size() || text[run] == '/');
      if (n > 2 || (n == 2 && !whole))
        return fail("'**' in '" + std::string(text) +
                    "' must be a whole path component (as in /a/**/b or /a/**); use '*' within a component");
      i = run - 1;
    }
  }
  return p;
}

size_t literal_prefix_len(const PathPattern& p) {
  if (p.kind != PathPattern::Kind::kGlob) return p.text.size();
  return std::min(p.text.find_first_of(kWildcards), p.text.size());
}

Result<PortRange> parse_port_range(std::string_view text) {
  PortRange r;
  if (text.empty()) return fail("empty port");
  size_t dash = text.find('-');
  auto lo = parse_port(text.substr(0, dash));
  if (!lo) return tl::unexpected(lo.error());
  r.lo = r.hi = *lo;
  if (dash != std::string_view::npos) {
    auto hi = parse_port(text.substr(dash + 1));
    if (!hi) return tl::unexpected(hi.error());
    r.hi = *hi;
    if (r.lo > r.hi) return fail("port range " + std::string(text) + " is empty (low > high)");
  }
  return r;
}

Result<NetRule> parse_net_rule(std::string_view text) {
  NetRule r;
  if (text.empty()) return fail("empty network rule");
  std::string_view network, ports;
  bool has_ports = false;
  uint8_t family = 4;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("'" + std::string(text) + "' has '[' without ']'");
    network = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return fail("expected ':PORT' after ']' in '" + std::string(text) + "', got '" + std::string(rest) + "'");
      ports = rest.substr(1);
      has_ports = true;
    }
    if (network.find(':') == std::string_view::npos)
      return fail("brackets are for IPv6 addresses: write '" + std::string(network) +
                  (has_ports ? ":" + std::string(ports) : "") + "' for IPv4");
    family = 6;
  } else if (std::count(text.begin(), text.end(), ':') >= 2) {
    network = text;  // a bare IPv6 address or network: all ports
    family = 6;
  } else {
    size_t colon = text.find(':');
    network = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      ports = text.substr(colon + 1);
      has_ports = true;
    }
  }
  if (auto ok = parse_network(network, family, r); !ok) return tl::unexpected(ok.error());
  // An IPv4-mapped network (::ffff:a.b.c.d/96+) is IPv4: the kernel decides
  // mapped destinations by the IPv4 rules, so the rule joins them.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (r.family == 6 && r.prefix_len >= 96 && std::memcmp(r.addr.data(), kMapped, sizeof(kMapped)) == 0) {
    std::array<uint8_t, 16> v4{};
    std::memcpy(v4.data(), r.addr.data() + 12, 4);
    r.addr = v4;
    r.family = 4;
    r.prefix_len = static_cast<uint8_t>(r.prefix_len - 96);
  }
  if (has_ports) {
    auto pr = parse_port_range(ports);
    if (!pr) return tl::unexpected(pr.error());
    r.port_lo = pr->lo;
    r.port_hi = pr->hi;
  }
  return r;
}

bool is_container_id(std::string_view s) { return s.size() == 64 && std::all_of(s.begin(), s.end(), is_lower_hex); }

bool is_pod_uid(std::string_view s) {
  if (s.size() == 32) return std::all_of(s.begin(), s.end(), is_lower_hex);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here ? s[i] != '-' : !is_lower_hex(s[i])) return false;
  }
  return true;
}

std::string normalize_cgroup_prefix(std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

bool cgroup_prefix_matches(std::string_view prefix, std::string_view path) {
  if (path.empty() || prefix.empty()) return false;
  if (prefix == "/") return path.front() == '/';
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace rampart::policy
