// Each key of DESIGN.md §4: a value that loads, and the values that must not.
#include <chrono>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/load.hpp"

namespace hopscope::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string all(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += format_error(e) + "\n";
  }
  return out;
}

Config load_ok(const std::string& text) {
  const auto result = load_string(text, "test.toml", Purpose::check);
  EXPECT_TRUE(result.config) << text << "\n" << all(result);
  return result.config.value_or(Config{});
}

// Loads `text`, which must give exactly one error, on `key`.
ConfigError load_one_error(const std::string& text, const std::string& key) {
  const auto result = load_string(text, "test.toml", Purpose::check);
  EXPECT_FALSE(result.config) << text;
  EXPECT_EQ(result.errors.size(), 1U) << text << "\n" << all(result);
  if (result.errors.empty()) {
    return {};
  }
  EXPECT_EQ(result.errors[0].key, key) << text;
  EXPECT_NE(result.errors[0].line, 0U) << text;
  return result.errors[0];
}

TEST(RelayKeys, LoadEveryKey) {
  const Config c = load_ok(R"([relay]
listen = ["0.0.0.0:25", "[::]:2525", "127.0.0.1:0"]
upstream = "mail.contoso.com:25"
mode = "inspect"
transparent = "redirect"
proxy_protocol = true
max_sessions = 10
max_sessions_per_client = 10
user = "hopscope"
max_line_bytes = 1000
)");
  ASSERT_EQ(c.relay.listen.size(), 3U);
  EXPECT_EQ(c.relay.listen[1], (Endpoint{"::", 2525}));
  EXPECT_EQ(c.relay.listen[2], (Endpoint{"127.0.0.1", 0}));
  EXPECT_EQ(c.relay.upstream, (Endpoint{"mail.contoso.com", 25}));
  EXPECT_EQ(c.relay.mode, Mode::inspect);
  EXPECT_EQ(c.relay.transparent, Transparent::redirect);
  EXPECT_TRUE(c.relay.proxy_protocol);
  EXPECT_EQ(c.relay.max_sessions, 10U);
  EXPECT_EQ(c.relay.max_sessions_per_client, 10U);
  EXPECT_EQ(c.relay.user, "hopscope");
  EXPECT_EQ(c.relay.max_line_bytes, 1000U);
}

TEST(RelayKeys, ListenAcceptsASingleString) {
  const Config c = load_ok("[relay]\nlisten = \"[::1]:2525\"\n");
  ASSERT_EQ(c.relay.listen.size(), 1U);
  EXPECT_EQ(c.relay.listen[0], (Endpoint{"::1", 2525}));
}

TEST(RelayKeys, ListenRejectsBadEntriesByIndex) {
  const auto e =
      load_one_error("[relay]\nlisten = [\"0.0.0.0:25\", \"::1:25\"]\n", "relay.listen[1]");
  EXPECT_EQ(e.line, 2U);
  EXPECT_EQ(e.column, 25U);
  EXPECT_THAT(e.message, HasSubstr("brackets"));
  load_one_error("[relay]\nlisten = [25]\n", "relay.listen[0]");
  load_one_error("[relay]\nlisten = 25\n", "relay.listen");
  // Two spellings of one address are one address.
  EXPECT_THAT(
      load_one_error("[relay]\nlisten = [\"[::]:25\", \"[0:0::0]:25\"]\n", "relay.listen[1]")
          .expected,
      HasSubstr("not listed twice"));
}

// check-config said OK to a host name, and relay then refused it without a position.
TEST(RelayKeys, ListenNeedsAnIpAddressNotAHostName) {
  EXPECT_THAT(
      load_one_error("[relay]\nlisten = [\"mail.contoso.com:25\"]\n", "relay.listen[0]").expected,
      HasSubstr("a host name cannot be listened on"));
}

TEST(RelayKeys, UpstreamRejectsPortZeroAndEmptyMeansUnset) {
  load_one_error("[relay]\nupstream = \"10.0.0.5:0\"\n", "relay.upstream");
  load_one_error("[relay]\nupstream = \":25\"\n", "relay.upstream");
  load_one_error("[relay]\nupstream = [\"10.0.0.5:25\"]\n", "relay.upstream");
  EXPECT_FALSE(load_ok("[relay]\nupstream = \"\"\n").relay.upstream);
}

