#pragma once
// Builds SessionFacts, HopResults and a PolicyConfig from a golden `<case>.facts.json`
// (format: tests/data/policy/README.md). Fields the relay derives from the transcript
// (banner, EHLO reply, capabilities, STARTTLS offered/attempted/reply, HELO lines) are derived
// the same way here when the file leaves them out, so a case reads like a transcript.

#include <fstream>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "json_reader.hpp"
#include "proxy/facts.hpp"

namespace hopscope::test {

struct GoldenCase {
  SessionFacts facts;
  HopResults hops;
  config::PolicyConfig policy;
  std::int64_t now = 0;
  bool has_session = true;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace detail {

inline std::string str(const JsonValue& o, std::string_view key, std::string_view fallback = {}) {
  const auto* v = o.get(key);
  return v == nullptr || v->is_null() ? std::string(fallback) : v->as_string();
}
inline bool boolean(const JsonValue& o, std::string_view key, bool fallback = false) {
  const auto* v = o.get(key);
  return v == nullptr || v->is_null() ? fallback : v->as_bool();
}
inline std::int64_t integer(const JsonValue& o, std::string_view key, std::int64_t fallback = 0) {
  const auto* v = o.get(key);
  return v == nullptr || v->is_null() ? fallback : v->as_int();
}
inline std::optional<std::string> opt_str(const JsonValue& o, std::string_view key) {
  const auto* v = o.get(key);
  return v == nullptr || v->is_null() ? std::nullopt : std::optional<std::string>(v->as_string());
}
inline std::vector<std::string> strings(const JsonValue& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* v = o.get(key); v != nullptr && !v->is_null()) {
    for (const auto& s : v->as_array()) {
      out.push_back(s.as_string());
    }
  }
  return out;
}

// A reply from its lines: code and enhanced code read from the first line.
inline ReplyFacts reply_from_lines(std::vector<std::string> lines) {
  ReplyFacts r;
  r.lines = std::move(lines);
  if (!r.lines.empty() && r.lines[0].size() >= 3) {
    r.code = std::stoi(r.lines[0].substr(0, 3));
    const auto rest = r.lines[0].size() > 4 ? r.lines[0].substr(4) : std::string{};
    const auto first = rest.substr(0, rest.find(' '));
    if (first.size() >= 5 && (first[0] == '2' || first[0] == '4' || first[0] == '5') &&
        first[1] == '.') {
      r.enhanced = first;
    }
  }
  return r;
}

inline std::optional<ReplyFacts> reply(const JsonValue& o, std::string_view key) {
  const auto* v = o.get(key);
  if (v == nullptr || v->is_null()) {
    return std::nullopt;
  }
  return reply_from_lines(strings(o, key));
}

// "CN=a, O=b, C=US" → DER order [C, O, CN]; enough for test certificates without commas.
inline std::vector<tls::DnAttribute> dn_from_display(const std::string& s) {
  std::vector<tls::DnAttribute> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find(", ", start);
    const auto part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const auto eq = part.find('=');
    if (eq != std::string::npos) {
      out.insert(out.begin(), tls::DnAttribute{part.substr(0, eq), part.substr(eq + 1)});
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 2;
  }
  return out;
}

inline std::vector<tls::DnAttribute> dn(const JsonValue& o, std::string_view key,
                                        const std::string& display) {
  const auto* v = o.get(key);
  if (v == nullptr) {
    return dn_from_display(display);
  }
  std::vector<tls::DnAttribute> out;
  for (const auto& pair : v->as_array()) {
    out.push_back({pair.as_array().at(0).as_string(), pair.as_array().at(1).as_string()});
  }
  return out;
}

inline tls::CertificateFacts certificate(const JsonValue& o) {
  tls::CertificateFacts c;
  c.subject = str(o, "subject");
  c.issuer = str(o, "issuer", c.subject);
  c.subject_dn = dn(o, "subject_dn", c.subject);
  c.issuer_dn = dn(o, "issuer_dn", c.issuer);
  c.san_dns = strings(o, "san_dns");
  c.not_before = str(o, "not_before");
  c.not_after = str(o, "not_after");
  c.not_before_unix = integer(o, "not_before_unix");
  c.not_after_unix = integer(o, "not_after_unix");
  c.sha256 = str(o, "sha256");
  c.sha1 = str(o, "sha1");
  c.spki_sha256 = str(o, "spki_sha256");
  c.key_type = str(o, "key_type", "RSA");
  c.key_bits = static_cast<int>(integer(o, "key_bits", 2048));
  c.key = str(o, "key", c.key_type + " " + std::to_string(c.key_bits));
  c.signature = str(o, "signature", "sha256WithRSAEncryption");
  c.self_signed = boolean(o, "self_signed");
  c.is_ca = boolean(o, "is_ca");
  c.parse_error = str(o, "parse_error");
  return c;
}

inline std::vector<tls::CertificateFacts> certificates(const JsonValue& o, std::string_view key) {
  std::vector<tls::CertificateFacts> out;
  if (const auto* v = o.get(key); v != nullptr) {
    for (const auto& c : v->as_array()) {
      out.push_back(certificate(c));
    }
  }
  return out;
}

inline TlsFacts tls_facts(const JsonValue& o) {
  TlsFacts t;
  t.seen = boolean(o, "seen", true);
  t.source = str(o, "source", "handshake");
  t.version = opt_str(o, "version");
  t.cipher = opt_str(o, "cipher");
  t.sni = opt_str(o, "sni");
  t.offered_versions = strings(o, "offered_versions");
  t.resumed = boolean(o, "resumed");
  t.client_certificate_requested = boolean(o, "client_certificate_requested");
  if (const auto* a = o.get("alert"); a != nullptr && !a->is_null()) {
    t.alert = AlertFacts{str(*a, "direction"), str(*a, "level"), str(*a, "description"),
                         static_cast<int>(integer(*a, "code"))};
  }
  t.server_certificates = certificates(o, "server_certificates");
  t.client_certificates = certificates(o, "client_certificates");
  if (const auto* v = o.get("verification"); v != nullptr) {
    auto& f = t.verification;
    f.checked = boolean(*v, "checked", true);
    f.trusted = boolean(*v, "trusted");
    f.error = str(*v, "error");
    f.error_depth = static_cast<int>(integer(*v, "error_depth", -1));
    if (const auto* m = v->get("name_matched"); m != nullptr && !m->is_null()) {
      f.name_matched = m->as_bool();
    }
    f.matched_name = opt_str(*v, "matched_name");
    f.expected_names = strings(*v, "expected_names");
  }
  t.client_app_records = static_cast<std::uint64_t>(integer(o, "client_app_records"));
  t.server_app_records = static_cast<std::uint64_t>(integer(o, "server_app_records"));
  t.client_app_bytes = static_cast<std::uint64_t>(integer(o, "client_app_bytes"));
  t.server_app_bytes = static_cast<std::uint64_t>(integer(o, "server_app_bytes"));
  t.first_encrypted_alert = str(o, "first_encrypted_alert");
  t.parse_error = str(o, "parse_error");
  return t;
}

inline std::optional<PlaintextEvidence> plaintext(const JsonValue& o, std::string_view key) {
  const auto* v = o.get(key);
  if (v == nullptr || v->is_null()) {
    return std::nullopt;
  }
  const auto bytes = v->as_string();
  return PlaintextEvidence{bytes.size(), bytes};
}

inline void starttls(const JsonValue* o, StartTlsFacts& st) {
  if (o == nullptr) {
    return;
  }
  st.offered = boolean(*o, "offered", st.offered);
  st.attempted = boolean(*o, "attempted", st.attempted);
  if (auto r = reply(*o, "reply")) {
    st.reply = std::move(r);
  }
  st.handshake = str(*o, "handshake", st.handshake);
  st.client_plaintext_after_starttls = plaintext(*o, "client_plaintext_after_starttls");
  st.server_plaintext_after_220 = plaintext(*o, "server_plaintext_after_220");
}

inline std::vector<std::string> capabilities_of(const ReplyFacts& ehlo) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    out.push_back(ehlo.lines[i].size() > 4 ? ehlo.lines[i].substr(4) : std::string{});
  }
  return out;
}

