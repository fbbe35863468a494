// A list of at most N values held in place.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <utility>

namespace opay {

// Up to N values held in place, for short lists made on every call (a
// flow's fetches and their results, a token's checks) without an
// allocation of their own. Past N throws std::length_error: the lists'
// bounds are known, more is a bug, and the C API turns it into a 500.
template <typename T, std::size_t N>
class FixedList {
  public:
    std::size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    const T& operator[](std::size_t i) const { return items_[i]; }
    T& operator[](std::size_t i) { return items_[i]; }
    const T& at(std::size_t i) const {
        if (i >= n_) throw std::out_of_range("FixedList::at");
        return items_[i];
    }
    const T* begin() const { return items_.data(); }
    const T* end() const { return items_.data() + n_; }
    void push_back(T v) {
        if (n_ == N) throw std::length_error("FixedList: full");
        items_[n_++] = std::move(v);
    }
    // each slot reset to T{} now, not when it is reused (a shared_ptr is
    // let go of; a std::string may keep its buffer)
    void clear() {
        for (std::size_t i = 0; i < n_; ++i) items_[i] = T{};
        n_ = 0;
    }
    // n fresh values
    void assign(std::size_t n) {
        if (n > N) throw std::length_error("FixedList: full");
        clear();
        n_ = n;
    }

  private:
    std::array<T, N> items_{};
    std::size_t n_ = 0;
};

}  // namespace opay
