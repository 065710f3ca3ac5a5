#include "policy/distinguished_name.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace hopscope::policy {
namespace {

std::string to_upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Alias {
  std::string_view from;
  std::string_view to;
};

// Windows CryptoAPI (CertNameToStr), OpenSSL short/long names and RFC 4519 OIDs.
constexpr std::array<Alias, 30> aliases{{
    {"S", "ST"},
    {"STATEORPROVINCENAME", "ST"},
    {"2.5.4.8", "ST"},
    {"E", "EMAILADDRESS"},
    {"EMAIL", "EMAILADDRESS"},
    {"1.2.840.113549.1.9.1", "EMAILADDRESS"},
    {"COMMONNAME", "CN"},
    {"2.5.4.3", "CN"},
    {"ORGANIZATIONNAME", "O"},
    {"2.5.4.10", "O"},
    {"ORGANIZATIONALUNITNAME", "OU"},
    {"2.5.4.11", "OU"},
    {"COUNTRYNAME", "C"},
    {"2.5.4.6", "C"},
    {"LOCALITYNAME", "L"},
    {"2.5.4.7", "L"},
    {"STREETADDRESS", "STREET"},
    {"2.5.4.9", "STREET"},
    {"DOMAINCOMPONENT", "DC"},
    {"0.9.2342.19200300.100.1.25", "DC"},
    {"SERIALNUMBER", "SERIALNUMBER"},
    {"2.5.4.5", "SERIALNUMBER"},
    {"G", "GIVENNAME"},
    {"GN", "GIVENNAME"},
    {"2.5.4.42", "GIVENNAME"},
    {"SURNAME", "SN"},
    {"2.5.4.4", "SN"},
    {"T", "TITLE"},
    {"2.5.4.12", "TITLE"},
    {"POSTALCODE", "POSTALCODE"},
}};

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Values compare case-insensitively with inner runs of spaces collapsed (X.520 caseIgnoreMatch).
std::string normal_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (const char c : trim(v)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) {
      out += ' ';
    }
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

using Normal = std::vector<std::pair<std::string, std::string>>;

Normal normal_rdn(const Rdn& rdn) {
  Normal out;
  for (const auto& a : rdn) {
    out.emplace_back(canonical_type(a.type), normal_value(a.value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool equal_in_order(const Dn& a, const Dn& b, bool reversed) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& other = reversed ? b[b.size() - 1 - i] : b[i];
    if (normal_rdn(a[i]) != normal_rdn(other)) {
      return false;
    }
  }
  return true;
}

// Splits one DN text into RDNs. `separators` are the RDN separators of this form.
std::optional<Dn> split(std::string_view text, std::string_view separators) {
  Dn dn;
  Rdn rdn;
  std::string type;
  std::string value;
  bool in_value = false;
  bool quoted = false;
  bool any_quote = false;
  auto finish_attribute = [&]() -> bool {
    const auto t = trim(type);
    if (t.empty() || !in_value) {
      return false;
    }
    rdn.push_back(tls::DnAttribute{std::string(t), any_quote ? value : std::string(trim(value))});
    type.clear();
    value.clear();
    in_value = false;
    any_quote = false;
    return true;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!in_value) {
      if (c == '=') {
        in_value = true;
      } else if (separators.find(c) != std::string_view::npos || c == '+') {
        return std::nullopt;  // an attribute without '='
      } else {
        type += c;
      }
      continue;
    }
    if (quoted) {
      if (c == '"') {
        quoted = false;
      } else if (c == '\\' && i + 1 < text.size()) {
        value += text[++i];
      } else {
        value += c;
      }
      continue;
    }
    if (c == '"' && trim(value).empty()) {
      quoted = true;
      any_quote = true;
      value.clear();
    } else if (c == '\\' && i + 1 < text.size()) {
      // RFC 4514 §2.4: "\," or "\2C".
      if (i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
        value += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
        i += 2;
      } else {
        value += text[++i];
      }
    } else if (c == '+') {
      if (!finish_attribute()) {
        return std::nullopt;
      }
    } else if (separators.find(c) != std::string_view::npos) {
      if (!finish_attribute()) {
        return std::nullopt;
      }
      dn.push_back(std::move(rdn));
      rdn.clear();
    } else if (!(any_quote && c == ' ')) {
      value += c;
    }
  }
  if (quoted || !finish_attribute()) {
    return std::nullopt;
  }
  dn.push_back(std::move(rdn));
  return dn;
}

}  // namespace

std::string canonical_type(std::string_view type) {
  auto t = to_upper(trim(type));
  if (t.size() > 4 && t.substr(0, 4) == "OID.") {
    t = t.substr(4);  // Windows writes "OID.2.5.4.97=…" for types it has no name for
  }
  for (const auto& a : aliases) {
    if (t == a.from) {
      return std::string(a.to);
    }
  }
  return t;
}

std::optional<Dn> parse_dn(std::string_view text) {
  text = trim(text);
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.front() == '/') {
    text.remove_prefix(1);  // OpenSSL's legacy "/C=US/O=…/CN=…"
    return split(text, "/");
  }
  return split(text, ",;");
}

Dn from_attributes(const std::vector<tls::DnAttribute>& attributes) {
  Dn dn;
  for (const auto& a : attributes) {
    dn.push_back(Rdn{a});
  }
  return dn;
}

bool dn_equal(const Dn& a, const Dn& b) {
  if (a.size() != b.size()) {
    return false;
  }
  return equal_in_order(a, b, false) || equal_in_order(a, b, true);
}

std::optional<ExchangeCertificateName> parse_exchange_certificate_name(std::string_view text) {
  text = trim(text);
  const auto i = text.find("<I>");
  const auto s = text.find("<S>");
  if (i == std::string_view::npos || s == std::string_view::npos || i > s) {
    return std::nullopt;
  }
  const auto issuer_text = trim(text.substr(i + 3, s - i - 3));
  const auto subject_text = trim(text.substr(s + 3));
  ExchangeCertificateName out;
  if (!issuer_text.empty()) {
    out.issuer = parse_dn(issuer_text);
    if (!out.issuer) {
      return std::nullopt;
    }
  }
  if (!subject_text.empty()) {
    out.subject = parse_dn(subject_text);
    if (!out.subject) {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace hopscope::policy
