#pragma once
// A minimal recursive-descent JSON reader for the policy golden tests only (policy links no
// Boost.JSON). RFC 8259 values; \uXXXX escapes become UTF-8 (surrogate pairs joined). Throws
// std::runtime_error with the byte offset on malformed input: test data, not network bytes.

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hopscope::test {

struct JsonValue;
using JsonArray = std::vector<JsonValue>;
using JsonObject = std::map<std::string, JsonValue, std::less<>>;

struct JsonValue {
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<JsonArray>,
               std::shared_ptr<JsonObject>>
      v;

  [[nodiscard]] bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
  [[nodiscard]] bool is_object() const {
    return std::holds_alternative<std::shared_ptr<JsonObject>>(v);
  }
  [[nodiscard]] bool as_bool() const { return std::get<bool>(v); }
  [[nodiscard]] double as_number() const { return std::get<double>(v); }
  [[nodiscard]] std::int64_t as_int() const { return static_cast<std::int64_t>(as_number()); }
  [[nodiscard]] const std::string& as_string() const { return std::get<std::string>(v); }
  [[nodiscard]] const JsonArray& as_array() const {
    return *std::get<std::shared_ptr<JsonArray>>(v);
  }
  [[nodiscard]] const JsonObject& as_object() const {
    return *std::get<std::shared_ptr<JsonObject>>(v);
  }
  // The member `key` of an object, or nullptr.
  [[nodiscard]] const JsonValue* get(std::string_view key) const {
    if (!is_object()) {
      return nullptr;
    }
    const auto& o = as_object();
    const auto it = o.find(key);
    return it == o.end() ? nullptr : &it->second;
  }
};

class JsonReader {
 public:
  static JsonValue parse(std::string_view text) {
    JsonReader r(text);
    auto value = r.value();
    r.skip_space();
    if (r.pos_ != text.size()) {
      r.fail("trailing characters");
    }
    return value;
  }

 private:
  explicit JsonReader(std::string_view text) : text_(text) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at byte " + std::to_string(pos_));
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  char peek() {
    skip_space();
    if (pos_ >= text_.size()) {
      fail("unexpected end");
    }
    return text_[pos_];
  }

  void expect(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      fail("expected " + std::string(word));
    }
    pos_ += word.size();
  }

  JsonValue value() {
    const char c = peek();
    if (c == '{') {
      return object();
    }
    if (c == '[') {
      return array();
    }
    if (c == '"') {
      return JsonValue{string()};
    }
    if (c == 't') {
      expect("true");
      return JsonValue{true};
    }
    if (c == 'f') {
      expect("false");
      return JsonValue{false};
    }
    if (c == 'n') {
      expect("null");
      return JsonValue{nullptr};
    }
    return number();
  }

  JsonValue number() {
    const auto start = pos_;
    while (pos_ < text_.size() &&
           std::string_view("+-0123456789.eE").find(text_[pos_]) != std::string_view::npos) {
      ++pos_;
    }
    if (start == pos_) {
      fail("unexpected character");
    }
    return JsonValue{std::stod(std::string(text_.substr(start, pos_ - start)))};
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::uint32_t hex4() {
    if (pos_ + 4 > text_.size()) {
      fail("short \\u escape");
    }
    const auto cp =
        static_cast<std::uint32_t>(std::stoul(std::string(text_.substr(pos_, 4)), nullptr, 16));
    pos_ += 4;
    return cp;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        fail("unterminated string");
      }
      const char c = text_[pos_++];
      if (c == '"') {
        return out;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) {
        fail("unterminated escape");
      }
      const char e = text_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          auto cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4() - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          out += e;
          break;  // \" \\ \/
      }
    }
  }

  JsonValue array() {
    ++pos_;
    auto arr = std::make_shared<JsonArray>();
    if (peek() == ']') {
      ++pos_;
      return JsonValue{arr};
    }
    while (true) {
      arr->push_back(value());
      const char c = peek();
      ++pos_;
      if (c == ']') {
        return JsonValue{arr};
      }
      if (c != ',') {
        fail("expected , or ]");
      }
    }
  }

  JsonValue object() {
    ++pos_;
    auto obj = std::make_shared<JsonObject>();
    if (peek() == '}') {
      ++pos_;
      return JsonValue{obj};
    }
    while (true) {
      if (peek() != '"') {
        fail("expected a key");
      }
      auto key = string();
      if (peek() != ':') {
        fail("expected :");
      }
      ++pos_;
      (*obj)[key] = value();
      const char c = peek();
      ++pos_;
      if (c == '}') {
        return JsonValue{obj};
      }
      if (c != ',') {
        fail("expected , or }");
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace hopscope::test
