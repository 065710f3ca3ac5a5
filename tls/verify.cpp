#include "tls/verify.hpp"

#include <array>
#include <cerrno>
#include <ctime>
#include <memory>
#include <system_error>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "tls/certificate_reader.hpp"
#include "tls/handshake_observer.hpp"
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hopscope::tls {

struct Verifier::Store {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store{nullptr, &X509_STORE_free};
};

namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_pop_free(stack, X509_free); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};

std::string take_openssl_error(const char* fallback) {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? std::string(reason) : std::string(fallback);
}

std::unique_ptr<X509, X509Free> parse_der(const std::string& der) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, X509Free> cert(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!cert) {
    ERR_clear_error();
  }
  return cert;
}

char lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view without_trailing_dot(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  return name;
}

// The canonical text of an IP literal ("2001:DB8::0001" → "2001:db8::1"), or nullopt.
std::optional<std::string> canonical_ip(const std::string& text) {
  std::array<unsigned char, 16> bytes{};
  std::array<char, INET6_ADDRSTRLEN> out{};
  for (const int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), bytes.data()) == 1 &&
        inet_ntop(family, bytes.data(), out.data(), static_cast<socklen_t>(out.size())) !=
            nullptr) {
      return std::string(out.data());
    }
  }
  return std::nullopt;
}

// Subject CN values, most specific last (DER order).
std::vector<std::string_view> common_names(const CertificateFacts& leaf) {
  std::vector<std::string_view> names;
  for (const DnAttribute& attribute : leaf.subject_dn) {
    if (attribute.type == "CN") {
      names.emplace_back(attribute.value);
    }
  }
  return names;
}

// The errors a certificate missing from the presented chain causes (RFC 5280 §6: no path to
// a trust anchor). Any other error is a property of certificates that were kept.
bool is_missing_issuer(int code) {
  return code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
}

}  // namespace

bool name_matches(std::string_view pattern, std::string_view host) {
  pattern = without_trailing_dot(pattern);
  host = without_trailing_dot(host);
  if (pattern.empty() || host.empty() || host.find('*') != std::string_view::npos) {
    return false;
  }
  if (pattern.find('*') == std::string_view::npos) {
    return equal_ignoring_case(pattern, host);
  }
  // RFC 6125 §6.4.3: only a whole left-most "*" label; nothing partial, nothing deeper.
  if (pattern.size() < 2 || pattern[0] != '*' || pattern[1] != '.') {
    return false;
  }
  const std::string_view suffix = pattern.substr(1);  // ".contoso.com"
  if (suffix.find('*') != std::string_view::npos || suffix.find('.', 1) == std::string_view::npos ||
      suffix.size() < 4) {
    return false;  // a second wildcard, or "*.com"-style: too broad to mean anything
  }
  const std::size_t first_dot = host.find('.');
  if (first_dot == 0 || first_dot == std::string_view::npos) {
    return false;  // the wildcard stands for exactly one non-empty label
  }
  return equal_ignoring_case(host.substr(first_dot), suffix);
}

