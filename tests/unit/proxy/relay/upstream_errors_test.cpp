// resource_shortage(): which failures to reach upstream are hopscope's own host running short
// (a 421 4.3.2 and end.reason "limit"), and what the sender and the audit are told. Every
// other error stays upstream's (nullopt: "421 4.4.0 upstream unreachable").

#include "proxy/upstream_errors.hpp"

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <sys/resource.h>

namespace hopscope {
namespace {

constexpr std::string_view connecting = "connecting to upstream [2001:db8::25]:25";

TEST(UpstreamErrors, NoLocalPortFreeIsHopscopesShortageNotAnUnreachableUpstream) {
  const auto shortage = resource_shortage(EADDRNOTAVAIL, std::string(connecting));
  ASSERT_TRUE(shortage.has_value());
  EXPECT_EQ(shortage->said, "no local address or port free to reach upstream");
  EXPECT_EQ(shortage->detail.rfind(
                "no local address or port free to reach upstream: " + std::string(connecting) +
                    " failed (Cannot assign requested address); upstream "
                    "was not tried (",
                0),
            0U)
      << shortage->detail;
  EXPECT_NE(shortage->detail.find("net.ipv4.ip_local_port_range"), std::string::npos)
      << shortage->detail;
  EXPECT_NE(shortage->detail.find("TIME_WAIT"), std::string::npos) << shortage->detail;
  EXPECT_NE(shortage->detail.find("IPv6"), std::string::npos) << shortage->detail;
  // Not the descriptor remedy: raising LimitNOFILE frees no port.
  EXPECT_EQ(shortage->detail.find("LimitNOFILE"), std::string::npos) << shortage->detail;
}

TEST(UpstreamErrors, OutOfDescriptorsSaysTheLimitAndTheRemedy) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const auto shortage = resource_shortage(EMFILE, "opening a socket to upstream 10.0.0.5:25");
  ASSERT_TRUE(shortage.has_value());
  const std::string said =
      limit.rlim_cur == RLIM_INFINITY
          ? "out of file descriptors"
          : "out of file descriptors (limit " + std::to_string(limit.rlim_cur) + ")";
  EXPECT_EQ(shortage->said, said);
  EXPECT_EQ(shortage->detail,
            said +
                ": opening a socket to upstream 10.0.0.5:25 failed (Too many open files); "
                "upstream was not tried (raise LimitNOFILE or ulimit -n, or lower "
                "relay.max_sessions)");
}

TEST(UpstreamErrors, FileTableAndSocketMemoryAreShortages) {
  const auto table = resource_shortage(ENFILE, "resolving mx.contoso.test");
  ASSERT_TRUE(table.has_value());
  EXPECT_EQ(table->said, "out of file descriptors (the system's file table is full)");
  for (const int e : {ENOBUFS, ENOMEM}) {
    const auto memory = resource_shortage(e, std::string(connecting));
    ASSERT_TRUE(memory.has_value()) << e;
    EXPECT_EQ(memory->said, "out of memory for sockets");
    EXPECT_NE(memory->detail.find("LimitNOFILE"), std::string::npos) << memory->detail;
  }
}

// An unreachable destination, a refusal, a timeout: upstream's failure, reported as such.
TEST(UpstreamErrors, UpstreamsOwnFailuresAreNoShortage) {
  for (const int e : {ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH, ECONNRESET, EACCES,
                      EINVAL, EAFNOSUPPORT, 0}) {
    EXPECT_FALSE(resource_shortage(e, std::string(connecting)).has_value()) << e;
  }
}

// A host name with several addresses: async_connect reports only the last address's error.
// One address that refused is upstream's failure, whatever the last one said.
TEST(UpstreamErrors, RefusedAddressThenNoLocalPortIsUpstreamUnreachableNamingEachAddress) {
  const std::vector<ConnectAttempt> attempts{
      {"127.0.0.2:25", ECONNREFUSED, "Connection refused"},
      {"127.0.0.3:25", EADDRNOTAVAIL, "Cannot assign requested address"}};
  const auto outcome = classify_connect_failure(attempts, "upstream.test:25");
  ASSERT_TRUE(std::holds_alternative<std::string>(outcome)) << std::get<Shortage>(outcome).detail;
  EXPECT_EQ(std::get<std::string>(outcome),
            "connect to upstream.test:25: 127.0.0.2:25: Connection refused; 127.0.0.3:25: Cannot "
            "assign requested address");
}

TEST(UpstreamErrors, UnreachableOrTimedOutAddressThenOutOfDescriptorsIsUpstreamUnreachable) {
  for (const int upstreams : {EHOSTUNREACH, ETIMEDOUT, ENETUNREACH, 0}) {
    const std::vector<ConnectAttempt> attempts{{"[2001:db8::25]:25", upstreams, "upstream's error"},
                                               {"192.0.2.25:25", EMFILE, "Too many open files"}};
    const auto outcome = classify_connect_failure(attempts, "mx.contoso.test:25");
    ASSERT_TRUE(std::holds_alternative<std::string>(outcome)) << upstreams;
    EXPECT_EQ(std::get<std::string>(outcome),
              "connect to mx.contoso.test:25: [2001:db8::25]:25: upstream's error; "
              "192.0.2.25:25: Too many open files");
  }
}

// The order does not matter: a shortage first, a refusal last is upstream's failure too.
TEST(UpstreamErrors, NoLocalPortThenRefusedIsUpstreamUnreachable) {
  const std::vector<ConnectAttempt> attempts{
      {"127.0.0.3:25", EADDRNOTAVAIL, "Cannot assign requested address"},
      {"127.0.0.2:25", ECONNREFUSED, "Connection refused"}};
  EXPECT_TRUE(
      std::holds_alternative<std::string>(classify_connect_failure(attempts, "upstream.test:25")));
}

// Every address failed for hopscope's own want: a shortage, said as for one address (the last
// address's error, the step that failed).
TEST(UpstreamErrors, EveryAddressShortIsHopscopesShortageWithTheLastAddresssError) {
  const std::vector<ConnectAttempt> no_port{
      {"127.0.0.2:25", EADDRNOTAVAIL, "Cannot assign requested address"},
      {"127.0.0.3:25", EADDRNOTAVAIL, "Cannot assign requested address"}};
  const auto port = classify_connect_failure(no_port, "upstream.test:25");
  ASSERT_TRUE(std::holds_alternative<Shortage>(port)) << std::get<std::string>(port);
  EXPECT_EQ(std::get<Shortage>(port).said, "no local address or port free to reach upstream");
  EXPECT_EQ(std::get<Shortage>(port).detail.rfind(
                "no local address or port free to reach upstream: connecting to upstream "
                "upstream.test:25 "
                "failed (Cannot assign requested address); upstream was not tried (",
                0),
            0U)
      << std::get<Shortage>(port).detail;

  const std::vector<ConnectAttempt> then_descriptors{
      {"127.0.0.2:25", EADDRNOTAVAIL, "Cannot assign requested address"},
      {"127.0.0.3:25", EMFILE, "Too many open files"}};
  const auto descriptors = classify_connect_failure(then_descriptors, "upstream.test:25");
  ASSERT_TRUE(std::holds_alternative<Shortage>(descriptors));
  EXPECT_EQ(std::get<Shortage>(descriptors)
                .detail.find(
                    ": opening a socket to upstream upstream.test:25 failed (Too many open files)"),
            std::get<Shortage>(descriptors).said.size())
      << std::get<Shortage>(descriptors).detail;
}

// One address: the connect_error reads as it always did, without the address repeated.
TEST(UpstreamErrors, OneAddressRefusedReadsAsBefore) {
  const auto outcome = classify_connect_failure(
      {{"192.0.2.25:25", ECONNREFUSED, "Connection refused"}}, "mx.contoso.test:25");
  ASSERT_TRUE(std::holds_alternative<std::string>(outcome));
  EXPECT_EQ(std::get<std::string>(outcome), "connect to mx.contoso.test:25: Connection refused");
  const auto single_shortage = classify_connect_failure(
      {{"192.0.2.25:25", EADDRNOTAVAIL, "Cannot assign requested address"}}, "mx.contoso.test:25");
  EXPECT_TRUE(std::holds_alternative<Shortage>(single_shortage));
}

// The 421 line the session builds from a connect_error (session.cpp, refuse_unreachable).
std::string unreachable_line(const std::string& connect_error) {
  return "421 4.4.0 hopscope: upstream unreachable (" + connect_error + "); try again later\r\n";
}

// One address, or the first address never answering: the text reads as it always did (the
// relay tests look for it).
TEST(UpstreamErrors, TimeoutWithNoEarlierFailureReadsAsBefore) {
  EXPECT_EQ(connect_timeout_text({}, std::string("192.0.2.7:25"), "mx.contoso.test:25", "30s"),
            "connect to mx.contoso.test:25 timed out after 30s");
  EXPECT_EQ(connect_timeout_text({}, std::nullopt, "mx.contoso.test:25", "30s"),
            "connect to mx.contoso.test:25 timed out after 30s");
}

// The typical case: one MX address refuses, the next is firewalled (drops the SYN).
TEST(UpstreamErrors, TimeoutAfterARefusalNamesTheRefusedAndTheUnansweredAddress) {
  EXPECT_EQ(connect_timeout_text({{"192.0.2.7:25", ECONNREFUSED, "Connection refused"}},
                                 std::string("192.0.2.8:25"), "mx.contoso.test:25", "30s"),
            "connect to mx.contoso.test:25 timed out after 30s: 192.0.2.7:25: Connection "
            "refused; 192.0.2.8:25: no answer");
  // The deadline passed between two attempts: only the failures.
  EXPECT_EQ(connect_timeout_text({{"192.0.2.7:25", ECONNREFUSED, "Connection refused"},
                                  {"[2001:db8::25]:25", ENETUNREACH, "Network is unreachable"}},
                                 std::nullopt, "mx.contoso.test:25", "2s"),
            "connect to mx.contoso.test:25 timed out after 2s: 192.0.2.7:25: Connection "
            "refused; [2001:db8::25]:25: Network is unreachable");
}

std::vector<ConnectAttempt> refused_addresses(std::size_t n, const std::string& prefix) {
  std::vector<ConnectAttempt> failed;
  for (std::size_t i = 0; i < n; ++i) {
    failed.push_back({prefix + std::to_string(i + 1) + "]:25", ECONNREFUSED, "Connection refused"});
  }
  return failed;
}

// max_listed_failures at -1, at, +1: all named up to the bound, then the rest counted.
TEST(UpstreamErrors, TimeoutNamesAtMostTheBoundOfFailuresAndCountsTheRest) {
  const std::string start = "connect to mx.contoso.test:25 timed out after 30s: ";
  const auto at = [](std::size_t n) {
    std::string s;
    for (std::size_t i = 1; i <= n; ++i) {
      s += (i == 1 ? "" : "; ") + std::string("[2001:db8::") + std::to_string(i) +
           "]:25: Connection refused";
    }
    return s;
  };
  const std::optional<std::string> pending("192.0.2.99:25");
  for (const std::size_t n : {max_listed_failures - 1, max_listed_failures}) {
    EXPECT_EQ(connect_timeout_text(refused_addresses(n, "[2001:db8::"), pending,
                                   "mx.contoso.test:25", "30s"),
              start + at(n) + "; 192.0.2.99:25: no answer")
        << n;
  }
  EXPECT_EQ(connect_timeout_text(refused_addresses(max_listed_failures + 1, "[2001:db8::"), pending,
                                 "mx.contoso.test:25", "30s"),
            start + at(max_listed_failures) + "; 1 more address failed; 192.0.2.99:25: no answer");
  EXPECT_EQ(connect_timeout_text(refused_addresses(50, "[2001:db8::"), std::nullopt,
                                 "mx.contoso.test:25", "30s"),
            start + at(max_listed_failures) + "; 46 more addresses failed");
}

// Long IPv6 addresses and long errors under the longest host name: fewer are named, the
// text stays within its bound and the sender's 421 line within RFC 5321's 512 bytes.
TEST(UpstreamErrors, TimeoutTextWithManyLongAddressesStaysWithinTheReplyLineLimit) {
  const std::string host_253 = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                               std::string(63, 'c') + "." + std::string(61, 'd');
  ASSERT_EQ(host_253.size(), 253U);
  const std::string pending = "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
  for (const auto& target : {std::string("mx.contoso.test:25"), host_253 + ":65535"}) {
    for (const std::size_t n : {0U, 1U, 2U, 3U, 4U, 5U, 20U, 1000U}) {
      const auto failed = refused_addresses(n, "[2001:db8:ffff:ffff:ffff:ffff:ffff:");
      const auto text = connect_timeout_text(failed, pending, target, "30s");
      EXPECT_LE(text.size(), max_connect_timeout_text) << text;
      EXPECT_LE(unreachable_line(text).size(), 512U) << text;
      EXPECT_EQ(text.rfind("connect to " + target + " timed out after 30s", 0), 0U) << text;
      if (n > 0) {
        // The address still being tried is always named, last.
        EXPECT_TRUE(text.ends_with("; " + pending + ": no answer")) << text;
        // The first failure is named, or all are counted.
        EXPECT_TRUE(text.find(failed.front().endpoint + ": Connection refused") !=
                        std::string::npos ||
                    text.find(": " + std::to_string(n) + " address") != std::string::npos)
            << text;
      }
    }
  }
  // Under the longest host name the bounded failures do not fit: they are counted instead.
  EXPECT_EQ(connect_timeout_text(
                refused_addresses(max_listed_failures, "[2001:db8:ffff:ffff:ffff:ffff:ffff:"),
                pending, host_253 + ":65535", "30s"),
            "connect to " + host_253 +
                ":65535 timed out after 30s: " + std::to_string(max_listed_failures) +
                " addresses failed; " + pending + ": no answer");
}

}  // namespace
}  // namespace hopscope