TEST(RelayKeys, EnumsRejectOtherWordsWithAHint) {
  const auto e = load_one_error("[relay]\nmode = \"Inspect\"\n", "relay.mode");
  EXPECT_EQ(e.found, "\"Inspect\"");
  EXPECT_EQ(e.expected, "one of \"passthrough\" or \"inspect\"");
  EXPECT_EQ(e.message, "did you mean 'inspect'?");
  load_one_error("[relay]\ntransparent = \"on\"\n", "relay.transparent");
  load_one_error("[relay]\ntransparent = false\n", "relay.transparent");
  EXPECT_EQ(load_ok("[relay]\ntransparent = \"off\"\n").relay.transparent, Transparent::off);
}

TEST(RelayKeys, TypesAreStrict) {
  EXPECT_EQ(load_one_error("[relay]\nproxy_protocol = \"true\"\n", "relay.proxy_protocol").found,
            "\"true\"");
  EXPECT_EQ(load_one_error("[relay]\nmax_sessions = 10.0\n", "relay.max_sessions").found,
            "floating-point number 10");
  load_one_error("[relay]\nuser = 0\n", "relay.user");
}

TEST(RelayKeys, MaxSessionsLimits) {
  EXPECT_EQ(load_one_error("[relay]\nmax_sessions = 0\n", "relay.max_sessions").expected,
            "an integer from 1 to 1000000");
  load_one_error("[relay]\nmax_sessions = -1\n", "relay.max_sessions");
  load_one_error("[relay]\nmax_sessions = 1000001\n", "relay.max_sessions");
  EXPECT_EQ(load_ok("[relay]\nmax_sessions = 1\nmax_sessions_per_client = 1\n").relay.max_sessions,
            1U);
  EXPECT_EQ(load_ok("[relay]\nmax_sessions = 1000000\n").relay.max_sessions, 1000000U);
  load_one_error("[relay]\nmax_sessions_per_client = 0\n", "relay.max_sessions_per_client");
}

TEST(RelayKeys, PerClientLimitAtMostMaxSessions) {
  EXPECT_EQ(load_ok("[relay]\nmax_sessions = 50\nmax_sessions_per_client = 50\n")
                .relay.max_sessions_per_client,
            50U);
  const auto e = load_one_error("[relay]\nmax_sessions = 50\nmax_sessions_per_client = 51\n",
                                "relay.max_sessions_per_client");
  EXPECT_EQ(e.line, 3U);
  EXPECT_THAT(e.expected, HasSubstr("relay.max_sessions (50)"));
  // Only max_sessions set, below the default per-client 100: the error points at it.
  const auto lowered = load_one_error("[relay]\nmax_sessions = 99\n", "relay.max_sessions");
  EXPECT_THAT(lowered.expected, HasSubstr("relay.max_sessions_per_client (100)"));
  // A bad value is not compared again.
  load_one_error("[relay]\nmax_sessions = 0\nmax_sessions_per_client = 5\n", "relay.max_sessions");
}

TEST(RelayKeys, MaxLineBytesLimits) {
  load_one_error("[relay]\nmax_line_bytes = 511\n", "relay.max_line_bytes");
  EXPECT_EQ(load_ok("[relay]\nmax_line_bytes = 512\n").relay.max_line_bytes, 512U);
  EXPECT_EQ(load_ok("[relay]\nmax_line_bytes = 16777216\n").relay.max_line_bytes, 16777216U);
  load_one_error("[relay]\nmax_line_bytes = 16777217\n", "relay.max_line_bytes");
}

TEST(TimeoutKeys, LoadEveryKey) {
  const Config c = load_ok(R"([relay.timeouts]
connect = "10s"
greeting = "1m"
command = "2m"
data_block = "250ms"
data_end = "20m"
tls_idle = "1h"
drain = "30s"
)");
  EXPECT_EQ(c.relay.timeouts.connect, 10s);
  EXPECT_EQ(c.relay.timeouts.greeting, 1min);
  EXPECT_EQ(c.relay.timeouts.command, 2min);
  EXPECT_EQ(c.relay.timeouts.data_block, 250ms);
  EXPECT_EQ(c.relay.timeouts.data_end, 20min);
  EXPECT_EQ(c.relay.timeouts.tls_idle, 1h);
  EXPECT_EQ(c.relay.timeouts.drain, 30s);
}

