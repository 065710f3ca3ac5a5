// The direct JSON writer in proxy/audit_json.cpp must produce exactly the bytes of the old
// Boost.JSON DOM encoder (audit_json_reference.cpp): the audit format is a published
// contract (DESIGN.md §5), and readers may compare documents as text. Hand-written edge
// cases plus a seeded generator that sets and unsets every field.

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "audit_json_reference.hpp"
#include "proxy/audit_json.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

constexpr std::array<EndReason, 8> all_end_reasons = {EndReason::quit,
                                                      EndReason::client_closed,
                                                      EndReason::upstream_closed,
                                                      EndReason::timeout,
                                                      EndReason::upstream_unreachable,
                                                      EndReason::limit,
                                                      EndReason::shutdown,
                                                      EndReason::error};

// Every byte value once, in order: control characters, '"', '\\', '/', DEL, 0x80-0xFF.
std::string every_byte() {
  std::string s;
  for (int b = 0; b < 256; ++b) {
    s += static_cast<char>(b);
  }
  return s;
}

// Fails with the first differing offset so that a mismatch is readable.
void expect_same_bytes(const std::string& actual, const std::string& expected,
                       const std::string& what) {
  if (actual == expected) {
    SUCCEED();
    return;
  }
  std::size_t i = 0;
  while (i < actual.size() && i < expected.size() && actual[i] == expected[i]) {
    ++i;
  }
  const auto from = i < 40 ? 0 : i - 40;
  ADD_FAILURE() << what << ": first difference at byte " << i
                << "\n  new: " << actual.substr(from, 100)
                << "\n  old: " << expected.substr(from, 100);
}

void expect_identical(const SessionFacts& facts, const std::vector<FindingView>& findings,
                      const std::string& verdict, const AuditOptions& options,
                      const std::string& what) {
  expect_same_bytes(to_json(facts, findings, verdict, options),
                    test::reference_to_json(facts, findings, verdict, options),
                    what + " (to_json)");
  expect_same_bytes(summary_json_line(facts, findings, verdict, options),
                    test::reference_summary_json_line(facts, findings, verdict, options),
                    what + " (summary_json_line)");
}

// Every option combination, including caps that cut almost everything.
std::vector<AuditOptions> option_variants() {
  std::vector<AuditOptions> out;
  for (const bool envelope : {true, false}) {
    for (const bool transcript : {true, false}) {
      for (const std::size_t cap :
           {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{100}, default_line_cap,
            std::numeric_limits<std::size_t>::max()}) {
        out.push_back(AuditOptions{envelope, transcript, cap});
      }
    }
  }
  return out;
}

// Puts `s` into every string of `facts` and `findings` that the documents show.
void fill_every_string(SessionFacts& f, std::vector<FindingView>& findings, const std::string& s) {
  f.id = f.mode = s;
  f.downstream.peer = f.downstream.local = f.downstream.helo = s;
  f.downstream.original_destination = s;
  f.downstream.helo_commands = {s, s};
  f.downstream.starttls.handshake = s;
  f.downstream.starttls.reply = ReplyFacts{220, s, {s, s}};
  f.downstream.starttls.server_plaintext_after_220 = PlaintextEvidence{1, s};
  auto& up = f.upstream;
  up.address = up.local = s;
  up.banner = up.ehlo_reply = up.helo_reply = ReplyFacts{250, s, {s, s, s}};
  up.capabilities = {s};
  up.connect_error = s;
  up.starttls.handshake = s;
  auto& t = *up.tls;
  t.source = s;
  t.version = t.cipher = t.sni = t.alpn = s;
  t.offered_alpn = t.offered_versions = t.offered_ciphers = t.offered_groups = {s, s};
  t.alert = AlertFacts{s, s, s, -1};
  t.parse_error = s;
  for (auto& c : t.server_certificates) {
    c.subject = c.issuer = c.serial = c.not_before = c.not_after = s;
    c.sha256 = c.sha1 = c.spki_sha256 = c.key = c.key_type = c.signature = s;
    c.der_base64 = c.parse_error = s;
    c.subject_dn = c.issuer_dn = {{s, s}, {"CN", s}};
    c.san_dns = c.san_ip = {s};
  }
  t.verification.error = s;
  t.verification.matched_name = s;
  t.verification.expected_names = {s};
  f.downstream.tls = t;
  f.downstream.tls_end_to_end = false;
  for (auto& m : f.messages) {
    m.mail_from = m.transfer = m.sha256 = m.ambiguous_evidence = s;
    m.rcpt_to = {s, s};
    m.rcpt_refused = {{s, ReplyFacts{550, s, {s, s}}}, {s, std::nullopt}};
    m.reply = ReplyFacts{250, s, {s}};
  }
  for (auto& e : f.transcript) {
    e.dir = e.line = s;
  }
  f.anomalies = {{s, s, s}};
  f.end.detail = s;
  findings = {FindingView{s, s, s, s, s, s}, FindingView{s, s, s, s, s, s}};
}

