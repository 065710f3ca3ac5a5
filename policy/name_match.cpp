#include "policy/name_match.hpp"

#include <algorithm>
#include <cctype>

namespace hopscope::policy {
namespace {

std::string lower_without_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') {
    s.remove_suffix(1);
  }
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return out;
}

std::vector<std::string> common_names(const tls::CertificateFacts& leaf) {
  std::vector<std::string> out;
  for (const auto& a : leaf.subject_dn) {
    if (a.type == "CN" || a.type == "commonName") {
      out.push_back(a.value);
    }
  }
  return out;
}

}  // namespace

bool dns_name_matches(std::string_view pattern, std::string_view host) {
  const auto p = lower_without_dot(pattern);
  const auto h = lower_without_dot(host);
  if (p.empty() || h.empty()) {
    return false;
  }
  if (p.size() > 2 && p[0] == '*' && p[1] == '.') {
    const std::string_view suffix = std::string_view(p).substr(1);  // ".contoso.com"
    if (std::count(suffix.begin(), suffix.end(), '.') < 2) {
      return false;  // "*.com"
    }
    const auto dot = h.find('.');
    return dot != std::string::npos && dot > 0 && std::string_view(h).substr(dot) == suffix;
  }
  if (p.find('*') != std::string::npos) {
    return false;  // partial-label wildcards match nothing
  }
  return p == h;
}

std::optional<std::string> matching_name(const tls::CertificateFacts& leaf,
                                         const std::vector<std::string>& expected_names) {
  const auto names = leaf.san_dns.empty() ? common_names(leaf) : leaf.san_dns;
  for (const auto& expected : expected_names) {
    for (const auto& n : names) {
      if (dns_name_matches(n, expected)) {
        return expected;
      }
    }
  }
  return std::nullopt;
}

std::string presented_names(const tls::CertificateFacts& leaf) {
  std::string out;
  const bool san = !leaf.san_dns.empty();
  const auto names = san ? leaf.san_dns : common_names(leaf);
  for (const auto& n : names) {
    out += out.empty() ? (san ? "SAN " : "CN ") : ", ";
    out += n;
  }
  return out.empty() ? "no DNS name" : out;
}

}  // namespace hopscope::policy
