// Loading as a whole: defaults, error reporting (positions, all errors at once, syntax
// errors), required keys per purpose, and the shipped example configuration.
#include "config/load.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hopscope::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string data(const std::string& name) {
  return std::string(HOPSCOPE_TEST_DATA) + "/config/" + name;
}

std::string example_path() {
  return std::string(HOPSCOPE_TEST_DATA) + "/../../deploy/hopscope.example.toml";
}

std::string all(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += format_error(e) + "\n";
  }
  return out;
}

TEST(LoadString, EmptyFileGivesDesignDefaultsForCheck) {
  const auto result = load_string("", "empty.toml", Purpose::check);
  ASSERT_TRUE(result.config) << all(result);
  const Config& c = *result.config;
  EXPECT_TRUE(c.relay.listen.empty());
  EXPECT_FALSE(c.relay.upstream);
  EXPECT_EQ(c.relay.mode, Mode::passthrough);
  EXPECT_EQ(c.relay.transparent, Transparent::off);
  EXPECT_FALSE(c.relay.proxy_protocol);
  EXPECT_EQ(c.relay.max_sessions, 2000U);
  EXPECT_EQ(c.relay.max_sessions_per_client, 100U);
  EXPECT_EQ(c.relay.user, "");
  EXPECT_EQ(c.relay.max_line_bytes, 64U * 1024U);
  EXPECT_EQ(c.relay.timeouts.connect, 30s);
  EXPECT_EQ(c.relay.timeouts.greeting, 5min);
  EXPECT_EQ(c.relay.timeouts.command, 5min);
  EXPECT_EQ(c.relay.timeouts.data_block, 3min);
  EXPECT_EQ(c.relay.timeouts.data_end, 10min);
  EXPECT_EQ(c.relay.timeouts.tls_idle, 10min);
  EXPECT_EQ(c.relay.timeouts.drain, 5min);
  EXPECT_EQ(c.tls.trust, "system");
  EXPECT_TRUE(c.tls.request_client_certificate);
  EXPECT_TRUE(c.tls.certificate.empty());
  EXPECT_TRUE(c.policy.expected_server_names.empty());
  EXPECT_TRUE(c.policy.expected_thumbprints.empty());
  EXPECT_TRUE(c.policy.server_pins.empty());
  EXPECT_TRUE(c.policy.expected_client_names.empty());
  EXPECT_TRUE(c.policy.expected_certificate.empty());
  EXPECT_TRUE(c.policy.require_starttls);
  EXPECT_EQ(c.policy.min_tls_version, "TLSv1.2");
  EXPECT_EQ(c.policy.expiry_warning_days, 30U);
  EXPECT_EQ(c.policy.action, PolicyAction::observe);
  EXPECT_TRUE(c.policy.severity.empty());
  EXPECT_TRUE(c.hops.empty());
  EXPECT_EQ(c.hops_probe.interval, 10min);
  EXPECT_EQ(c.hops_probe.ehlo, "hopscope-probe.invalid");
  EXPECT_EQ(c.audit.directory, "hopscope-audit");
  EXPECT_TRUE(c.audit.record_envelope);
  EXPECT_TRUE(c.audit.transcript);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_FALSE(c.status.listen);
}

TEST(LoadFile, EmptyFileLoadsForCheckAndProbe) {
  EXPECT_TRUE(load_file(data("empty.toml"), Purpose::check).config);
  EXPECT_TRUE(load_file(data("empty.toml"), Purpose::probe).config);
}