TEST(AuditJsonOracle, SampleFactsMatchTheDomEncoderForEveryOption) {
  for (const auto& options : option_variants()) {
    const auto what = "cap=" + std::to_string(options.line_cap) +
                      " envelope=" + std::to_string(options.record_envelope) +
                      " transcript=" + std::to_string(options.transcript);
    expect_identical(test::sample_facts(), test::sample_findings(), "", options, what);
    expect_identical(test::sample_facts(), {}, "a verdict", options, what);
  }
}

TEST(AuditJsonOracle, DefaultFactsMatchTheDomEncoder) {
  for (const auto& options : option_variants()) {
    expect_identical(SessionFacts{}, {}, "", options, "default facts");
  }
}

TEST(AuditJsonOracle, EveryEndReasonMatches) {
  for (const auto reason : all_end_reasons) {
    auto facts = test::sample_facts();
    facts.end.reason = reason;
    expect_identical(facts, {}, "", {}, to_string(reason));
    facts.end.detail = "detail";
    expect_identical(facts, {}, "", {}, std::string(to_string(reason)) + " with detail");
  }
}

TEST(AuditJsonOracle, EveryByteInEveryStringMatches) {
  // Raw bytes 0x00-0xFF, invalid UTF-8, quotes, backslashes, CR/LF, DEL, "/", escape-looking
  // text, valid multi-byte UTF-8, and a string longer than the default cap.
  const std::vector<std::string> strings = {
      "",
      every_byte(),
      "\"quoted\" \\back\\slash\\ /slash/ \x7F",
      "line1\r\nline2\nline3\r",
      "\n",
      "\n\n",
      R"(\x0A already escaped\nnot a newline\\)",
      "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
      "\xFF\xFE\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80\xE2\x82",
      std::string(5000, 'x') + "\n" + std::string(3, '\0'),
      "\t\b\f\x01\x1F\x1B[0m",
  };
  for (std::size_t i = 0; i < strings.size(); ++i) {
    auto facts = test::sample_facts();
    auto findings = test::sample_findings();
    fill_every_string(facts, findings, strings[i]);
    for (const auto& options : option_variants()) {
      expect_identical(facts, findings, strings[i], options,
                       "string #" + std::to_string(i) + " cap=" + std::to_string(options.line_cap));
    }
  }
}

TEST(AuditJsonOracle, PassthroughAndInspectTlsShapesMatch) {
  auto facts = test::sample_facts();
  expect_identical(facts, {}, "", {}, "end_to_end");
  facts.downstream.tls = facts.upstream.tls;  // end_to_end wins over a recorded handshake
  expect_identical(facts, {}, "", {}, "end_to_end with tls");
  facts.downstream.tls_end_to_end = false;
  expect_identical(facts, {}, "", {}, "inspect");
  facts.downstream.tls.reset();
  facts.upstream.tls->server_certificates.clear();
  expect_identical(facts, {}, "", {}, "no downstream tls, no leaf");
  facts.upstream.tls.reset();
  expect_identical(facts, {}, "", {}, "no tls at all");
}