inline bool has_starttls(const std::vector<std::string>& caps) {
  for (const auto& c : caps) {
    if (c == "STARTTLS") {
      return true;
    }
  }
  return false;
}

// What FactsRecorder derives from the conversation, derived from the transcript.
inline void derive_from_transcript(SessionFacts& f) {
  std::vector<std::string> pending;
  std::vector<std::string> reply_lines;
  bool tls = false;
  for (const auto& e : f.transcript) {
    if (e.dir == "tls") {
      tls = true;
    } else if (e.dir == "c>s" && !e.data_bytes && !tls) {
      pending.push_back(e.line);
      const auto verb = e.line.substr(0, e.line.find(' '));
      if (verb == "EHLO" || verb == "HELO") {
        if (f.downstream.helo.empty()) {
          f.downstream.helo = e.line;
        }
        f.downstream.helo_commands.push_back(e.line);
      } else if (verb == "STARTTLS") {
        f.upstream.starttls.attempted = true;
      }
    } else if (e.dir == "s>c" && !tls) {
      reply_lines.push_back(e.line);
      if (e.line.size() > 3 && e.line[3] == '-') {
        continue;
      }
      auto r = reply_from_lines(reply_lines);
      reply_lines.clear();
      if (pending.empty()) {
        if (!f.upstream.banner) {
          f.upstream.banner = r;
        }
        continue;
      }
      const auto cmd = pending.front();
      pending.erase(pending.begin());
      const auto verb = cmd.substr(0, cmd.find(' '));
      if (verb == "EHLO" && !f.upstream.ehlo_reply) {
        f.upstream.ehlo_reply = r;
      } else if (verb == "HELO" && !f.upstream.helo_reply) {
        f.upstream.helo_reply = r;
      } else if (verb == "STARTTLS") {
        f.upstream.starttls.reply = r;
      }
    }
  }
  if (f.upstream.ehlo_reply && f.upstream.capabilities.empty() &&
      f.upstream.ehlo_reply->code == 250) {
    f.upstream.capabilities = capabilities_of(*f.upstream.ehlo_reply);
  }
  if (has_starttls(f.upstream.capabilities)) {
    f.upstream.starttls.offered = true;
  }
}

}  // namespace detail

