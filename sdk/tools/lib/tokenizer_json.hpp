// Tokenizers from the files they come in, converted at pack time into a bundle's
// TokenizerData (raw bytes per token, merges as id pairs), so the runtime never
// parses JSON.
#pragma once

#include "model/tokenizer_data.hpp"

#include <string>

namespace mmb {

// Converts a Hugging Face tokenizer.json whose model is BPE, in the shapes the
// Mamba-family and hybrid models ship:
//  - byte-level BPE (a ByteLevel pre-tokenizer or decoder anywhere: GPT-2, GPT-NeoX,
//    Mamba-2, Falcon-Mamba, Nemotron-H, Granite): the vocabulary is in GPT-2's
//    byte-to-unicode form and is mapped back to raw bytes (TokenizerKind::ByteBPE);
//  - SentencePiece-style BPE (Llama-2, Mistral, Codestral-Mamba, Jamba): the vocabulary
//    strings are the pieces, with byte_fallback <0xNN> tokens (TokenizerKind::CharBPE).
// Merges as "a b" strings or ["a", "b"] pairs. Every normalizer (NFC, NFD, NFKC, NFKD,
// Lowercase, Replace, Prepend, Strip), pre-tokenizer (ByteLevel, Split, Metaspace,
// Digits, Punctuation, Whitespace, WhitespaceSplit) and decoder (ByteLevel, Metaspace,
// ByteFallback, Fuse, Strip, Replace) becomes a step, Sequences flattened; a lone NFC
// normalizer or a lone ByteLevel pre-tokenizer without prefix space is stored in the
// older single fields, so such bundles read the same in older runtimes.
// added_tokens keep their flags ("special": true become special tokens, the others
// are always matched as text). The post-processor's single template (TemplateProcessing,
// alone or in a Sequence with ByteLevel) gives post_prefix/post_suffix; a prefix
// names BOS and sets add_bos.
// The file does not say which token is BOS or EOS; the conventional names decide:
//   eos: <|endoftext|>, <|end_of_text|>, </s>, <eos>, <|eos|>
//   bos: <|begin_of_text|>, <|startoftext|>, <s>, <bos>, <|bos|>; else an EOS named
//        <|endoftext|> (GPT-2 and GPT-NeoX use it for both)
//   pad: <|padding|>, <pad>, <|pad|>, [PAD];  unk: model.unk_token, <unk>, <|unk|>
// each the first special token found in that order; the template's BOS and
// apply_hf_tokenizer_config() override this.
// Not supported (MMB_ERR_FORMAT naming the JSON path): WordPiece and Unigram models,
// BPE dropout, continuing_subword_prefix, other component types, Regex patterns in a
// decoder's Replace, malformed input ("tokenizer.json: ...").
TokenizerData tokenizer_from_hf_json(const std::string& json_text);

// Applies a Hugging Face tokenizer_config.json or special_tokens_map.json: the
// tokens named by bos_token, eos_token, pad_token, unk_token (a string or an object
// with "content"; null clears); add_bos_token / add_eos_token put BOS before / EOS
// after the text when special tokens are added (or take them away); chat_template (a
// string: the template "default"; or a list of {"name", "template"}) replaces the
// chat templates. Throws mmb::Error(MMB_ERR_FORMAT, "tokenizer_config.json: ...") for
// bad JSON or a name that is no token.
void apply_hf_tokenizer_config(TokenizerData& data, const std::string& config_json_text);

// Applies a Hugging Face generation_config.json: eos_token_id (an id or a list) names
// the end-of-generation tokens: the ones besides eos_id go to stop_ids (eos_id is set
// to the first when it has none). Throws mmb::Error(MMB_ERR_FORMAT,
// "generation_config.json: ...").
void apply_hf_generation_config(TokenizerData& data, const std::string& config_json_text);

// Converts GPT-2's original files: encoder.json (piece -> id, byte-to-unicode form)
// and vocab.bpe (a "#version" line, then one merge "a b" per line, by rank).
// <|endoftext|>, when present, is the special BOS and EOS token.
TokenizerData tokenizer_from_gpt2_files(const std::string& encoder_json_text, const std::string& vocab_bpe_text);

}  // namespace mmb
