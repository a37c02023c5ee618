// Per-token cost of llama.cpp's GBNF grammar sampler on a full vocabulary.
//
// Built against a llama.cpp build tree outside this repository by
// sdk/scripts/grammar_figures.sh, which runs it beside `mmb bench grammar`.
//
// For one grammar, N generations are run. Each generation:
//   - compiles the grammar (llama_sampler_init_grammar)            -> compile time
//   - loops: fill a llama_token_data_array with ALL n_vocab tokens and seeded random logits,
//            llama_sampler_apply (timed)                            -> apply time per token
//            pick a uniformly random allowed candidate (logit != -inf, not EOG)
//            llama_sampler_accept (timed separately)
//     until no non-EOG candidate is allowed (only EOS left, or nothing) or max_tokens tokens.
//
// Usage:
//   bench --vocab FILE --commit HASH --name NAME
//         (--gbnf FILE | --schema FILE [--write-gbnf FILE] | --choices FILE [--write-gbnf FILE])
//         [--gens 10] [--max-tokens 300] [--seed 42] [--dump-text FILE]
//
// Output (stdout), one line per grammar:
//   llama.cpp <commit> grammar=<name> vocab=<n> compile_ms=<median> compile_ms_max=<max>
//     median_us=<apply median> p99_us=<apply p99> max_us=<apply max> mean_us=<apply mean>
//     accept_median_us=... accept_p99_us=... tokens=<total applies> gens=<N>
//     ended_eos=<gens that ended with only EOG allowed> ended_cap=<gens that hit max_tokens>

#include "llama.h"
#include "json-schema-to-grammar.h"
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using clk = std::chrono::steady_clock;

static std::string read_file(const std::string & path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        throw std::runtime_error("cannot read " + path);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

static void write_file(const std::string & path, const std::string & text) {
    std::ofstream f(path, std::ios::binary);
    if (!f) {
        throw std::runtime_error("cannot write " + path);
    }
    f << text;
}

static std::string gbnf_escape(const std::string & s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '"':  out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n";  break;
            case '\r': out += "\\r";  break;
            case '\t': out += "\\t";  break;
            default:   out += c;
        }
    }
    return out;
}

static std::string choices_to_gbnf(const std::string & text) {
    std::istringstream in(text);
    std::string line;
    std::string g = "root ::=";
    int n = 0;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.empty()) {
            continue;
        }
        g += (n == 0 ? " \"" : " | \"") + gbnf_escape(line) + "\"";
        n++;
    }
    if (n == 0) {
        throw std::runtime_error("no choices");
    }
    return g + "\n";
}

// nearest-rank percentile on a sorted vector
static double pct(const std::vector<double> & sorted, double p) {
    if (sorted.empty()) {
        return 0.0;
    }
    size_t rank = (size_t) std::ceil(p / 100.0 * (double) sorted.size());
    if (rank < 1) {
        rank = 1;
    }
    if (rank > sorted.size()) {
        rank = sorted.size();
    }
    return sorted[rank - 1];
}

