#pragma once
// Pairs the transcript's command lines with their replies (RFC 2920 §3: replies come in
// command order, also when pipelined), so checks can ask "what was STARTTLS answered?". The
// first reply is the greeting (RFC 5321 §4.3.1) even when commands arrived before it.
// Pure; internal to policy.

#include <string>
#include <string_view>
#include <vector>

#include "proxy/facts.hpp"

namespace hopscope::policy {

// Views into the transcript passed to pair_exchanges(), which must outlive the exchanges:
// pairing copies no line (it runs for every session).
struct Exchange {
  std::string_view command;             // verbatim; empty for the banner; "<message content>"
  std::vector<std::string_view> reply;  // verbatim reply lines; empty if none came
  int code = 0;                         // of the reply, 0 if none
  bool after_tls = false;               // seen after the STARTTLS/TLS marker (inspect mode)
};

std::vector<Exchange> pair_exchanges(const std::vector<TranscriptEntry>& transcript);

// The verb of a command line, upper-case ("MAIL FROM:<a>" → "MAIL").
std::string command_verb(std::string_view line);

// Whether the verb of `line` is `verb` (given upper-case), in any case: command_verb(line) ==
// verb without building the string.
bool verb_is(std::string_view line, std::string_view verb);

// ASCII upper case, as std::toupper in the "C" locale (hopscope never sets another).
inline char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

}  // namespace hopscope::policy
