#include "proxy/session_id.hpp"

#include <algorithm>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace hopscope {
namespace {

constexpr std::int64_t started_ms = 1795369500123;  // 2026-11-22T17:45:00.123Z

TEST(SessionIdGenerator, IdHasTimeRandomAndCounterParts) {
  SessionIdGenerator ids;
  const auto id = ids.next(started_ms);
  EXPECT_TRUE(std::regex_match(id, std::regex("20261122T174500Z-[0-9a-f]{6}-[0-9]{6,}"))) << id;
  EXPECT_EQ(id.substr(17, 6), ids.random_part());
}

TEST(SessionIdGenerator, TwoGeneratorsGiveDifferentIds) {
  SessionIdGenerator first;
  SessionIdGenerator second;
  EXPECT_NE(first.next(started_ms), second.next(started_ms));
}

TEST(SessionIdGenerator, IdsAreUniqueAcross10000Calls) {
  SessionIdGenerator ids;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_TRUE(seen.insert(ids.next(started_ms)).second) << "call " << i;
  }
  EXPECT_EQ(seen.size(), 10000U);
}

TEST(SessionIdGenerator, CompactTimestampIsUtc) {
  EXPECT_EQ(compact_utc_timestamp(0), "19700101T000000Z");
  EXPECT_EQ(compact_utc_timestamp(started_ms), "20261122T174500Z");
  EXPECT_EQ(compact_utc_timestamp(951868799999), "20000229T235959Z");
  EXPECT_EQ(compact_utc_timestamp(253402300799999), "99991231T235959Z");
  EXPECT_EQ(compact_utc_timestamp(253402300800000), "100000101T000000Z");
}

TEST(SessionIdGenerator, CounterHasAtLeastSixDigitsAndGrows) {
  SessionIdGenerator ids;
  const auto counter = [](const std::string& id) { return id.substr(id.rfind('-') + 1); };
  const auto first = counter(ids.next(started_ms));
  ASSERT_GE(first.size(), 6U);
  const auto second = counter(ids.next(started_ms));
  EXPECT_EQ(std::stoull(second), std::stoull(first) + 1);
  EXPECT_EQ(second.size(), std::max<std::size_t>(6, std::to_string(std::stoull(second)).size()));
}

}  // namespace
}  // namespace hopscope
