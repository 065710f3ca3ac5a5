#pragma once
// Parses one SMTP command line (RFC 5321 §4.1, RFC 3030 BDAT, RFC 3207 STARTTLS, RFC 4954
// AUTH) into verb, arguments and the fields the session records. Pure function; sans-I/O;
// never throws on input. Syntax problems are reported in Command::error, never repaired.
// Command::raw may hold a secret (AUTH initial response): log transcript_line, never raw.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hopscope::smtp {

enum class CommandKind {
  helo,
  ehlo,
  mail,
  rcpt,
  data,
  bdat,       // BDAT n
  bdat_last,  // BDAT n LAST
  starttls,
  auth,
  auth_response,  // a SASL response line after a 334 (made by Conversation, not by the parser)
  quit,
  rset,
  noop,
  xexch50,  // XEXCH50 size level: Exchange 2003-2010's binary blob, after a 354
  other
};

[[nodiscard]] const char* to_string(CommandKind kind);

struct Command {
  CommandKind kind = CommandKind::other;
  std::string verb;  // upper-cased ASCII; empty for an empty line
  std::string args;  // everything after the verb's first word break (SP, HTAB...), verbatim
  std::string raw;   // the whole line without its ending, verbatim (may hold a secret)
  std::string path;  // MAIL FROM / RCPT TO: the address between < and >, verbatim
  std::vector<std::string> params;         // MAIL / RCPT parameters ("SIZE=1024"), verbatim
  std::optional<std::uint64_t> bdat_size;  // BDAT chunk or XEXCH50 blob size, when valid
  std::string error;    // empty, or "bdat_size_invalid", "xexch50_size_invalid", "mail_syntax",
                        // "rcpt_syntax"
  bool secret = false;  // raw holds an AUTH initial response or a SASL response
  std::string transcript_line;  // raw, with any secret replaced by "<redacted>"
  friend bool operator==(const Command&, const Command&) = default;
};

// Outcomes: always a Command; kind `other` for an unknown verb; `error` set when a known
// verb's arguments do not parse (e.g. "BDAT 99999999999999999999" overflows 64 bits).
[[nodiscard]] Command parse_command(std::string_view line);
// The same, taking the line's storage for Command::raw instead of copying it (the codec's
// path: it owns each line it reads).
[[nodiscard]] Command parse_command_taking(std::string&& line);

// A SASL response line (RFC 4954 §4) as a Command: secret, transcript "<redacted>".
[[nodiscard]] Command sasl_response(std::string_view line);

}  // namespace hopscope::smtp
