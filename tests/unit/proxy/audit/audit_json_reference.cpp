// Test-only oracle (see audit_json_reference.hpp): a verbatim copy of the DOM-based encoder
// from proxy/audit_json.cpp at commit 20a2a68. Do not "improve" it: its value is that it is
// the old behaviour, byte for byte. The one deliberate change since: what was not seen is
// null (verification not done: "trusted" and, without a certificate, "expected_names"; the
// client-certificate exchange of a passively observed TLS 1.3 or resumed handshake), written
// here independently of tls/visibility.hpp so the two are checked against each other.
#include "audit_json_reference.hpp"

#include <algorithm>
#include <limits>
#include <string_view>

#include <boost/json.hpp>

#include "proxy/printable.hpp"

namespace hopscope::test {
namespace {
namespace json = boost::json;

// Turns facts into JSON values with one cap for every string that came from the wire.
class Encoder {
 public:
  explicit Encoder(const AuditOptions& options) : options_(options) {}

  // A string from the network (or derived from it): escaped and capped.
  [[nodiscard]] json::string text(std::string_view s) const {
    return {printable(s, options_.line_cap)};
  }

  // Like text(), but an empty string is null (an absent value).
  [[nodiscard]] json::value nonempty_text(std::string_view s) const {
    if (s.empty()) {
      return nullptr;
    }
    return text(s);
  }

  [[nodiscard]] json::value text_or_null(const std::optional<std::string>& s) const {
    if (!s) {
      return nullptr;
    }
    return text(*s);
  }

  // Text that may hold several lines: each line is escaped and capped on its own, and the
  // "\n" between lines is kept so that a reader sees the lines.
  [[nodiscard]] json::string lines_text(std::string_view s) const {
    return each_line(s, printable);
  }

  // Multi-line text that policy already escaped (findings): backslashes are kept as they
  // are, so "\\x0A" in evidence is not doubled; anything unprintable is still escaped.
  [[nodiscard]] json::string escaped_lines_text(std::string_view s) const {
    return each_line(s, printable_escaped);
  }

  [[nodiscard]] json::array text_array(const std::vector<std::string>& items) const {
    json::array a;
    a.reserve(items.size());
    for (const auto& s : items) {
      a.emplace_back(text(s));
    }
    return a;
  }

  // A reply as one string: its lines joined with "\n" (a single line stays as it is).
  [[nodiscard]] json::value reply(const std::optional<ReplyFacts>& r) const {
    if (!r) {
      return nullptr;
    }
    std::string out;
    for (const auto& line : r->lines) {
      if (!out.empty()) {
        out += '\n';
      }
      out += printable(line, options_.line_cap);
    }
    return json::string(out);
  }

  [[nodiscard]] json::value reply_lines(const std::optional<ReplyFacts>& r) const {
    if (!r) {
      return nullptr;
    }
    return text_array(r->lines);
  }

  [[nodiscard]] json::value plaintext(const std::optional<PlaintextEvidence>& p) const {
    if (!p) {
      return nullptr;
    }
    return json::object{{"bytes", p->bytes}, {"first_bytes", text(p->first_bytes)}};
  }

  [[nodiscard]] json::object starttls(const StartTlsFacts& s) const {
    return json::object{
        {"offered", s.offered},
        {"attempted", s.attempted},
        {"reply", reply(s.reply)},
        {"handshake", nonempty_text(s.handshake)},
        {"client_plaintext_after_starttls", plaintext(s.client_plaintext_after_starttls)},
        {"server_plaintext_after_220", plaintext(s.server_plaintext_after_220)},
    };
  }

  [[nodiscard]] json::array dn(const std::vector<tls::DnAttribute>& attributes) const {
    json::array a;
    for (const auto& attr : attributes) {
      a.emplace_back(json::object{{"type", text(attr.type)}, {"value", text(attr.value)}});
    }
    return a;
  }

