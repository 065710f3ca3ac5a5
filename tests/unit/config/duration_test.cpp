#include "config/duration.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace hopscope::config {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, ReadsEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250ms));
  EXPECT_EQ(parse_duration("30s"), Duration(30s));
  EXPECT_EQ(parse_duration("5m"), Duration(5min));
  EXPECT_EQ(parse_duration("2h"), Duration(2h));
}

TEST(ParseDuration, AcceptsZeroAndOneMillisecond) {
  EXPECT_EQ(parse_duration("0s"), Duration(0));
  EXPECT_EQ(parse_duration("0ms"), Duration(0));
  EXPECT_EQ(parse_duration("1ms"), Duration(1));
  EXPECT_EQ(parse_duration("007s"), Duration(7s));
}

TEST(ParseDuration, RejectsWhatIsNotDigitsThenUnit) {
  for (const char* text : {"", "5", "5x", "-5s", "+5s", "s", "ms", "1.5s", " 5s", "5s ", "5 s",
                           "5S", "5sec", "5min", "5ms5", "5mss", "0x10s", "5d"}) {
    EXPECT_FALSE(parse_duration(text).has_value()) << "'" << text << "'";
  }
}

TEST(ParseDuration, RejectsOverflowAtTheLimit) {
  // int64 milliseconds: 9223372036854775807.
  EXPECT_EQ(parse_duration("9223372036854775807ms"), Duration(9223372036854775807LL));
  EXPECT_FALSE(parse_duration("9223372036854775808ms").has_value());
  EXPECT_FALSE(parse_duration("99999999999999999999999999s").has_value());
  // 9223372036854775 s is 9223372036854775000 ms: fits; one more second does not.
  EXPECT_EQ(parse_duration("9223372036854775s"), Duration(9223372036854775000LL));
  EXPECT_FALSE(parse_duration("9223372036854776s").has_value());
  EXPECT_EQ(parse_duration("2562047788015h"), Duration(2562047788015LL * 3600000LL));
  EXPECT_FALSE(parse_duration("2562047788016h").has_value());
}

TEST(FormatDuration, UsesTheLargestExactUnitAndRoundTrips) {
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  for (const Duration d : {Duration(0), Duration(1), Duration(1000), Duration(61000),
                           Duration(3600000), Duration(7200001)}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << d.count();
  }
}

}  // namespace
}  // namespace hopscope::config
