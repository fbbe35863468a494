#include "jws.h"

#include <memory>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "base64url.h"

namespace opay {

namespace {

struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

std::unique_ptr<BIO, BioFree> memory_bio(std::string_view text) {
    return std::unique_ptr<BIO, BioFree>(
        BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace

PkeyPtr private_key_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    if (!bio) return nullptr;
    return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr,
                                           nullptr),
                   PkeyFree());
}

PkeyPtr public_key_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    if (!bio) return nullptr;
    EVP_PKEY* k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (k != nullptr) return PkeyPtr(k, PkeyFree());
    return private_key_from_pem(pem);
}

std::optional<std::string> sign_rs256(EVP_PKEY* key, std::string_view header,
                                      std::string_view claims) {
    // RS256 only: an EC or other key would sign with another algorithm
    if (key == nullptr || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        return std::nullopt;
    }
    std::string input = base64url_encode(header) + "." +
                        base64url_encode(claims);
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) !=
            1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
        return std::nullopt;
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                       &len, data, input.size()) != 1) {
        return std::nullopt;
    }
    sig.resize(len);
    return input + "." + base64url_encode(sig);
}

}  // namespace opay