  [[nodiscard]] json::object certificate(const tls::CertificateFacts& c) const {
    return json::object{
        {"subject", text(c.subject)},
        {"issuer", text(c.issuer)},
        {"subject_dn", dn(c.subject_dn)},
        {"issuer_dn", dn(c.issuer_dn)},
        {"san", text_array(c.san_dns)},
        {"san_ip", text_array(c.san_ip)},
        {"serial", text(c.serial)},
        {"not_before", text(c.not_before)},
        {"not_after", text(c.not_after)},
        {"sha256", text(c.sha256)},
        {"sha1", text(c.sha1)},
        {"spki_sha256", text(c.spki_sha256)},
        {"key", text(c.key)},
        {"key_type", text(c.key_type)},
        {"key_bits", c.key_bits},
        {"signature", text(c.signature)},
        {"self_signed", c.self_signed},
        {"is_ca", c.is_ca},
        // Base64 is ASCII: escaped for safety but never capped, so the document can be
        // re-verified offline.
        {"der", json::string(printable(c.der_base64, std::numeric_limits<std::size_t>::max()))},
        {"parse_error", nonempty_text(c.parse_error)},
    };
  }

  [[nodiscard]] json::array certificates(const std::vector<tls::CertificateFacts>& chain) const {
    json::array a;
    a.reserve(chain.size());
    for (const auto& c : chain) {
      a.emplace_back(certificate(c));
    }
    return a;
  }

  [[nodiscard]] json::object verification(const tls::VerificationFacts& v) const {
    json::value name_matched = nullptr;
    if (v.name_matched) {
      name_matched = *v.name_matched;
    }
    return json::object{
        {"checked", v.checked},
        {"trusted", v.checked ? json::value(v.trusted) : json::value(nullptr)},
        {"error", nonempty_text(v.error)},
        {"error_depth", v.error_depth},
        {"name_matched", name_matched},
        {"matched_name", text_or_null(v.matched_name)},
        {"expected_names", v.checked || !v.error.empty() ? json::value(text_array(v.expected_names))
                                                         : json::value(nullptr)},
    };
  }

  [[nodiscard]] json::value alert(const std::optional<AlertFacts>& a) const {
    if (!a) {
      return nullptr;
    }
    return json::object{{"direction", text(a->direction)},
                        {"level", text(a->level)},
                        {"description", text(a->description)},
                        {"code", a->code}};
  }

  [[nodiscard]] json::value tls(const std::optional<TlsFacts>& t, bool passive) const {
    if (!t) {
      return nullptr;
    }
    const auto& v = t->version;
    const bool clear = !v || *v == "TLSv1.2" || *v == "TLSv1.1" || *v == "TLSv1" || *v == "SSLv3";
    const bool hidden = passive && (t->source != "handshake" || t->resumed || !clear);
    return json::object{
        {"seen", t->seen},
        {"source", text(t->source)},
        {"version", text_or_null(t->version)},
        {"cipher", text_or_null(t->cipher)},
        {"cipher_id", t->cipher_id},
        {"sni", text_or_null(t->sni)},
        {"alpn", text_or_null(t->alpn)},
        {"offered_alpn", text_array(t->offered_alpn)},
        {"offered_versions", text_array(t->offered_versions)},
        {"offered_ciphers", text_array(t->offered_ciphers)},
        {"offered_groups", text_array(t->offered_groups)},
        {"alert", alert(t->alert)},
        {"resumed", t->resumed},
        {"hello_retry_request", t->hello_retry_request},
        {"client_certificate_requested",
         hidden ? json::value(nullptr) : json::value(t->client_certificate_requested)},
        {"client_certificates",
         hidden ? json::value(nullptr) : json::value(certificates(t->client_certificates))},
        {"server_certificates", hidden && t->server_certificates.empty()
                                    ? json::value(nullptr)
                                    : json::value(certificates(t->server_certificates))},
        {"verification", verification(t->verification)},
        {"client_app_records", t->client_app_records},
        {"server_app_records", t->server_app_records},
        {"client_app_bytes", t->client_app_bytes},
        {"server_app_bytes", t->server_app_bytes},
        {"first_encrypted_alert", nonempty_text(t->first_encrypted_alert)},
        {"parse_error", nonempty_text(t->parse_error)},
    };
  }

