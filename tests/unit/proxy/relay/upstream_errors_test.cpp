// resource_shortage(): which failures to reach upstream are hopscope's own host running short
// (a 421 4.3.2 and end.reason "limit"), and what the sender and the audit are told. Every
// other error stays upstream's (nullopt: "421 4.4.0 upstream unreachable").

#include "proxy/upstream_errors.hpp"

#include <cerrno>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include <sys/resource.h>

namespace hopscope {
namespace {

constexpr std::string_view connecting = "connecting to upstream [2001:db8::25]:25";

TEST(UpstreamErrors, NoLocalPortFreeIsHopscopesShortageNotAnUnreachableUpstream) {
  const auto shortage = resource_shortage(EADDRNOTAVAIL, std::string(connecting));
  ASSERT_TRUE(shortage.has_value());
  EXPECT_EQ(shortage->said, "no local port free to reach upstream");
  EXPECT_EQ(
      shortage->detail.rfind("no local port free to reach upstream: " + std::string(connecting) +
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

}  // namespace
}  // namespace hopscope
