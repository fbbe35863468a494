#include "base64url.h"

#include <array>
#include <cstdint>

namespace opay {

namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// A letter outside the alphabet: above every byte a step writes.
constexpr uint64_t kBad = uint64_t{1} << 63;

// Letter k (0 to 7) of a step of up to eight, its six bits already
// where they end up in the step's bytes: byte j of the output is bits 8j
// to 8j+7 of the value (the first byte lowest, each byte's first bit
// highest). A letter outside the alphabet is kBad. A step of n letters is
// n look-ups ORed and makes n * 3 / 4 bytes; any bit above those (kBad,
// or a nonzero unused low bit of the last letter) refuses the text: one
// check for the step.
constexpr std::array<std::array<uint64_t, 256>, 8> make_placed() {
    std::array<std::array<uint64_t, 256>, 8> t{};
    for (auto& row : t) {
        for (auto& v : row) v = kBad;
    }
    for (int k = 0; k < 8; ++k) {
        for (int i = 0; i < 64; ++i) {
            uint64_t v = 0;
            for (int b = 0; b < 6; ++b) {
                int s = 6 * k + b;  // in the stream, the letter's top first
                if ((i >> (5 - b) & 1) != 0) {
                    v |= uint64_t{1} << (8 * (s / 8) + 7 - s % 8);
                }
            }
            t[k][static_cast<unsigned char>(kAlphabet[i])] = v;
        }
    }
    return t;
}

constexpr auto kPlaced = make_placed();

}  // namespace

std::size_t base64url_decoded_size(std::string_view in) {
    return in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
}

bool base64url_decode_to(std::string_view in, char* o) {
    std::size_t n = in.size();
    if (n % 4 == 1) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const auto& t = kPlaced;
    // Eight letters to six bytes.
    for (; n >= 8; n -= 8, p += 8, o += 6) {
        uint64_t v = t[0][p[0]] | t[1][p[1]] | t[2][p[2]] | t[3][p[3]] |
                     t[4][p[4]] | t[5][p[5]] | t[6][p[6]] | t[7][p[7]];
        if (v >> 48 != 0) return false;
        // written out, lowest byte first: the compiler merges these
        // stores (it kept a loop over them as a loop)
        o[0] = static_cast<char>(v);
        o[1] = static_cast<char>(v >> 8);
        o[2] = static_cast<char>(v >> 16);
        o[3] = static_cast<char>(v >> 24);
        o[4] = static_cast<char>(v >> 32);
        o[5] = static_cast<char>(v >> 40);
    }
    // The last two, three, four, six or seven letters: their unused low
    // bits must be zero too, so that every byte string has exactly one
    // encoding.
    uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= t[k][p[k]];
    std::size_t bytes = n * 3 / 4;
    if (v >> 8 * bytes != 0) return false;
    for (std::size_t j = 0; j < bytes; ++j) {
        o[j] = static_cast<char>(v >> 8 * j);
    }
    return true;
}

std::optional<std::string> base64url_decode(std::string_view in) {
    std::string out(base64url_decoded_size(in), '\0');
    if (!base64url_decode_to(in, out.data())) return std::nullopt;
    return out;
}

std::string base64url_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() * 4 + 2) / 3);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
    return out;
}

}  // namespace opay