  [[nodiscard]] json::object downstream(const DownstreamFacts& d) const {
    json::value tls_value = nullptr;
    if (d.tls_end_to_end) {
      // DESIGN.md §5: in passthrough the one handshake is recorded on upstream.tls.
      tls_value = json::object{{"end_to_end", true}};
    } else {
      tls_value = tls(d.tls, false);
    }
    return json::object{
        {"peer", text(d.peer)},
        {"local", text(d.local)},
        {"original_destination", text_or_null(d.original_destination)},
        {"helo", text(d.helo)},
        {"helo_commands", text_array(d.helo_commands)},
        {"starttls", starttls(d.starttls)},
        {"tls", tls_value},
        {"closed_first", d.closed_first},
    };
  }

  [[nodiscard]] json::object upstream(const UpstreamFacts& u, bool passive) const {
    return json::object{
        {"address", text(u.address)},
        {"local", text(u.local)},
        {"banner", reply(u.banner)},
        {"ehlo_reply", reply_lines(u.ehlo_reply)},
        {"capabilities", text_array(u.capabilities)},
        {"helo_reply", reply(u.helo_reply)},
        {"starttls", starttls(u.starttls)},
        {"tls", tls(u.tls, passive)},
        {"connect_error", text_or_null(u.connect_error)},
    };
  }

  [[nodiscard]] json::array messages(const std::vector<MessageFacts>& list) const {
    json::array a;
    a.reserve(list.size());
    for (const auto& m : list) {
      json::object o;
      if (options_.record_envelope) {
        o["mail_from"] = m.mail_sent ? json::value(text(m.mail_from)) : json::value(nullptr);
        o["rcpt_to"] = text_array(m.rcpt_to);
        json::array refused;
        for (const auto& r : m.rcpt_refused) {
          refused.emplace_back(json::object{{"rcpt", text(r.rcpt)}, {"reply", reply(r.reply)}});
        }
        o["rcpt_refused"] = std::move(refused);
      }
      o["transfer"] = text(m.transfer);
      o["size"] = m.size;
      o["sha256"] = nonempty_text(m.sha256);
      o["reply"] = reply(m.reply);
      o["ambiguous_end_of_data"] = m.ambiguous_end_of_data;
      // A few bytes around the ambiguous terminator: the evidence, never the body.
      o["ambiguous_evidence"] = nonempty_text(m.ambiguous_evidence);
      a.emplace_back(std::move(o));
    }
    return a;
  }

  [[nodiscard]] json::value transcript(const std::vector<TranscriptEntry>& entries) const {
    if (!options_.transcript) {
      return nullptr;
    }
    json::array a;
    a.reserve(entries.size());
    for (const auto& e : entries) {
      json::object o{{"t_ms", e.t_ms}, {"dir", text(e.dir)}};
      if (e.data_bytes) {
        // Message content is never stored: only its size.
        o["data_bytes"] = *e.data_bytes;
      } else {
        o["line"] = text(e.line);
      }
      a.emplace_back(std::move(o));
    }
    return a;
  }

  [[nodiscard]] json::array anomalies(const std::vector<AnomalyFacts>& list) const {
    json::array a;
    a.reserve(list.size());
    for (const auto& x : list) {
      a.emplace_back(json::object{
          {"dir", text(x.dir)}, {"kind", text(x.kind)}, {"detail", lines_text(x.detail)}});
    }
    return a;
  }

  [[nodiscard]] json::array findings(const std::vector<FindingView>& list) const {
    json::array a;
    a.reserve(list.size());
    for (const auto& f : list) {
      a.emplace_back(json::object{
          {"id", text(f.id)},
          {"severity", text(f.severity)},
          {"leg", text(f.leg)},
          {"summary", escaped_lines_text(f.summary)},
          {"evidence", escaped_lines_text(f.evidence)},
          {"remedy", escaped_lines_text(f.remedy)},
      });
    }
    return a;
  }

  [[nodiscard]] json::value verdict(const std::string& v) const {
    if (v.empty()) {
      return nullptr;
    }
    return json::string(printable_escaped(v, options_.line_cap));  // policy escaped it
  }

 private:
  [[nodiscard]] json::string each_line(std::string_view s,
                                       std::string (*escape)(std::string_view, std::size_t)) const {
    std::string out;
    std::size_t start = 0;
    for (;;) {
      const auto nl = s.find('\n', start);
      out += escape(s.substr(start, nl == std::string_view::npos ? nl : nl - start),
                    options_.line_cap);
      if (nl == std::string_view::npos) {
        break;
      }
      out += '\n';
      start = nl + 1;
    }
    return {out};
  }