inline GoldenCase load_case(const std::string& path) {
  using namespace detail;
  const auto root = JsonReader::parse(read_text(path));
  GoldenCase c;
  c.now = integer(root, "now");
  if (const auto* p = root.get("policy")) {
    auto& pc = c.policy;
    pc.expected_server_names = strings(*p, "expected_server_names");
    pc.expected_certificate = str(*p, "expected_certificate");
    pc.expected_thumbprints = strings(*p, "expected_thumbprints");
    pc.server_pins = strings(*p, "server_pins");
    pc.expected_client_names = strings(*p, "expected_client_names");
    pc.require_starttls = boolean(*p, "require_starttls", true);
    pc.min_tls_version = str(*p, "min_tls_version", "TLSv1.2");
    pc.expiry_warning_days = static_cast<std::uint32_t>(integer(*p, "expiry_warning_days", 30));
    if (const auto* s = p->get("severity")) {
      for (const auto& [k, v] : s->as_object()) {
        const auto& name = v.as_string();
        pc.severity[k] = name == "info"      ? config::Severity::info
                         : name == "warning" ? config::Severity::warning
                                             : config::Severity::critical;
      }
    }
  }
  const auto* s = root.get("session");
  c.has_session = s != nullptr;
  if (s != nullptr) {
    auto& f = c.facts;
    f.id = str(*s, "id", "golden");
    f.mode = str(*s, "mode", "passthrough");
    f.own_probe = boolean(*s, "own_probe");
    if (const auto* t = s->get("transcript")) {
      for (const auto& e : t->as_array()) {
        const auto& pair = e.as_array();
        TranscriptEntry te;
        te.dir = pair.at(0).as_string();
        if (pair.at(1).is_null() || !std::holds_alternative<std::string>(pair.at(1).v)) {
          te.data_bytes =
              static_cast<std::uint64_t>(pair.at(1).is_null() ? 0 : pair.at(1).as_int());
        } else {
          te.line = pair.at(1).as_string();
        }
        f.transcript.push_back(std::move(te));
      }
    }
    const JsonValue empty{std::make_shared<JsonObject>()};
    const auto* d = s->get("downstream");
    const auto& down = d != nullptr ? *d : empty;
    f.downstream.peer = str(down, "peer", "40.92.1.2:51000");
    f.downstream.closed_first = boolean(down, "closed_first");
    const auto* u = s->get("upstream");
    const auto& up = u != nullptr ? *u : empty;
    f.upstream.address = str(up, "address", "10.0.0.5:25");
    f.upstream.local = str(up, "local", "10.0.0.9:40000");
    f.upstream.connect_error = opt_str(up, "connect_error");
    f.upstream.banner = reply(up, "banner");
    f.upstream.ehlo_reply = reply(up, "ehlo_reply");
    f.upstream.capabilities = strings(up, "capabilities");
    derive_from_transcript(f);
    starttls(up.get("starttls"), f.upstream.starttls);
    if (const auto* t = up.get("tls")) {
      f.upstream.tls = tls_facts(*t);
    }
    // Passthrough: the sender is shown upstream's EHLO reply and shares its STARTTLS outcome.
    f.downstream.starttls = f.upstream.starttls;
    starttls(down.get("starttls"), f.downstream.starttls);
    if (const auto* t = down.get("tls")) {
      f.downstream.tls = tls_facts(*t);
    }
    f.downstream.tls_end_to_end = f.upstream.tls.has_value() && !f.downstream.tls;
    if (const auto* m = s->get("messages")) {
      for (const auto& mv : m->as_array()) {
        MessageFacts msg;
        msg.mail_from = str(mv, "mail_from");
        msg.ambiguous_end_of_data = boolean(mv, "ambiguous_end_of_data");
        msg.ambiguous_evidence = str(mv, "ambiguous_evidence");
        f.messages.push_back(std::move(msg));
      }
    }
    if (const auto* e = s->get("end")) {
      const auto reason = str(*e, "reason", "quit");
      for (const auto r : {EndReason::quit, EndReason::client_closed, EndReason::upstream_closed,
                           EndReason::timeout, EndReason::upstream_unreachable, EndReason::limit,
                           EndReason::shutdown, EndReason::error}) {
        if (reason == to_string(r)) {
          f.end.reason = r;
        }
      }
      f.end.detail = opt_str(*e, "detail");
    } else {
      f.end.reason = EndReason::quit;
    }
  }
  if (const auto* h = root.get("hops")) {
    for (const auto& hv : h->as_array()) {
      HopFacts hop;
      hop.name = str(hv, "name");
      hop.address = str(hv, "address");
      hop.probed_from = str(hv, "probed_from");
      hop.error = opt_str(hv, "error");
      hop.banner = reply(hv, "banner");
      hop.ehlo_reply = reply(hv, "ehlo_reply");
      hop.capabilities = strings(hv, "capabilities");
      if (hop.capabilities.empty() && hop.ehlo_reply && hop.ehlo_reply->code == 250) {
        hop.capabilities = capabilities_of(*hop.ehlo_reply);
      }
      hop.starttls.offered = has_starttls(hop.capabilities);
      starttls(hv.get("starttls"), hop.starttls);
      if (const auto* t = hv.get("tls")) {
        hop.tls = tls_facts(*t);
      }
      c.hops.push_back(std::move(hop));
    }
  }
  return c;
}

}  // namespace hopscope::test
