#include "policy/smtp_checks.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "policy/certificate_checks.hpp"
#include "policy/remedies.hpp"
#include "policy/signatures.hpp"
#include "policy/transcript.hpp"
#include "proxy/printable.hpp"

namespace hopscope::policy {
namespace {

// Leg names (DESIGN.md §5); std::string because FindingList keys on them.
constexpr const char* downstream = "downstream";
constexpr const char* upstream = "upstream";

std::string quote(std::string_view line) {
  std::string out(1, '"');
  out += printable(line, 300);
  out += '"';
  return out;
}

// `lines`: a reply's lines, as ReplyFacts (strings) or an Exchange (views) holds them.
template <typename Lines>
std::string reply_text(const Lines& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += out.empty() ? "" : " / ";
    out += quote(l);
  }
  return out.empty() ? "(no reply)" : out;
}

bool offers_starttls(const ReplyFacts& reply) {
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    if (capability_keyword(reply.lines[i]) == "STARTTLS") {
      return true;
    }
  }
  return false;
}

// "STARTTLS" in any case, trailing spaces allowed. Without a copy: it is asked of every
// exchange of a session, by three checks.
bool is_starttls(std::string_view command) {
  while (!command.empty() && command.back() == ' ') {
    command.remove_suffix(1);
  }
  constexpr std::string_view verb = "STARTTLS";
  return command.size() == verb.size() &&
         std::equal(command.begin(), command.end(), verb.begin(),
                    [](char a, char b) { return ascii_upper(a) == b; });
}

void check_banner(const SessionFacts& facts, FindingList& out) {
  const auto& banner = facts.upstream.banner;
  if (banner && !banner->lines.empty() && is_masked_banner(banner->lines.front())) {
    out.add(FindingId::banner_masked, upstream,
            "upstream's banner is masked with asterisks: a firewall inspects SMTP on this path",
            "banner " + quote(banner->lines.front()));
  }
}

// PIX MailGuard: EHLO refused, HELO accepted (field-facts §1.2).
bool check_ehlo_rejected(const SessionFacts& facts, FindingList& out) {
  const auto& ehlo = facts.upstream.ehlo_reply;
  if (!ehlo || !is_ehlo_refused(*ehlo)) {
    return false;
  }
  std::string evidence =
      printable(facts.downstream.helo, 200) + " answered " + reply_text(ehlo->lines);
  bool fell_back = false;
  for (const auto& cmd : facts.downstream.helo_commands) {
    if (verb_is(cmd, "HELO")) {
      evidence += "; then " + quote(cmd);
      fell_back = true;
      break;
    }
  }
  if (facts.upstream.helo_reply) {
    evidence += " answered " + reply_text(facts.upstream.helo_reply->lines);
  }
  out.add(FindingId::ehlo_rejected, upstream,
          std::string("upstream refused EHLO") +
              (fell_back ? " and the sender fell back to HELO: only RFC 821 commands pass"
                         : ": ESMTP (and so STARTTLS) is blocked on this path"),
          evidence);
  return true;
}

constexpr std::array<std::string_view, 6> mail_verbs{"MAIL", "RCPT", "DATA",
                                                     "BDAT", "AUTH", "<MESSAGE"};

bool is_mail_verb(std::string_view command) {
  return std::any_of(mail_verbs.begin(), mail_verbs.end(),
                     [command](std::string_view verb) { return verb_is(command, verb); });
}

