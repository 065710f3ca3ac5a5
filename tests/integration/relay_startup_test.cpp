// `hopscope relay` start-up checks of audit.directory (DESIGN.md §5 "a full disk never stops
// mail"): a directory that cannot hold documents is said loudly before the relay listens, the
// relay still starts and relays, and its exit line counts what was lost.

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "net.hpp"
#include "relay_fixture.hpp"
#include "smtp_client.hpp"
#include "temp_dir.hpp"

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

TEST(RelayStartup, AuditDirectoryThatIsAFileIsSaidBeforeListeningAndMailStillFlows) {
  const TempDir dir("hopscope-startup");
  const auto audit = dir.path() / "audit";
  write_file(audit, "a regular file, not a directory\n");
  const auto dead = free_loopback_port();  // nothing listens there: the session ends at once
  RelayProcess relay(
      {.upstream = "127.0.0.1:" + std::to_string(dead), .audit_directory = audit.string()});
  const std::string err = relay.stderr_text();
  const auto warning =
      err.find("audit.directory " + audit.string() + " is not a directory: " + "Not a directory");
  ASSERT_NE(warning, std::string::npos) << err;
  EXPECT_NE(err.find("mail keeps flowing", warning), std::string::npos) << err;
  const auto listening = err.find("listening on");
  ASSERT_NE(listening, std::string::npos) << err;
  EXPECT_LT(warning, listening) << err;

  // The relay runs: a sender gets upstream's answer (here: unreachable, 421).
  SmtpClient client(relay.host(), relay.port());
  EXPECT_EQ(client.read_reply().code, 421);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  EXPECT_EQ(relay.process().terminate(20s), 0) << relay.stderr_text();
  EXPECT_NE(relay.stderr_text().find("stopped; 1 audit document could not be written"),
            std::string::npos)
      << relay.stderr_text();
  EXPECT_TRUE(std::filesystem::is_regular_file(audit));  // never replaced
}

TEST(RelayStartup, MissingAuditDirectoryIsCreatedWithoutAWarning) {
  const TempDir dir("hopscope-startup");
  const auto audit = dir.path() / "deep" / "er" / "audit";
  const auto dead = free_loopback_port();
  RelayProcess relay(
      {.upstream = "127.0.0.1:" + std::to_string(dead), .audit_directory = audit.string()});
  EXPECT_TRUE(std::filesystem::is_directory(audit)) << relay.stderr_text();
  EXPECT_EQ(relay.stderr_text().find("audit.directory"), std::string::npos) << relay.stderr_text();
  EXPECT_EQ(relay.process().terminate(20s), 0) << relay.stderr_text();
  EXPECT_NE(relay.stderr_text().find("stopped; every audit document was written"),
            std::string::npos)
      << relay.stderr_text();
}

// The audit document of an unreachable upstream: the address once in the evidence (the
// relay's connect_error already starts "connect to ADDRESS"), and a remedy with its port.
TEST(RelayStartup, UnreachableUpstreamFindingSaysTheAddressOnceAndItsPort) {
  const auto dead = free_loopback_port();
  const std::string address = "127.0.0.1:" + std::to_string(dead);
  RelayProcess relay({.upstream = address});
  SmtpClient client(relay.host(), relay.port());
  EXPECT_EQ(client.read_reply().code, 421);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  const auto& findings = docs[0].at("findings").as_array();
  ASSERT_EQ(findings.size(), 1U) << boost::json::serialize(findings);
  const auto& f = findings[0].as_object();
  EXPECT_EQ(json_string(f, "id"), "UPSTREAM_UNREACHABLE");
  const auto evidence = json_string(f, "evidence");
  EXPECT_EQ(evidence.find("connect to " + address), evidence.rfind("connect to " + address))
      << evidence;
  EXPECT_NE(evidence.find("Connection refused"), std::string::npos) << evidence;
  const auto remedy = json_string(f, "remedy");
  EXPECT_NE(remedy.find("port " + std::to_string(dead)), std::string::npos) << remedy;
  EXPECT_EQ(remedy.find("port 25 "), std::string::npos) << remedy;
}

}  // namespace
}  // namespace hopscope::test
