#include "config/address.hpp"

#include <string>

#include <gtest/gtest.h>

namespace hopscope::config {
namespace {

TEST(ParseEndpoint, ReadsIpv4HostNameAndBracketedIpv6) {
  EXPECT_EQ(parse_endpoint("0.0.0.0:25"), (Endpoint{"0.0.0.0", 25}));
  EXPECT_EQ(parse_endpoint("mail.contoso.com:25"), (Endpoint{"mail.contoso.com", 25}));
  EXPECT_EQ(parse_endpoint("[::1]:25"), (Endpoint{"::1", 25}));
  EXPECT_EQ(parse_endpoint("[2001:db8::5]:587"), (Endpoint{"2001:db8::5", 587}));
  EXPECT_EQ(parse_endpoint("exchange_01:2525"), (Endpoint{"exchange_01", 2525}));
}

TEST(ParseEndpoint, ToStringPutsIpv6BackInBrackets) {
  EXPECT_EQ(parse_endpoint("[::1]:25")->to_string(), "[::1]:25");
  EXPECT_EQ(parse_endpoint("10.0.0.5:25")->to_string(), "10.0.0.5:25");
}

TEST(ParseEndpoint, RejectsMalformedAddresses) {
  for (const char* text : {"",
                           ":25",
                           "::1:25",
                           "[::1]",
                           "[::1]25",
                           "[::1:25",
                           "[]:25",
                           "[mail.contoso.com]:25",
                           "mail.contoso.com",
                           "mail.contoso.com:",
                           "host:25x",
                           "host:-25",
                           "host:+25",
                           "host: 25",
                           "ho st:25",
                           "a..b:25",
                           ".a:25",
                           "999.0.0.1:25",
                           "10.0.0:25",
                           "host:025000"}) {
    EXPECT_FALSE(parse_endpoint(text).has_value()) << "'" << text << "'";
  }
}

TEST(ParseEndpoint, PortLimits) {
  EXPECT_EQ(parse_endpoint("h:1"), (Endpoint{"h", 1}));
  EXPECT_EQ(parse_endpoint("h:65535"), (Endpoint{"h", 65535}));
  EXPECT_FALSE(parse_endpoint("h:65536").has_value());
  EXPECT_FALSE(parse_endpoint("h:70000").has_value());
  EXPECT_FALSE(parse_endpoint("h:99999").has_value());
}

TEST(ParseEndpoint, PortZeroOnlyWhenAllowed) {
  EXPECT_FALSE(parse_endpoint("127.0.0.1:0").has_value());
  EXPECT_EQ(parse_endpoint("127.0.0.1:0", /*allow_port_zero=*/true), (Endpoint{"127.0.0.1", 0}));
  EXPECT_EQ(parse_endpoint("[::1]:0", /*allow_port_zero=*/true), (Endpoint{"::1", 0}));
}

TEST(ParseEndpoint, HostNameLabelLimits) {
  const std::string label63(63, 'a');
  EXPECT_TRUE(parse_endpoint(label63 + ".com:25").has_value());
  EXPECT_FALSE(parse_endpoint(label63 + "a.com:25").has_value());
  std::string name253;
  while (name253.size() < 253) {
    name253 += name253.empty() ? "a" : ".a";
  }
  ASSERT_EQ(name253.size(), 253U);
  EXPECT_TRUE(parse_endpoint(name253 + ":25").has_value());
  EXPECT_FALSE(parse_endpoint(name253 + "a:25").has_value());
}

TEST(ParseEndpointExplained, SaysWhyAnAddressIsRejected) {
  EXPECT_EQ(parse_endpoint_explained("0.0.0.0:70000").problem,
            "port 70000 is out of range 1-65535");
  EXPECT_NE(parse_endpoint_explained("::1:25").problem.find("brackets"), std::string::npos);
  EXPECT_EQ(parse_endpoint_explained(":25").problem, "no host before ':'");
  EXPECT_TRUE(parse_endpoint_explained("h:25").problem.empty());
  EXPECT_EQ(parse_endpoint_explained("h:65536", /*allow_port_zero=*/true).problem,
            "port 65536 is out of range 0-65535");
  // What a new user types first: a URL, or a port alone.
  EXPECT_EQ(parse_endpoint_explained("smtp://10.0.0.5:25").problem,
            "'smtp://' is a URL scheme: give host:port only, e.g. 10.0.0.5:25");
  EXPECT_EQ(parse_endpoint_explained("2525").problem,
            "no host: a port alone is not an address, e.g. 0.0.0.0:2525 or [::]:2525");
  EXPECT_EQ(parse_endpoint_explained("mx.example.org").problem, "no ':port'");
}

}  // namespace
}  // namespace hopscope::config
