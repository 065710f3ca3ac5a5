#include "test_pki.hpp"

#include <array>
#include <memory>
#include <stdexcept>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace hopscope::test {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CertFree {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

constexpr long seconds_per_day = 86'400;

void check(bool ok, std::string_view what) {
  if (!ok) {
    throw std::runtime_error("TestPki: " + std::string(what) + " failed");
  }
}

Key make_key() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

struct CertSpec {
  std::string common_name;
  const char* subject_alt_name = nullptr;  // nullptr: none
  bool is_ca = false;
  long not_before_days = -1;  // relative to now
  long not_after_days = 30;
};

// Issues a certificate for `key`; issuer == nullptr means self-signed.
Cert issue(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");  // v3
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  check(serial != nullptr && BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1,
        "BN_rand");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr, "serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_days * seconds_per_day) !=
            nullptr,
        "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_days * seconds_per_day) !=
            nullptr,
        "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL takes unsigned char*
  const auto* cn = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1, "CN");
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "issuer");

  add_extension(cert.get(), signer, NID_basic_constraints,
                spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(cert.get(), signer, NID_key_usage,
                spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  if (!spec.is_ca) {
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (spec.subject_alt_name != nullptr) {
    add_extension(cert.get(), signer, NID_subject_alt_name, spec.subject_alt_name);
  }
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
        "X509_sign");
  return cert;
}

std::string der_sha256(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  check(X509_digest(cert, EVP_sha256(), digest.data(), &length) == 1, "X509_digest");
  static constexpr std::string_view hex = "0123456789ABCDEF";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    text += hex[digest.at(i) >> 4U];
    text += hex[digest.at(i) & 0xFU];
  }
  return text;
}

void write_certs(const std::filesystem::path& file, std::initializer_list<X509*> certs) {
  std::unique_ptr<BIO, BioFree> out(BIO_new_file(file.c_str(), "w"));
  check(out != nullptr, "open " + file.string());
  for (X509* cert : certs) {
    check(PEM_write_bio_X509(out.get(), cert) == 1, "PEM_write_bio_X509");
  }
}

void write_key(const std::filesystem::path& file, EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> out(BIO_new_file(file.c_str(), "w"));
  check(out != nullptr, "open " + file.string());
  check(PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

PkiFile save(const std::filesystem::path& directory, const std::string& stem, X509* cert,
             EVP_PKEY* key) {
  PkiFile file{directory / (stem + ".pem"), directory / (stem + ".key"), der_sha256(cert)};
  write_certs(file.cert, {cert});
  write_key(file.key, key);
  return file;
}

}  // namespace

TestPki::TestPki(const std::filesystem::path& directory) {
  const Key ca_key = make_key();
  const Cert ca =
      issue({"Hopscope Test CA", nullptr, true, -1, 3650}, ca_key.get(), nullptr, nullptr);
  ca_ = save(directory, "ca", ca.get(), ca_key.get());

  const Key server_key = make_key();
  const Cert server =
      issue({"mail.contoso.test", "DNS:mail.contoso.test,IP:127.0.0.1", false, -1, 365},
            server_key.get(), ca.get(), ca_key.get());
  server_ = save(directory, "server", server.get(), server_key.get());
  server_chain_ = directory / "server-chain.pem";
  write_certs(server_chain_, {server.get(), ca.get()});

  const Key appliance_key = make_key();
  const Cert appliance =
      issue({"barracuda.local", nullptr, false, -1, 365}, appliance_key.get(), nullptr, nullptr);
  self_signed_ = save(directory, "self-signed", appliance.get(), appliance_key.get());

  const Key expired_key = make_key();
  const Cert expired =
      issue({"mail.contoso.test", "DNS:mail.contoso.test,IP:127.0.0.1", false, -60, -30},
            expired_key.get(), ca.get(), ca_key.get());
  expired_ = save(directory, "expired", expired.get(), expired_key.get());
}

}  // namespace hopscope::test
