#include "config/value_checks.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace hopscope::config {

namespace {

constexpr std::size_t max_suggestion_distance = 2;
constexpr std::size_t min_prefix_for_suggestion = 4;
constexpr std::size_t sha1_hex_digits = 40;

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0U : 1U)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view text, std::span<const std::string_view> candidates) {
  std::string_view best;
  std::size_t best_distance = max_suggestion_distance + 1;
  for (const auto candidate : candidates) {
    const std::size_t distance = edit_distance(text, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty()) {
    // "warning" for "warn", "max_sessions_per" for "max_sessions_per_client": one is a
    // beginning of the other.
    for (const auto candidate : candidates) {
      const auto shorter = std::min(text.size(), candidate.size());
      if (shorter >= min_prefix_for_suggestion &&
          text.substr(0, shorter) == candidate.substr(0, shorter)) {
        best = candidate;
        break;
      }
    }
  }
  if (best.empty() || best == text) {
    return "";
  }
  return "did you mean '" + std::string(best) + "'?";
}

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7F;
  });
}

bool is_base64_of(std::string_view text, std::size_t bytes) {
  const std::size_t groups = (bytes + 2) / 3;
  if (text.size() != groups * 4) {
    return false;
  }
  const std::size_t padding = (3 - bytes % 3) % 3;
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::size_t data_chars = text.size() - padding;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i >= data_chars) {
      if (text[i] != '=') {
        return false;
      }
    } else if (alphabet.find(text[i]) == std::string_view::npos) {
      return false;
    }
  }
  if (padding == 0) {
    return true;
  }
  // Unused low bits of the last data character must be zero (RFC 4648 §3.5), so that one
  // pin has one spelling.
  const auto last = alphabet.find(text[data_chars - 1]);
  const std::size_t unused_bits = padding == 1 ? 2 : 4;
  return (last & ((std::size_t{1} << unused_bits) - 1)) == 0;
}

std::string normalise_thumbprint(std::string_view text) {
  constexpr std::string_view lrm = "\xE2\x80\x8E";
  constexpr std::string_view rlm = "\xE2\x80\x8F";
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::string_view rest = text.substr(i);
    if (rest.starts_with(lrm) || rest.starts_with(rlm)) {
      i += lrm.size();
      continue;
    }
    const char c = text[i++];
    if (c == ' ' || c == ':' || c == '\t') {
      continue;
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool is_sha1_thumbprint(std::string_view text) {
  return text.size() == sha1_hex_digits && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

}  // namespace hopscope::config
