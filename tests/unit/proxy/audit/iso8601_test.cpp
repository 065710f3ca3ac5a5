// iso8601_utc() writes its digits by hand; gmtime_r(3) + strftime(3) is the oracle.

#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "proxy/audit_json.hpp"

namespace hopscope {
namespace {

std::string oracle(std::int64_t unix_ms) {
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::array<char, 32> date{};
  std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::array<char, 48> out{};
  std::snprintf(out.data(), out.size(), "%s.%03lldZ", date.data(),
                static_cast<long long>(unix_ms % 1000));
  return out.data();
}

TEST(Iso8601Utc, MatchesGmtimeAcrossTheFourDigitYears) {
  const auto seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937_64 rng(seed);
  // 0000-01-01 is before the epoch: the range starts at the epoch, up to 9999-12-31.
  std::uniform_int_distribution<std::int64_t> ms(0, 253'402'300'799'999);
  for (int i = 0; i < 20'000; ++i) {
    const auto t = ms(rng);
    ASSERT_EQ(iso8601_utc(t), oracle(t)) << t << " (seed " << seed << ")";
  }
}

TEST(Iso8601Utc, WritesTheEdgesOfADayAndALeapYear) {
  EXPECT_EQ(iso8601_utc(951'782'399'999), "2000-02-28T23:59:59.999Z");
  EXPECT_EQ(iso8601_utc(951'782'400'000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(iso8601_utc(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(utc_date(1'796'060'700'123), "2026-11-30");
}

TEST(Iso8601Utc, KeepsYearsBeyondFourDigitsWhole) {
  EXPECT_EQ(iso8601_utc(253'402'300'800'000), "10000-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace hopscope
