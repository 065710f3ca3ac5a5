// Sha256: the message digest the audit records, checked against FIPS 180-2's test vectors.

#include "proxy/sha256.hpp"

#include <string>

#include <gtest/gtest.h>

namespace hopscope {
namespace {

TEST(Sha256, KnownVectorsInLowerCaseHex) {
  Sha256 hash;
  hash.update("abc");
  EXPECT_EQ(hash.finish(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // finish() starts the next digest: the empty message's.
  EXPECT_EQ(hash.finish(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, UpdatesInPiecesGiveTheDigestOfTheWhole) {
  Sha256 hash;
  hash.update("abcdbcdecdefdefgefghfghighij");
  hash.update("hijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(hash.finish(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

}  // namespace
}  // namespace hopscope