std::optional<std::string> match_leaf(const CertificateFacts& leaf,
                                      const std::vector<std::string>& expected_names) {
  const std::vector<std::string_view> cns = common_names(leaf);
  for (const std::string& expected : expected_names) {
    if (const auto ip = canonical_ip(expected)) {
      for (const std::string& san : leaf.san_ip) {
        if (san == *ip) {
          return expected;
        }
      }
      continue;
    }
    for (const std::string& san : leaf.san_dns) {
      if (name_matches(san, expected)) {
        return expected;
      }
    }
    // RFC 6125 §6.4.4: the CN is consulted only when there is no DNS-ID at all.
    if (leaf.san_dns.empty()) {
      for (const std::string_view cn : cns) {
        if (name_matches(cn, expected)) {
          return expected;
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<Verifier> Verifier::load(const std::string& trust, std::string* error) {
  auto store = std::make_shared<Store>();
  store->store.reset(X509_STORE_new());
  if (!store->store) {
    if (error != nullptr) {
      *error = "cannot create a trust store: " + take_openssl_error("out of memory");
    }
    return std::nullopt;
  }
  if (trust == "system") {
    // Known limitation: OpenSSL does not report a missing default file or directory; a
    // machine without ca-certificates then verifies nothing, which shows as untrusted chains.
    X509_STORE_set_default_paths(store->store.get());
    ERR_clear_error();
    return Verifier(std::move(store));
  }
  // Open it ourselves first so the error can say "No such file or directory" for this path.
  const int fd = ::open(trust.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (error != nullptr) {
      *error = "cannot read trust bundle " + trust + ": " + std::generic_category().message(errno);
    }
    return std::nullopt;
  }
  struct stat st {};
  const bool directory = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (directory) {
    // OpenSSL would say "no certificate or crl found", which sends the admin looking for
    // a broken PEM file.
    if (error != nullptr) {
      *error = "cannot load trust bundle " + trust +
               ": it is a directory; give a PEM file with the CA certificates, or \"system\"";
    }
    return std::nullopt;
  }
  if (X509_STORE_load_file(store->store.get(), trust.c_str()) != 1) {
    if (error != nullptr) {
      *error = "cannot load trust bundle " + trust + ": " +
               take_openssl_error("no PEM certificate found");
    }
    return std::nullopt;
  }
  ERR_clear_error();
  return Verifier(std::move(store));
}

VerificationFacts Verifier::verify(const std::vector<std::string>& der_chain,
                                   const std::vector<std::string>& expected_names,
                                   std::int64_t at_unix_time, bool chain_cut) const {
  VerificationFacts facts;
  if (der_chain.empty()) {
    return facts;
  }
  facts.checked = true;
  facts.expected_names = expected_names;
  const CertificateFacts leaf_facts = read_certificate(der_chain.front());
  if (!expected_names.empty()) {
    facts.matched_name = match_leaf(leaf_facts, expected_names);
    facts.name_matched = facts.matched_name.has_value();
  }
  // The reader is the judge of "parseable" (it also refuses trailing bytes), so the facts of a
  // session never say "trusted" about a certificate they could not read.
  const auto leaf = leaf_facts.parse_error.empty() ? parse_der(der_chain.front()) : nullptr;
  if (!leaf) {
    facts.error =
        leaf_facts.parse_error.empty() ? "certificate could not be parsed" : leaf_facts.parse_error;
    facts.error_depth = 0;
    return facts;
  }
  const std::unique_ptr<STACK_OF(X509), X509StackFree> untrusted(sk_X509_new_null());
  for (std::size_t i = 1; untrusted && i < der_chain.size(); ++i) {
    // An unreadable intermediate is left out: the chain then fails (or not) on its own merits,
    // and the reader's parse_error already records it.
    if (auto cert = parse_der(der_chain[i]);
        cert && sk_X509_push(untrusted.get(), cert.get()) > 0) {
      static_cast<void>(cert.release());  // owned by the stack now
    }
  }
  const std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!untrusted || !ctx ||
      X509_STORE_CTX_init(ctx.get(), store_->store.get(), leaf.get(), untrusted.get()) != 1) {
    facts.error = "cannot verify: " + take_openssl_error("out of memory");
    return facts;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at_unix_time));
  X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);

  if (X509_verify_cert(ctx.get()) == 1) {
    facts.trusted = true;
  } else {
    const int code = X509_STORE_CTX_get_error(ctx.get());
    facts.error = code != X509_V_OK ? X509_verify_cert_error_string(code)
                                    : take_openssl_error("verification failed");
    facts.error_depth = X509_STORE_CTX_get_error_depth(ctx.get());
    if (chain_cut && is_missing_issuer(code)) {
      // The passive observer keeps at most max_chain_certificates of a Certificate message:
      // the issuer OpenSSL could not find may be one that hopscope dropped, so "untrusted"
      // would be hopscope's own doing. Not verified, and the error says why.
      facts.checked = false;
      facts.error =
          "not verified: hopscope keeps at most " + std::to_string(max_chain_certificates) +
          " certificates of a chain and the issuer of chain certificate " +
          std::to_string(facts.error_depth) +
          " was not among them: it may have been one of those cut off (OpenSSL: " + facts.error +
          ")";
      facts.error_depth = -1;
    }
  }
  ERR_clear_error();
  return facts;
}

}  // namespace hopscope::tls
