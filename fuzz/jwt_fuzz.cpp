// Fuzzes the bearer token check: compact JWS parsing, strict base64url,
// the JSON header and claims, the pinned RS256 verification and every
// claim rule, against the demo-only key of conf-examples.
//
// Input: a mode byte, a policy byte, then
//   mode 'T': the Authorization header, checked as it is;
//   mode 'S': a JOSE header, the separator line, a claims text, which the
//             target signs with the demo-only key first, so that the
//             claim checks behind the signature are reached too.
// Policy byte bits: 1 signature only, 2 no appid and ver checks, 4 any
// sender.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base64url.h"
#include "fuzz_util.h"
#include "jwt.h"

using namespace opay;

namespace {

constexpr int64_t kNow = 1700000000;

struct Fixture {
    KeySet keys;
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> signer{nullptr,
                                                                EVP_PKEY_free};

    Fixture() {
        auto loaded = load_jwks(fuzz::source_file(
            OPAY_TESTDATA "/../conf-examples/demo-only-jwks.json"));
        fuzz::require(std::holds_alternative<KeySet>(loaded));
        keys = std::get<KeySet>(loaded);
        std::string pem = fuzz::source_file(
            OPAY_TESTDATA "/../conf-examples/demo-only-key.pem");
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(
            BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
            BIO_free);
        signer.reset(
            PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
        fuzz::require(signer != nullptr);
    }

    std::string sign(std::string_view header, std::string_view claims) const {
        std::string input =
            base64url_encode(header) + "." + base64url_encode(claims);
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
            EVP_MD_CTX_new(), EVP_MD_CTX_free);
        size_t len = 0;
        const auto* in = reinterpret_cast<const unsigned char*>(input.data());
        fuzz::require(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(),
                                         nullptr, signer.get()) == 1 &&
                      EVP_DigestSign(ctx.get(), nullptr, &len, in,
                                     input.size()) == 1);
        std::string sig(len, '\0');
        fuzz::require(EVP_DigestSign(
                          ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                          &len, in, input.size()) == 1);
        sig.resize(len);
        return input + "." + base64url_encode(sig);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Fixture fixture;
    if (size < 2) return 0;
    std::string_view in = fuzz::text(data + 2, size - 2);

    TokenPolicy policy;
    policy.issuer = OPAY_DEFAULT_JWT_ISSUER;
    policy.audience = "merchant-0001";
    if (!(data[1] & 2)) {
        policy.appid = OPAY_DEFAULT_JWT_APPID;
        policy.version = OPAY_DEFAULT_JWT_VERSION;
    }
    if (!(data[1] & 4)) policy.allowed_senders = {"billing@contoso.com"};
    policy.signature_only = data[1] & 1;

    std::string token;
    if (data[0] == 'S') {
        auto parts = fuzz::split(in, 2);
        if (parts.size() != 2) return 0;
        token = fixture.sign(parts[0], parts[1]);
    } else {
        auto bearer = bearer_token(in);
        if (!bearer) return 0;
        token = std::string(*bearer);
    }

    TokenResult r = verify_token(token, fixture.keys, policy, kNow);
    fuzz::require(!r.checks.empty());
    bool all_ok = true;
    for (const TokenCheck& c : r.checks) all_ok = all_ok && c.ok;
    fuzz::require(r.ok() == all_ok);
    fuzz::require(r.ok() != (r.reason != OPAY_REFUSAL_NONE));
    fuzz::require(r.ok() || !r.reason_name().empty());
    if (r.ok() && !policy.signature_only &&
        !policy.allowed_senders.empty()) {
        // a good token names a listed sender when senders are restricted
        fuzz::require(r.claims.sender().size() ==
                      policy.allowed_senders[0].size());
    }
    return 0;
}