// The sender's EHLO reached hopscope as "XXXX …" and was refused: the device that lets only
// RFC 821 verbs through (PIX MailGuard, field-facts §1.2) sits between the sender and hopscope.
// Upstream saw no EHLO, so upstream.ehlo_reply is empty and check_ehlo_rejected stays silent.
bool check_masked_ehlo(const std::vector<Exchange>& exchanges, FindingList& out) {
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    const auto& ex = exchanges[i];
    if (ex.after_tls) {
      break;
    }
    if (verb_is(ex.command, "HELO") || verb_is(ex.command, "EHLO")) {
      return false;  // a greeting got through first: a later "XXXX" is something else
    }
    if (!is_masked_ehlo(ex.command) || ex.code < 400 || ex.code > 599) {
      continue;
    }
    std::string evidence = "command " + quote(ex.command) + " answered " + reply_text(ex.reply);
    bool fell_back = false;
    for (std::size_t j = i + 1; j < exchanges.size() && !exchanges[j].after_tls; ++j) {
      if (verb_is(exchanges[j].command, "HELO")) {
        evidence +=
            "; then " + quote(exchanges[j].command) + " answered " + reply_text(exchanges[j].reply);
        fell_back = true;
        break;
      }
    }
    out.add(FindingId::ehlo_rejected, downstream,
            std::string("the sender's EHLO reached hopscope as X's and was refused") +
                (fell_back ? ", so the sender fell back to HELO: a firewall between the sender "
                             "and hopscope passes only RFC 821 commands (Cisco PIX MailGuard)"
                           : ": a firewall between the sender and hopscope blocks ESMTP, and "
                             "so STARTTLS"),
            evidence, std::nullopt,
            remedy(FindingId::ehlo_rejected) +
                " Here the EHLO was rewritten before it reached hopscope: the firewall sits "
                "between the sending server and hopscope, not in front of upstream.");
    return true;
  }
  return false;
}

// A sender that greets with HELO (RFC 821) cannot be offered STARTTLS: ESMTP extensions exist
// only after EHLO (RFC 5321 §4.1.1.1, RFC 3207 §4). With require_starttls, mail that follows
// in clear is the finding, on the sender's leg. Without a mail command there is nothing in
// clear to report (a HELO/QUIT health check of a load balancer).
void check_helo_sender(const SessionFacts& facts, const config::PolicyConfig& policy,
                       const std::vector<Exchange>& exchanges, FindingList& out) {
  const auto& down = facts.downstream;
  if (!policy.require_starttls || down.starttls.attempted || facts.upstream.ehlo_reply ||
      !verb_is(down.helo, "HELO")) {
    return;
  }
  for (const auto& cmd : down.helo_commands) {
    if (verb_is(cmd, "EHLO")) {
      return;
    }
  }
  const Exchange* helo = nullptr;
  for (const auto& ex : exchanges) {
    if (ex.after_tls) {
      break;
    }
    if (helo == nullptr && verb_is(ex.command, "HELO")) {
      helo = &ex;
      continue;
    }
    if (helo != nullptr && is_mail_verb(ex.command)) {
      out.add(FindingId::starttls_not_offered, downstream,
              "the sender greeted with HELO, not EHLO, and sent " +
                  printable(command_verb(ex.command), 20) +
                  " in clear: STARTTLS cannot be offered on an RFC 821 session",
              "the sender said " + quote(helo->command) + " answered " + reply_text(helo->reply) +
                  ": no ESMTP extension, so no STARTTLS, can be offered; then in clear " +
                  quote(ex.command) + " answered " + reply_text(ex.reply),
              std::nullopt,
              "The sending server greets with HELO, which carries no extensions, so it is never "
              "offered STARTTLS and sends in clear. Make it use EHLO and TLS (Exchange: "
              "Get-SendConnector | fl RequireTLS, TlsAuthLevel; Postfix: smtp_never_send_ehlo = "
              "no, smtp_tls_security_level = may or encrypt). If its own log shows EHLO, a device "
              "between it and hopscope re-sends the session without ESMTP (an SMTP proxy, or a "
              "Cisco PIX/ASA inspecting SMTP: no fixup protocol smtp 25, or allow-tls in the ASA's "
              "ESMTP policy-map). Exchange Online refuses such mail with \"451 5.7.3 Must issue a "
              "STARTTLS command first\".");
      return;
    }
  }
}