TEST(TimeoutKeys, DottedKeysWork) {
  EXPECT_EQ(load_ok("[relay]\ntimeouts.connect = \"5s\"\n").relay.timeouts.connect, 5s);
}

TEST(TimeoutKeys, RejectBadDurations) {
  EXPECT_EQ(load_one_error("[relay.timeouts]\nconnect = 30\n", "relay.timeouts.connect").found,
            "integer 30");
  load_one_error("[relay.timeouts]\nconnect = \"30\"\n", "relay.timeouts.connect");
  load_one_error("[relay.timeouts]\nconnect = \"-30s\"\n", "relay.timeouts.connect");
  EXPECT_EQ(
      load_one_error("[relay.timeouts]\nconnect = \"0s\"\n", "relay.timeouts.connect").expected,
      "a duration greater than zero and at most 8784h");
  EXPECT_EQ(load_ok("[relay.timeouts]\nconnect = \"1ms\"\n").relay.timeouts.connect, 1ms);
}

// "99999999h" fits in milliseconds but overflowed steady_clock's nanoseconds when added to
// now(): every session then timed out at once. 366 days is the most a key accepts.
TEST(TimeoutKeys, RejectDurationsBeyondAYear) {
  EXPECT_EQ(load_ok("[relay.timeouts]\ngreeting = \"8784h\"\n").relay.timeouts.greeting,
            std::chrono::hours(8784));
  EXPECT_EQ(load_one_error("[relay.timeouts]\ngreeting = \"8785h\"\n", "relay.timeouts.greeting")
                .expected,
            "a duration greater than zero and at most 8784h");
  load_one_error("[relay.timeouts]\ndrain = \"99999999h\"\n", "relay.timeouts.drain");
}

TEST(TimeoutKeys, TlsIdleAtLeastDataEndNamesBothKeys) {
  EXPECT_EQ(
      load_ok("[relay.timeouts]\ndata_end = \"15m\"\ntls_idle = \"15m\"\n").relay.timeouts.tls_idle,
      15min);
  const auto e = load_one_error("[relay.timeouts]\ndata_end = \"15m\"\ntls_idle = \"14m\"\n",
                                "relay.timeouts.tls_idle");
  EXPECT_EQ(e.line, 3U);
  EXPECT_EQ(e.column, 12U);
  EXPECT_THAT(format_error(e), HasSubstr("relay.timeouts.data_end"));
  EXPECT_EQ(e.found, "\"14m\"");
  // Only data_end raised above the default tls_idle: the error is on data_end.
  const auto raised =
      load_one_error("[relay.timeouts]\ndata_end = \"11m\"\n", "relay.timeouts.data_end");
  EXPECT_THAT(format_error(raised), HasSubstr("relay.timeouts.tls_idle"));
}

