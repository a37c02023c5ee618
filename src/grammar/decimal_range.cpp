#include "grammar/decimal_range.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace mmb::grammar {

namespace {

Expr digit(int lo, int hi) {
  return Expr::char_class({{static_cast<uint32_t>('0' + lo), static_cast<uint32_t>('0' + hi)}});
}

Expr any_digits(uint32_t lo, uint32_t hi) { return Expr::repeat(digit(0, 9), lo, hi); }

Expr seq(std::vector<Expr> parts) { return flat_sequence(std::move(parts)); }

Expr one_of(std::vector<Expr> alts) {
  if (alts.size() == 1) return std::move(alts[0]);
  return Expr::choice(std::move(alts));
}

bool all_of(const std::string& s, char c) { return s.find_first_not_of(c) == std::string::npos; }

// The strings of length |x| between x and y (equal lengths, x <= y), digit by digit:
// a shared first digit, else a low edge, a free middle and a high edge.
Expr same_length(const std::string& x, const std::string& y) {
  if (x.empty()) return Expr::literal("");
  if (x[0] == y[0]) return seq({Expr::literal(x.substr(0, 1)), same_length(x.substr(1), y.substr(1))});
  const size_t n = x.size() - 1;
  const std::string xr = x.substr(1), yr = y.substr(1);
  const bool x_low = all_of(xr, '0'), y_high = all_of(yr, '9');
  const int a = x[0] - '0', b = y[0] - '0';
  const int mid_lo = x_low ? a : a + 1, mid_hi = y_high ? b : b - 1;
  std::vector<Expr> alts;
  if (!x_low) alts.push_back(seq({Expr::literal(x.substr(0, 1)), same_length(xr, std::string(n, '9'))}));
  if (mid_lo <= mid_hi) {
    if (n == 0)
      alts.push_back(digit(mid_lo, mid_hi));
    else
      alts.push_back(seq({digit(mid_lo, mid_hi), any_digits(static_cast<uint32_t>(n), static_cast<uint32_t>(n))}));
  }
  if (!y_high) alts.push_back(seq({Expr::literal(y.substr(0, 1)), same_length(std::string(n, '0'), yr)}));
  return one_of(std::move(alts));
}

// Non-negative integers of [a, b] (b absent: open), one piece per digit count.
Expr magnitude_range(uint64_t a, std::optional<uint64_t> b) {
  const std::string as = std::to_string(a);
  std::vector<Expr> alts;
  if (b) {
    const std::string bs = std::to_string(*b);
    for (size_t len = as.size(); len <= bs.size(); ++len) {
      std::string lo = as;
      if (len > as.size()) {  // 10^(len-1)
        lo.assign(len, '0');
        lo[0] = '1';
      }
      const std::string hi = len == bs.size() ? bs : std::string(len, '9');
      alts.push_back(same_length(lo, hi));
    }
  } else {
    alts.push_back(same_length(as, std::string(as.size(), '9')));
    alts.push_back(seq({digit(1, 9), any_digits(static_cast<uint32_t>(as.size()), kUnbounded)}));
  }
  return one_of(std::move(alts));
}

uint64_t magnitude(int64_t v) { return v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v); }

// The double a JSON reader makes of the decimal text t/10.
double tenths_value(int64_t t) {
  const std::string text = std::to_string(t / 10) + "." + std::to_string(t % 10);
  return std::strtod(text.c_str(), nullptr);
}

// `I.d[0-9]{0,extra}` for the tenths t = 10*I + d of [lo, hi] (lo >= 0; hi absent: open).
Expr tenths_range(int64_t lo, std::optional<int64_t> hi, uint32_t extra) {
  const int64_t i_lo = lo / 10;
  const int d_lo = static_cast<int>(lo % 10);
  std::vector<Expr> alts;
  if (hi && *hi / 10 == i_lo) {
    alts.push_back(seq({Expr::literal(std::to_string(i_lo) + "."), digit(d_lo, static_cast<int>(*hi % 10))}));
  } else {
    alts.push_back(seq({Expr::literal(std::to_string(i_lo) + "."), digit(d_lo, 9)}));
    if (!hi || i_lo + 1 <= *hi / 10 - 1) {
      std::optional<int64_t> mid_hi;
      if (hi) mid_hi = *hi / 10 - 1;
      alts.push_back(seq({integer_range_expr(i_lo + 1, mid_hi), Expr::literal("."), digit(0, 9)}));
    }
    if (hi) alts.push_back(seq({Expr::literal(std::to_string(*hi / 10) + "."), digit(0, static_cast<int>(*hi % 10))}));
  }
  return seq({one_of(std::move(alts)), any_digits(0, extra)});
}

}  // namespace

Expr flat_sequence(std::vector<Expr> parts) {
  std::vector<Expr> out;
  for (Expr& p : parts) {
    std::vector<Expr> items;
    if (p.kind == Expr::Kind::Sequence)
      items = std::move(p.items);
    else
      items.push_back(std::move(p));
    for (Expr& e : items) {
      if (e.kind == Expr::Kind::Literal && e.text.empty()) continue;
      if (e.kind == Expr::Kind::Literal && !out.empty() && out.back().kind == Expr::Kind::Literal)
        out.back().text += e.text;
      else
        out.push_back(std::move(e));
    }
  }
  if (out.size() == 1) return std::move(out[0]);
  return Expr::sequence(std::move(out));
}

