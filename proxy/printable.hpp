#pragma once
// Escapes bytes from the network for logs and audit documents: printable ASCII and valid
// UTF-8 pass, everything else becomes `\xNN`; output is capped. Header-only, std only.
// Never use raw peer bytes in a log line (STYLE.md C.11).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hopscope {

// Length of the valid UTF-8 sequence (2–4 bytes) starting at s[i], or 0 if there is none.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  std::size_t len = 0;
  std::uint32_t min = 0;
  if ((b0 & 0xE0U) == 0xC0U) {
    len = 2;
    min = 0x80;
  } else if ((b0 & 0xF0U) == 0xE0U) {
    len = 3;
    min = 0x800;
  } else if ((b0 & 0xF8U) == 0xF0U) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) {
    return 0;
  }
  std::uint32_t cp = b0 & (0xFFU >> (len + 1));
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<std::uint8_t>(s[i + k]);
    if ((b & 0xC0U) != 0x80U) {
      return 0;
    }
    cp = (cp << 6U) | (b & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

namespace detail {
inline std::string escape(std::string_view s, std::size_t max_bytes, bool double_backslash) {
  static constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
  std::string out;
  out.reserve(s.size() < max_bytes ? s.size() : max_bytes);
  std::size_t i = 0;
  while (i < s.size()) {
    if (out.size() >= max_bytes) {
      out += "…[+" + std::to_string(s.size() - i) + " bytes]";
      break;
    }
    const auto b = static_cast<std::uint8_t>(s[i]);
    if (b >= 0x20 && b < 0x7F && (b != '\\' || !double_backslash)) {
      out += static_cast<char>(b);
      ++i;
    } else if (b == '\\') {
      out += "\\\\";
      ++i;
    } else if (const std::size_t n = b >= 0x80 ? utf8_sequence_length(s, i) : 0; n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\x";
      out += hex[b >> 4U];
      out += hex[b & 0x0FU];
      ++i;
    }
  }
  return out;
}
}  // namespace detail

// Escapes `s` and caps the result at about `max_bytes` of output; a capped string ends
// in "…[+N bytes]" so a reader knows it was cut and by how much. A backslash is doubled so
// that "\\xNN" in the output always means an escaped byte.
inline std::string printable(std::string_view s, std::size_t max_bytes = 1000) {
  return detail::escape(s, max_bytes, true);
}

// For text that printable() already escaped (policy's evidence): keeps its backslashes as
// they are, still escapes whatever is not printable UTF-8, and caps.
inline std::string printable_escaped(std::string_view s, std::size_t max_bytes = 1000) {
  return detail::escape(s, max_bytes, false);
}

}  // namespace hopscope
