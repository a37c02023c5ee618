#include "support/text_corpus.hpp"

#include <utf8proc.h>

#include <array>
#include <random>
#include <string_view>

namespace mmb::test {
namespace {

const char* const kProse[] = {
    "The quick brown fox jumps over the lazy dog.",
    "It's a truth universally acknowledged that a single man in possession of a good fortune must be in want of a wife.",
    "We'll meet at 10:30 tomorrow; don't be late, and bring the 3 reports you've finished.",
    "\"I can't believe it!\" she said. \"They've really done it this time.\"",
    "In 1969, Apollo 11 landed on the Moon, and Neil Armstrong said: \"That's one small step for man.\"",
    "Mamba layers keep a fixed-size state, so the cost per token doesn't grow with the context length.",
    "She'd have gone if he'd asked, but he didn't, and that's the end of it.",
    "Prices rose 4.5% in Q3 (versus 3.2% in Q2), according to the report released on 2024-01-15.",
    "Call me at +1 (555) 010-9999 or e-mail info@example.com before 5 p.m.",
    "Dr. Smith's lab -- on the 2nd floor -- has 12 microscopes, 7 centrifuges and 1 very old kettle.",
    "I'm sure you're right, but they're not going to like it; we'd better tell them ourselves.",
    "Whatever you do, DON'T press the red button. It'S NOT A TOY. We'LL KNOW.",
    "Once upon a time... there was a list: apples, pears, plums; and -- of course -- cherries!",
    "The mixture-of-experts layer routes each token to its top-1 expert; the others stay idle.",
    "Y'all'd've liked the show, rock 'n' roll and all; 'tis a pity you missed it.",
    "Section 4.2.1 defines the format; see also RFC 3629 and ISO/IEC 10646:2020.",
};

const char* const kCode[] = {
    "int main(int argc, char** argv) {\n    for (int i = 0; i < argc; ++i) {\n        printf(\"%s\\n\", argv[i]);\n    }\n    return 0;\n}\n",
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nprint([fibonacci(i) for i in range(10)])\n",
    "const add = (a, b) => a + b;\nexport default function Sum({ items }) {\n\treturn items.reduce(add, 0);\n}\n",
    "{\n  \"name\": \"moemamba\",\n  \"version\": \"0.1.0\",\n  \"layers\": [{\"kind\": \"mamba\", \"d_inner\": 1536}, {\"kind\": \"moe\", \"n_experts\": 8}]\n}\n",
    "for f in *.txt; do\n  wc -l \"$f\" | awk '{print $1}' >> counts.log 2>&1\ndone\n",
    "SELECT name, COUNT(*) AS n FROM users WHERE age >= 18 GROUP BY name HAVING n > 1 ORDER BY n DESC;\n",
    "#include <vector>\ntemplate <typename T>\nstd::vector<T> twice(const std::vector<T>& v) { auto r = v; r.insert(r.end(), v.begin(), v.end()); return r; }\n",
    "if (x != nullptr && *x >= 0x7fff'ffff) { y <<= 2; z ^= ~mask; } // bit tricks\n",
    "        return self._cache.get(key, default)  # eight spaces of indentation\n",
    "<div class=\"note\"><p>Hello,&nbsp;<b>world</b>!</p></div>\n",
    "x = np.linspace(-1e-9, 2.5e+3, num=1_000_000)\r\ny = x ** 2\r\n",
};

const char* const kLatin[] = {
    "Ça va très bien, merci ! Où est la bibliothèque ? L'été dernier, nous étions à Montréal.",
    "Größere Übungen fördern die Fähigkeiten; Straße, Maß und Fuß schreibt man mit ß.",
    "El niño comió piña y jalapeños en la mañana; ¿dónde está el baño? ¡Olé!",
    "Não há coração que aguente tanta emoção; a avó pôs o pão no forno.",
    "Zażółć gęślą jaźń. Łódź jest piękna jesienią.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Tiếng Việt có nhiều dấu: ả, ẫ, ậ, ờ, ữ, ỵ và đ.",
    "İstanbul'da ılık bir gün; ığdır, şişli, çağlayan.",
    "Þetta er íslenska: ævintýri, ðæ og þú.",
    "Åsa och Örjan åt smörgåsar på ön; Ærø og Øresund.",
};

const char* const kOtherScripts[] = {
    "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. Άλφα, Ωμέγα.",
    "Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. Ёжик!",
    "Українська: Гей, хлопці, ґанок і їжак; Київ.",
    "Հայերեն այբուբեն, ქართული ენა, Монгол хэл.",
    "中文：我能吞下玻璃而不伤身体。人工智能正在改变世界，今天天气很好！",
    "日本語：私はガラスを食べられます。それは私を傷つけません。ｶﾀｶﾅとカタカナ、ＡＢＣ１２３。",
    "한국어: 나는 유리를 먹을 수 있어요. 그래도 아프지 않아요. 안녕하세요!",
    "العربية: أستطيع أكل الزجاج و هذا لا يؤلمني. الأرقام: ٠١٢٣٤٥٦٧٨٩ و ۱۲۳.",
    "עברית: אני יכול לאכול זכוכית וזה לא מזיק לי. שָׁלוֹם עֲלֵיכֶם.",
    "हिन्दी: मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती। अंक: ०१२३४५६७८९",
    "தமிழ்: நான் கண்ணாடி சாப்பிடுவேன், அதனால் எனக்கு ஒரு கேடும் வராது.",
    "বাংলা: আমি কাঁচ খেতে পারি, তাতে আমার কোনো ক্ষতি হয় না।",
    "ไทย: ฉันกินกระจกได้ แต่มันไม่ทำให้ฉันเจ็บ ๑๒๓",
    "ខ្មែរ: ខ្ញុំអាចញុំកញ្ចក់បាន ដោយគ្មានបញ្ហា",
    "Amharic ሰላም ነው, Cherokee ᏣᎳᎩ, Inuktitut ᐃᓄᒃᑎᑐᑦ, runes ᚠᚢᚦᚨᚱᚲ.",
};

const char* const kEmoji[] = {
    "😀😃😄 grinning, 🤗 hugging, 🙈🙉🙊",
    "Family: 👨‍👩‍👧‍👦, couple 👩‍❤️‍👨, technologist 🧑🏽‍💻, thumbs 👍🏻👍🏿",
    "Flags: 🇫🇷🇩🇪🇯🇵🇺🇸 and keycaps 1️⃣2️⃣#️⃣, hearts ❤️🧡💛",
    "Weather ☀️⛅🌧️❄️ and food 🍕🍣🍜 🥐☕",
    "Mixed: I ❤ NY, ✔ done, ✘ failed, ★★★☆☆, ☺️",
};

const char* const kNumbers[] = {
    "3.14159265358979323846", "1,000,000.00", "0x7FFFFFFF", "1e-9", "6.022e23", "2024-01-15T08:30:00Z",
    "x² + y³ = z⁴", "½ + ¼ = ¾", "Ⅻ o'clock, Ⅳ Ⅸ", "①②③ ⑩", "１２３４５", "٣٤٥ and ۴۵۶", "१२३", "໑໒໓",
    "123456789012345678901234567890", "v1.2.3-rc.4+build.567", "9:41", "#42", "-273.15°C", "$1,299.99",
    "€100", "£5.50", "¥3000", "₹250", "10⁻³", "𝟙𝟚𝟛",
};

const char* const kContractions[] = {
    "it's", "IT'S", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'Ll", "'RE", "don’t", "''s",
    " 's", "' s", "'''", "'x", "'", "rock'n'roll", "O'Neill", "'tis", "l'homme", "dell'arte", "'123",
};

const char* const kSpaces[] = {
    " ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", "\v", "\f",
    "\u00a0", "\u2009", "\u3000", "\u2028", "\u2029", "\ufeff", "\u0085", "\u1680", "\u202f", "\u205f",
    " \n ", "\n    ", "\t \t", "\u00a0 ", " \u00a0", "\u200b", "\u180e", "\u2060",
};

const char* const kSymbols[] = {
    "∀x∈ℝ: x² ≥ 0", "→ ⇒ ∑ ∫ √ ∞ ≠ ≈", "«guillemets» „Anführung“ ‘single’ “double”", "— – ‐ …",
    "┌─┬─┐│ │ │└─┴─┘", "©®™ §¶ †‡ •", "e\u0301 a\u0308 o\u0302 n\u0303", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "\x1b[31mred\x1b[0m", "\x01\x02\x7f", "a\x1c\x1d\x1e\x1f b", "<|endoftext|>", "<|endoftext|>Next",
    "!!!", "?!?!", "...", "***", "==>", "<=", "@@", "~~~", "___init__", "!@#$%^&*()_+-=[]{};':\",./<>?",
};

// Blocks of long-assigned characters for random text; unassigned code points in them
// are skipped (utf8proc says Cn), so both encoders' Unicode versions agree.
constexpr std::array<std::pair<int32_t, int32_t>, 14> kRandomBlocks = {{
    {0x21, 0x7E}, {0xA1, 0x24F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x6FF}, {0x900, 0x97F},
    {0x2000, 0x206F}, {0x2190, 0x22FF}, {0x3040, 0x30FF}, {0x4E00, 0x4FFF}, {0xAC00, 0xAFFF},
    {0xFF01, 0xFF5E}, {0x1F300, 0x1F64F}, {0x1D400, 0x1D4FF},
}};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return size_t(rng_() % n); }

