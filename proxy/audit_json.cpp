#include "proxy/audit_json.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif

#include "proxy/printable.hpp"
#include "tls/visibility.hpp"

// The documents are written straight into one std::string, with no DOM: one audit document
// per session made the Boost.JSON tree (one allocation per node and per escaped string) the
// dominant cost. The output must stay byte for byte what json::serialize() of that tree
// produced; tests/unit/proxy/audit/audit_json_oracle_test.cpp checks it against a copy of
// the old encoder.

namespace hopscope {
namespace {

// The bytes of a document as they are written. std::string::append costs a capacity test, a
// call and a memcpy call per piece, and most pieces are one to a few bytes (a key's quotes,
// a comma): more than the bytes themselves. Here a writer asks for room once and stores
// through a pointer. The space is each thread's own and is kept between documents, so it is
// neither allocated nor zero-filled per document; the finished text is copied out once.
class Buffer {
 public:
  // The thread's space, unless another Buffer of this thread holds it: then its own.
  Buffer() : space_(scratch_in_use() ? own_ : scratch()) {
    if (&space_ != &own_) {
      scratch_in_use() = true;
    }
  }
  ~Buffer() {
    if (&space_ == &own_) {
      return;
    }
    scratch_in_use() = false;
    // A huge document (a long transcript, big certificates) should not pin its memory.
    constexpr std::size_t keep_at_most = std::size_t{1} << 20;
    if (space_.size() > keep_at_most) {
      std::vector<char>().swap(space_);
    }
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&&) = delete;
  Buffer& operator=(Buffer&&) = delete;

  // A pointer to `k` writable bytes after what is written; the caller fills some and
  // commit()s them.
  char* room(std::size_t k) {
    if (space_.size() - size_ < k) {
      grow(k);
    }
    return space_.data() + size_;
  }
  void commit(std::size_t k) { size_ += k; }

  void put(char c) {
    *room(1) = c;
    ++size_;
  }
  void put(std::string_view v) {
    if (!v.empty()) {  // memcpy from a null string_view is undefined even for 0 bytes
      std::memcpy(room(v.size()), v.data(), v.size());
      size_ += v.size();
    }
  }

  [[nodiscard]] std::string str() const { return {space_.data(), size_}; }

 private:
  // One per thread: two threads may write documents at once (the audit workers). Its
  // size() is the room, kept (not cleared) so that it is zero-filled only when it grows.
  static std::vector<char>& scratch() {
    thread_local std::vector<char> space;
    return space;
  }
  static bool& scratch_in_use() {
    thread_local bool in_use = false;
    return in_use;
  }

  void grow(std::size_t k) {
    constexpr std::size_t first = 8192;  // most documents fit
    space_.resize(std::max({first, 2 * space_.size(), size_ + k}));
  }