TEST(TlsKeys, LoadEveryKey) {
  const Config c = load_ok(R"([tls]
certificate = "/etc/hopscope/mail.pem"
key = "/etc/hopscope/mail.key"
request_client_certificate = false
trust = "/etc/ssl/certs/ca-certificates.crt"
upstream_sni = "mail.contoso.com"
upstream_client_certificate = "/etc/hopscope/client.pem"
upstream_client_key = "/etc/hopscope/client.key"
keylog = "/tmp/keys.log"
)");
  EXPECT_EQ(c.tls.certificate, "/etc/hopscope/mail.pem");
  EXPECT_EQ(c.tls.key, "/etc/hopscope/mail.key");
  EXPECT_FALSE(c.tls.request_client_certificate);
  EXPECT_EQ(c.tls.trust, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(c.tls.upstream_sni, "mail.contoso.com");
  EXPECT_EQ(c.tls.upstream_client_certificate, "/etc/hopscope/client.pem");
  EXPECT_EQ(c.tls.upstream_client_key, "/etc/hopscope/client.key");
  EXPECT_EQ(c.tls.keylog, "/tmp/keys.log");
}

TEST(TlsKeys, RejectWrongValues) {
  load_one_error("[tls]\ntrust = \"\"\n", "tls.trust");
  load_one_error("[tls]\ncertificate = 1\n", "tls.certificate");
  load_one_error("[tls]\nkey = \"a\\u0000b\"\n", "tls.key");
  load_one_error("[tls]\nrequest_client_certificate = 1\n", "tls.request_client_certificate");
}

TEST(PolicyKeys, LoadEveryKey) {
  const Config c = load_ok(R"([policy]
expected_server_names = ["mail.contoso.com", "*.contoso.com"]
expected_certificate = "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com"
expected_thumbprints = ["a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"]
server_pins = ["sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]
expected_client_names = ["mail.protection.outlook.com"]
require_starttls = false
min_tls_version = "TLSv1.3"
expiry_warning_days = 14
action = "refuse"
[policy.severity]
STARTTLS_NOT_USED = "warning"
CERT_EXPIRING_SOON = "critical"
BANNER_MASKED = "info"
)");
  EXPECT_EQ(c.policy.expected_server_names,
            (std::vector<std::string>{"mail.contoso.com", "*.contoso.com"}));
  EXPECT_EQ(c.policy.expected_certificate, "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com");
  EXPECT_EQ(c.policy.expected_thumbprints,
            (std::vector<std::string>{"A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"}));
  EXPECT_EQ(c.policy.server_pins,
            (std::vector<std::string>{"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}));
  EXPECT_EQ(c.policy.expected_client_names,
            (std::vector<std::string>{"mail.protection.outlook.com"}));
  EXPECT_FALSE(c.policy.require_starttls);
  EXPECT_EQ(c.policy.min_tls_version, "TLSv1.3");
  EXPECT_EQ(c.policy.expiry_warning_days, 14U);
  EXPECT_EQ(c.policy.action, PolicyAction::refuse);
  ASSERT_EQ(c.policy.severity.size(), 3U);
  EXPECT_EQ(c.policy.severity.at("STARTTLS_NOT_USED"), Severity::warning);
  EXPECT_EQ(c.policy.severity.at("CERT_EXPIRING_SOON"), Severity::critical);
  EXPECT_EQ(c.policy.severity.at("BANNER_MASKED"), Severity::info);
}

TEST(PolicyKeys, ThumbprintsAreNormalised) {
  // As pasted from Get-ExchangeCertificate, with spaces, colons, lower case, and the
  // invisible U+200E the Windows certificate dialog puts in front.
  const Config c = load_ok(R"([policy]
expected_thumbprints = [
  "a1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90 12 34 56 78",
  "A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:12:34:56:79",
  "\u200eA1B2C3D4E5F60718293A4B5C6D7E8F901234567A",
]
)");
  EXPECT_EQ(c.policy.expected_thumbprints,
            (std::vector<std::string>{"A1B2C3D4E5F60718293A4B5C6D7E8F9012345678",
                                      "A1B2C3D4E5F60718293A4B5C6D7E8F9012345679",
                                      "A1B2C3D4E5F60718293A4B5C6D7E8F901234567A"}));
}

TEST(PolicyKeys, ThumbprintsRejectWrongLengthAndNonHex) {
  // 39, 41 digits; a 'G'; a SHA-256 (64 digits); not a string.
  load_one_error("[policy]\nexpected_thumbprints = [\"A1B2C3D4E5F60718293A4B5C6D7E8F901234567\"]\n",
                 "policy.expected_thumbprints[0]");
  load_one_error(
      "[policy]\nexpected_thumbprints = [\"A1B2C3D4E5F60718293A4B5C6D7E8F90123456789\"]\n",
      "policy.expected_thumbprints[0]");
  load_one_error(
      "[policy]\nexpected_thumbprints = [\"G1B2C3D4E5F60718293A4B5C6D7E8F9012345678\"]\n",
      "policy.expected_thumbprints[0]");
  load_one_error("[policy]\nexpected_thumbprints = [\"" + std::string(64, 'A') + "\"]\n",
                 "policy.expected_thumbprints[0]");
  load_one_error("[policy]\nexpected_thumbprints = [1]\n", "policy.expected_thumbprints[0]");
  load_one_error("[policy]\nexpected_thumbprints = \"A1\"\n", "policy.expected_thumbprints");
}

TEST(PolicyKeys, PinsMustBeSha256OfThirtyTwoBytes) {
  const std::string key = "policy.server_pins[0]";
  for (const char* pin : {
           "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",         // no prefix
           "sha1/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",    // wrong prefix
           "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",   // no padding
           "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",  // non-canonical last char
           "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu==",   // 31 bytes
           "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA",  // 33 bytes, no pad
           "sha256/47DEQpj8HBSa-_TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",  // base64url
       }) {
    load_one_error("[policy]\nserver_pins = [\"" + std::string(pin) + "\"]\n", key);
  }
}

TEST(PolicyKeys, ExpectedCertificateNeedsIssuerAndSubjectMarkers) {
  load_one_error("[policy]\nexpected_certificate = \"CN=mail.contoso.com\"\n",
                 "policy.expected_certificate");
  load_one_error("[policy]\nexpected_certificate = \"<I>CN=R3\"\n", "policy.expected_certificate");
  load_one_error("[policy]\nexpected_certificate = \"<S>CN=a<I>CN=b\"\n",
                 "policy.expected_certificate");
  EXPECT_EQ(load_ok("[policy]\nexpected_certificate = \"\"\n").policy.expected_certificate, "");
}

TEST(PolicyKeys, NameListsRejectEmptyAndNonStrings) {
  load_one_error("[policy]\nexpected_server_names = [\"\"]\n", "policy.expected_server_names[0]");
  load_one_error("[policy]\nexpected_client_names = [true]\n", "policy.expected_client_names[0]");
  load_one_error("[policy]\nexpected_server_names = \"mail.contoso.com\"\n",
                 "policy.expected_server_names");
}

TEST(PolicyKeys, EnumsAndRanges) {
  for (const char* v : {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}) {
    EXPECT_EQ(
        load_ok("[policy]\nmin_tls_version = \"" + std::string(v) + "\"\n").policy.min_tls_version,
        v);
  }
  EXPECT_EQ(
      load_one_error("[policy]\nmin_tls_version = \"TLS1.2\"\n", "policy.min_tls_version").message,
      "did you mean 'TLSv1.2'?");
  load_one_error("[policy]\naction = \"block\"\n", "policy.action");
  load_one_error("[policy]\nrequire_starttls = \"yes\"\n", "policy.require_starttls");
  EXPECT_EQ(load_ok("[policy]\nexpiry_warning_days = 0\n").policy.expiry_warning_days, 0U);
  EXPECT_EQ(load_ok("[policy]\nexpiry_warning_days = 3650\n").policy.expiry_warning_days, 3650U);
  load_one_error("[policy]\nexpiry_warning_days = 3651\n", "policy.expiry_warning_days");
  load_one_error("[policy]\nexpiry_warning_days = -1\n", "policy.expiry_warning_days");
}

TEST(PolicySeverity, EveryFindingIdCanBeOverridden) {
  std::string text = "[policy.severity]\n";
  for (const auto id : known_finding_ids()) {
    text += std::string(id) + " = \"info\"\n";
  }
  const Config c = load_ok(text);
  EXPECT_EQ(c.policy.severity.size(), known_finding_ids().size());
  EXPECT_EQ(known_finding_ids().size(), 27U);
}

TEST(PolicySeverity, UnknownIdIsAnErrorWithAHint) {
  const auto e = load_one_error("[policy.severity]\nSTARTTLS_NOT_USE = \"info\"\n",
                                "policy.severity.STARTTLS_NOT_USE");
  EXPECT_EQ(e.line, 2U);
  EXPECT_EQ(e.column, 1U);
  EXPECT_EQ(e.message, "did you mean 'STARTTLS_NOT_USED'?");
  // Case matters: ids are published exactly (DESIGN.md §6).
  load_one_error("[policy.severity]\nstarttls_not_used = \"info\"\n",
                 "policy.severity.starttls_not_used");
}

TEST(PolicySeverity, ValueMustBeASeverity) {
  const auto e = load_one_error("[policy.severity]\nCERT_SELF_SIGNED = \"error\"\n",
                                "policy.severity.CERT_SELF_SIGNED");
  EXPECT_EQ(e.expected, "one of \"info\", \"warning\" or \"critical\"");
  load_one_error("[policy.severity]\nCERT_SELF_SIGNED = 1\n", "policy.severity.CERT_SELF_SIGNED");
  load_one_error("[policy]\nseverity = \"warning\"\n", "policy.severity");
}

TEST(HopKeys, LoadInPathOrder) {
  const Config c = load_ok(R"([[hops]]
name = "public"
address = "203.0.113.10:25"
sni = "mail.contoso.com"
[[hops]]
name = "exchange"
address = "[2001:db8::5]:25"
)");
  ASSERT_EQ(c.hops.size(), 2U);
  EXPECT_EQ(c.hops[0].name, "public");
  EXPECT_EQ(c.hops[0].address, (Endpoint{"203.0.113.10", 25}));
  EXPECT_EQ(c.hops[0].sni, "mail.contoso.com");
  EXPECT_EQ(c.hops[1].name, "exchange");
  EXPECT_EQ(c.hops[1].address, (Endpoint{"2001:db8::5", 25}));
  EXPECT_EQ(c.hops[1].sni, "");
}

TEST(HopKeys, NameAndAddressRequired) {
  const auto e = load_one_error("[[hops]]\nname = \"a\"\n", "hops[0].address");
  EXPECT_EQ(e.line, 1U);
  EXPECT_THAT(e.message, HasSubstr("required"));
  load_one_error("[[hops]]\naddress = \"h:25\"\n", "hops[0].name");
  load_one_error("[[hops]]\nname = \"\"\naddress = \"h:25\"\n", "hops[0].name");
}

TEST(HopKeys, NamesAreUnique) {
  const auto e = load_one_error(
      "[[hops]]\nname = \"a\"\naddress = \"h:25\"\n[[hops]]\nname = \"a\"\naddress = \"g:25\"\n",
      "hops[1].name");
  EXPECT_EQ(e.line, 5U);
  EXPECT_THAT(e.expected, HasSubstr("first used on line 2"));
}

TEST(HopKeys, RejectBadAddressUnknownKeyAndWrongShape) {
  load_one_error("[[hops]]\nname = \"a\"\naddress = \"h:0\"\n", "hops[0].address");
  const auto e =
      load_one_error("[[hops]]\nname = \"a\"\naddress = \"h:25\"\nsin = \"x\"\n", "hops[0].sin");
  EXPECT_EQ(e.message, "did you mean 'sni'?");
  load_one_error("[hops]\nname = \"a\"\n", "hops");
}

TEST(HopsProbeKeys, LoadAndValidate) {
  const Config c = load_ok("[hops_probe]\ninterval = \"1h\"\nehlo = \"probe.contoso.com\"\n");
  EXPECT_EQ(c.hops_probe.interval, 1h);
  EXPECT_EQ(c.hops_probe.ehlo, "probe.contoso.com");
  load_one_error("[hops_probe]\ninterval = \"0m\"\n", "hops_probe.interval");
  load_one_error("[hops_probe]\nehlo = \"\"\n", "hops_probe.ehlo");
  load_one_error("[hops_probe]\nehlo = \"a b\"\n", "hops_probe.ehlo");
}

TEST(AuditKeys, LoadAndValidate) {
  const Config c = load_ok(
      "[audit]\ndirectory = \"/var/log/hopscope\"\nrecord_envelope = false\ntranscript = false\n");
  EXPECT_EQ(c.audit.directory, "/var/log/hopscope");
  EXPECT_FALSE(c.audit.record_envelope);
  EXPECT_FALSE(c.audit.transcript);
  load_one_error("[audit]\ndirectory = \"\"\n", "audit.directory");
  load_one_error("[audit]\nrecord_envelope = 0\n", "audit.record_envelope");
}

TEST(LogKeys, EveryLevelLoadsAndOthersDoNot) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_EQ(load_ok("[log]\nlevel = \"" + std::string(level) + "\"\n").log.level, level);
  }
  EXPECT_EQ(load_one_error("[log]\nlevel = \"warning\"\n", "log.level").message,
            "did you mean 'warn'?");
  EXPECT_EQ(load_one_error("[log]\nlevel = \"wran\"\n", "log.level").message,
            "did you mean 'warn'?");
  EXPECT_EQ(load_one_error("[log]\nlevel = \"loud\"\n", "log.level").message, "");
}

TEST(StatusKeys, ListenIsOptional) {
  EXPECT_FALSE(load_ok("[status]\nlisten = \"\"\n").status.listen);
  EXPECT_EQ(load_ok("[status]\nlisten = \"127.0.0.1:9025\"\n").status.listen,
            (Endpoint{"127.0.0.1", 9025}));
  EXPECT_EQ(load_ok("[status]\nlisten = \"127.0.0.1:0\"\n").status.listen,
            (Endpoint{"127.0.0.1", 0}));
  load_one_error("[status]\nlisten = \"127.0.0.1\"\n", "status.listen");
}

}  // namespace
}  // namespace hopscope::config
