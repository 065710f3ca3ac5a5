#include "policy/signatures.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace hopscope::policy {
namespace {

char upper(char c) {
  return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), upper);
  return out;
}

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether `text` holds `lower` (given lower-case) in any case, without a lower-cased copy:
// asked of every reply line of every session.
bool contains_ignoring_case(std::string_view text, std::string_view lower) {
  const auto equal = [](char a, char b) { return ascii_lower(a) == b; };
  return std::search(text.begin(), text.end(), lower.begin(), lower.end(), equal) != text.end();
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// EHLO keywords a mask could stand for: the IANA SMTP Service Extensions registry entries
// seen on Exchange, EOP, Postfix and Exim, plus Exchange's private verbs (field-facts §2.4).
constexpr std::array<std::string_view, 32> known_keywords{"STARTTLS",
                                                          "CHUNKING",
                                                          "8BITMIME",
                                                          "PIPELINING",
                                                          "BINARYMIME",
                                                          "SIZE",
                                                          "DSN",
                                                          "ENHANCEDSTATUSCODES",
                                                          "AUTH",
                                                          "SMTPUTF8",
                                                          "X-ANONYMOUSTLS",
                                                          "XEXCH50",
                                                          "XOORG",
                                                          "XRDST",
                                                          "XSHADOW",
                                                          "XSHADOWREQUEST",
                                                          "X-EXPS",
                                                          "REQUIRETLS",
                                                          "ETRN",
                                                          "ATRN",
                                                          "VRFY",
                                                          "HELP",
                                                          "DELIVERBY",
                                                          "MTRK",
                                                          "XCLIENT",
                                                          "XFORWARD",
                                                          "VERB",
                                                          "ONEX",
                                                          "EXPN",
                                                          "TURN",
                                                          "CHECKPOINT",
                                                          "NO-SOLICITING"};

// What ASA ESMTP inspection lets through in an EHLO reply (its `match ehlo-reply-parameter`
// names: 8bitmime, binarymime, checkpoint, dsn, ecode, etrn, pipelining, size, vrfy) plus the
// allowed verbs AUTH and HELP (field-facts §1.1). UNVERIFIED per firmware version.
constexpr std::array<std::string_view, 11> inspection_allowed{
    "SIZE", "8BITMIME", "PIPELINING", "DSN",        "ENHANCEDSTATUSCODES", "ETRN",
    "VRFY", "HELP",     "AUTH",       "BINARYMIME", "CHECKPOINT"};

bool allowed_by_inspection(std::string_view keyword) {
  return std::find(inspection_allowed.begin(), inspection_allowed.end(), keyword) !=
         inspection_allowed.end();
}

// The keywords of an EHLO reply: every line but the greeting (RFC 5321 §4.1.1.1).
std::vector<std::string> reply_keywords(const ReplyFacts& reply) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    out.push_back(capability_keyword(reply.lines[i]));
  }
  return out;
}

}  // namespace

std::string capability_keyword(std::string_view line) {
  // "250-KEYWORD params" or "250 KEYWORD": drop the reply code and separator.
  if (line.size() >= 4 && std::isdigit(static_cast<unsigned char>(line[0])) != 0 &&
      std::isdigit(static_cast<unsigned char>(line[1])) != 0 &&
      std::isdigit(static_cast<unsigned char>(line[2])) != 0 &&
      (line[3] == '-' || line[3] == ' ')) {
    line.remove_prefix(4);
  }
  while (!line.empty() && line.front() == ' ') {
    line.remove_prefix(1);
  }
  const auto end = line.find_first_of(" \t=");
  return to_upper(line.substr(0, end));
}

