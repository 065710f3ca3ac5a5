#include "proxy/smtp/data_framer.hpp"

#include <iostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/printable.hpp"
#include "splits.hpp"

namespace hopscope::smtp {
namespace {

struct Framed {
  std::vector<FramerEvent> events;  // adjacent content pieces merged
  std::string rest;                 // bytes the framer left to the command stream
  bool operator==(const Framed&) const = default;
};

// start: called once before the first byte (start_data or start_bdat).
template <typename Start>
Framed frame(const std::vector<std::string_view>& pieces, Start start) {
  DataFramer framer;
  start(framer);
  Framed out;
  for (std::string_view piece : pieces) {
    const std::size_t used = framer.active() ? framer.feed(piece) : 0;
    out.rest.append(piece.substr(used));
    while (auto e = framer.next()) {
      auto* content = std::get_if<MessageContent>(&*e);
      if (content != nullptr && !out.events.empty()) {
        if (auto* prev = std::get_if<MessageContent>(&out.events.back())) {
          prev->bytes += content->bytes;
          continue;
        }
      }
      out.events.push_back(std::move(*e));
    }
  }
  return out;
}

std::string tail(const std::string& s) {
  return s.substr(s.size() - 5);
}

Framed data(const std::vector<std::string_view>& pieces) {
  return frame(pieces, [](DataFramer& f) { f.start_data(); });
}

constexpr std::string_view wire =
    "Subject: x\r\n\r\n..stuffed\r\n...\r\nhi\n.\nsmuggled\r\nA\n.\r\nB\r\n.\nC\r\n.x\r\n"
    "end\r\n.\r\nQUIT\r\n";

TEST(DataFramer, UnstuffsAndStopsAtTheFinalDot) {
  const Framed f = data({wire});
  ASSERT_EQ(f.events.size(), 8U);
  EXPECT_EQ(std::get<MessageContent>(f.events[0]).bytes,
            "Subject: x\r\n\r\n.stuffed\r\n..\r\nhi\n.\n");
  EXPECT_EQ(std::get<AmbiguousEndOfData>(f.events[1]).evidence,
            "ject: x\r\n\r\n..stuffed\r\n...\r\nhi\n.\n");
  EXPECT_EQ(std::get<MessageContent>(f.events[2]).bytes, "smuggled\r\nA\n.\r\n");
  EXPECT_EQ(tail(std::get<AmbiguousEndOfData>(f.events[3]).evidence), "A\n.\r\n");
  EXPECT_EQ(std::get<MessageContent>(f.events[4]).bytes, "B\r\n\n");
  EXPECT_EQ(tail(std::get<AmbiguousEndOfData>(f.events[5]).evidence), "B\r\n.\n");
  EXPECT_EQ(std::get<MessageContent>(f.events[6]).bytes, "C\r\nx\r\nend\r\n");
  const auto& end = std::get<MessageEnd>(f.events[7]);
  EXPECT_EQ(end.transfer, Transfer::data);
  EXPECT_EQ(end.wire_bytes, wire.size() - 6);
  EXPECT_EQ(end.content_bytes, wire.size() - 6 - 3 - 4);  // ".\r\n" and four removed dots
  EXPECT_EQ(f.rest, "QUIT\r\n");
}

TEST(DataFramer, CarriesNothingButContentInTheEmittedCopy) {
  const Framed f = data({wire});
  std::string content;
  for (const auto& e : f.events) {
    if (const auto* c = std::get_if<MessageContent>(&e)) {
      content += c->bytes;
    }
  }
  EXPECT_EQ(
      content,
      "Subject: x\r\n\r\n.stuffed\r\n..\r\nhi\n.\nsmuggled\r\nA\n.\r\nB\r\n\nC\r\nx\r\nend\r\n");
}

TEST(DataFramer, EmptyMessageAndLeadingAmbiguity) {
  const Framed empty = data({".\r\nQUIT\r\n"});
  ASSERT_EQ(empty.events.size(), 1U);
  EXPECT_EQ(std::get<MessageEnd>(empty.events[0]).content_bytes, 0U);
  EXPECT_EQ(empty.rest, "QUIT\r\n");
  const Framed lead = data({".\nx\r\n.\r\n"});
  ASSERT_EQ(lead.events.size(), 4U);
  EXPECT_EQ(std::get<AmbiguousEndOfData>(lead.events[1]).evidence, ".\n");
}

TEST(DataFramer, SameEventsForEverySplitPoint) {
  const Framed whole = data({wire});
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    EXPECT_EQ(data(test::cut_at(wire, cut)), whole) << "cut=" << cut;
  }
}

TEST(DataFramer, SameEventsOneByteAtATime) {
  EXPECT_EQ(data(test::bytewise(wire)), data({wire}));
}

TEST(DataFramer, SameEventsForRandomSplits) {
  const std::uint64_t seed = std::random_device{}();
  std::cout << "DataFramer random split seed=" << seed << "\n";
  std::mt19937_64 rng(seed);
  const Framed whole = data({wire});
  for (int round = 0; round < 1000; ++round) {
    ASSERT_EQ(data(test::random_pieces(wire, rng)), whole) << "seed=" << seed << " round=" << round;
  }
}

// The scan for a LF followed by a dot looks at 16 bytes per step: a stuffed dot and the
// final dot are found at every offset, block boundaries included.
TEST(DataFramer, FindsADotLineAtEveryOffsetOfALongFeed) {
  for (std::size_t offset = 0; offset <= 64; ++offset) {
    const std::string head(offset, 'x');
    const std::string tail_text(40, 'y');
    const std::string in = head + "\r\n..z\r\n" + tail_text + "\r\n.\r\nQUIT\r\n";
    const Framed f = data({in});
    ASSERT_EQ(f.events.size(), 2U) << "offset=" << offset;
    EXPECT_EQ(std::get<MessageContent>(f.events[0]).bytes, head + "\r\n.z\r\n" + tail_text + "\r\n")
        << "offset=" << offset;
    EXPECT_EQ(f.rest, "QUIT\r\n") << "offset=" << offset;
  }
}

// Fed whole, a body goes through the 16-byte scan; fed one byte at a time, through the
// byte-wise path. Random bodies of CR, LF, dots and text must frame the same both ways.
TEST(DataFramer, SameEventsWholeAndByteWiseForRandomBodies) {
  const std::uint64_t seed = std::random_device{}();
  std::cout << "DataFramer random body seed=" << seed << "\n";
  std::mt19937_64 rng(seed);
  constexpr std::string_view alphabet = "a\r\n.";
  for (int round = 0; round < 2000; ++round) {
    std::string body;
    const auto length = std::uniform_int_distribution<std::size_t>(0, 120)(rng);
    for (std::size_t i = 0; i < length; ++i) {
      body += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    }
    body += "\r\n.\r\nQUIT\r\n";
    ASSERT_EQ(data({body}), data(test::bytewise(body))) << "seed=" << seed << " round=" << round;
  }
}

// Postfix (smtpd_forbid_bare_newline = no) strips every CR before the LF that ends a line,
// so a dot line ended by two or more CRs and a LF ends its DATA: SMTP smuggling. By RFC 5321
// §4.1.1.4 it is content; the framer keeps it so and reports it.
struct CrRunCase {
  std::string_view wire;
  std::string_view content;   // before the ambiguous event
  std::string_view evidence;  // wire bytes up to the LF
  std::string_view after;     // content after the ambiguous event
};

constexpr CrRunCase cr_run_cases[] = {
    {"a\r\n.\r\r\nMAIL\r\n.\r\nQUIT\r\n", "a\r\n\r\r\n", "a\r\n.\r\r\n", "MAIL\r\n"},
    {"a\n.\r\r\nMAIL\r\n.\r\nQUIT\r\n", "a\n.\r\r\n", "a\n.\r\r\n", "MAIL\r\n"},
    {"a\r\n.\r\r\r\nMAIL\r\n.\r\nQUIT\r\n", "a\r\n\r\r\r\n", "a\r\n.\r\r\r\n", "MAIL\r\n"},
    {"a\n.\r\r\r\nMAIL\r\n.\r\nQUIT\r\n", "a\n.\r\r\r\n", "a\n.\r\r\r\n", "MAIL\r\n"},
    {".\r\r\nMAIL\r\n.\r\nQUIT\r\n", "\r\r\n", ".\r\r\n", "MAIL\r\n"},
    {"a\r\n.\r\r\n.\r\nQUIT\r\n", "a\r\n\r\r\n", "a\r\n.\r\r\n", ""},
};

TEST(DataFramer, DotLineEndedByCrRunAndLfIsAmbiguousButNotTheEnd) {
  for (const auto& c : cr_run_cases) {
    const Framed f = data({c.wire});
    const std::size_t expected_events = c.after.empty() ? 3U : 4U;
    ASSERT_EQ(f.events.size(), expected_events) << printable(c.wire);
    EXPECT_EQ(std::get<MessageContent>(f.events[0]).bytes, c.content);
    EXPECT_EQ(std::get<AmbiguousEndOfData>(f.events[1]).evidence, c.evidence);
    if (!c.after.empty()) {
      EXPECT_EQ(std::get<MessageContent>(f.events[2]).bytes, c.after);
    }
    EXPECT_TRUE(std::holds_alternative<MessageEnd>(f.events.back()));
    EXPECT_EQ(f.rest, "QUIT\r\n");
  }
}

TEST(DataFramer, DotLineEndedByCrRunSameEventsForEverySplitAndByteWise) {
  for (const auto& c : cr_run_cases) {
    const Framed whole = data({c.wire});
    for (std::size_t cut = 0; cut <= c.wire.size(); ++cut) {
      EXPECT_EQ(data(test::cut_at(c.wire, cut)), whole) << printable(c.wire) << " cut=" << cut;
    }
    EXPECT_EQ(data(test::bytewise(c.wire)), whole) << printable(c.wire);
  }
}

// A CR run not ended by a LF, or a stuffed dot before the run, is neither an end nor ambiguous.
TEST(DataFramer, CrRunWithoutLfOrAfterAStuffedDotIsPlainContent) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"a\r\n.\r\rX\r\n.\r\nQUIT\r\n", "a\r\n\r\rX\r\n"},
      {"a\n.\r\rX\r\n.\r\nQUIT\r\n", "a\n.\r\rX\r\n"},
      {"a\r\n..\r\r\n.\r\nQUIT\r\n", "a\r\n.\r\r\n"},
      {"a\n..\r\r\n.\r\nQUIT\r\n", "a\n..\r\r\n"},
      {"a\r\n.\r\r\r\rX\r\n.\r\nQUIT\r\n", "a\r\n\r\r\r\rX\r\n"},
  };
  for (const auto& [in, content] : cases) {
    const Framed whole = data({in});
    ASSERT_EQ(whole.events.size(), 2U) << printable(in);
    EXPECT_EQ(std::get<MessageContent>(whole.events[0]).bytes, content) << printable(in);
    EXPECT_TRUE(std::holds_alternative<MessageEnd>(whole.events[1]));
    EXPECT_EQ(whole.rest, "QUIT\r\n");
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
      EXPECT_EQ(data(test::cut_at(in, cut)), whole) << printable(in) << " cut=" << cut;
    }
    EXPECT_EQ(data(test::bytewise(in)), whole) << printable(in);
  }
}

