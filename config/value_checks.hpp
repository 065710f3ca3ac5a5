#pragma once
// Checks and normalisations of configuration values that need no TOML: "did you mean"
// hints, SHA-1 thumbprints as Exchange prints them, base64 pins. Pure functions on strings;
// no I/O, never throw on any input. (load.cpp, the only toml++ TU, uses them.)

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace hopscope::config {

// Levenshtein distance, ASCII case-insensitive.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

// "did you mean 'X'?" for the closest candidate within edit distance 2, else for a candidate
// that begins `text` or that `text` begins (at least 4 characters), else "". Never suggests
// `text` itself.
[[nodiscard]] std::string suggestion(std::string_view text,
                                     std::span<const std::string_view> candidates);

// True when `text` holds a C0 control character or DEL (a NUL would cut a path short).
[[nodiscard]] bool has_control_character(std::string_view text);

// True when `text` is the canonical padded base64 (RFC 4648 §4) of exactly `bytes` bytes.
[[nodiscard]] bool is_base64_of(std::string_view text, std::size_t bytes);

// Removes what Get-ExchangeCertificate output and the Windows certificate dialog carry
// besides the hex digits (spaces, tabs, colons, and the invisible U+200E/U+200F marks the
// dialog's copy puts in front) and upper-cases the rest. Does not check the result.
[[nodiscard]] std::string normalise_thumbprint(std::string_view text);

// True when `text` is 40 hex digits (after normalise_thumbprint).
[[nodiscard]] bool is_sha1_thumbprint(std::string_view text);

}  // namespace hopscope::config
