#include "base64url.h"

#include <array>
#include <cstdint>

namespace opay {

namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> make_table() {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 64; ++i) {
        t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    }
    return t;
}

constexpr auto kTable = make_table();

// kTable's values already shifted to their place in a group of four
// letters (the first letter's at bits 18-23, ...), a letter outside the
// alphabet as bit 24: a group is four look-ups and three ORs.
constexpr std::array<std::array<uint32_t, 256>, 4> make_shifted() {
    std::array<std::array<uint32_t, 256>, 4> t{};
    for (int k = 0; k < 4; ++k) {
        for (int c = 0; c < 256; ++c) {
            t[k][c] = kTable[c] < 0 ? 1u << 24
                                    : static_cast<uint32_t>(kTable[c])
                                          << (18 - 6 * k);
        }
    }
    return t;
}

constexpr auto kShifted = make_shifted();

}  // namespace

std::size_t base64url_decoded_size(std::string_view in) {
    return in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
}

bool base64url_decode_to(std::string_view in, char* o) {
    if (in.size() % 4 == 1) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t full = in.size() / 4;
    // Four letters to three bytes; any letter outside the alphabet sets
    // bit 24 of the OR of the four values.
    for (std::size_t i = 0; i < full; ++i, p += 4, o += 3) {
        uint32_t v = kShifted[0][p[0]] | kShifted[1][p[1]] |
                     kShifted[2][p[2]] | kShifted[3][p[3]];
        if (v >> 24 != 0) return false;
        o[0] = static_cast<char>(v >> 16);
        o[1] = static_cast<char>((v >> 8) & 0xff);
        o[2] = static_cast<char>(v & 0xff);
    }
    // The last two or three letters: their unused low bits must be zero,
    // so that every byte string has exactly one encoding.
    std::size_t rest = in.size() % 4;
    if (rest != 0) {
        uint32_t acc = 0;
        for (std::size_t i = 0; i < rest; ++i) {
            int v = kTable[p[i]];
            if (v < 0) return false;
            acc = (acc << 6) | static_cast<uint32_t>(v);
        }
        if (rest == 2) {
            if ((acc & 0xf) != 0) return false;
            o[0] = static_cast<char>(acc >> 4);
        } else {
            if ((acc & 0x3) != 0) return false;
            o[0] = static_cast<char>(acc >> 10);
            o[1] = static_cast<char>((acc >> 2) & 0xff);
        }
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
