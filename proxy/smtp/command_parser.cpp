#include "proxy/smtp/command_parser.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "proxy/smtp/ascii.hpp"

namespace hopscope::smtp {
namespace {

// What separates words, as the receiving MTA reads it. RFC 5321 §4.1.1 says SP, but Postfix
// splits commands on any C-locale white space and skips it at the start of the line
// (smtpd_token.c, ISSPACE), so "DATA<TAB>" and " AUTH PLAIN <secret>" are DATA and AUTH to
// it. The codec must frame them the same way: as "other", a body would be read as commands
// and a secret would reach the transcript.
constexpr bool is_word_break(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r';
}

std::size_t find_word_break(std::string_view s, std::size_t from = 0) {
  for (std::size_t i = from; i < s.size(); ++i) {
    if (is_word_break(s[i])) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_word_break(s[i])) {
      ++i;
    }
    const std::size_t start = i;
    while (i < s.size() && !is_word_break(s[i])) {
      ++i;
    }
    if (i > start) {
      out.push_back(s.substr(start, i - start));
    }
  }
  return out;
}

// RFC 5321 §4.1.2 "FROM:" / "TO:" Reverse-path / Forward-path, then parameters (§4.1.1.11).
// Tolerates spaces after the colon (widely sent, e.g. by older Exchange) but records no guess:
// a missing prefix or an unclosed "<" is an error. `rest` views c.raw; the Command keeps
// offsets into it.
void parse_path(Command& c, std::string_view rest, std::string_view prefix, const char* error,
                std::size_t& path_at, std::size_t& path_size, std::size_t& params_at) {
  while (!rest.empty() && is_word_break(rest.front())) {
    rest.remove_prefix(1);  // "MAIL  FROM:<a>": Postfix skips the white space too
  }
  if (rest.size() < prefix.size() || !iequals(rest.substr(0, prefix.size()), prefix)) {
    c.error = error;
    return;
  }
  rest.remove_prefix(prefix.size());
  while (!rest.empty() && is_word_break(rest.front())) {
    rest.remove_prefix(1);
  }
  const auto offset = [&c](std::string_view part) {
    return static_cast<std::size_t>(part.data() - c.raw.data());
  };
  std::size_t end = 0;
  if (!rest.empty() && rest.front() == '<') {
    const std::size_t close = rest.find('>');
    if (close == std::string_view::npos) {
      c.error = error;
      return;
    }
    path_at = offset(rest) + 1;
    path_size = close - 1;
    end = close + 1;
  } else {
    end = std::min(find_word_break(rest), rest.size());
    path_at = offset(rest);
    path_size = end;
  }
  params_at = offset(rest) + end;
}

// 1*DIGIT that fits in 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view digits) {
  if (digits.empty()) {
    return std::nullopt;
  }
  std::uint64_t size = 0;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  for (char ch : digits) {
    if (ch < '0' || ch > '9') {
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint64_t>(ch - '0');
    if (size > (max - digit) / 10) {
      return std::nullopt;
    }
    size = size * 10 + digit;
  }
  return size;
}

// RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT.
void parse_bdat(Command& c) {
  const std::vector<std::string_view> words = split_spaces(c.args());
  if (words.empty() || words.size() > 2 || (words.size() == 2 && !iequals(words[1], "LAST"))) {
    c.error = "bdat_size_invalid";
    return;
  }
  c.bdat_size = parse_size(words[0]);
  if (!c.bdat_size) {
    c.error = "bdat_size_invalid";
    return;
  }
  if (words.size() == 2) {
    c.kind = CommandKind::bdat_last;
  }
}

// Exchange's XEXCH50 blob-size auth-level: after a 354 the sender sends exactly blob-size
// bytes of binary MAPI properties, answered by one more reply.
void parse_xexch50(Command& c) {
  const std::vector<std::string_view> words = split_spaces(c.args());
  c.bdat_size = words.empty() ? std::nullopt : parse_size(words[0]);
  if (!c.bdat_size) {
    c.error = "xexch50_size_invalid";
  }
}

struct VerbKind {
  std::string_view verb;
  CommandKind kind;
};

constexpr std::array<VerbKind, 12> verbs{{
    {"HELO", CommandKind::helo},
    {"EHLO", CommandKind::ehlo},
    {"MAIL", CommandKind::mail},
    {"RCPT", CommandKind::rcpt},
    {"DATA", CommandKind::data},
    {"BDAT", CommandKind::bdat},
    {"STARTTLS", CommandKind::starttls},
    {"AUTH", CommandKind::auth},
    {"QUIT", CommandKind::quit},
    {"RSET", CommandKind::rset},
    {"NOOP", CommandKind::noop},
    {"XEXCH50", CommandKind::xexch50},
}};

}  // namespace