  std::vector<char> own_;     // declared before space_, which may refer to it
  std::vector<char>& space_;  // written up to size_; the rest is room
  std::size_t size_ = 0;
};

// Appends `n` in decimal, as Boost.JSON prints int64 and uint64 values.
template <typename T>
void append_integer(Buffer& out, T n) {
  constexpr std::size_t digits = 24;  // any 64-bit integer with its sign
  char* p = out.room(digits);
  const auto [end, ec] = std::to_chars(p, p + digits, n);
  (void)ec;  // always fits
  out.commit(static_cast<std::size_t>(end - p));
}

// Appends the JSON escape of one byte that serialize() escapes: '"' and '\\' get a
// backslash; \b \t \n \f \r use their short forms; other bytes below 0x20 become \u00xx
// with lower-case hex (checked against Boost 1.81).
void append_json_escape(Buffer& out, unsigned char b) {
  static constexpr std::string_view lower_hex = "0123456789abcdef";
  switch (b) {
    case '"':
      out.put(R"(\")");
      break;
    case '\\':
      out.put(R"(\\)");
      break;
    case '\b':
      out.put(R"(\b)");
      break;
    case '\t':
      out.put(R"(\t)");
      break;
    case '\n':
      out.put(R"(\n)");
      break;
    case '\f':
      out.put(R"(\f)");
      break;
    case '\r':
      out.put(R"(\r)");
      break;
    default:
      out.put(R"(\u00)");
      out.put(lower_hex[b >> 4U]);
      out.put(lower_hex[b & 0x0FU]);
  }
}

// Bytes that serialize() copies verbatim: '/', DEL and every byte >= 0x80 included (it
// does not validate UTF-8 on output).
bool json_verbatim(unsigned char b) {
  return b >= 0x20U && b != '"' && b != '\\';
}

// Printable ASCII that neither printable() nor JSON escapes: copied in runs.
bool is_plain(unsigned char b) {
  return b >= 0x20U && b < 0x7FU && b != '\\' && b != '"';
}

#if defined(__SSE2__)
// A bit per byte of the 16 at `p`, set where the byte is plain (is_plain). Signed compares:
// bytes >= 0x80 are negative, so "> 0x1F" leaves them out with the control bytes.
unsigned plain_mask16(const char* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i printable_ascii =
      _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(0x1F)), _mm_cmplt_epi8(x, _mm_set1_epi8(0x7F)));
  const __m128i escaped =
      _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_andnot_si128(escaped, printable_ascii)));
}
#endif