  AuditOptions options_;
};

// "Used" means the mail went inside TLS: STARTTLS was sent AND accepted (RFC 3207 §4, "220
// Ready to start TLS"; the relay splices on any 2xx), so a handshake followed. A STARTTLS
// refused with 454 or 500 (an ASA masking it) was attempted, yet the mail went in clear.
bool starttls_used_as_specified(const StartTlsFacts& st) {
  const bool accepted = st.reply && st.reply->code >= 200 && st.reply->code <= 299;
  return st.attempted && (accepted || !st.handshake.empty());
}

const tls::CertificateFacts* upstream_leaf(const SessionFacts& facts) {
  const auto& t = facts.upstream.tls;
  if (!t || t->server_certificates.empty()) {
    return nullptr;
  }
  return &t->server_certificates.front();
}

}  // namespace

std::string reference_to_json(const SessionFacts& facts, const std::vector<FindingView>& findings,
                              const std::string& verdict, const AuditOptions& options) {
  const Encoder enc(options);
  const auto duration = std::max<std::int64_t>(0, facts.ended_unix_ms - facts.started_unix_ms);
  const json::object doc{
      {"schema", audit_schema},
      {"id", enc.text(facts.id)},
      {"started", iso8601_utc(facts.started_unix_ms)},
      {"ended", iso8601_utc(facts.ended_unix_ms)},
      {"duration_ms", duration},
      {"mode", enc.text(facts.mode)},
      {"own_probe", facts.own_probe},
      {"limits", json::object{{"line_bytes", options.line_cap}}},
      {"downstream", enc.downstream(facts.downstream)},
      {"upstream", enc.upstream(facts.upstream, facts.mode != "inspect")},
      {"messages", enc.messages(facts.messages)},
      {"transcript", enc.transcript(facts.transcript)},
      {"transcript_dropped", facts.transcript_dropped},
      {"anomalies", enc.anomalies(facts.anomalies)},
      {"bytes_client_to_server", facts.bytes_client_to_server},
      {"bytes_server_to_client", facts.bytes_server_to_client},
      {"findings", enc.findings(findings)},
      {"verdict", enc.verdict(verdict)},
      {"end", json::object{{"reason", to_string(facts.end.reason)},
                           {"detail", enc.text_or_null(facts.end.detail)}}},
  };
  return json::serialize(doc) + "\n";
}

std::string reference_summary_json_line(const SessionFacts& facts,
                                        const std::vector<FindingView>& findings,
                                        const std::string& verdict, const AuditOptions& options) {
  const Encoder enc(options);
  const auto& up = facts.upstream;
  json::value tls_version = nullptr;
  if (up.tls) {
    tls_version = enc.text_or_null(up.tls->version);
  }
  json::value leaf_subject = nullptr;
  json::value leaf_sha256 = nullptr;
  if (const auto* leaf = upstream_leaf(facts)) {
    leaf_subject = enc.text(leaf->subject);
    leaf_sha256 = enc.text(leaf->sha256);
  }
  json::array ids;
  ids.reserve(findings.size());
  for (const auto& f : findings) {
    ids.emplace_back(enc.text(f.id));
  }
  const json::object line{
      {"id", enc.text(facts.id)},
      {"started", iso8601_utc(facts.started_unix_ms)},
      {"mode", enc.text(facts.mode)},
      {"own_probe", facts.own_probe},
      {"peer", enc.text(facts.downstream.peer)},
      {"upstream", enc.text(up.address)},
      {"starttls_offered", up.starttls.offered},
      {"starttls_offered_to_sender", facts.downstream.starttls.offered},
      {"starttls_used", starttls_used_as_specified(up.starttls)},
      {"tls_version", tls_version},
      {"leaf_subject", leaf_subject},
      {"leaf_sha256", leaf_sha256},
      {"findings", std::move(ids)},
      {"end", to_string(facts.end.reason)},
      {"verdict", enc.verdict(verdict)},
  };
  // Boost.JSON escapes control characters, so the serialised value holds no newline.
  return json::serialize(line);
}

}  // namespace hopscope::test
