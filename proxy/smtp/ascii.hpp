#pragma once
// ASCII case folding for SMTP verbs and EHLO keywords (RFC 5321 §2.4: case-insensitive).
// Locale-free on purpose: std::toupper would depend on the process locale. Std only.

#include <cstddef>
#include <string_view>

namespace hopscope::smtp {

[[nodiscard]] constexpr char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != ascii_upper(b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace hopscope::smtp