// The 16-byte scan stops at a LF followed by a dot; what follows the dot is decided byte-wise,
// so the CR-run line is reported at every offset, block boundaries included.
TEST(DataFramer, FindsACrRunDotLineAtEveryOffsetOfALongFeed) {
  for (std::size_t offset = 0; offset <= 64; ++offset) {
    const std::string head(offset, 'x');
    const std::string in = head + "\r\n.\r\r\n" + std::string(40, 'y') + "\r\n.\r\nQUIT\r\n";
    const Framed f = data({in});
    ASSERT_EQ(f.events.size(), 4U) << "offset=" << offset;
    EXPECT_EQ(tail(std::get<AmbiguousEndOfData>(f.events[1]).evidence), "\n.\r\r\n")
        << "offset=" << offset;
    EXPECT_EQ(f.rest, "QUIT\r\n") << "offset=" << offset;
  }
}

TEST(DataFramer, BdatChunkIsExactlyItsSizeAndDotsAreData) {
  const std::string chunk = "a\r\n.\r\nb\n.\n";
  for (std::size_t cut = 0; cut <= chunk.size() + 6; ++cut) {
    const std::string bytes = chunk + "QUIT\r\n";
    const Framed f =
        frame(test::cut_at(bytes, cut), [&](DataFramer& d) { d.start_bdat(chunk.size(), true); });
    ASSERT_EQ(f.events.size(), 2U) << "cut=" << cut;
    EXPECT_EQ(std::get<MessageContent>(f.events[0]).bytes, chunk);
    EXPECT_EQ(std::get<MessageEnd>(f.events[1]),
              (MessageEnd{Transfer::bdat, chunk.size(), chunk.size(), true}));
    EXPECT_EQ(f.rest, "QUIT\r\n");
  }
}