// STARTTLS answered with a 2xx other than 220 (RFC 3207 §4): upstream never saw STARTTLS but a
// command it accepted — a PIX between hopscope and upstream turned it into NOOP. The sender's
// ClientHello then reaches the server as text, and its 500s are no injection (check_injection).
void check_starttls_not_go_ahead(const SessionFacts& facts, const std::vector<Exchange>& exchanges,
                                 FindingList& out) {
  for (const auto& ex : exchanges) {
    if (ex.after_tls) {
      break;
    }
    if (is_noop_for_starttls(ex.command) && ex.code >= 200 && ex.code <= 299) {
      out.add(FindingId::starttls_masked, downstream,
              "the sender's STARTTLS reached hopscope as \"NOOP    \" (NOOP padded to the "
              "length of STARTTLS): a firewall between the sender and hopscope rewrites it "
              "(Cisco PIX fixup)",
              "command " + quote(ex.command) + " answered " + reply_text(ex.reply));
      continue;
    }
    // A handshake that completed shows the server did start TLS: its 250 was an odd go-ahead,
    // not a PIX's answer to NOOP (which can never end in a finished handshake).
    if (!is_starttls(ex.command) || !is_starttls_reply_not_go_ahead(ex.code) ||
        facts.upstream.starttls.handshake == "ok") {
      continue;
    }
    std::string evidence = "command " + quote(ex.command) + " answered " + reply_text(ex.reply) +
                           " (RFC 3207 §4: the go-ahead is 220)";
    if (const auto& server = facts.upstream.starttls.server_plaintext_after_220) {
      evidence += "; upstream then answered the ClientHello as text, " +
                  std::to_string(server->bytes) + " bytes: \"" +
                  printable(server->first_bytes, 256) + "\"";
    }
    out.add(FindingId::starttls_masked, upstream,
            "upstream answered STARTTLS with " + quote(ex.reply.empty() ? "" : ex.reply.front()) +
                ", not 220: a firewall on the way rewrote the command (Cisco PIX fixup turns it "
                "into NOOP), so TLS could not start",
            evidence);
  }
}

void check_starttls_exchange(const SessionFacts& facts, const std::vector<Exchange>& exchanges,
                             FindingList& out) {
  const bool offered = facts.upstream.starttls.offered ||
                       (facts.upstream.ehlo_reply && offers_starttls(*facts.upstream.ehlo_reply));
  const bool masked_in_ehlo =
      facts.upstream.ehlo_reply && !masked_starttls_line(*facts.upstream.ehlo_reply).empty();
  for (const auto& ex : exchanges) {
    if (ex.after_tls) {
      break;
    }
    if (is_masked_command(ex.command) && ex.command.size() == 8) {
      // The sender's STARTTLS was rewritten before it reached hopscope: the device sits on the
      // sender's side of hopscope (Cisco TAC 113423).
      out.add(FindingId::starttls_masked, downstream,
              "the sender's STARTTLS reached hopscope as X's: a firewall between the sender and "
              "hopscope inspects ESMTP",
              "command " + quote(ex.command) + " answered " + reply_text(ex.reply));
      continue;
    }
    if (!is_starttls(ex.command) || ex.code == 0 || ex.code < 400) {
      continue;
    }
    if (is_unrecognised_command_reply(ex.code) && (offered || masked_in_ehlo)) {
      // Offered, sent in clear as "STARTTLS", answered "not recognised": rewritten on the way.
      out.add(FindingId::starttls_masked, upstream,
              "the sender's STARTTLS was answered as an unknown command: a firewall upstream "
              "rewrites it (ESMTP inspection)",
              "command " + quote(ex.command) + " answered " + reply_text(ex.reply));
    } else if (offered) {
      out.add(FindingId::starttls_rejected, upstream,
              "upstream offered STARTTLS but refused it: " + printable(ex.reply.front(), 200),
              "command " + quote(ex.command) + " answered " + reply_text(ex.reply));
    }
  }
}

void check_not_used(const SessionFacts& facts, const config::PolicyConfig& policy,
                    const std::vector<Exchange>& exchanges, FindingList& out) {
  const auto& st = facts.downstream.starttls;
  if (!policy.require_starttls || !st.offered || st.attempted) {
    return;
  }
  for (const auto& ex : exchanges) {
    if (ex.after_tls) {
      break;
    }
    if ((is_masked_command(ex.command) && ex.command.size() == 8) ||
        is_noop_for_starttls(ex.command)) {
      return;  // the sender did send STARTTLS; a device masked it (STARTTLS_MASKED says so)
    }
    if (is_mail_verb(ex.command)) {
      const auto verb = command_verb(ex.command);
      std::string offered_line = "STARTTLS";
      if (facts.upstream.ehlo_reply) {
        for (const auto& l : facts.upstream.ehlo_reply->lines) {
          if (capability_keyword(l) == "STARTTLS") {
            offered_line = l;
          }
        }
      }
      out.add(FindingId::starttls_not_used, downstream,
              "STARTTLS was offered to the sender, which sent " + printable(verb, 20) + " in clear",
              "offered " + quote(offered_line) + "; then in clear " + quote(ex.command) +
                  " answered " + reply_text(ex.reply));
      return;
    }
  }
}

