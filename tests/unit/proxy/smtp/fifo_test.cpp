#include "proxy/smtp/fifo.hpp"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

namespace hopscope::smtp {
namespace {

TEST(Fifo, GivesItemsBackInTheOrderTheyCame) {
  Fifo<std::string> q;
  EXPECT_TRUE(q.empty());
  q.emplace_back("a");
  q.push_back("b");
  q.emplace_back(3, 'c');
  ASSERT_EQ(q.size(), 3U);
  EXPECT_EQ(q.front(), "a");
  q.pop_front();
  EXPECT_EQ(q.front(), "b");
  q.pop_front();
  q.emplace_back("d");
  EXPECT_EQ(q.front(), "ccc");
  q.pop_front();
  EXPECT_EQ(q.front(), "d");
  q.pop_front();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.stored(), 0U);
}

TEST(Fifo, AQueueThatNeverRunsEmptyKeepsItsStorageBounded) {
  // A sender that always keeps one command in flight: the queue never drains.
  Fifo<int> q;
  q.push_back(0);
  std::size_t most = 0;
  for (int i = 1; i < 100'000; ++i) {
    q.push_back(i);
    ASSERT_EQ(q.front(), i - 1);
    q.pop_front();
    ASSERT_EQ(q.size(), 1U);
    most = std::max(most, q.stored());
  }
  EXPECT_LE(most, 40U);
}

TEST(Fifo, IteratesOverTheItemsStillQueued) {
  Fifo<int> q;
  for (int i = 0; i < 5; ++i) {
    q.push_back(i);
  }
  q.pop_front();
  q.pop_front();
  int expected = 2;
  for (const int v : q) {
    EXPECT_EQ(v, expected++);
  }
  EXPECT_EQ(expected, 5);
}

}  // namespace
}  // namespace hopscope::smtp
