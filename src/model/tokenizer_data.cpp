#include "model/tokenizer_data.hpp"

namespace mmb {

TokenizerData TokenizerData::bytes() {
  TokenizerData data;
  data.kind = TokenizerKind::Bytes;
  data.pre_tokenizer = PreTokenizer::None;
  data.pieces.reserve(256);
  for (int b = 0; b < 256; ++b) data.pieces.emplace_back(1, char(b));
  return data;
}

}  // namespace mmb