// Source: Cisco ASA configuration guide "Defaults for ESMTP Inspection" — "The server banner
// is masked" — and Cisco ESA FAQ 118584 ("220*************"); PIX 5.1+ MailGuard keeps the
// '2' and '0' characters (AppRiver KB a238: "220 *********0****…************2*****").
bool is_masked_banner(std::string_view line) {
  if (line.size() < 3 || line.substr(0, 3) != "220") {
    return false;
  }
  line.remove_prefix(3);
  if (!line.empty() && (line.front() == ' ' || line.front() == '-')) {
    line.remove_prefix(1);
  }
  std::size_t stars = 0;
  std::size_t others = 0;
  for (const char c : line) {
    if (c == '*') {
      ++stars;
    } else if (c == '2' || c == '0') {
      ++others;
    } else if (c != ' ') {
      return false;  // any other character is real banner text
    }
  }
  // A handful of asterisks is not a mask ("220 * ready" would not pass the first test anyway).
  return stars >= 4 && stars > others;
}

// Source: Cisco ESA tech note 118550 ("250 XXXXXXXA" in place of "250 STARTTLS").
bool is_x_mask(std::string_view token) {
  std::size_t xs = 0;
  while (xs < token.size() && (token[xs] == 'X' || token[xs] == 'x')) {
    ++xs;
  }
  if (xs < 3) {
    return false;
  }
  const std::size_t rest = token.size() - xs;
  return rest == 0 || (rest == 1 && std::isalpha(static_cast<unsigned char>(token.back())) != 0);
}

std::vector<std::string> masked_keyword_candidates(std::string_view mask,
                                                   const std::vector<std::string>& present) {
  std::vector<std::string> out;
  if (!is_x_mask(mask)) {
    return out;
  }
  for (const auto k : known_keywords) {
    if (k.size() == mask.size() && !contains(present, k)) {
      out.emplace_back(k);
    }
  }
  return out;
}

// Source: Cisco ESA tech note 118550 and ASA `_default_esmtp_map` "no allow-tls": "The
// STARTTLS indication is removed"; the rewrite preserves length, so the mask has 8 bytes.
std::string masked_starttls_line(const ReplyFacts& ehlo_reply) {
  const auto keywords = reply_keywords(ehlo_reply);
  if (contains(keywords, "STARTTLS")) {
    return {};
  }
  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    const auto candidates = masked_keyword_candidates(keywords[i - 1], keywords);
    if (contains(candidates, "STARTTLS")) {
      return ehlo_reply.lines[i];
    }
  }
  return {};
}

// Source: Cisco TAC 113423 "If a mail command is sent that is not allowed, it is replaced by
// Xs, which makes the command invalid to the client and the server."
bool is_masked_command(std::string_view command_line) {
  while (!command_line.empty() && command_line.back() == ' ') {
    command_line.remove_suffix(1);
  }
  return command_line.size() >= 4 &&
         std::all_of(command_line.begin(), command_line.end(), [](char c) { return c == 'X'; });
}

// Source: Cisco TAC 113423 ("it is replaced by Xs"); PIX MailGuard passes only the RFC 821
// verbs (Cisco KB 3129202), so EHLO is the four-letter verb a sender leads with that it masks.
// Some inspections mask the whole line, argument and space included ("changes all the
// characters in the packet to X", field-facts §1.2): "EHLO mail.fabrikam.com" arrives as 22
// X's. Such a line counts from "EHLO a" (6 bytes) on, but not at 8 bytes: "XXXXXXXX" is read
// as the masked STARTTLS (is_masked_command), as everywhere else.
bool is_masked_ehlo(std::string_view command_line) {
  const auto verb = command_line.substr(0, command_line.find(' '));
  if (verb == "XXXX") {
    return true;
  }
  constexpr std::size_t shortest_ehlo_line = 6;  // "EHLO a"
  constexpr std::size_t starttls_length = 8;
  return verb.size() == command_line.size() && command_line.size() >= shortest_ehlo_line &&
         command_line.size() != starttls_length &&
         std::all_of(command_line.begin(), command_line.end(), [](char c) { return c == 'X'; });
}