const char* to_string(CommandKind kind) {
  switch (kind) {
    case CommandKind::helo:
      return "HELO";
    case CommandKind::ehlo:
      return "EHLO";
    case CommandKind::mail:
      return "MAIL";
    case CommandKind::rcpt:
      return "RCPT";
    case CommandKind::data:
      return "DATA";
    case CommandKind::bdat:
      return "BDAT";
    case CommandKind::bdat_last:
      return "BDAT LAST";
    case CommandKind::starttls:
      return "STARTTLS";
    case CommandKind::auth:
      return "AUTH";
    case CommandKind::auth_response:
      return "AUTH response";
    case CommandKind::quit:
      return "QUIT";
    case CommandKind::rset:
      return "RSET";
    case CommandKind::noop:
      return "NOOP";
    case CommandKind::xexch50:
      return "XEXCH50";
    case CommandKind::other:
      return "other";
  }
  return "other";
}

Command parse_command(std::string_view line) {
  return parse_command_taking(std::string(line));
}

Command parse_command_taking(std::string&& taken) {
  Command c;
  c.raw = std::move(taken);
  const std::string_view line = c.raw;  // c.raw is not changed from here on
  std::size_t verb_start = 0;
  while (verb_start < line.size() && is_word_break(line[verb_start])) {
    ++verb_start;
  }
  const std::size_t space = find_word_break(line, verb_start);
  const std::string_view verb =
      line.substr(verb_start, space == std::string_view::npos ? space : space - verb_start);
  c.verb.reserve(verb.size());
  for (char ch : verb) {
    c.verb += ascii_upper(ch);
  }
  if (space != std::string_view::npos) {
    c.args_at_ = space + 1;
  }
  for (const VerbKind& vk : verbs) {
    if (vk.verb == c.verb) {
      c.kind = vk.kind;
      break;
    }
  }
  switch (c.kind) {
    case CommandKind::mail:
      parse_path(c, c.args(), "FROM:", "mail_syntax", c.path_at_, c.path_size_, c.params_at_);
      break;
    case CommandKind::rcpt:
      parse_path(c, c.args(), "TO:", "rcpt_syntax", c.path_at_, c.path_size_, c.params_at_);
      break;
    case CommandKind::bdat:
      parse_bdat(c);
      break;
    case CommandKind::xexch50:
      parse_xexch50(c);
      break;
    case CommandKind::auth: {
      // RFC 4954 §4: AUTH mechanism [initial-response]; only the mechanism may be logged.
      const std::vector<std::string_view> words = split_spaces(c.args());
      if (words.size() > 1) {
        c.secret = true;
        // words view c.raw: the transcript keeps the line up to the mechanism's end.
        c.redact_at_ = static_cast<std::size_t>(words[0].data() - line.data()) + words[0].size();
      }
      break;
    }
    default:
      break;
  }
  return c;
}

Command sasl_response(std::string_view line) {
  Command c;
  c.kind = CommandKind::auth_response;
  c.raw = std::string(line);
  c.redact();
  return c;
}

std::vector<std::string_view> Command::params() const {
  return params_at_ == none ? std::vector<std::string_view>()
                            : split_spaces(std::string_view(raw).substr(params_at_));
}

std::string Command::transcript_line() const {
  if (redact_at_ == none) {
    return raw;
  }
  if (redact_at_ == 0) {
    return "<redacted>";
  }
  return std::string(std::string_view(raw).substr(0, redact_at_)) + " <redacted>";
}

}  // namespace hopscope::smtp