void check_injection(const SessionFacts& facts, FindingList& out) {
  const auto& client = facts.downstream.starttls.client_plaintext_after_starttls
                           ? facts.downstream.starttls.client_plaintext_after_starttls
                           : facts.upstream.starttls.client_plaintext_after_starttls;
  if (client) {
    out.add(FindingId::starttls_injection, downstream,
            "the sender sent plaintext after STARTTLS, before TLS began",
            std::to_string(client->bytes) +
                " bytes after \"STARTTLS\" that are not a TLS "
                "record: \"" +
                printable(client->first_bytes, 256) + "\"");
  }
  // After a non-220 2xx the server never began TLS: its "plaintext" is its refusal of the
  // ClientHello it read as commands, and STARTTLS_MASKED carries it (check_starttls_not_go_ahead).
  const auto& reply = facts.upstream.starttls.reply;
  const bool not_go_ahead = reply && is_starttls_reply_not_go_ahead(reply->code) &&
                            facts.upstream.starttls.handshake != "ok";
  if (const auto& server = facts.upstream.starttls.server_plaintext_after_220;
      server && !not_go_ahead) {
    out.add(FindingId::starttls_injection, upstream,
            "upstream sent plaintext after its \"220\" to STARTTLS, before the ServerHello",
            std::to_string(server->bytes) + " bytes after the 220 reply: \"" +
                printable(server->first_bytes, 256) + "\"");
  }
}

void check_ambiguous(const SessionFacts& facts, FindingList& out) {
  for (const auto& m : facts.messages) {
    if (m.ambiguous_end_of_data) {
      out.add(FindingId::ambiguous_end_of_data, downstream,
              "the sender's message content held a bare-LF end-of-data sequence",
              "message from " + quote(m.mail_from) + ", bytes around it: \"" +
                  printable(m.ambiguous_evidence, 200) + "\"");
    }
  }
}

}  // namespace

void check_ehlo_reply(const ReplyFacts& ehlo_reply, const StartTlsFacts& starttls,
                      const std::string& leg, const config::PolicyConfig& policy,
                      FindingList& out) {
  if (ehlo_reply.code != 250 || ehlo_reply.lines.empty()) {
    return;
  }
  if (const auto masked = masked_starttls_line(ehlo_reply); !masked.empty()) {
    out.add(FindingId::starttls_masked, leg,
            display_leg(leg) + " masks STARTTLS in its EHLO reply (\"" + printable(masked, 40) +
                "\"): a firewall's ESMTP inspection (Cisco ASA inspect esmtp without allow-tls)",
            "EHLO reply line " + quote(masked) +
                " (same length as STARTTLS); reply: " + reply_text(ehlo_reply.lines));
    return;
  }
  if (policy.require_starttls && !starttls.offered && !offers_starttls(ehlo_reply)) {
    out.add(FindingId::starttls_not_offered, leg,
            display_leg(leg) +
                " does not offer STARTTLS: the server does not, or a device on the way strips it",
            "EHLO reply: " + reply_text(ehlo_reply.lines));
  }
}

void check_smtp(const SessionFacts& facts, const std::vector<Exchange>& exchanges,
                const config::PolicyConfig& policy, FindingList& out) {
  check_banner(facts, out);
  const bool ehlo_masked = check_masked_ehlo(exchanges, out);
  const bool ehlo_rejected = check_ehlo_rejected(facts, out);
  // Before the EHLO-reply mask: a 250 to STARTTLS is what stopped TLS, so its summary leads.
  check_starttls_not_go_ahead(facts, exchanges, out);
  if (!ehlo_rejected && facts.upstream.ehlo_reply) {
    check_ehlo_reply(*facts.upstream.ehlo_reply, facts.upstream.starttls, upstream, policy, out);
  }
  if (!ehlo_masked) {
    check_helo_sender(facts, policy, exchanges, out);
  }
  check_starttls_exchange(facts, exchanges, out);
  check_not_used(facts, policy, exchanges, out);
  check_injection(facts, out);
  check_ambiguous(facts, out);
}