// Source: cisco-nsp 2004-November/014446 ("inappropriate commands are replaced with NOOP … the
// TCP properties of a packet are never changed"): STARTTLS (8 bytes) becomes "NOOP" + 4 spaces.
bool is_noop_for_starttls(std::string_view command_line) {
  return command_line == "NOOP    ";
}

// Source: RFC 3207 §4 ("220 Ready to start TLS" is the only reply after which TLS begins).
bool is_starttls_reply_not_go_ahead(int code) {
  return code >= 200 && code <= 299 && code != 220;
}

// Source: RFC 5321 §4.2.4 (500 and 502 for unrecognised and unimplemented commands); ESA
// 118550 shows "500 #5.5.1 command not recognized" after the masked STARTTLS.
bool is_unrecognised_command_reply(int code) {
  return code == 500 || code == 502;
}

// Source: AppRiver KB a238 (PIX MailGuard: EHLO answered "500 Unrecognized command"); Cisco KB
// 3129202 (only the seven RFC 821 commands pass). 504 is "parameter not implemented".
bool is_ehlo_refused(const ReplyFacts& ehlo_reply) {
  return ehlo_reply.code == 500 || ehlo_reply.code == 502 || ehlo_reply.code == 504;
}

// Source: Cisco community KB 3131240 ("Other ESMTP commands, such as ATRN, STARTLS, ONEX,
// VERB, CHUNKING, and private extensions are not supported") and the ASA default map's
// "match ehlo-reply-parameter others / mask".
std::vector<std::string> inspection_stripped_keywords(const std::vector<std::string>& reduced,
                                                      const std::vector<std::string>& full) {
  std::vector<std::string> reduced_kw;
  reduced_kw.reserve(reduced.size());
  for (const auto& c : reduced) {
    reduced_kw.push_back(capability_keyword(c));
  }
  for (const auto& k : reduced_kw) {
    if (!allowed_by_inspection(k) && !is_x_mask(k)) {
      return {};  // something inspection would not pass is still there
    }
  }
  std::vector<std::string> stripped;
  for (const auto& c : full) {
    const auto k = capability_keyword(c);
    if (!allowed_by_inspection(k) && !is_x_mask(k) && !contains(reduced_kw, k) &&
        !contains(stripped, k)) {
      stripped.push_back(k);
    }
  }
  return stripped;
}

bool is_tls_required_refusal(std::string_view reply_line) {
  if (reply_line.size() < 4) {
    return false;
  }
  const std::string_view code = reply_line.substr(0, 3);
  if (!std::all_of(code.begin(), code.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return false;
  }
  std::string_view rest = reply_line.substr(4);
  std::string_view enhanced;
  const auto space = rest.find(' ');
  const auto first = rest.substr(0, space);
  const bool has_enhanced = first.size() >= 5 && (first[0] == '4' || first[0] == '5') &&
                            first[1] == '.' && std::count(first.begin(), first.end(), '.') == 2;
  if (has_enhanced) {
    enhanced = first;
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  }
  // The codes first, the text only then: most lines (every 250) fail on the codes alone.
  // Exchange Online and Exchange: "451 5.7.3 Must issue a STARTTLS command first"; RFC 3207
  // §4: "530 Must issue a STARTTLS command first" (Postfix: "530 5.7.0 …").
  if ((enhanced == "5.7.3" || enhanced == "5.7.0" || enhanced == "4.7.0" || enhanced == "5.7.10") &&
      contains_ignoring_case(rest, "starttls")) {
    return true;
  }
  if (enhanced.empty() && code == "530" &&
      contains_ignoring_case(rest, "must issue a starttls command first")) {
    return true;
  }
  // RFC 3207 §4: "454 TLS not available due to temporary reason".
  if (code == "454" && (enhanced.empty() || enhanced == "4.7.0" || enhanced == "4.3.0") &&
      contains_ignoring_case(rest, "tls not available")) {
    return true;
  }
  // RFC 8689 §5: REQUIRETLS could not be honoured.
  return enhanced == "5.7.30" && contains_ignoring_case(rest, "requiretls");
}

}  // namespace hopscope::policy
