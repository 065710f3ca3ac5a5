// printable(): every byte from the network becomes valid, printable UTF-8 with \xNN escapes.

#include "proxy/printable.hpp"

#include <string>

#include <gtest/gtest.h>

namespace hopscope {
namespace {

TEST(Printable, PrintableAsciiAndValidUtf8PassUnchanged) {
  EXPECT_EQ(printable("250-SIZE 37748736"), "250-SIZE 37748736");
  EXPECT_EQ(printable("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7");
}

TEST(Printable, ControlBytesAndBrokenUtf8AreEscaped) {
  EXPECT_EQ(printable(std::string("RSET\r\n\0", 7)), "RSET\\x0D\\x0A\\x00");
  EXPECT_EQ(printable("\xFF\xFE"), "\\xFF\\xFE");
  EXPECT_EQ(printable("\xC0\xAF"), "\\xC0\\xAF");           // overlong "/"
  EXPECT_EQ(printable("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // a UTF-16 surrogate
  EXPECT_EQ(printable("\xE2\x82"), "\\xE2\\x82");           // cut sequence
}

TEST(Printable, BackslashIsDoubledSoEscapesStayUnambiguous) {
  EXPECT_EQ(printable("a\\x41"), "a\\\\x41");
  EXPECT_EQ(printable_escaped("a\\x41\x01"), "a\\x41\\x01");  // already escaped: kept, still safe
}

TEST(Printable, OutputIsCappedAndSaysHowMuchWasCut) {
  const std::string line(100, 'X');
  EXPECT_EQ(printable(line, 100), line);
  EXPECT_EQ(printable(line, 99), std::string(99, 'X') + "…[+1 bytes]");
  EXPECT_EQ(printable(line, 10), std::string(10, 'X') + "…[+90 bytes]");
}

}  // namespace
}  // namespace hopscope
