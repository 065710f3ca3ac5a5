#pragma once
// Test support: feeds a feed()/next() parser in pieces and collects its events, for the
// every-split / one-byte / random-split tests (STYLE.md C.10).

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hopscope::smtp::test {

template <typename Event, typename Parser>
std::vector<Event> feed_pieces(Parser parser, const std::vector<std::string_view>& pieces) {
  std::vector<Event> out;
  for (std::string_view piece : pieces) {
    parser.feed(piece);
    while (auto e = parser.next()) {
      out.push_back(std::move(*e));
    }
  }
  return out;
}

inline std::vector<std::string_view> cut_at(std::string_view s, std::size_t cut) {
  return {s.substr(0, cut), s.substr(cut)};
}

inline std::vector<std::string_view> bytewise(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out.push_back(s.substr(i, 1));
  }
  return out;
}

inline std::vector<std::string_view> random_pieces(std::string_view s, std::mt19937_64& rng) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = 1 + rng() % 32;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace hopscope::smtp::test