  template <size_t N>
  std::string_view pick(const char* const (&list)[N]) {
    return list[below(N)];
  }

  void append_code_point(std::string& out, int32_t cp) {
    utf8proc_uint8_t buf[4];
    out.append(reinterpret_cast<const char*>(buf), size_t(utf8proc_encode_char(cp, buf)));
  }

  void random_text(std::string& out) {
    const auto [lo, hi] = kRandomBlocks[below(kRandomBlocks.size())];
    const size_t n = 1 + below(24);
    for (size_t i = 0; i < n;) {
      const int32_t cp = lo + int32_t(below(size_t(hi - lo + 1)));
      if (utf8proc_category(cp) == UTF8PROC_CATEGORY_CN) continue;
      append_code_point(out, cp);
      ++i;
      if (below(5) == 0) out += ' ';
    }
  }

  void long_run(std::string& out) {
    static const char* const runs[] = {"a", " ", "7", "!", "\n", "\t", "語", "😀", "é", "ab"};
    const std::string_view unit = pick(runs);
    const size_t n = 20 + below(300);
    for (size_t i = 0; i < n; ++i) out += unit;
  }

  void fragment(std::string& out) {
    switch (below(20)) {
      case 0: case 1: case 2: case 3: case 4: out += pick(kProse); break;
      case 5: case 6: out += pick(kCode); break;
      case 7: case 8: out += pick(kLatin); break;
      case 9: case 10: out += pick(kOtherScripts); break;
      case 11: out += pick(kEmoji); break;
      case 12: out += pick(kNumbers); break;
      case 13: out += pick(kContractions); break;
      case 14: case 15: out += pick(kSpaces); break;
      case 16: out += pick(kSymbols); break;
      case 17: case 18: random_text(out); break;
      default: if (below(8) == 0) long_run(out); else out += pick(kProse); break;
    }
  }

  void separator(std::string& out) {
    static const char* const seps[] = {" ", " ", " ", "\n", "", "\n\n", "  ", "\t", ", ", ". ", "\u3000", "\r\n"};
    out += pick(seps);
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace

std::vector<std::string> varied_corpus(size_t min_bytes, uint64_t seed) {
  Generator g(seed);
  std::vector<std::string> docs;
  size_t total = 0;
  while (total < min_bytes) {
    std::string doc;
    const size_t target = 512 + g.below(4096);
    while (doc.size() < target) {
      g.fragment(doc);
      g.separator(doc);
    }
    total += doc.size();
    docs.push_back(std::move(doc));
  }
  return docs;
}

std::string english_corpus(size_t min_bytes, uint64_t seed) {
  Generator g(seed);
  std::string text;
  while (text.size() < min_bytes) {
    text += g.pick(kProse);
    text += g.below(6) == 0 ? "\n\n" : " ";
  }
  return text;
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = char(rng() & 0xFF);
  return s;
}

}  // namespace mmb::test
