#include "policy/transcript.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace hopscope::policy {
namespace {

int reply_code(const std::string& line) {
  if (line.size() < 3 || !std::all_of(line.begin(), line.begin() + 3, [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return 0;
  }
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

// RFC 5321 §4.2.1: "250-" continues a reply, "250 " (or a bare "250") ends it.
bool is_last_line(const std::string& line) {
  return line.size() <= 3 || line[3] != '-';
}

}  // namespace

std::string command_verb(std::string_view line) {
  std::string verb(line.substr(0, line.find(' ')));
  std::transform(verb.begin(), verb.end(), verb.begin(), ascii_upper);
  return verb;
}

bool verb_is(std::string_view line, std::string_view verb) {
  const auto word = line.substr(0, line.find(' '));
  return word.size() == verb.size() &&
         std::equal(word.begin(), word.end(), verb.begin(),
                    [](char a, char b) { return ascii_upper(a) == b; });
}

std::vector<Exchange> pair_exchanges(const std::vector<TranscriptEntry>& transcript) {
  std::vector<Exchange> out;
  out.reserve(transcript.size());  // at most one per entry: no reallocation
  // Indexes into `out` awaiting a reply, oldest first from `answered` on (a vector: a
  // deque's node allocations cost more than the pairing itself).
  std::vector<std::size_t> pending;
  std::size_t answered = 0;
  bool after_tls = false;
  bool content_expected = false;  // a 3yz to DATA was seen: the content.s own reply follows
  bool greeting_seen = false;
  std::optional<std::size_t> open_reply;
  for (const auto& e : transcript) {
    if (e.dir == "tls") {
      after_tls = true;
      continue;
    }
    if (e.dir == "c>s") {
      if (e.data_bytes) {
        if (content_expected) {
          content_expected = false;
          out.push_back(Exchange{"<message content>", {}, 0, after_tls});
          pending.push_back(out.size() - 1);
        }
        continue;
      }
      out.push_back(Exchange{e.line, {}, 0, after_tls});
      pending.push_back(out.size() - 1);
      continue;
    }
    if (e.dir != "s>c" || e.line.rfind("[hopscope]", 0) == 0) {
      continue;
    }
    if (!open_reply) {
      // RFC 5321 §3.1, §4.3.1: the server's first reply is its greeting, also when the client
      // talked first (commands pipelined before the banner reached it): it answers none of
      // them. The codec pairs it the same way (proxy/smtp/conversation.cpp).
      if (!greeting_seen || answered == pending.size()) {
        greeting_seen = true;
        out.push_back(Exchange{"", {}, 0, after_tls});  // banner or unsolicited reply
        open_reply = out.size() - 1;
      } else {
        open_reply = pending[answered++];
      }
      out[*open_reply].code = reply_code(e.line);
    }
    out[*open_reply].reply.push_back(e.line);
    if (is_last_line(e.line)) {
      // Any 3yz to DATA lets the sender send the content (RFC 5321 §4.2.1; senders go by the
      // class), as the codec reads it (proxy/smtp/reply_parser.hpp).
      const int code = out[*open_reply].code;
      if (code >= 300 && code <= 399 && verb_is(out[*open_reply].command, "DATA")) {
        content_expected = true;
      }
      open_reply.reset();
    }
  }
  return out;
}

}  // namespace hopscope::policy