TEST(LoadFile, ThreeErrorFileReportsAllThreeWithPositions) {
  const std::string path = data("three_errors.toml");
  const auto result = load_file(path, Purpose::check);
  EXPECT_FALSE(result.config);
  ASSERT_EQ(result.errors.size(), 3U) << all(result);

  // In file order: the port (line 3), the typo (line 5), the duration (line 8).
  const ConfigError& port = result.errors[0];
  EXPECT_EQ(port.file, path);
  EXPECT_EQ(port.key, "relay.listen[0]");
  EXPECT_EQ(port.line, 3U);
  EXPECT_EQ(port.column, 11U);
  EXPECT_EQ(port.found, "\"0.0.0.0:70000\"");
  EXPECT_THAT(port.message, HasSubstr("70000"));

  const ConfigError& typo = result.errors[1];
  EXPECT_EQ(typo.key, "relay.mdoe");
  EXPECT_EQ(typo.line, 5U);
  EXPECT_EQ(typo.column, 1U);
  EXPECT_THAT(typo.expected, HasSubstr("mode"));
  EXPECT_EQ(typo.message, "did you mean 'mode'?");

  const ConfigError& duration = result.errors[2];
  EXPECT_EQ(duration.key, "relay.timeouts.command");
  EXPECT_EQ(duration.line, 8U);
  EXPECT_EQ(duration.column, 11U);
  EXPECT_EQ(format_error(duration),
            path +
                ":8:11: key 'relay.timeouts.command': expected a duration like 30s, 5m, 250ms, "
                "2h; found \"5 minutes\"");
}

TEST(LoadFile, SyntaxErrorIsOneErrorAtTomlPosition) {
  const std::string path = data("syntax_error.toml");
  const auto result = load_file(path, Purpose::check);
  EXPECT_FALSE(result.config);
  ASSERT_EQ(result.errors.size(), 1U) << all(result);
  const ConfigError& e = result.errors[0];
  EXPECT_EQ(e.file, path);
  EXPECT_EQ(e.line, 3U);  // the unterminated string
  EXPECT_GE(e.column, 12U);
  EXPECT_THAT(e.message, HasSubstr("TOML syntax error"));
  EXPECT_THAT(format_error(e), HasSubstr(path + ":3:"));
}