// The length of the run of plain bytes that `s` starts with. Most of a document is plain
// ASCII (commands, replies, names, remedies), so with SSE2 (every x86-64) sixteen bytes are
// tested at once, and the last partial block by an overlapping load of the last sixteen
// (its bytes before the end of the run are plain, so the first non-plain one is found).
// Elsewhere, eight at a time with the "has a byte less than / more than / equal to" word
// tricks of Bit Twiddling Hacks (exact for a whole word when n <= 128). Then byte by byte.
std::size_t plain_prefix(std::string_view s) {
  std::size_t i = 0;
#if defined(__SSE2__)
  constexpr std::size_t block = 16;
  constexpr unsigned all_plain = 0xFFFFU;
  for (; i + block <= s.size(); i += block) {
    if (const unsigned mask = plain_mask16(s.data() + i); mask != all_plain) {
      return i + static_cast<std::size_t>(std::countr_one(mask));
    }
  }
  if (i < s.size() && s.size() >= block) {
    const auto last = s.size() - block;
    return last + static_cast<std::size_t>(std::countr_one(plain_mask16(s.data() + last)));
  }
#else
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const auto has_zero_byte = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  for (; i + sizeof(std::uint64_t) <= s.size(); i += sizeof(std::uint64_t)) {
    std::uint64_t x = 0;
    std::memcpy(&x, s.data() + i, sizeof x);
    const std::uint64_t below_space = (x - ones * 0x20U) & ~x & highs;
    const std::uint64_t above_tilde = ((x + ones) | x) & highs;  // 0x7F and up
    if ((below_space | above_tilde | has_zero_byte(x ^ (ones * 0x22U)) |
         has_zero_byte(x ^ (ones * 0x5CU))) != 0) {
      break;
    }
  }
#endif
  while (i < s.size() && is_plain(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  return i;
}

// Appends the body of a JSON string (no quotes) exactly as Boost.JSON's serialize() writes
// it, copying verbatim runs in one append. Used for keys and for strings that did not come
// from the wire.
void append_json_escaped(Buffer& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto j = i;
    for (;;) {
      j += plain_prefix(s.substr(j));
      if (j == s.size() || !json_verbatim(static_cast<unsigned char>(s[j]))) {
        break;
      }
      ++j;  // DEL or a byte >= 0x80: verbatim too
    }
    out.put(s.substr(i, j - i));
    if (j < s.size()) {
      append_json_escape(out, static_cast<unsigned char>(s[j]));
      ++j;
    }
    i = j;
  }
}

// printable() / printable_escaped() (proxy/printable.hpp) fused with the JSON escaping of
// their result: the same bytes as append_json_escaped(out, printable(s, max_bytes)) but
// without a temporary string per value. printable()'s output holds no control bytes, so
// only '"' and '\\' need a JSON escape here. The cap counts printable()'s bytes, not the
// JSON bytes. Keep in step with detail::escape(); the oracle test fails if it drifts.
void append_printable(Buffer& out, std::string_view s, std::size_t max_bytes,
                      bool double_backslash) {
  static constexpr std::string_view upper_hex = "0123456789ABCDEF";
  // Most strings are plain and under the cap: one scan, one copy.
  if (s.size() <= max_bytes && plain_prefix(s) == s.size()) {
    out.put(s);
    return;
  }
  std::size_t produced = 0;  // bytes printable() would have written so far
  std::size_t i = 0;
  while (i < s.size()) {
    if (produced >= max_bytes) {
      out.put("…[+");
      append_integer(out, s.size() - i);
      out.put(" bytes]");
      return;
    }
    const auto b = static_cast<unsigned char>(s[i]);
    if (is_plain(b)) {
      // A run never crosses the cap, so the cut falls where printable() puts it.
      const auto end = i + std::min(max_bytes - produced, s.size() - i);
      const auto j = i + 1 + plain_prefix(s.substr(i + 1, end - i - 1));
      out.put(s.substr(i, j - i));
      produced += j - i;
      i = j;
    } else if (b == '"') {
      out.put(R"(\")");
      ++produced;
      ++i;
    } else if (b == '\\') {
      out.put(double_backslash ? R"(\\\\)" : R"(\\)");
      produced += double_backslash ? 2 : 1;
      ++i;
    } else if (const std::size_t n = b >= 0x80U ? utf8_sequence_length(s, i) : 0; n > 0) {
      out.put(s.substr(i, n));
      produced += n;
      i += n;
    } else {
      out.put(R"(\\x)");  // printable()'s "\xNN", its backslash escaped for JSON
      out.put(upper_hex[b >> 4U]);
      out.put(upper_hex[b & 0x0FU]);
      produced += 4;
      ++i;
    }
  }
}

// "2026-11-22T17:45:00.123Z" into `out` (24 bytes), for the years a clock gives (0000 to
// 9999); false for others, which iso8601_utc() prints with snprintf.
constexpr std::size_t iso8601_length = 24;
bool format_iso8601(std::int64_t unix_ms, char* out) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{unix_ms}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const auto ms = (t - day).count();
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {
    return false;
  }
  // Written digit by digit: snprintf's format parsing cost more than the rest of a
  // session's summary line (four timestamps per session).
  std::memcpy(out, "0000-00-00T00:00:00.000Z", iso8601_length);
  const auto put = [out](std::size_t at, long long value, std::size_t width) {
    for (std::size_t i = width; i-- > 0; value /= 10) {
      out[at + i] = static_cast<char>('0' + value % 10);
    }
  };
  put(0, year, 4);
  put(5, static_cast<unsigned>(ymd.month()), 2);
  put(8, static_cast<unsigned>(ymd.day()), 2);
  put(11, ms / 3'600'000, 2);
  put(14, (ms / 60'000) % 60, 2);
  put(17, (ms / 1000) % 60, 2);
  put(20, ms % 1000, 3);
  return true;
}

// Compact JSON into one string, with the separators serialize() writes: no spaces, ','
// between members and elements, ':' after a key. The caller keeps the structure balanced.
class JsonWriter {
 public:
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  // Keys are this file's own member names (literals of lower-case letters, digits and
  // '_'), which JSON never escapes: they are copied as they are.
  void key(std::string_view k) {
    assert(std::all_of(k.begin(), k.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    }));
    // Keys are most of the calls: one room test for the key and its punctuation.
    char* p = out_.room(k.size() + 4);
    char* const start = p;
    if (need_comma_) {
      *p++ = ',';
    }
    *p++ = '"';
    std::memcpy(p, k.data(), k.size());
    p += k.size();
    *p++ = '"';
    *p++ = ':';
    out_.commit(static_cast<std::size_t>(p - start));
    need_comma_ = false;  // the value follows the key directly
  }

  void null() {
    separate();
    out_.put("null");
  }

  void boolean(bool b) {
    separate();
    out_.put(b ? "true" : "false");
  }

  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) void number(T n) {
    separate();
    append_integer(out_, n);
  }

  void string(std::string_view s) {
    separate();
    out_.put('"');
    append_json_escaped(out_, s);
    out_.put('"');
  }

  // iso8601_utc(unix_ms) as a string: its digits and punctuation need no escape.
  void timestamp(std::int64_t unix_ms) {
    std::array<char, iso8601_length> text{};
    if (!format_iso8601(unix_ms, text.data())) {
      string(iso8601_utc(unix_ms));
      return;
    }
    separate();
    out_.put('"');
    out_.put(std::string_view(text.data(), text.size()));
    out_.put('"');
  }

  // A string whose body the caller appends already escaped (see append_printable).
  Buffer& begin_string() {
    separate();
    out_.put('"');
    return out_;
  }
  void end_string() { out_.put('"'); }

  Buffer& buffer() { return out_; }

 private:
  void separate() {
    if (need_comma_) {
      out_.put(',');
    }
    need_comma_ = true;
  }

  void open(char c) {
    separate();
    out_.put(c);
    need_comma_ = false;
  }

  void close(char c) {
    out_.put(c);
    need_comma_ = true;
  }

  Buffer out_;
  bool need_comma_ = false;
};

