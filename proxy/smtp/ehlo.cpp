#include "proxy/smtp/ehlo.hpp"

#include <utility>

#include "proxy/smtp/ascii.hpp"

namespace hopscope::smtp {
namespace {

// The text of a reply line: after "250-" / "250 ", or empty for a bare "250".
std::string_view line_text(std::string_view line) {
  return line.size() > 4 ? line.substr(4) : std::string_view{};
}

// Words of an EHLO line as Postfix's SMTP client reads them (smtp_proto.c splits on " \t="):
// RFC 5321 §4.1.1.1 says SP, but a "STARTTLS<TAB>" is still STARTTLS to a real sender, and
// the legacy "AUTH=LOGIN PLAIN" still announces AUTH.
constexpr bool is_ehlo_break(char ch) {
  return ch == ' ' || ch == '\t' || ch == '=';
}

}  // namespace

std::string_view ehlo_keyword(std::string_view reply_line) {
  const std::string_view text = line_text(reply_line);
  std::size_t start = 0;
  while (start < text.size() && is_ehlo_break(text[start])) {
    ++start;
  }
  std::size_t end = start;
  while (end < text.size() && !is_ehlo_break(text[end])) {
    ++end;
  }
  return text.substr(start, end - start);
}

std::optional<CapabilityLines> capability_lines(const Reply& reply) {
  if (reply.code < 200 || reply.code > 299 || reply.lines.empty()) {
    return std::nullopt;
  }
  CapabilityLines out;
  out.lines.reserve(reply.lines.size() - 1);
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    const std::string_view keyword = ehlo_keyword(reply.lines[i]);
    if (keyword.empty()) {
      continue;  // "250 " with nothing after it (smtp-sink, some appliances): no keyword
    }
    out.lines.emplace_back(line_text(reply.lines[i]));
    out.starttls = out.starttls || iequals(keyword, "STARTTLS");
  }
  return out;
}

std::optional<Capabilities> Capabilities::from_reply(const Reply& reply) {
  if (reply.code < 200 || reply.code > 299 || reply.lines.empty()) {
    return std::nullopt;
  }
  Capabilities caps;
  caps.greeting_ = std::string(line_text(reply.lines.front()));
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    const std::string_view text = line_text(reply.lines[i]);
    Capability cap;
    cap.line = std::string(text);
    std::size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
      while (pos < text.size() && is_ehlo_break(text[pos])) {
        ++pos;
      }
      const std::size_t start = pos;
      while (pos < text.size() && !is_ehlo_break(text[pos])) {
        ++pos;
      }
      if (pos == start) {
        break;
      }
      if (first) {
        cap.keyword = std::string(text.substr(start, pos - start));
        first = false;
      } else {
        cap.params.emplace_back(text.substr(start, pos - start));
      }
    }
    if (!cap.keyword.empty()) {
      // "250 " with nothing after it (smtp-sink, some appliances) ends the list; no keyword.
      caps.items_.push_back(std::move(cap));
    }
  }
  return caps;
}

const Capability* Capabilities::find(std::string_view keyword) const {
  for (const Capability& cap : items_) {
    if (iequals(cap.keyword, keyword)) {
      return &cap;
    }
  }
  return nullptr;
}

bool Capabilities::has(std::string_view keyword) const {
  return find(keyword) != nullptr;
}

std::vector<std::string> Capabilities::lines() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const Capability& cap : items_) {
    out.push_back(cap.line);
  }
  return out;
}

}  // namespace hopscope::smtp
