#pragma once
// Pairs the transcript's command lines with their replies (RFC 2920 §3: replies come in
// command order, also when pipelined), so checks can ask "what was STARTTLS answered?". The
// first reply is the greeting (RFC 5321 §4.3.1) even when commands arrived before it.
// Pure; internal to policy.

#include <string>
#include <vector>

#include "proxy/facts.hpp"

namespace hopscope::policy {

struct Exchange {
  std::string command;             // verbatim; empty for the banner; "<message content>"
  std::vector<std::string> reply;  // verbatim reply lines; empty if none came
  int code = 0;                    // of the reply, 0 if none
  bool after_tls = false;          // seen after the STARTTLS/TLS marker (inspect mode)
};

std::vector<Exchange> pair_exchanges(const std::vector<TranscriptEntry>& transcript);

// The verb of a command line, upper-case ("MAIL FROM:<a>" → "MAIL").
std::string command_verb(const std::string& line);

}  // namespace hopscope::policy
