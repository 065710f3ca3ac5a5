#include "proxy/session_id.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

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
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d%02u%02uT%02lld%02lld%02lldZ", f.year, f.month, f.day,
                static_cast<long long>(f.hour), static_cast<long long>(f.minute),
                static_cast<long long>(f.second));
  return buf.data();
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
  std::array<char, 32> counter{};
  std::snprintf(counter.data(), counter.size(), "%06llu", static_cast<unsigned long long>(n));
  return compact_utc_timestamp(started_unix_ms) + "-" + random_part_ + "-" + counter.data();
}

}  // namespace hopscope