// Writes facts as JSON values, with one cap for every string that came from the wire. Key
// order is the published order (DESIGN.md §5): it follows the code below line by line.
class Encoder {
 public:
  Encoder(JsonWriter& w, const AuditOptions& options) : w_(w), options_(options) {}

  // Writes a member's key; the caller then writes its value: field("a").text(x).
  Encoder& field(std::string_view key) {
    w_.key(key);
    return *this;
  }

  void null() { w_.null(); }
  void boolean(bool b) { w_.boolean(b); }
  template <typename T>
  void number(T n) {
    w_.number(n);
  }

  // A string from the network (or derived from it): escaped and capped.
  void text(std::string_view s) { escaped(s, true, options_.line_cap); }

  // Like text(), but an empty string is null (an absent value).
  void nonempty_text(std::string_view s) {
    if (s.empty()) {
      w_.null();
    } else {
      text(s);
    }
  }

  void text_or_null(const std::optional<std::string>& s) {
    if (s) {
      text(*s);
    } else {
      w_.null();
    }
  }

  // Text that may hold several lines: each line is escaped and capped on its own, and the
  // "\n" between lines is kept so that a reader sees the lines.
  void lines_text(std::string_view s) { each_line(s, true); }

  // Multi-line text that policy already escaped (findings): backslashes are kept as they
  // are, so "\\x0A" in evidence is not doubled; anything unprintable is still escaped.
  void escaped_lines_text(std::string_view s) { each_line(s, false); }

  void text_array(const std::vector<std::string>& items) {
    w_.begin_array();
    for (const auto& s : items) {
      text(s);
    }
    w_.end_array();
  }

  // A reply as one string: its lines joined with "\n" (a single line stays as it is). As
  // before, a separator is only written once something precedes it, so leading empty lines
  // vanish.
  void reply(const std::optional<ReplyFacts>& r) {
    if (!r) {
      w_.null();
      return;
    }
    auto& out = w_.begin_string();
    bool written = false;
    for (const auto& line : r->lines) {
      if (written) {
        out.put(R"(\n)");
      }
      append_printable(out, line, options_.line_cap, true);
      written = written || !line.empty();  // printable() of a non-empty line is non-empty
    }
    w_.end_string();
  }