static double median(std::vector<double> v) {
    if (v.empty()) {
        return 0.0;
    }
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void quiet_log(enum ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
}

int main(int argc, char ** argv) {
    std::string vocab_path, commit = "unknown", name, gbnf_path, schema_path, choices_path, write_gbnf, dump_text;
    int gens = 10, max_tokens = 300;
    unsigned seed = 42;

    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                fprintf(stderr, "missing value for %s\n", a.c_str());
                exit(2);
            }
            return argv[++i];
        };
        if      (a == "--vocab")      vocab_path   = next();
        else if (a == "--commit")     commit       = next();
        else if (a == "--name")       name         = next();
        else if (a == "--gbnf")       gbnf_path    = next();
        else if (a == "--schema")     schema_path  = next();
        else if (a == "--choices")    choices_path = next();
        else if (a == "--write-gbnf") write_gbnf   = next();
        else if (a == "--dump-text")  dump_text    = next();
        else if (a == "--gens")       gens         = std::stoi(next());
        else if (a == "--max-tokens") max_tokens   = std::stoi(next());
        else if (a == "--seed")       seed         = (unsigned) std::stoul(next());
        else {
            fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (vocab_path.empty() || name.empty() || (gbnf_path.empty() + schema_path.empty() + choices_path.empty()) != 2) {
        fprintf(stderr, "usage: %s --vocab FILE --commit HASH --name NAME (--gbnf F | --schema F | --choices F) "
                        "[--write-gbnf F] [--gens N] [--max-tokens N] [--seed S] [--dump-text F]\n", argv[0]);
        return 2;
    }

    // ---- grammar text
    std::string grammar;
    double convert_ms = 0.0;
    try {
        if (!gbnf_path.empty()) {
            grammar = read_file(gbnf_path);
        } else if (!schema_path.empty()) {
            auto schema = nlohmann::ordered_json::parse(read_file(schema_path));
            auto t0 = clk::now();
            grammar = json_schema_to_grammar(schema);
            convert_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
        } else {
            grammar = choices_to_gbnf(read_file(choices_path));
        }
        if (!write_gbnf.empty()) {
            write_file(write_gbnf, grammar);
        }
    } catch (const std::exception & e) {
        fprintf(stderr, "error preparing grammar: %s\n", e.what());
        return 1;
    }

    // ---- vocab
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    auto mparams = llama_model_default_params();
    mparams.vocab_only = true;
    llama_model * model = llama_model_load_from_file(vocab_path.c_str(), mparams);
    if (!model) {
        fprintf(stderr, "failed to load %s\n", vocab_path.c_str());
        return 1;
    }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    std::mt19937 rng(seed);
    std::normal_distribution<float> logit_dist(0.0f, 3.0f);

    std::vector<llama_token_data> data(n_vocab);
    std::vector<double> compile_ms, apply_us, accept_us;
    std::vector<int> allowed_idx;
    allowed_idx.reserve(n_vocab);
    apply_us.reserve((size_t) gens * max_tokens);

    int ended_eos = 0, ended_cap = 0, ended_dead = 0;
    size_t allowed_sum = 0;
    std::string dump;

    for (int g = 0; g < gens; g++) {
        auto t0 = clk::now();
        llama_sampler * smpl = llama_sampler_init_grammar(vocab, grammar.c_str(), "root");
        compile_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
        if (!smpl) {
            fprintf(stderr, "llama_sampler_init_grammar failed for %s\n", name.c_str());
            return 1;
        }

        std::string text;
        int n_tok = 0;
        for (;;) {
            if (n_tok >= max_tokens) {
                ended_cap++;
                break;
            }
            for (int i = 0; i < n_vocab; i++) {
                data[i] = llama_token_data{ (llama_token) i, logit_dist(rng), 0.0f };
            }
            llama_token_data_array cur_p = { data.data(), (size_t) n_vocab, -1, false };

            auto a0 = clk::now();
            llama_sampler_apply(smpl, &cur_p);
            auto a1 = clk::now();
            apply_us.push_back(std::chrono::duration<double, std::micro>(a1 - a0).count());

            allowed_idx.clear();
            bool eog_allowed = false;
            for (size_t i = 0; i < cur_p.size; i++) {
                if (std::isinf(cur_p.data[i].logit) && cur_p.data[i].logit < 0) {
                    continue;
                }
                if (llama_vocab_is_eog(vocab, cur_p.data[i].id)) {
                    eog_allowed = true;
                    continue;
                }
                allowed_idx.push_back((int) i);
            }
            allowed_sum += allowed_idx.size();
            if (allowed_idx.empty()) {
                if (eog_allowed) {
                    ended_eos++;
                } else {
                    ended_dead++;
                }
                break;
            }
            std::uniform_int_distribution<size_t> pick(0, allowed_idx.size() - 1);
            const llama_token tok = cur_p.data[allowed_idx[pick(rng)]].id;

            auto c0 = clk::now();
            llama_sampler_accept(smpl, tok);
            accept_us.push_back(std::chrono::duration<double, std::micro>(clk::now() - c0).count());

            char buf[256];
            int n = llama_token_to_piece(vocab, tok, buf, sizeof(buf), 0, true);
            if (n > 0) {
                text.append(buf, n);
            }
            n_tok++;
        }
        llama_sampler_free(smpl);
        dump += "=== gen " + std::to_string(g) + " tokens=" + std::to_string(n_tok) + "\n" + text + "\n";
    }

    if (!dump_text.empty()) {
        write_file(dump_text, dump);
    }

    std::vector<double> s_apply = apply_us, s_accept = accept_us, s_compile = compile_ms;
    std::sort(s_apply.begin(), s_apply.end());
    std::sort(s_accept.begin(), s_accept.end());
    std::sort(s_compile.begin(), s_compile.end());
    double mean = 0.0;
    for (double v : apply_us) {
        mean += v;
    }
    mean = apply_us.empty() ? 0.0 : mean / apply_us.size();

    printf("llama.cpp %s grammar=%s vocab=%d compile_ms=%.3f compile_ms_max=%.3f median_us=%.1f p99_us=%.1f max_us=%.1f "
           "mean_us=%.1f accept_median_us=%.1f accept_p99_us=%.1f tokens=%zu gens=%d ended_eos=%d ended_cap=%d ended_dead=%d "
           "allowed_mean=%.0f",
           commit.c_str(), name.c_str(), n_vocab, median(compile_ms), s_compile.back(), median(apply_us), pct(s_apply, 99),
           s_apply.empty() ? 0.0 : s_apply.back(), mean, median(accept_us), pct(s_accept, 99), apply_us.size(), gens,
           ended_eos, ended_cap, ended_dead, apply_us.empty() ? 0.0 : (double) allowed_sum / apply_us.size());
    if (!schema_path.empty()) {
        printf(" schema_to_gbnf_ms=%.3f", convert_ms);
    }
    printf("\n");

    llama_model_free(model);
    llama_backend_free();
    return 0;
}