TEST(AuditJsonOracle, ExtremeNumbersMatch) {
  auto facts = test::sample_facts();
  facts.bytes_client_to_server = std::numeric_limits<std::uint64_t>::max();
  facts.bytes_server_to_client = 0;
  facts.transcript_dropped = std::numeric_limits<std::uint64_t>::max() - 1;
  facts.started_unix_ms = -86'400'000;  // before 1970
  facts.ended_unix_ms = -86'400'001;    // a negative duration clamps to 0
  facts.transcript[0].t_ms = std::numeric_limits<std::int64_t>::min();
  facts.transcript[1].t_ms = std::numeric_limits<std::int64_t>::max();
  facts.transcript[3].data_bytes = std::numeric_limits<std::uint64_t>::max();
  auto& t = *facts.upstream.tls;
  t.cipher_id = std::numeric_limits<std::uint16_t>::max();
  t.alert->code = std::numeric_limits<int>::min();
  t.server_certificates[0].key_bits = std::numeric_limits<int>::max();
  t.verification.error_depth = std::numeric_limits<int>::min();
  t.verification.name_matched = true;
  t.verification.matched_name = "mail.contoso.com";
  facts.messages[0].size = std::numeric_limits<std::uint64_t>::max();
  facts.messages[0].ambiguous_end_of_data = true;
  facts.messages[0].ambiguous_evidence = "\n.\n";
  expect_identical(facts, test::sample_findings(), "v", {}, "extreme numbers");
}

// Random facts: each optional is set or unset, each list empty or not, each string drawn
// from pools that stress the escaper. Deterministic; the seed is printed on failure.
class RandomFacts {
 public:
  explicit RandomFacts(std::uint64_t seed) : rng_(seed) {}

  SessionFacts facts() {
    SessionFacts f;
    f.id = text();
    f.started_unix_ms = integer<std::int64_t>(-10'000'000'000'000, 10'000'000'000'000);
    f.ended_unix_ms = f.started_unix_ms + integer<std::int64_t>(-1000, 100'000'000);
    f.mode = pick<std::string>({"passthrough", "inspect", text()});
    f.own_probe = coin();
    f.downstream = downstream();
    f.upstream = upstream();
    f.messages = list<MessageFacts>([this] { return message(); });
    f.transcript = list<TranscriptEntry>([this] { return transcript_entry(); }, 12);
    f.transcript_dropped = u64();
    f.anomalies = list<AnomalyFacts>([this] { return AnomalyFacts{text(), text(), text()}; });
    f.bytes_client_to_server = u64();
    f.bytes_server_to_client = u64();
    f.end.reason = all_end_reasons.at(integer<std::size_t>(0, all_end_reasons.size() - 1));
    f.end.detail = maybe_text();
    return f;
  }

  std::vector<FindingView> findings() {
    return list<FindingView>(
        [this] { return FindingView{text(), text(), text(), text(), text(), text()}; });
  }

  std::string verdict() { return coin() ? "" : text(); }

  AuditOptions options() {
    return AuditOptions{coin(), coin(),
                        pick<std::size_t>({0, 1, 3, 16, 64, 255, default_line_cap,
                                           std::numeric_limits<std::size_t>::max()})};
  }

 private:
  bool coin() { return std::bernoulli_distribution(0.5)(rng_); }

  template <typename T>
  T integer(T lo, T hi) {
    return std::uniform_int_distribution<T>(lo, hi)(rng_);
  }