  // The recipients upstream did not accept: [{"rcpt": …, "reply": … or null}], the reply
  // written as messages[].reply is.
  void refused(const std::vector<RefusedRecipient>& list) {
    w_.begin_array();
    for (const auto& r : list) {
      w_.begin_object();
      field("rcpt").text(r.rcpt);
      field("reply").reply(r.reply);
      w_.end_object();
    }
    w_.end_array();
  }

  void reply_lines(const std::optional<ReplyFacts>& r) {
    if (r) {
      text_array(r->lines);
    } else {
      w_.null();
    }
  }

  void plaintext(const std::optional<PlaintextEvidence>& p) {
    if (!p) {
      w_.null();
      return;
    }
    w_.begin_object();
    field("bytes").number(p->bytes);
    field("first_bytes").text(p->first_bytes);
    w_.end_object();
  }

  void starttls(const StartTlsFacts& s) {
    w_.begin_object();
    field("offered").boolean(s.offered);
    field("attempted").boolean(s.attempted);
    field("reply").reply(s.reply);
    field("handshake").nonempty_text(s.handshake);
    field("client_plaintext_after_starttls").plaintext(s.client_plaintext_after_starttls);
    field("server_plaintext_after_220").plaintext(s.server_plaintext_after_220);
    w_.end_object();
  }

  void dn(const std::vector<tls::DnAttribute>& attributes) {
    w_.begin_array();
    for (const auto& attr : attributes) {
      w_.begin_object();
      field("type").text(attr.type);
      field("value").text(attr.value);
      w_.end_object();
    }
    w_.end_array();
  }

  void certificate(const tls::CertificateFacts& c) {
    w_.begin_object();
    field("subject").text(c.subject);
    field("issuer").text(c.issuer);
    field("subject_dn").dn(c.subject_dn);
    field("issuer_dn").dn(c.issuer_dn);
    field("san").text_array(c.san_dns);
    field("san_ip").text_array(c.san_ip);
    field("serial").text(c.serial);
    field("not_before").text(c.not_before);
    field("not_after").text(c.not_after);
    field("sha256").text(c.sha256);
    field("sha1").text(c.sha1);
    field("spki_sha256").text(c.spki_sha256);
    field("key").text(c.key);
    field("key_type").text(c.key_type);
    field("key_bits").number(c.key_bits);
    field("signature").text(c.signature);
    field("self_signed").boolean(c.self_signed);
    field("is_ca").boolean(c.is_ca);
    // Base64 is ASCII: escaped for safety but never capped, so the document can be
    // re-verified offline.
    field("der").escaped(c.der_base64, true, std::numeric_limits<std::size_t>::max());
    field("parse_error").nonempty_text(c.parse_error);
    w_.end_object();
  }

  void certificates(const std::vector<tls::CertificateFacts>& chain) {
    w_.begin_array();
    for (const auto& c : chain) {
      certificate(c);
    }
    w_.end_array();
  }

  void verification(const tls::VerificationFacts& v) {
    w_.begin_object();
    field("checked").boolean(v.checked);
    // Not verified (no chain seen, or a chain hopscope may have cut: "error" says which) is
    // neither trusted nor untrusted.
    if (v.checked) {
      field("trusted").boolean(v.trusted);
    } else {
      field("trusted").null();
    }
    field("error").nonempty_text(v.error);
    field("error_depth").number(v.error_depth);
    if (v.name_matched) {
      field("name_matched").boolean(*v.name_matched);
    } else {
      field("name_matched").null();
    }
    field("matched_name").text_or_null(v.matched_name);
    // "What was matched against": nothing when no certificate was examined (TLS 1.3 in
    // passthrough, a resumed session), which an empty list would misread as "none configured".
    if (v.checked || !v.error.empty()) {
      field("expected_names").text_array(v.expected_names);
    } else {
      field("expected_names").null();
    }
    w_.end_object();
  }

