#include "proxy/session_id.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

namespace hopscope {
namespace {

// Process-wide, so two generators in one process can never hand out the same id even if
// their random parts happened to collide.
std::atomic<std::uint64_t> session_counter{0};

struct UtcFields {
  int year;
  unsigned month;
  unsigned day;
  std::int64_t hour;
  std::int64_t minute;
  std::int64_t second;
};

UtcFields utc_fields(std::int64_t unix_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{unix_ms}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const auto secs = duration_cast<seconds>(t - day).count();
  return UtcFields{static_cast<int>(ymd.year()),
                   static_cast<unsigned>(ymd.month()),
                   static_cast<unsigned>(ymd.day()),
                   secs / 3600,
                   (secs / 60) % 60,
                   secs % 60};
}

}  // namespace

std::string compact_utc_timestamp(std::int64_t unix_ms) {
  const auto f = utc_fields(unix_ms);
  if (f.year < 0 || f.year > 9999) {  // not from a real clock; snprintf widens the field
    std::array<char, 40> buf{};
    std::snprintf(buf.data(), buf.size(), "%04d%02u%02uT%02lld%02lld%02lldZ", f.year, f.month,
                  f.day, static_cast<long long>(f.hour), static_cast<long long>(f.minute),
                  static_cast<long long>(f.second));
    return buf.data();
  }
  // Digit by digit: one id per session, and snprintf's format parsing was most of its cost.
  std::string out = "00000000T000000Z";
  const auto put = [&out](std::size_t at, std::int64_t value, std::size_t width) {
    for (std::size_t i = width; i-- > 0; value /= 10) {
      out[at + i] = static_cast<char>('0' + value % 10);
    }
  };
  put(0, f.year, 4);
  put(4, f.month, 2);
  put(6, f.day, 2);
  put(9, f.hour, 2);
  put(11, f.minute, 2);
  put(13, f.second, 2);
  return out;
}

SessionIdGenerator::SessionIdGenerator() {
  std::random_device device;
  const auto bits = static_cast<unsigned>(device()) & 0xFFFFFFU;
  std::array<char, 8> buf{};
  std::snprintf(buf.data(), buf.size(), "%06x", bits);
  random_part_ = buf.data();
}

std::string SessionIdGenerator::next(std::int64_t started_unix_ms) {
  const auto n = session_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  std::array<char, 24> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr;
  const auto length = static_cast<std::size_t>(end - digits.data());
  std::string id = compact_utc_timestamp(started_unix_ms);
  id += '-';
  id += random_part_;
  id += '-';
  id.append(length < 6 ? 6 - length : 0, '0');  // at least six digits, as "%06llu"
  id.append(digits.data(), length);
  return id;
}

}  // namespace hopscope