Expr integer_range_expr(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  if (lo && hi && *lo > *hi) fail(MMB_ERR_GRAMMAR, "integer range [", *lo, ", ", *hi, "] is empty");
  std::vector<Expr> alts;
  if (!lo || *lo < 0) {  // negatives, as "-" and the magnitudes
    const uint64_t mag_lo = hi && *hi < 0 ? magnitude(*hi) : 1;
    std::optional<uint64_t> mag_hi;
    if (lo) mag_hi = magnitude(*lo);
    alts.push_back(seq({Expr::literal("-"), magnitude_range(mag_lo, mag_hi)}));
  }
  if (!hi || *hi >= 0) {
    std::optional<uint64_t> b;
    if (hi) b = static_cast<uint64_t>(*hi);
    alts.push_back(magnitude_range(lo && *lo > 0 ? static_cast<uint64_t>(*lo) : 0, b));
  }
  return one_of(std::move(alts));
}

Expr json_number_expr() {
  const Expr digits1 = any_digits(1, kUnbounded);
  return seq({
      Expr::repeat(Expr::literal("-"), 0, 1),
      Expr::choice({Expr::literal("0"), seq({digit(1, 9), any_digits(0, kUnbounded)})}),
      Expr::repeat(seq({Expr::literal("."), digits1}), 0, 1),
      Expr::repeat(seq({Expr::char_class({{'E', 'E'}, {'e', 'e'}}),
                        Expr::repeat(Expr::char_class({{'+', '+'}, {'-', '-'}}), 0, 1), digits1}),
                   0, 1),
  });
}

std::optional<Expr> number_range_expr(const NumberBounds& b) {
  if (!b.lo && !b.hi) return json_number_expr();
  double largest = 0;
  for (const std::optional<double>& v : {b.lo, b.hi}) {
    if (v && !(std::fabs(*v) <= kNumberBoundLimit)) fail(MMB_ERR_GRAMMAR, "number bound ", *v, " is beyond ±1e13");
    if (v) largest = std::max(largest, std::fabs(*v));
  }
  // Every candidate is checked against the bound as a JSON reader compares them (as
  // doubles), and moved inward until it passes. A decimal "I.d..." is below the next
  // tenth u = I.d + 0.1 but may round to it as a double: with at most 15 significant
  // digits in both (DBL_DIG) it cannot, so the fraction is cut to that many digits
  // and u itself may then equal even an exclusive bound.
  const uint32_t extra = static_cast<uint32_t>(std::max(0, 14 - static_cast<int>(std::to_string(static_cast<int64_t>(largest)).size())));
  const auto above_lo = [&](double x) { return !b.lo || (b.lo_exclusive ? x > *b.lo : x >= *b.lo); };
  const auto below_hi = [&](double x) { return !b.hi || (b.hi_exclusive ? x < *b.hi : x <= *b.hi); };
  const auto open_end_below_hi = [&](double u) { return !b.hi || u <= *b.hi; };
  const auto open_end_above_lo = [&](double u) { return !b.lo || u >= *b.lo; };
  std::vector<Expr> alts;

  std::optional<int64_t> ilo, ihi;
  if (b.lo) {
    ilo = static_cast<int64_t>(b.lo_exclusive ? std::floor(*b.lo) + 1 : std::ceil(*b.lo));
    while (!above_lo(static_cast<double>(*ilo))) ++*ilo;
  }
  if (b.hi) {
    ihi = static_cast<int64_t>(b.hi_exclusive ? std::ceil(*b.hi) - 1 : std::floor(*b.hi));
    while (!below_hi(static_cast<double>(*ihi))) --*ihi;
  }
  if (!ilo || !ihi || *ilo <= *ihi) alts.push_back(integer_range_expr(ilo, ihi));

  // Non-negative decimals: "I.d..." lies in [t/10, (t+1)/10) for t = 10*I + d.
  {
    int64_t t_lo = 0;
    if (b.lo) t_lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(*b.lo * 10)) - 1);
    while (!above_lo(tenths_value(t_lo))) ++t_lo;
    std::optional<int64_t> t_hi;
    if (b.hi) {
      t_hi = static_cast<int64_t>(std::floor(*b.hi * 10)) + 1;
      while (*t_hi >= t_lo && !open_end_below_hi(tenths_value(*t_hi + 1))) --*t_hi;
    }
    if (!t_hi || *t_hi >= t_lo) alts.push_back(tenths_range(t_lo, t_hi, extra));
  }
  // Negative decimals: "-I.d..." lies in (-(t+1)/10, -t/10].
  {
    int64_t t_lo = 0;
    if (b.hi) t_lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(-*b.hi * 10)) - 1);
    while (!below_hi(-tenths_value(t_lo))) ++t_lo;
    std::optional<int64_t> t_hi;
    if (b.lo) {
      t_hi = static_cast<int64_t>(std::floor(-*b.lo * 10)) + 1;
      while (*t_hi >= t_lo && !open_end_above_lo(-tenths_value(*t_hi + 1))) --*t_hi;
    }
    if (!t_hi || *t_hi >= t_lo) alts.push_back(seq({Expr::literal("-"), tenths_range(t_lo, t_hi, extra)}));
  }
  if (alts.empty()) return std::nullopt;
  return one_of(std::move(alts));
}

}  // namespace mmb::grammar