TEST(LoadString, SyntaxErrorOnFirstLine) {
  const auto result = load_string("x = = 1\n", "inline.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].line, 1U);
  EXPECT_EQ(result.errors[0].file, "inline.toml");
}

TEST(LoadString, DuplicateKeyIsASyntaxError) {
  const auto result =
      load_string("[log]\nlevel = \"info\"\nlevel = \"debug\"\n", "dup.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].line, 3U);
}

TEST(LoadFile, MissingFileIsAnErrorNamingTheFile) {
  const auto result = load_file(data("does-not-exist.toml"), Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_THAT(format_error(result.errors[0]), HasSubstr("does-not-exist.toml: cannot open"));
}

TEST(LoadFile, DirectoryIsAnError) {
  const auto result = load_file(data(""), Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_FALSE(result.config);
}

TEST(LoadString, UnknownSectionAndKeysAreErrorsWithHints) {
  const auto result =
      load_string("[relai]\nlisten = [\"0.0.0.0:25\"]\n[log]\nlevl = \"info\"\nverbose = true\n",
                  "u.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 3U) << all(result);
  EXPECT_EQ(result.errors[0].key, "relai");
  EXPECT_EQ(result.errors[0].message, "did you mean 'relay'?");
  EXPECT_EQ(result.errors[1].key, "log.levl");
  EXPECT_EQ(result.errors[1].message, "did you mean 'level'?");
  EXPECT_EQ(result.errors[2].key, "log.verbose");
  EXPECT_EQ(result.errors[2].message, "");  // nothing within edit distance 2
  EXPECT_EQ(result.errors[2].found, "an unknown key");
}

TEST(LoadString, UnknownTopLevelKeyIsAnError) {
  const auto result = load_string("listen = \"0.0.0.0:25\"\n", "t.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].key, "listen");
  EXPECT_EQ(result.errors[0].line, 1U);
}

TEST(LoadString, QuotedUnknownKeyIsQuotedInThePath) {
  const auto result = load_string("[log]\n\"le vel\" = 1\n", "q.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].key, "log.\"le vel\"");
}

TEST(LoadString, SectionOfTheWrongTypeIsAnError) {
  const auto result = load_string("relay = 5\n", "t.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].key, "relay");
  EXPECT_EQ(result.errors[0].found, "integer 5");
}

TEST(LoadString, RelayPurposeRequiresListenAndUpstream) {
  const auto result = load_string("[relay]\nmode = \"passthrough\"\n", "r.toml", Purpose::relay);
  EXPECT_FALSE(result.config);
  ASSERT_EQ(result.errors.size(), 2U) << all(result);
  EXPECT_EQ(result.errors[0].key, "relay.listen");
  EXPECT_THAT(result.errors[0].message, HasSubstr("required by `hopscope relay`"));
  EXPECT_EQ(result.errors[0].line, 1U);  // at the [relay] header
  EXPECT_EQ(result.errors[1].key, "relay.upstream");
  EXPECT_THAT(result.errors[1].message, HasSubstr("required by `hopscope relay`"));
}

TEST(LoadString, RelayPurposeWithoutRelaySectionHasNoPosition) {
  const auto result = load_string("", "r.toml", Purpose::relay);
  ASSERT_EQ(result.errors.size(), 2U);
  EXPECT_EQ(result.errors[0].line, 0U);
  EXPECT_THAT(format_error(result.errors[0]), HasSubstr("r.toml: key 'relay.listen'"));
}

TEST(LoadString, EmptyListenArrayStillMissingForRelay) {
  const auto result =
      load_string("[relay]\nlisten = []\nupstream = \"h:25\"\n", "r.toml", Purpose::relay);
  ASSERT_EQ(result.errors.size(), 1U) << all(result);
  EXPECT_EQ(result.errors[0].key, "relay.listen");
}

TEST(LoadString, InvalidListenIsNotAlsoReportedMissing) {
  const auto result =
      load_string("[relay]\nlisten = [\"::1:25\"]\nupstream = \"h:0\"\n", "r.toml", Purpose::relay);
  ASSERT_EQ(result.errors.size(), 2U) << all(result);
  EXPECT_EQ(result.errors[0].key, "relay.listen[0]");
  EXPECT_EQ(result.errors[1].key, "relay.upstream");
  EXPECT_EQ(result.errors[1].line, 3U);
}

TEST(LoadString, TransparentRelayNeedsNoUpstream) {
  const auto result = load_string("[relay]\nlisten = [\"0.0.0.0:25\"]\ntransparent = \"tproxy\"\n",
                                  "r.toml", Purpose::relay);
  ASSERT_TRUE(result.config) << all(result);
  EXPECT_EQ(result.config->relay.transparent, Transparent::tproxy);
  EXPECT_FALSE(result.config->relay.upstream);
}

TEST(LoadString, ProbeAndCheckNeedNoRelaySection) {
  EXPECT_TRUE(load_file(data("probe_only.toml"), Purpose::probe).config);
  EXPECT_TRUE(load_file(data("probe_only.toml"), Purpose::check).config);
  EXPECT_FALSE(load_file(data("probe_only.toml"), Purpose::relay).config);
}

TEST(CheckRequired, AppliesAfterCommandLineOverrides) {
  Config config;
  EXPECT_EQ(check_required(config, Purpose::relay, "x").size(), 2U);
  EXPECT_TRUE(check_required(config, Purpose::check, "x").empty());
  config.relay.listen.push_back({"127.0.0.1", 0});
  config.relay.upstream = Endpoint{"127.0.0.1", 25};
  EXPECT_TRUE(check_required(config, Purpose::relay, "x").empty());
}

TEST(LoadString, ErrorsOnLaterLinesComeLater) {
  const auto result = load_string(
      "[log]\nlevel = \"loud\"\n[relay]\nmax_sessions = 0\n[audit]\ntranscript = \"yes\"\n",
      "o.toml", Purpose::check);
  ASSERT_EQ(result.errors.size(), 3U) << all(result);
  EXPECT_EQ(result.errors[0].line, 2U);
  EXPECT_EQ(result.errors[1].line, 4U);
  EXPECT_EQ(result.errors[2].line, 6U);
}

TEST(FormatError, LeavesOutEmptyParts) {
  EXPECT_EQ(format_error({"f.toml", 2, 3, "log.level", "one of \"info\"", "\"loud\"", ""}),
            "f.toml:2:3: key 'log.level': expected one of \"info\"; found \"loud\"");
  EXPECT_EQ(format_error({"f.toml", 0, 0, "", "", "", "cannot open: No such file"}),
            "f.toml: cannot open: No such file");
  EXPECT_EQ(format_error({"f.toml", 1, 1, "x", "a key", "an unknown key", "did you mean 'y'?"}),
            "f.toml:1:1: key 'x': expected a key; found an unknown key; did you mean 'y'?");
}

TEST(ExampleConfig, LoadsCleanlyForEveryPurpose) {
  const std::string path = example_path();
  for (const Purpose purpose : {Purpose::relay, Purpose::check, Purpose::probe}) {
    const auto result = load_file(path, purpose);
    ASSERT_TRUE(result.config) << all(result);
  }
  const Config c = *load_file(path, Purpose::relay).config;
  ASSERT_EQ(c.relay.listen.size(), 1U);
  EXPECT_EQ(c.relay.listen[0], (Endpoint{"0.0.0.0", 25}));
  EXPECT_EQ(c.relay.upstream, (Endpoint{"10.0.0.5", 25}));
  ASSERT_EQ(c.hops.size(), 2U);
  EXPECT_EQ(c.hops[0].name, "public");
  EXPECT_EQ(c.hops[1].name, "exchange");
  EXPECT_EQ(c.policy.severity.at("STARTTLS_NOT_USED"), Severity::warning);
  EXPECT_FALSE(c.status.listen);
}

TEST(ExampleConfig, ShowsEveryKeyTheLoaderKnows) {
  // An unknown key in an otherwise empty section gives an error listing the section's keys;
  // each of them must be set in the example.
  std::ifstream in(example_path());
  ASSERT_TRUE(in);
  std::stringstream contents;
  contents << in.rdbuf();
  const std::string example = contents.str();
  for (const std::string section :
       {"relay", "relay.timeouts", "tls", "policy", "hops_probe", "audit", "log", "status"}) {
    const auto result = load_string("[" + section + "]\nzzzzzzzz = 1\n", "k.toml", Purpose::check);
    ASSERT_EQ(result.errors.size(), 1U) << section;
    const std::string& expected = result.errors[0].expected;
    const auto colon = expected.find(": ");
    ASSERT_NE(colon, std::string::npos) << expected;
    std::stringstream keys(expected.substr(colon + 2));
    std::string key;
    while (std::getline(keys, key, ',')) {
      key.erase(0, key.find_first_not_of(' '));
      if (key == "timeouts" || key == "severity") {
        continue;  // sub-tables, checked as sections
      }
      EXPECT_THAT(example, HasSubstr("\n" + key + " = ")) << section << "." << key;
    }
  }
  EXPECT_THAT(example, HasSubstr("\n[[hops]]"));
  EXPECT_THAT(example, HasSubstr("\n[policy.severity]"));
}

TEST(LoadString, PositionsLetALaterCheckPointAtTheKey) {
  const auto result = load_string("[relay]\nmode = \"inspect\"\n\n[tls]\n  trust = \"/x.pem\"\n",
                                  "late.toml", Purpose::check);
  ASSERT_TRUE(result.config) << all(result);
  const auto trust =
      error_at(result, "late.toml", "tls.trust", "a readable CA bundle", "\"/x.pem\"",
               "cannot read trust bundle /x.pem: No such file or directory");
  EXPECT_EQ(format_error(trust),
            "late.toml:5:11: key 'tls.trust': expected a readable CA bundle; found \"/x.pem\"; "
            "cannot read trust bundle /x.pem: No such file or directory");
  const auto mode = error_at(result, "late.toml", "relay.mode", "", "", "not built");
  EXPECT_EQ(mode.line, 2U);
  EXPECT_EQ(mode.column, 8U);
  // A key the file does not set has no position: its default is at fault.
  const auto unset = error_at(result, "late.toml", "audit.directory", "", "", "x");
  EXPECT_EQ(unset.line, 0U);
  EXPECT_EQ(format_error(unset), "late.toml: key 'audit.directory': x");
}

}  // namespace
}  // namespace hopscope::config
