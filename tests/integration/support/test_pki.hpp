// A throw-away PKI for integration tests, written as PEM files into a directory:
//  - a test CA ("Hopscope Test CA");
//  - a server certificate for mail.contoso.test (SAN DNS:mail.contoso.test, IP:127.0.0.1),
//    signed by the CA, plus a chain file (leaf + CA);
//  - a self-signed certificate CN=barracuda.local (what an inspecting appliance swaps in);
//  - an expired certificate for mail.contoso.test signed by the CA (validity ended 30 days ago).
// Test support only; keys are P-256 and never leave the temp directory.
#pragma once

#include <filesystem>
#include <string>

namespace hopscope::test {

struct PkiFile {
  std::filesystem::path cert;  // PEM certificate (the leaf only)
  std::filesystem::path key;   // PEM private key, unencrypted
  std::string sha256;          // SHA-256 of the DER certificate, upper-case hex, no colons
};

class TestPki {
 public:
  // Generates everything into `directory` (which must exist). Throws std::runtime_error.
  explicit TestPki(const std::filesystem::path& directory);

  [[nodiscard]] const PkiFile& ca() const { return ca_; }
  [[nodiscard]] const PkiFile& server() const { return server_; }
  [[nodiscard]] const PkiFile& self_signed() const { return self_signed_; }
  [[nodiscard]] const PkiFile& expired() const { return expired_; }
  // server cert followed by the CA cert, for servers that send the chain.
  [[nodiscard]] const std::filesystem::path& server_chain() const { return server_chain_; }
  // The CA certificate alone: what clients pass as the trust anchor (e.g. swaks --tls-ca-path).
  [[nodiscard]] const std::filesystem::path& ca_file() const { return ca_.cert; }

 private:
  PkiFile ca_;
  PkiFile server_;
  PkiFile self_signed_;
  PkiFile expired_;
  std::filesystem::path server_chain_;
};

}  // namespace hopscope::test
