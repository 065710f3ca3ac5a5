#pragma once
// Test support: loads tests/data/smtp transcripts and feeds them to a Conversation whole, at
// one split, one byte at a time or at random splits; renders events for readable failures.

#include <cstddef>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "proxy/printable.hpp"
#include "proxy/smtp/conversation.hpp"

namespace hopscope::smtp::test {

struct Segment {
  Direction dir = Direction::client_to_server;
  std::string bytes;
};

inline std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

inline std::vector<Segment> load_transcript(const std::string& name) {
  std::ifstream file(std::string(HOPSCOPE_TEST_DATA) + "/smtp/" + name, std::ios::binary);
  if (!file) {
    throw std::runtime_error("cannot open transcript " + name);
  }
  std::vector<Segment> segments;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    if (line.size() < 2 || (line[0] != 'C' && line[0] != 'S') ||
        (line[1] != ':' && line[1] != '|')) {
      throw std::runtime_error("bad transcript line: " + line);
    }
    const Direction dir =
        line[0] == 'C' ? Direction::client_to_server : Direction::server_to_client;
    std::string bytes = unescape(line.size() > 3 ? std::string_view(line).substr(3) : "");
    if (line[1] == ':') {
      bytes += "\r\n";
    }
    if (segments.empty() || segments.back().dir != dir) {
      segments.push_back({dir, {}});
    }
    segments.back().bytes += bytes;
  }
  return segments;
}

inline std::size_t wire_size(const std::vector<Segment>& segments) {
  std::size_t n = 0;
  for (const auto& s : segments) {
    n += s.bytes.size();
  }
  return n;
}

inline void feed(Conversation& c, Direction dir, std::string_view bytes) {
  if (dir == Direction::client_to_server) {
    c.feed_client(bytes);
  } else {
    c.feed_server(bytes);
  }
}

// Adjacent MessageContent pieces merged: piece boundaries follow the reads, by design.
inline std::vector<Event> normalise(std::vector<Event> events) {
  std::vector<Event> out;
  for (auto& e : events) {
    if (auto* piece = std::get_if<MessageContent>(&e); piece != nullptr && !out.empty()) {
      if (auto* prev = std::get_if<MessageContent>(&out.back())) {
        prev->bytes += piece->bytes;
        continue;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

// Feeds each segment in pieces chosen by `cuts(segment_index, size)` (sorted offsets);
// drains events after every feed, as the session does.
inline std::vector<Event> run(
    const std::vector<Segment>& segments, const Limits& limits,
    const std::function<std::vector<std::size_t>(std::size_t, std::size_t)>& cuts) {
  Conversation c(limits);
  std::vector<Event> events;
  for (std::size_t k = 0; k < segments.size(); ++k) {
    const std::string& bytes = segments[k].bytes;
    std::size_t from = 0;
    std::vector<std::size_t> at = cuts(k, bytes.size());
    at.push_back(bytes.size());
    for (std::size_t to : at) {
      if (c.in_tls()) {
        break;
      }
      feed(c, segments[k].dir, std::string_view(bytes).substr(from, to - from));
      from = to;
      while (auto e = c.next()) {
        events.push_back(std::move(*e));
      }
    }
  }
  return normalise(std::move(events));
}

inline std::vector<Event> run_whole(const std::vector<Segment>& segments,
                                    const Limits& limits = {}) {
  return run(segments, limits, [](std::size_t, std::size_t) { return std::vector<std::size_t>{}; });
}

// Cut once at offset `cut` of the whole wire (all segments concatenated).
inline std::vector<Event> run_cut(const std::vector<Segment>& segments, std::size_t cut,
                                  const Limits& limits = {}) {
  std::vector<std::size_t> starts;
  std::size_t total = 0;
  for (const auto& s : segments) {
    starts.push_back(total);
    total += s.bytes.size();
  }
  return run(segments, limits, [&](std::size_t k, std::size_t size) {
    if (cut > starts[k] && cut < starts[k] + size) {
      return std::vector<std::size_t>{cut - starts[k]};
    }
    return std::vector<std::size_t>{};
  });
}

inline std::vector<Event> run_bytewise(const std::vector<Segment>& segments,
                                       const Limits& limits = {}) {
  return run(segments, limits, [](std::size_t, std::size_t size) {
    std::vector<std::size_t> at;
    for (std::size_t i = 1; i < size; ++i) {
      at.push_back(i);
    }
    return at;
  });
}

inline std::vector<Event> run_random(const std::vector<Segment>& segments, std::mt19937_64& rng,
                                     const Limits& limits = {}) {
  return run(segments, limits, [&](std::size_t, std::size_t size) {
    std::vector<std::size_t> at;
    std::size_t i = 0;
    while (size > 0) {
      i += 1 + rng() % 64;
      if (i >= size) {
        break;
      }
      at.push_back(i);
    }
    return at;
  });
}

inline std::string render(const Event& event) {
  std::ostringstream o;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ClientCommand>) {
          o << "C " << to_string(e.command.kind) << " [" << printable(e.command.transcript_line())
            << "]";
          if (!e.command.path().empty()) {
            o << " path=" << printable(e.command.path());
          }
        } else if constexpr (std::is_same_v<T, ServerReply>) {
          o << "S " << e.reply.code << " " << e.reply.enhanced << " lines=" << e.reply.lines.size()
            << " [" << (e.reply.lines.empty() ? "" : printable(e.reply.lines.back()))
            << "] to=" << (e.in_reply_to ? printable(e.in_reply_to->transcript_line()) : "-");
        } else if constexpr (std::is_same_v<T, MessageContent>) {
          o << "content " << e.bytes.size() << " [" << printable(e.bytes, 80) << "]";
        } else if constexpr (std::is_same_v<T, MessageEnd>) {
          o << "end " << to_string(e.transfer) << " wire=" << e.wire_bytes
            << " content=" << e.content_bytes << (e.complete ? "" : " incomplete");
        } else if constexpr (std::is_same_v<T, AmbiguousEndOfData>) {
          o << "ambiguous [" << printable(e.evidence) << "]";
        } else if constexpr (std::is_same_v<T, BlobEnd>) {
          o << "blob end " << e.bytes;
        } else if constexpr (std::is_same_v<T, StartTls>) {
          o << "starttls client=[" << printable(e.client_bytes_after_command) << "] server=["
            << printable(e.server_bytes_after_reply) << "]";
        } else {
          o << "anomaly " << to_string(e.dir) << " " << e.kind << " [" << printable(e.detail, 80)
            << "]";
        }
      },
      event);
  return o.str();
}

inline std::string render(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    out += render(e) + "\n";
  }
  return out;
}

// Content of the first message in `events`, joined.
inline std::string content_of(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    if (const auto* piece = std::get_if<MessageContent>(&e)) {
      out += piece->bytes;
    }
  }
  return out;
}

template <typename T>
std::vector<T> all_of(const std::vector<Event>& events) {
  std::vector<T> out;
  for (const auto& e : events) {
    if (const auto* x = std::get_if<T>(&e)) {
      out.push_back(*x);
    }
  }
  return out;
}

inline std::uint64_t seed_from_clock() {
  return std::random_device{}();
}

}  // namespace hopscope::smtp::test