  void alert(const std::optional<AlertFacts>& a) {
    if (!a) {
      w_.null();
      return;
    }
    w_.begin_object();
    field("direction").text(a->direction);
    field("level").text(a->level);
    field("description").text(a->description);
    field("code").number(a->code);
    w_.end_object();
  }

  // `observed_passively`: the handshake was parsed off the wire (passthrough), not one that
  // hopscope terminated (inspect mode), so encrypted parts of it were never seen.
  void tls(const std::optional<TlsFacts>& t, bool observed_passively) {
    if (!t) {
      w_.null();
      return;
    }
    w_.begin_object();
    field("seen").boolean(t->seen);
    field("source").text(t->source);
    field("version").text_or_null(t->version);
    field("cipher").text_or_null(t->cipher);
    field("cipher_id").number(t->cipher_id);
    field("sni").text_or_null(t->sni);
    field("alpn").text_or_null(t->alpn);
    field("offered_alpn").text_array(t->offered_alpn);
    field("offered_versions").text_array(t->offered_versions);
    field("offered_ciphers").text_array(t->offered_ciphers);
    field("offered_groups").text_array(t->offered_groups);
    field("alert").alert(t->alert);
    field("resumed").boolean(t->resumed);
    field("hello_retry_request").boolean(t->hello_retry_request);
    // TLS 1.3 encrypts CertificateRequest and the client's Certificate, and a resumed session
    // exchanges none (tls/visibility.hpp): null says "not visible", not "not sent".
    if (!observed_passively || tls::client_certificate_exchange_visible(*t)) {
      field("client_certificate_requested").boolean(t->client_certificate_requested);
      field("client_certificates").certificates(t->client_certificates);
    } else {
      field("client_certificate_requested").null();
      field("client_certificates").null();
    }
    // The server's Certificate is hidden under the same conditions (RFC 8446 §4.4.2; a resumed
    // session sends none): an empty chain then says "not visible", not "none presented". A
    // chain filled anyway (a side probe) is written.
    if (!observed_passively || tls::client_certificate_exchange_visible(*t) ||
        !t->server_certificates.empty()) {
      field("server_certificates").certificates(t->server_certificates);
    } else {
      field("server_certificates").null();
    }
    field("verification").verification(t->verification);
    field("client_app_records").number(t->client_app_records);
    field("server_app_records").number(t->server_app_records);
    field("client_app_bytes").number(t->client_app_bytes);
    field("server_app_bytes").number(t->server_app_bytes);
    // Which side ended TLS first ("c>s", "s>c"): its encrypted alert, normally close_notify.
    field("first_encrypted_alert").nonempty_text(t->first_encrypted_alert);
    field("parse_error").nonempty_text(t->parse_error);
    w_.end_object();
  }

  void downstream(const DownstreamFacts& d) {
    w_.begin_object();
    field("peer").text(d.peer);
    field("local").text(d.local);
    field("original_destination").text_or_null(d.original_destination);
    field("helo").text(d.helo);
    field("helo_commands").text_array(d.helo_commands);
    field("starttls").starttls(d.starttls);
    if (d.tls_end_to_end) {
      // DESIGN.md §5: in passthrough the one handshake is recorded on upstream.tls.
      field("tls");
      w_.begin_object();
      field("end_to_end").boolean(true);
      w_.end_object();
    } else {
      field("tls").tls(d.tls, false);  // inspect mode: hopscope terminated the sender's TLS
    }
    field("closed_first").boolean(d.closed_first);
    w_.end_object();
  }

  void upstream(const UpstreamFacts& u, bool passthrough) {
    w_.begin_object();
    field("address").text(u.address);
    field("local").text(u.local);
    field("banner").reply(u.banner);
    field("ehlo_reply").reply_lines(u.ehlo_reply);
    field("capabilities").text_array(u.capabilities);
    field("helo_reply").reply(u.helo_reply);
    field("starttls").starttls(u.starttls);
    field("tls").tls(u.tls, passthrough);
    field("connect_error").text_or_null(u.connect_error);
    w_.end_object();
  }

