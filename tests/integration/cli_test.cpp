// The built binary's command line (DESIGN.md §3): exit codes and what it prints.

#include <chrono>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "process.hpp"
#include "swaks.hpp"
#include "temp_dir.hpp"

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

Run hopscope(std::vector<std::string> args, const ProcessOptions& options = {}) {
  args.insert(args.begin(), hopscope_binary());
  Process p(args, options);
  Run r;
  EXPECT_TRUE(p.wait_for_eof(20s));
  r.code = p.wait(20s).value_or(-1);
  r.out = p.output(Stream::out);
  r.err = p.output(Stream::err);
  return r;
}

TEST(Cli, VersionPrintsAndExitsZero) {
  const auto r = hopscope({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("hopscope ", 0), 0U) << r.out;
}

TEST(Cli, CheckConfigAcceptsTheExampleConfiguration) {
  const auto r = hopscope(
      {"check-config", std::string(HOPSCOPE_TEST_DATA) + "/../../deploy/hopscope.example.toml"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
}

TEST(Cli, CheckConfigNamesEveryErrorWithLineAndColumn) {
  const auto r =
      hopscope({"check-config", std::string(HOPSCOPE_TEST_DATA) + "/config/three_errors.toml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("three_errors.toml:3:11: key 'relay.listen[0]'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("three_errors.toml:5:1: key 'relay.mdoe'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'mode'?"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("three_errors.toml:8:11: key 'relay.timeouts.command'"), std::string::npos)
      << r.err;
}

TEST(Cli, SubcommandsNotBuiltYetSaySoAndExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"probe", "mx.example.test"}, {"report", "audit"}, {"demo"}, {"lab"}}) {
    const auto r = hopscope(args);
    EXPECT_EQ(r.code, 2) << args[0];
    EXPECT_NE(r.err.find("not built yet"), std::string::npos) << args[0] << ": " << r.err;
  }
}

TEST(Cli, InvalidOptionValuesAreUsageErrors) {
  EXPECT_EQ(hopscope({"probe", "mx.example.test", "--fail-on", "bogus"}).code, 2);
  EXPECT_EQ(hopscope({"report", "audit", "--format", "pdf"}).code, 2);
  const auto r = hopscope({"relay", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:70000"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--upstream"), std::string::npos) << r.err;
  for (const char* duration : {"soon", "0s", "99999999h"}) {
    EXPECT_EQ(hopscope({"relay", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:25",
                        "--duration", duration})
                  .code,
              2)
        << duration;
  }
}

// An empty --upstream (an unset shell variable) is the option's fault, not the file's.
TEST(Cli, EmptyUpstreamOptionIsNamedAsSuch) {
  const auto r = hopscope({"relay", "--listen", "127.0.0.1:0", "--upstream", ""});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--upstream: expected host:port"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("it is empty"), std::string::npos) << r.err;
}

TEST(Cli, RelayWithoutUpstreamNamesTheMissingKey) {
  const auto r = hopscope({"relay", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("relay.upstream"), std::string::npos) << r.err;
}

TEST(Cli, ExplainDecodesTheCertificateValidationCode) {
  const auto r = hopscope({"explain", "450 4.7.320 Certificate validation failed"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("CERT_"), std::string::npos) << r.out;
}

// check-config and relay agree (DESIGN.md §3: 2 is a configuration error): what the relay
// refuses at start-up, check-config refuses too, naming the key and its line and column.
struct ConfigFile {
  TempDir dir{"hopscope-cli"};
  std::string path;
  explicit ConfigFile(const std::string& toml) : path((dir.path() / "c.toml").string()) {
    write_file(path, toml);
  }
};

TEST(Cli, CheckConfigRefusesATrustBundleThatDoesNotExist) {
  const ConfigFile file("[tls]\ntrust = \"/nonexistent/ca.pem\"\n");
  const auto r = hopscope({"check-config", file.path});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find(file.path + ":2:9: key 'tls.trust'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("OK"), std::string::npos) << r.out;
}

// DESIGN.md §3: every fault at once. The trust bundle is loaded after the file is read; it
// used to be checked only once the loader's own errors were fixed.
TEST(Cli, CheckConfigNamesAnUnreadableTrustBundleBesideOtherErrors) {
  const ConfigFile file(
      "[relay]\nmdoe = \"passthrough\"\n[tls]\ntrust = \"/nonexistent/ca.pem\"\n");
  const auto r = hopscope({"check-config", file.path});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find(file.path + ":2:1: key 'relay.mdoe'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(file.path + ":4:9: key 'tls.trust'"), std::string::npos) << r.err;
  EXPECT_LT(r.err.find("relay.mdoe"), r.err.find("tls.trust")) << r.err;  // in file order
}

// A key the loader refused is not judged again on the default it fell back to: here the
// default audit directory, "hopscope-audit" in the working directory, is a file.
TEST(Cli, CheckConfigJudgesARefusedKeyOnce) {
  const ConfigFile file("[audit]\ndirectory = [\"/var/mail-audit\"]\n");
  write_file((file.dir.path() / "hopscope-audit").string(), "a regular file\n");
  const auto r = hopscope({"check-config", file.path}, {.working_directory = file.dir.path()});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find(file.path + ":2:13: key 'audit.directory'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

TEST(Cli, CheckConfigRefusesATrustBundleWithoutCertificates) {
  const ConfigFile file("");
  const auto bundle = (file.dir.path() / "hostname").string();
  write_file(bundle, "mail.contoso.test\n");
  write_file(file.path, "[tls]\n  trust = \"" + bundle + "\"\n");
  const auto r = hopscope({"check-config", file.path});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find(file.path + ":2:11: key 'tls.trust'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot load trust bundle " + bundle), std::string::npos) << r.err;
  // The relay refuses the same file with the same exit code.
  const auto relay = hopscope({"relay", "--config", file.path, "--listen", "127.0.0.1:0",
                               "--upstream", "127.0.0.1:25", "--duration", "1s"});
  EXPECT_EQ(relay.code, 2) << relay.err;
}

TEST(Cli, CheckConfigRefusesModesThisRelayCannotRunYet) {
  for (const auto& [toml, key, position] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"[relay]\nmode = \"inspect\"\n", "relay.mode", ":2:8:"},
           {"[relay]\ntransparent = \"tproxy\"\n", "relay.transparent", ":2:15:"},
           {"[relay]\ntransparent = \"redirect\"\n", "relay.transparent", ":2:15:"}}) {
    const ConfigFile file(toml);
    const auto r = hopscope({"check-config", file.path});
    EXPECT_EQ(r.code, 2) << toml;
    EXPECT_NE(r.err.find(file.path + position + " key '" + key + "'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("a valid setting, but not supported by this version's relay"),
              std::string::npos)
        << r.err;
    const auto relay = hopscope({"relay", "--config", file.path, "--listen", "127.0.0.1:0",
                                 "--upstream", "127.0.0.1:25", "--duration", "1s"});
    EXPECT_EQ(relay.code, 2) << toml << relay.err;
  }
}

TEST(Cli, CheckConfigWarnsAboutAnAuditDirectoryThatIsAFileButAcceptsIt) {
  const ConfigFile file("");
  const auto audit = (file.dir.path() / "audit").string();
  write_file(audit, "a regular file\n");
  write_file(file.path, "[audit]\ndirectory = \"" + audit + "\"\n");
  const auto r = hopscope({"check-config", file.path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
  EXPECT_NE(r.err.find(file.path + ":2:13: warning: key 'audit.directory'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(audit + " is not a directory: Not a directory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mail keeps flowing"), std::string::npos) << r.err;
}

// [[hops]] is part of the contract (DESIGN.md §4) but nothing probes yet: accepted, and said
// so by both check-config and the relay, so that nobody waits for a CERT_DIFFERS_FROM_HOP.
TEST(Cli, HopsAreAcceptedWithAWarningThatNothingProbesThem) {
  const ConfigFile file("[[hops]]\nname = \"exchange\"\naddress = \"127.0.0.1:25\"\n");
  const auto r = hopscope({"check-config", file.path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
  EXPECT_NE(r.err.find(": warning: key 'hops'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hop probes are not built in this version"), std::string::npos) << r.err;
  const auto relay = hopscope({"relay", "--config", file.path, "--listen", "127.0.0.1:0",
                               "--upstream", "127.0.0.1:25", "--duration", "1s"});
  EXPECT_EQ(relay.code, 0) << relay.err;
  EXPECT_NE(relay.err.find("hop probes are not built in this version"), std::string::npos)
      << relay.err;
}

TEST(Cli, ListenPortOutOfRangeSaysSo) {
  const auto r = hopscope({"relay", "--listen", "127.0.0.1:70000", "--upstream", "127.0.0.1:25"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--listen"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("port 70000 is out of range"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hopscope::test
