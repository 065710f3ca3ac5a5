#include "config/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace hopscope::config {

namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t milliseconds;
};

// Longest suffix first, so that "ms" is not read as "m" followed by garbage.
constexpr std::array<Unit, 4> units = {{
    {"ms", 1},
    {"s", 1000},
    {"m", std::int64_t{60} * 1000},
    {"h", std::int64_t{60} * 60 * 1000},
}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0) {
    return std::nullopt;  // empty, a sign, a space or a unit without a count
  }
  const std::string_view suffix = text.substr(digits);
  const Unit* unit = nullptr;
  for (const auto& candidate : units) {
    if (suffix == candidate.suffix) {
      unit = &candidate;
      break;
    }
  }
  if (unit == nullptr) {
    return std::nullopt;
  }
  constexpr std::int64_t max = std::numeric_limits<Duration::rep>::max();
  std::int64_t count = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const std::int64_t digit = text[i] - '0';
    if (count > (max - digit) / 10) {
      return std::nullopt;
    }
    count = count * 10 + digit;
  }
  if (count > max / unit->milliseconds) {
    return std::nullopt;
  }
  return Duration(count * unit->milliseconds);
}

std::string format_duration(Duration duration) {
  const std::int64_t ms = duration.count();
  for (std::size_t i = units.size(); i-- > 0;) {
    const Unit& unit = units.at(i);
    if (ms != 0 && ms % unit.milliseconds == 0) {
      return std::to_string(ms / unit.milliseconds) + std::string(unit.suffix);
    }
  }
  return std::to_string(ms) + "ms";
}

}  // namespace hopscope::config