// A chunk size at -1, at and +1 of the bytes present: only "at" and "-1" complete it.
TEST(DataFramer, BdatSizeAtMinusOneAtAndPlusOne) {
  const std::string bytes = "0123456789";
  for (std::size_t size : {9U, 10U, 11U}) {
    const Framed f = frame({bytes}, [&](DataFramer& d) { d.start_bdat(size, true); });
    const bool ended = !f.events.empty() && std::holds_alternative<MessageEnd>(f.events.back());
    EXPECT_EQ(ended, size <= bytes.size()) << "size=" << size;
    EXPECT_EQ(f.rest, bytes.substr(std::min(size, bytes.size())));
  }
}

TEST(DataFramer, BdatChunksJoinUntilLast) {
  DataFramer framer;
  framer.start_bdat(3, false);
  EXPECT_EQ(framer.feed("abcX"), 3U);
  EXPECT_FALSE(framer.active());
  framer.start_bdat(0, true);
  std::vector<FramerEvent> events;
  while (auto e = framer.next()) {
    events.push_back(std::move(*e));
  }
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<MessageEnd>(events[1]), (MessageEnd{Transfer::bdat, 3, 3, true}));
}

TEST(DataFramer, LargeContentComesInFewPieces) {
  DataFramer framer;
  framer.start_data();
  std::string block;
  for (int i = 0; i < 1000; ++i) {
    block += "a line of ordinary text that is long enough to look like mail\r\n";
  }
  std::size_t pieces = 0;
  for (int i = 0; i < 16; ++i) {
    framer.feed(block);
    while (auto e = framer.next()) {
      ++pieces;
    }
  }
  EXPECT_EQ(pieces, 16U);
}

}  // namespace
}  // namespace hopscope::smtp
