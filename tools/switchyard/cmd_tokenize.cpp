// `switchyard tokenize` and `switchyard detokenize`: text to the model's token ids and back, through
// core/tokenizer, on any GGUF file with a tokenizer (vocabulary-only files included). JSON form
// "switchyard.tokenize/1" is documented in docs/cli-json.md.
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/gguf/file.h"
#include "core/common/utf8.h"
#include "core/tokenizer/tokenizer.h"
#include "tools/switchyard/commands.h"

namespace sy::cli {
namespace {

std::string read_stdin() {
  std::cin >> std::noskipws;
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

tokenizer::Tokenizer open_tokenizer(const std::string& model, bool fallback_pretokenizer) {
  const gguf::File file = gguf::File::open(model);
  tokenizer::TokenizerOptions options;
  options.fallback_to_default_pretokenizer = fallback_pretokenizer;
  return tokenizer::Tokenizer::from_file(file, options);
}

void add_tokenize(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("tokenize", "Turn text (-p, else standard input) into the model's token ids");
  struct Options {
    std::string model;
    std::string prompt;
    bool no_bos = false;
    bool parse_special = false;
    bool ids_only = false;
    bool fallback_pretokenizer = false;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  CLI::Option* prompt =
      cmd->add_option("-p,--prompt", opts->prompt, "Text to tokenize (default: all of standard input, as bytes)");
  cmd->add_flag("--no-bos", opts->no_bos, "Add no BOS (nor the EOS some models add) to the text");
  cmd->add_flag("--parse-special", opts->parse_special,
                "Turn the text of control tokens (<s>, <|im_start|>) into those tokens instead of plain text");
  cmd->add_flag("--ids", opts->ids_only, "Print only the ids, separated by spaces, on one line");
  cmd->add_flag("--fallback-pretokenizer", opts->fallback_pretokenizer,
                "Use the default pre-tokenizer when the file names one this build does not know");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opts, prompt, &exit_code] {
    const tokenizer::Tokenizer t = open_tokenizer(opts->model, opts->fallback_pretokenizer);
    const std::string text = prompt->count() ? opts->prompt : read_stdin();
    const std::vector<int32_t> ids = t.encode(text, !opts->no_bos, opts->parse_special);
    if (opts->ids_only) {
      std::string line;
      for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
      std::cout << line << "\n";
    } else if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["schema"] = "switchyard.tokenize/1";
      j["model"] = opts->model;
      j["tokenizer"] = t.vocabulary().model_name();
      j["pre_tokenizer"] = t.pre_tokenizer();
      j["add_special"] = !opts->no_bos;
      j["parse_special"] = opts->parse_special;
      j["count"] = ids.size();
      j["ids"] = ids;
      j["pieces"] = nlohmann::ordered_json::array();
      for (int32_t id : ids) j["pieces"].push_back(t.token_to_piece(id, /*show_control=*/true));
      // A piece that is part of a character split across tokens is not UTF-8 by itself: U+FFFD in JSON.
      std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    } else {
      for (int32_t id : ids) {
        std::cout << fmt::format("{:>6} '{}'\n", id, printable(t.token_to_piece(id, /*show_control=*/true)));
      }
    }
    exit_code = 0;
  });
}

void add_detokenize(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "detokenize", "Turn token ids on standard input (separated by spaces, commas or newlines) back into text");
  struct Options {
    std::string model;
    bool show_control = false;
    bool fallback_pretokenizer = false;
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  cmd->add_flag("--show-control", opts->show_control, "Write control tokens (<s>, </s>) as their text");
  cmd->add_flag("--fallback-pretokenizer", opts->fallback_pretokenizer,
                "Accept a file whose pre-tokenizer this build does not know (decoding does not depend on it)");
  cmd->callback([opts, &exit_code] {
    const tokenizer::Tokenizer t = open_tokenizer(opts->model, opts->fallback_pretokenizer);
    const std::string input = read_stdin();
    std::vector<int32_t> ids;
    for (size_t i = 0; i < input.size();) {
      const char c = input[i];
      if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '[' || c == ']') {
        ++i;
        continue;
      }
      int32_t id = 0;
      const auto [end, ec] = std::from_chars(input.data() + i, input.data() + input.size(), id);
      if (ec != std::errc() || end == input.data() + i) {
        size_t stop = i;
        while (stop < input.size() && !std::isspace(static_cast<unsigned char>(input[stop]))) ++stop;
        throw Error(ErrorCode::invalid_argument, "detokenize: '" + input.substr(i, stop - i) +
                                                     "' on standard input is not a token id (expected integers)");
      }
      if (!t.vocabulary().contains(id)) {
        throw Error(ErrorCode::invalid_argument, "detokenize: token id " + std::to_string(id) +
                                                     " is outside the vocabulary of " +
                                                     std::to_string(t.vocabulary().size()) + " tokens of " + opts->model);
      }
      ids.push_back(id);
      i = static_cast<size_t>(end - input.data());
    }
    // The text exactly, no newline added: `tokenize --ids | detokenize` gives back the input (but for the
    // reference's clean-up of spaces before punctuation that some BPE models ask for).
    std::cout << t.decode(ids, opts->show_control);
    std::cout.flush();
    exit_code = 0;
  });
}

}  // namespace

void add_tokenize_commands(CLI::App& app, int& exit_code) {
  add_tokenize(app, exit_code);
  add_detokenize(app, exit_code);
}

}  // namespace sy::cli
