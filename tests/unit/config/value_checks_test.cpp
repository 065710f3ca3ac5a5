#include "config/value_checks.hpp"

#include <array>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace hopscope::config {
namespace {

TEST(EditDistance, CountsEditsIgnoringAsciiCase) {
  EXPECT_EQ(edit_distance("", ""), 0U);
  EXPECT_EQ(edit_distance("mode", "mode"), 0U);
  EXPECT_EQ(edit_distance("Mode", "mode"), 0U);
  EXPECT_EQ(edit_distance("mdoe", "mode"), 2U);
  EXPECT_EQ(edit_distance("mod", "mode"), 1U);
  EXPECT_EQ(edit_distance("", "abc"), 3U);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3U);
}

TEST(Suggestion, NamesTheClosestCandidateWithinTwoEdits) {
  constexpr std::array<std::string_view, 3> keys = {"connect", "command", "greeting"};
  EXPECT_EQ(suggestion("comand", keys), "did you mean 'command'?");
  EXPECT_EQ(suggestion("conect", keys), "did you mean 'connect'?");
  EXPECT_EQ(suggestion("cmmnd", keys), "did you mean 'command'?");         // 2 edits
  EXPECT_EQ(suggestion("cmmnx", keys), "");                                // 3 edits
  EXPECT_EQ(suggestion("greetings_x", keys), "did you mean 'greeting'?");  // prefix
  EXPECT_EQ(suggestion("command", keys), "");  // itself: nothing to suggest
  EXPECT_EQ(suggestion("x", keys), "");
}

TEST(Base64, AcceptsOnlyCanonicalEncodingsOfTheGivenLength) {
  EXPECT_TRUE(is_base64_of("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", 32));
  EXPECT_FALSE(is_base64_of("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", 32));
  EXPECT_FALSE(is_base64_of("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", 32));
  EXPECT_TRUE(is_base64_of("AAAA", 3));
  EXPECT_TRUE(is_base64_of("AA==", 1));
  EXPECT_FALSE(is_base64_of("AB==", 1));  // unused bits set
  EXPECT_FALSE(is_base64_of("A===", 1));
  EXPECT_FALSE(is_base64_of("", 1));
  EXPECT_TRUE(is_base64_of("", 0));
}

TEST(Thumbprint, NormalisesAndChecks) {
  EXPECT_EQ(normalise_thumbprint("\xE2\x80\x8E"
                                 "a1 b2:c3\td4"),
            "A1B2C3D4");
  EXPECT_TRUE(is_sha1_thumbprint(std::string(40, 'F')));
  EXPECT_FALSE(is_sha1_thumbprint(std::string(39, 'F')));
  EXPECT_FALSE(is_sha1_thumbprint(std::string(41, 'F')));
  EXPECT_FALSE(is_sha1_thumbprint(std::string(39, 'F') + "G"));
}

TEST(ControlCharacters, AreFound) {
  EXPECT_FALSE(has_control_character("/etc/hopscope/mail.pem"));
  EXPECT_TRUE(has_control_character(std::string("a\0b", 3)));
  EXPECT_TRUE(has_control_character("a\nb"));
  EXPECT_TRUE(has_control_character("a\x7F"));
  EXPECT_FALSE(has_control_character("caf\xC3\xA9"));
}

}  // namespace
}  // namespace hopscope::config
