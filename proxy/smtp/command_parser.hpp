#pragma once
// Parses one SMTP command line (RFC 5321 §4.1, RFC 3030 BDAT, RFC 3207 STARTTLS, RFC 4954
// AUTH) into verb, arguments and the fields the session records. Pure function; sans-I/O;
// never throws on input. Syntax problems are reported in Command::error, never repaired.
// Command::raw may hold a secret (AUTH initial response): log transcript_line(), never raw.

#include <cstddef>
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

// One command line, parsed. Only `raw` and the upper-cased `verb` own bytes; args, path,
// params and the transcript line are read out of `raw` on demand. A Command is copied on its
// way (the ClientCommand event, the reply that awaits it): with one owned line instead of
// seven strings and a vector, a copy is one allocation at most and a move a few words.
struct Command {
  CommandKind kind = CommandKind::other;
  std::string verb;  // upper-cased ASCII; empty for an empty line
  std::string raw;   // the whole line without its ending, verbatim (may hold a secret)
  std::optional<std::uint64_t> bdat_size;  // BDAT chunk or XEXCH50 blob size, when valid
  // Empty, or "bdat_size_invalid", "xexch50_size_invalid", "mail_syntax", "rcpt_syntax" (a
  // string literal: nothing to own).
  std::string_view error;
  bool secret = false;  // raw holds an AUTH initial response or a SASL response

  // Everything after the verb's first word break (SP, HTAB...), verbatim.
  [[nodiscard]] std::string_view args() const { return part(args_at_, std::string_view::npos); }
  // MAIL FROM / RCPT TO: the address between < and >, verbatim.
  [[nodiscard]] std::string_view path() const { return part(path_at_, path_size_); }
  // MAIL / RCPT parameters ("SIZE=1024"), verbatim; split when asked (the relay never asks).
  [[nodiscard]] std::vector<std::string_view> params() const;
  // raw, with any secret replaced by "<redacted>": what a transcript or a log may show.
  [[nodiscard]] std::string transcript_line() const;
  // The whole line is a secret (a SASL response): transcript "<redacted>".
  void redact() {
    secret = true;
    redact_at_ = 0;
  }

  friend bool operator==(const Command&, const Command&) = default;

 private:
  friend Command parse_command_taking(std::string&& line);
  friend Command sasl_response(std::string_view line);
  static constexpr std::size_t none = std::string_view::npos;
  [[nodiscard]] std::string_view part(std::size_t at, std::size_t size) const {
    return at == none ? std::string_view() : std::string_view(raw).substr(at, size);
  }

  // Offsets into raw (none: absent). Offsets, not views: a moved short string moves its bytes.
  std::size_t args_at_ = none;
  std::size_t path_at_ = none;
  std::size_t path_size_ = 0;
  std::size_t params_at_ = none;  // where the parameters after the path start
  // none: raw is the transcript line; 0: "<redacted>"; n: raw's first n bytes + " <redacted>".
  std::size_t redact_at_ = none;
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