void check_remote_tls_errors(const std::vector<Exchange>& exchanges, FindingList& out) {
  for (const auto& ex : exchanges) {
    if (is_starttls(ex.command)) {
      continue;  // the reply to STARTTLS itself is STARTTLS_REJECTED's evidence
    }
    for (const auto& line : ex.reply) {
      if (!is_tls_required_refusal(line)) {
        continue;
      }
      std::string because;
      for (const auto id : {FindingId::starttls_masked, FindingId::starttls_not_offered,
                            FindingId::ehlo_rejected, FindingId::starttls_rejected,
                            FindingId::starttls_not_used, FindingId::tls_handshake_failed}) {
        if (out.has(id)) {
          because += because.empty() ? "" : ", ";
          because += to_string(id);
        }
      }
      std::string text = remedy(FindingId::remote_tls_error);
      text += because.empty()
                  ? " No other finding of this session explains it: the sender chose not to use "
                    "STARTTLS, or a device between the sender and hopscope hid it; place "
                    "hopscope next to the sender."
                  : " Here it is explained by " + because + ": fix that and this goes away.";
      out.add(FindingId::remote_tls_error, upstream,
              "upstream refused mail for want of TLS: " + printable(line, 200),
              (ex.command.empty() ? std::string("unsolicited reply") : quote(ex.command)) +
                  " answered " + quote(line),
              std::nullopt, text);
    }
  }
}

void check_sender_abandoned(const SessionFacts& facts, FindingList& out) {
  const bool inspect = facts.downstream.tls.has_value();
  const auto& tls = inspect ? facts.downstream.tls : facts.upstream.tls;
  const auto& st = inspect ? facts.downstream.starttls : facts.upstream.starttls;
  if (!tls || st.handshake != "ok" || !facts.messages.empty()) {
    return;
  }
  // Who ended first is the relay's fact (closed_first): the side whose close_notify came
  // before any close, else whose close came first (proxy/session.cpp closer()). A close_notify
  // that answers the other side's close does not make its sender the one who ended.
  if (!facts.downstream.closed_first) {
    return;
  }
  const bool sent_close_notify = tls->first_encrypted_alert == "c>s";
  // The TLS observer leaves out the client's handshake flight (in TLS 1.3 also a client
  // certificate, tls/handshake_observer.hpp) and alerts, so 0 application records means "not
  // one command"; any sender that talks sends EHLO and at least QUIT.
  if (tls->client_app_records > 0) {
    return;
  }
  std::string evidence =
      printable(tls->version.value_or("TLS"), 20) +
      " handshake completed; application-data records from the sender: " +
      std::to_string(tls->client_app_records) + " (" + std::to_string(tls->client_app_bytes) +
      " bytes); the sender " +
      (sent_close_notify ? "ended TLS first (its encrypted alert, a close_notify, came "
                           "before any from the server)"
                         : "closed the connection first");
  if (!tls->server_certificates.empty()) {
    evidence += "; server certificate " + describe_certificate(tls->server_certificates.front());
  }
  std::string text = remedy(FindingId::sender_abandoned_after_tls);
  std::string certs;
  for (const auto& f : out.items()) {
    const auto name = to_string(f.id);
    if (name.rfind("CERT_", 0) == 0) {
      certs += certs.empty() ? "" : ", ";
      certs += name;
    }
  }
  if (!certs.empty()) {
    text += " This session shows " + certs + ".";
  }
  out.add(FindingId::sender_abandoned_after_tls, downstream,
          "the sender completed TLS and closed without a command (as Exchange Online does when "
          "it rejects the certificate)",
          evidence, std::nullopt, text);
}

}  // namespace hopscope::policy
