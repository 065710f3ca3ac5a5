#pragma once
// Durations as written in the configuration and on the command line (DESIGN.md §4):
// a decimal count followed by one unit, `ms`, `s`, `m` or `h` ("250ms", "30s", "5m", "2h").
// Pure functions: no I/O, no locale, never throws. Rejects rather than guesses: no sign, no
// spaces, no fractions, no missing or unknown unit, nothing that overflows milliseconds.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace hopscope::config {

// The longest duration a key or --duration accepts. Longer ones are typos, and adding them
// to a steady_clock time point (nanoseconds) would overflow: "99999999h" made every session
// time out at once.
inline constexpr Duration max_duration = std::chrono::hours(24 * 366);

// Outcomes: the duration, or nullopt for anything that is not exactly <digits><unit>
// (empty, "5", "5x", "-5s", "1.5s", " 5s", a count whose milliseconds overflow int64).
// "0s" is a valid duration; callers that need a positive one check it themselves.
[[nodiscard]] std::optional<Duration> parse_duration(std::string_view text);

// The shortest exact spelling, in the largest unit that divides it: 300000ms → "5m".
// parse_duration(format_duration(d)) == d for every non-negative d.
[[nodiscard]] std::string format_duration(Duration duration);

}  // namespace hopscope::config