  std::uint64_t u64() {
    return pick<std::uint64_t>({0, 1, integer<std::uint64_t>(0, 100'000), rng_(),
                                std::numeric_limits<std::uint64_t>::max()});
  }

  int i32() {
    return pick<int>({0, -1, integer<int>(-100, 100000), std::numeric_limits<int>::min(),
                      std::numeric_limits<int>::max()});
  }

  template <typename T>
  T pick(std::vector<T> choices) {
    return std::move(choices.at(integer<std::size_t>(0, choices.size() - 1)));
  }

  template <typename T, typename Make>
  std::vector<T> list(Make make, std::size_t max = 4) {
    std::vector<T> out(integer<std::size_t>(0, max));
    for (auto& x : out) {
      x = make();
    }
    return out;
  }

  // Strings from several pools: plain, structured, arbitrary bytes, UTF-8 pieces.
  std::string text() {
    switch (integer(0, 6)) {
      case 0:
        return "";
      case 1:
        return pick<std::string>({"250 OK", "CN=mail.contoso.com", "TLSv1.3", "c>s", "s>c"});
      case 2:
        return random_bytes(integer<std::size_t>(0, 40), 0, 255);
      case 3:
        return random_bytes(integer<std::size_t>(0, 300), 0x20, 0x7F);
      case 4:
        return pieces(integer<std::size_t>(0, 30));
      case 5:
        return std::string(integer<std::size_t>(0, 5000), 'a') + pieces(3);
      default:
        return random_bytes(integer<std::size_t>(0, 12), 0, 0x20);
    }
  }

  std::optional<std::string> maybe_text() {
    if (coin()) {
      return std::nullopt;
    }
    return text();
  }

  std::string random_bytes(std::size_t n, int lo, int hi) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      s += static_cast<char>(integer(lo, hi));
    }
    return s;
  }

  // Fragments that each exercise one escaping rule.
  std::string pieces(std::size_t n) {
    static const std::vector<std::string> fragments = {"\"",
                                                       "\\",
                                                       "/",
                                                       "\x7F",
                                                       "\r",
                                                       "\n",
                                                       "\r\n",
                                                       "\t",
                                                       std::string(1, '\0'),
                                                       "\x1F",
                                                       "\\x0A",
                                                       "\\n",
                                                       "\xC3\xA9",
                                                       "\xE2\x82\xAC",
                                                       "\xF0\x9F\x98\x80",
                                                       "\xC3",
                                                       "\xE2\x82",
                                                       "\xED\xA0\x80",
                                                       "\xC0\xAF",
                                                       "\xFF",
                                                       "\x80",
                                                       "abc",
                                                       " ",
                                                       "\xE2\x80\xA6",
                                                       "\\\\"};
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      s += fragments.at(integer<std::size_t>(0, fragments.size() - 1));
    }
    return s;
  }

  std::optional<ReplyFacts> reply() {
    if (coin()) {
      return std::nullopt;
    }
    return ReplyFacts{i32(), text(), list<std::string>([this] { return text(); })};
  }

  std::optional<PlaintextEvidence> plaintext() {
    if (coin()) {
      return std::nullopt;
    }
    return PlaintextEvidence{u64(), text()};
  }

  StartTlsFacts starttls() {
    return StartTlsFacts{coin(), coin(), reply(), text(), plaintext(), plaintext()};
  }

  std::vector<tls::DnAttribute> dn() {
    return list<tls::DnAttribute>([this] { return tls::DnAttribute{text(), text()}; });
  }

  tls::CertificateFacts certificate() {
    tls::CertificateFacts c;
    c.subject = text();
    c.issuer = text();
    c.subject_dn = dn();
    c.issuer_dn = dn();
    c.san_dns = list<std::string>([this] { return text(); });
    c.san_ip = list<std::string>([this] { return text(); });
    c.serial = text();
    c.not_before = text();
    c.not_after = text();
    c.sha256 = text();
    c.sha1 = text();
    c.spki_sha256 = text();
    c.key_type = text();
    c.key_bits = i32();
    c.key = text();
    c.signature = text();
    c.self_signed = coin();
    c.is_ca = coin();
    c.der_base64 = coin() ? random_bytes(integer<std::size_t>(0, 6000), 0x2B, 0x7A) : text();
    c.parse_error = text();
    return c;
  }

  tls::VerificationFacts verification() {
    tls::VerificationFacts v;
    v.checked = coin();
    v.trusted = coin();
    v.error = coin() ? std::string() : text();  // empty: no certificate was examined
    v.error_depth = i32();
    if (coin()) {
      v.name_matched = coin();
    }
    v.matched_name = maybe_text();
    v.expected_names = list<std::string>([this] { return text(); });
    return v;
  }

  std::optional<TlsFacts> tls_facts() {
    if (coin()) {
      return std::nullopt;
    }
    TlsFacts t;
    t.seen = coin();
    t.source = pick<std::string>({"handshake", "probe", text()});
    // Real version names too: which ones show the client-certificate exchange is a rule.
    t.version = coin() ? std::optional<std::string>(pick<std::string>(
                             {"TLSv1.2", "TLSv1.3", "TLSv1", "SSLv3", "TLSv1.3-draft-28"}))
                       : maybe_text();
    t.cipher = maybe_text();
    t.cipher_id = integer<std::uint16_t>(0, std::numeric_limits<std::uint16_t>::max());
    t.sni = maybe_text();
    t.alpn = maybe_text();
    t.offered_alpn = list<std::string>([this] { return text(); });
    t.offered_versions = list<std::string>([this] { return text(); });
    t.offered_ciphers = list<std::string>([this] { return text(); });
    t.offered_groups = list<std::string>([this] { return text(); });
    t.hello_retry_request = coin();
    t.resumed = coin();
    t.client_certificate_requested = coin();
    if (coin()) {
      t.alert = AlertFacts{text(), text(), text(), i32()};
    }
    t.server_certificates = list<tls::CertificateFacts>([this] { return certificate(); }, 3);
    t.client_certificates = list<tls::CertificateFacts>([this] { return certificate(); }, 2);
    t.verification = verification();
    t.client_app_records = u64();
    t.server_app_records = u64();
    t.client_app_bytes = u64();
    t.server_app_bytes = u64();
    t.first_encrypted_alert = coin() ? text() : std::string();
    t.parse_error = text();
    return t;
  }

  DownstreamFacts downstream() {
    DownstreamFacts d;
    d.peer = text();
    d.local = text();
    d.original_destination = maybe_text();
    d.helo = text();
    d.helo_commands = list<std::string>([this] { return text(); });
    d.starttls = starttls();
    d.tls_end_to_end = coin();
    d.tls = tls_facts();
    d.closed_first = coin();
    return d;
  }

  UpstreamFacts upstream() {
    UpstreamFacts u;
    u.address = text();
    u.local = text();
    u.banner = reply();
    u.ehlo_reply = reply();
    u.capabilities = list<std::string>([this] { return text(); });
    u.helo_reply = reply();
    u.starttls = starttls();
    u.tls = tls_facts();
    u.connect_error = maybe_text();
    return u;
  }

  MessageFacts message() {
    MessageFacts m;
    m.mail_from = text();
    m.rcpt_to = list<std::string>([this] { return text(); });
    m.rcpt_refused = list<RefusedRecipient>([this] {
      RefusedRecipient r;
      r.rcpt = text();
      r.reply = reply();
      return r;
    });
    m.mail_sent = coin();
    m.transfer = pick<std::string>({"DATA", "BDAT", text()});
    m.size = u64();
    m.sha256 = text();
    m.reply = reply();
    m.ambiguous_end_of_data = coin();
    m.ambiguous_evidence = text();
    return m;
  }

  TranscriptEntry transcript_entry() {
    TranscriptEntry e;
    e.t_ms = integer<std::int64_t>(std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max());
    e.dir = pick<std::string>({"c>s", "s>c", "tls", text()});
    e.line = text();
    if (coin()) {
      e.data_bytes = u64();
    }
    return e;
  }

  std::mt19937_64 rng_;
};

TEST(AuditJsonOracle, ThousandsOfRandomFactsMatchTheDomEncoder) {
  constexpr std::uint64_t seed = 20261122;
  constexpr int cases = 3000;
  RandomFacts random(seed);
  for (int i = 0; i < cases; ++i) {
    const auto facts = random.facts();
    const auto findings = random.findings();
    const auto verdict = random.verdict();
    const auto options = random.options();
    expect_identical(facts, findings, verdict, options,
                     "seed=" + std::to_string(seed) + " case=" + std::to_string(i));
    if (HasFailure()) {
      break;  // one readable failure beats three thousand
    }
  }
}

}  // namespace
}  // namespace hopscope