  void message(const MessageFacts& m) {
    w_.begin_object();
    if (options_.record_envelope) {
      if (m.mail_sent) {
        field("mail_from").text(m.mail_from);
      } else {
        field("mail_from").null();  // no MAIL: not the null reverse-path "" of a bounce
      }
      field("rcpt_to").text_array(m.rcpt_to);
      field("rcpt_refused").refused(m.rcpt_refused);
    }
    field("transfer").text(m.transfer);
    field("size").number(m.size);
    field("sha256").nonempty_text(m.sha256);
    field("reply").reply(m.reply);
    field("ambiguous_end_of_data").boolean(m.ambiguous_end_of_data);
    // A few bytes around the ambiguous terminator: the evidence, never the body.
    field("ambiguous_evidence").nonempty_text(m.ambiguous_evidence);
    w_.end_object();
  }

  void messages(const std::vector<MessageFacts>& list) {
    w_.begin_array();
    for (const auto& m : list) {
      message(m);
    }
    w_.end_array();
  }

  void transcript(const std::vector<TranscriptEntry>& entries) {
    if (!options_.transcript) {
      w_.null();
      return;
    }
    w_.begin_array();
    for (const auto& e : entries) {
      w_.begin_object();
      field("t_ms").number(e.t_ms);
      field("dir").text(e.dir);
      if (e.data_bytes) {
        // Message content is never stored: only its size.
        field("data_bytes").number(*e.data_bytes);
      } else {
        field("line").text(e.line);
      }
      w_.end_object();
    }
    w_.end_array();
  }

  void anomalies(const std::vector<AnomalyFacts>& list) {
    w_.begin_array();
    for (const auto& x : list) {
      w_.begin_object();
      field("dir").text(x.dir);
      field("kind").text(x.kind);
      field("detail").lines_text(x.detail);
      w_.end_object();
    }
    w_.end_array();
  }

  void findings(const std::vector<FindingView>& list) {
    w_.begin_array();
    for (const auto& f : list) {
      w_.begin_object();
      field("id").text(f.id);
      field("severity").text(f.severity);
      field("leg").text(f.leg);
      field("summary").escaped_lines_text(f.summary);
      field("evidence").escaped_lines_text(f.evidence);
      field("remedy").escaped_lines_text(f.remedy);
      w_.end_object();
    }
    w_.end_array();
  }

  void verdict(const std::string& v) {
    if (v.empty()) {
      w_.null();
    } else {
      escaped(v, false, options_.line_cap);  // policy escaped it
    }
  }

 private:
  void escaped(std::string_view s, bool double_backslash, std::size_t cap) {
    append_printable(w_.begin_string(), s, cap, double_backslash);
    w_.end_string();
  }

  void each_line(std::string_view s, bool double_backslash) {
    auto& out = w_.begin_string();
    std::size_t start = 0;
    for (;;) {
      const auto nl = s.find('\n', start);
      append_printable(out, s.substr(start, nl == std::string_view::npos ? nl : nl - start),
                       options_.line_cap, double_backslash);
      if (nl == std::string_view::npos) {
        break;
      }
      out.put(R"(\n)");
      start = nl + 1;
    }
    w_.end_string();
  }

  JsonWriter& w_;
  AuditOptions options_;
};

const tls::CertificateFacts* upstream_leaf(const SessionFacts& facts) {
  const auto& t = facts.upstream.tls;
  if (!t || t->server_certificates.empty()) {
    return nullptr;
  }
  return &t->server_certificates.front();
}

}  // namespace

bool starttls_used(const StartTlsFacts& st) {
  const bool accepted = st.reply && st.reply->code >= 200 && st.reply->code <= 299;
  return st.attempted && (accepted || !st.handshake.empty());
}

