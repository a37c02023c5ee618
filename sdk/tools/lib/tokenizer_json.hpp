// Tokenizers from the files they come in, converted at pack time into a bundle's
// TokenizerData (raw bytes per token, merges as id pairs), so the runtime never
// parses JSON.
#pragma once

#include "model/tokenizer_data.hpp"

#include <string>

namespace mmb {

// Converts a Hugging Face tokenizer.json whose model is byte-level BPE (GPT-2,
// GPT-NeoX and their kin). Accepted: model.type "BPE" with vocab (GPT-2's
// byte-to-unicode form, mapped back to raw bytes) and merges as "a b" strings or
// ["a", "b"] pairs; pre_tokenizer ByteLevel, alone or as the only member of a
// Sequence (use_regex false gives no pre-tokenizer); normalizer null or NFC;
// added_tokens ("special": true become special tokens, the others are always
// matched as text).
// The file does not say which token is BOS or EOS; the conventional names decide:
//   eos: <|endoftext|>, <|end_of_text|>, </s>, <eos>, <|eos|>
//   bos: <|begin_of_text|>, <|startoftext|>, <s>, <bos>, <|bos|>; else an EOS named
//        <|endoftext|> (GPT-2 and GPT-NeoX use it for both)
//   pad: <|padding|>, <pad>, <|pad|>, [PAD];  unk: model.unk_token, <unk>, <|unk|>
// each the first special token found in that order. A TemplateProcessing
// post-processor whose single-sequence template starts with a special token sets
// that token as BOS and add_bos. apply_hf_tokenizer_config() overrides all of this.
// Unsupported or malformed input throws mmb::Error(MMB_ERR_FORMAT, "tokenizer.json: ...").
TokenizerData tokenizer_from_hf_json(const std::string& json_text);

// Applies a Hugging Face tokenizer_config.json or special_tokens_map.json: the
// tokens named by bos_token, eos_token, pad_token, unk_token (a string or an object
// with "content"; null clears) and add_bos_token. Throws mmb::Error(MMB_ERR_FORMAT,
// "tokenizer_config.json: ...") for bad JSON or a name that is no token.
void apply_hf_tokenizer_config(TokenizerData& data, const std::string& config_json_text);

// Converts GPT-2's original files: encoder.json (piece -> id, byte-to-unicode form)
// and vocab.bpe (a "#version" line, then one merge "a b" per line, by rank).
// <|endoftext|>, when present, is the special BOS and EOS token.
TokenizerData tokenizer_from_gpt2_files(const std::string& encoder_json_text, const std::string& vocab_bpe_text);

}  // namespace mmb
