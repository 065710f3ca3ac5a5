#pragma once
// The EHLO capability set (RFC 5321 §4.1.1.1, §2.2.2) read from a 250 reply. The first line is
// the greeting; every later line is one keyword with its parameters. Keywords compare
// case-insensitively; the lines are kept verbatim, so masked keywords (Cisco ASA "XXXXXXXA")
// stay visible to policy. Pure; never throws; judges nothing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/smtp/reply_parser.hpp"

namespace hopscope::smtp {

struct Capability {
  std::string keyword;              // as sent ("STARTTLS", "XXXXXXXA", "AUTH=LOGIN")
  std::vector<std::string> params;  // words after the keyword, verbatim
  std::string line;                 // the text after "250-" / "250 ", verbatim
  friend bool operator==(const Capability&, const Capability&) = default;
};

// The capability keyword of one EHLO reply line ("250-STARTTLS" -> "STARTTLS",
// "250-AUTH=LOGIN PLAIN" -> "AUTH"), as Capabilities reads it: the first word of the text
// after "250-" / "250 ", words ending at SP, TAB or '='. Empty when the line has none.
[[nodiscard]] std::string_view ehlo_keyword(std::string_view reply_line);

// What Capabilities::from_reply(reply)->lines() and ->has("STARTTLS") say, without building
// the set (the relay reads every first EHLO reply): nullopt for a reply other than 2xx.
struct CapabilityLines {
  std::vector<std::string> lines;  // as Capabilities::lines()
  bool starttls = false;           // a line's keyword is STARTTLS, in any case
};
[[nodiscard]] std::optional<CapabilityLines> capability_lines(const Reply& reply);

class Capabilities {
 public:
  // Outcomes: the set for a 2xx reply (a bare "250 host" greeting gives an empty set);
  // nullopt for any other code (a PIX answering EHLO with 500, a 554 refusal).
  [[nodiscard]] static std::optional<Capabilities> from_reply(const Reply& reply);

  [[nodiscard]] bool has(std::string_view keyword) const;  // ASCII case-insensitive
  [[nodiscard]] const Capability* find(std::string_view keyword) const;

  [[nodiscard]] const std::string& greeting() const { return greeting_; }
  [[nodiscard]] const std::vector<Capability>& items() const { return items_; }
  // Keywords with parameters, verbatim ("SIZE 37748736"), in the server's order.
  [[nodiscard]] std::vector<std::string> lines() const;

 private:
  std::string greeting_;
  std::vector<Capability> items_;
};

}  // namespace hopscope::smtp