std::string iso8601_utc(std::int64_t unix_ms) {
  std::array<char, iso8601_length> text{};
  if (format_iso8601(unix_ms, text.data())) {
    return {text.data(), text.size()};
  }
  // Not from a real clock: snprintf widens the year's field.
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{unix_ms}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const auto ms = (t - day).count();
  std::array<char, 48> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(ms / 3'600'000),
                static_cast<long long>((ms / 60'000) % 60),
                static_cast<long long>((ms / 1000) % 60), static_cast<long long>(ms % 1000));
  return buf.data();
}

std::string utc_date(std::int64_t unix_ms) {
  return iso8601_utc(unix_ms).substr(0, 10);
}

std::string to_json(const SessionFacts& facts, const std::vector<FindingView>& findings,
                    const std::string& verdict, const AuditOptions& options) {
  JsonWriter w;
  Encoder enc(w, options);
  const auto duration = std::max<std::int64_t>(0, facts.ended_unix_ms - facts.started_unix_ms);
  w.begin_object();
  w.key("schema");
  w.string(audit_schema);
  enc.field("id").text(facts.id);
  w.key("started");
  w.timestamp(facts.started_unix_ms);
  w.key("ended");
  w.timestamp(facts.ended_unix_ms);
  enc.field("duration_ms").number(duration);
  enc.field("mode").text(facts.mode);
  enc.field("own_probe").boolean(facts.own_probe);
  w.key("limits");
  w.begin_object();
  enc.field("line_bytes").number(options.line_cap);
  w.end_object();
  enc.field("downstream").downstream(facts.downstream);
  enc.field("upstream").upstream(facts.upstream, facts.mode != "inspect");
  enc.field("messages").messages(facts.messages);
  enc.field("transcript").transcript(facts.transcript);
  enc.field("transcript_dropped").number(facts.transcript_dropped);
  enc.field("anomalies").anomalies(facts.anomalies);
  enc.field("bytes_client_to_server").number(facts.bytes_client_to_server);
  enc.field("bytes_server_to_client").number(facts.bytes_server_to_client);
  enc.field("findings").findings(findings);
  enc.field("verdict").verdict(verdict);
  w.key("end");
  w.begin_object();
  w.key("reason");
  w.string(to_string(facts.end.reason));
  enc.field("detail").text_or_null(facts.end.detail);
  w.end_object();
  w.end_object();
  w.buffer().put('\n');
  return w.buffer().str();
}

std::string summary_json_line(const SessionFacts& facts, const std::vector<FindingView>& findings,
                              const std::string& verdict, const AuditOptions& options) {
  JsonWriter w;
  Encoder enc(w, options);
  const auto& up = facts.upstream;
  w.begin_object();
  enc.field("id").text(facts.id);
  w.key("started");
  w.timestamp(facts.started_unix_ms);
  enc.field("mode").text(facts.mode);
  enc.field("own_probe").boolean(facts.own_probe);
  enc.field("peer").text(facts.downstream.peer);
  enc.field("upstream").text(up.address);
  enc.field("starttls_offered").boolean(up.starttls.offered);
  enc.field("starttls_offered_to_sender").boolean(facts.downstream.starttls.offered);
  enc.field("starttls_used").boolean(starttls_used(up.starttls));
  if (up.tls) {
    enc.field("tls_version").text_or_null(up.tls->version);
  } else {
    enc.field("tls_version").null();
  }
  const auto* leaf = upstream_leaf(facts);
  if (leaf != nullptr) {
    enc.field("leaf_subject").text(leaf->subject);
    enc.field("leaf_sha256").text(leaf->sha256);
  } else {
    enc.field("leaf_subject").null();
    enc.field("leaf_sha256").null();
  }
  w.key("findings");
  w.begin_array();
  for (const auto& f : findings) {
    enc.text(f.id);
  }
  w.end_array();
  w.key("end");
  w.string(to_string(facts.end.reason));
  enc.field("verdict").verdict(verdict);
  w.end_object();
  // Every newline is escaped (printable() and JSON), so the line holds none.
  return w.buffer().str();
}

}  // namespace hopscope
